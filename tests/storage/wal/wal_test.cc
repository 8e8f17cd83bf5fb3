// Tests of the write-ahead log (src/storage/wal/wal.h) on MemEnv: round trips,
// recovery from torn and corrupt logs, truncation, release and recycling,
// fault injection, a seeded randomized test against a model, and one test on
// the real file system.
#include "src/storage/wal/wal.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <random>

#include "src/storage/wal/wal_format.h"
#include "tests/storage/temp_dir.h"
#include "tests/storage/wrapping_env.h"
#include "toydb/mem_env.h"

namespace toydb {
namespace {

constexpr char kDir[] = "/db/wal";

WalOptions SmallOptions() {
  WalOptions options;
  options.dir = kDir;
  options.segment_bytes_max = 1024;
  options.record_bytes_max = 4096;
  options.retention_bytes = 0;
  options.recycled_segments_max = 2;
  return options;
}

std::string PayloadFor(uint64_t lsn, uint64_t salt = 0) {
  const size_t len = static_cast<size_t>((lsn * 37 + salt * 11) % 90);
  return fmt::format("{}:{}:{}", lsn, salt, std::string(len, static_cast<char>('a' + lsn % 26)));
}

WalRecord Rec(uint64_t lsn, uint64_t term, uint64_t salt = 0) {
  return WalRecord{.term = term,
                   .lsn = lsn,
                   .type = static_cast<uint8_t>(lsn % 7),
                   .payload = PayloadFor(lsn, salt)};
}

std::unique_ptr<Wal> OpenWal(Env* env, const WalOptions& options = SmallOptions(),
                             WalRecoveryReport* report = nullptr) {
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(env, options, report);
  INFO(wal.status().ToString());
  REQUIRE(wal.ok());
  return std::move(*wal);
}

// Appends records [from, to] one per batch, all with `term`.
void AppendRange(Wal& wal, uint64_t from, uint64_t to, uint64_t term, uint64_t salt = 0) {
  for (uint64_t lsn = from; lsn <= to; ++lsn) {
    WalRecord r = Rec(lsn, term, salt);
    Status s = wal.Append({&r, 1});
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
}

std::vector<WalRecord> ReadAll(Wal& wal, uint64_t from) {
  std::vector<WalRecord> out;
  Status s = wal.Read(from, UINT64_MAX, &out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return out;
}

// Checks `records` start with [from, to] as Rec(lsn, term, salt) made them.
void CheckRange(const std::vector<WalRecord>& records, uint64_t from, uint64_t to, uint64_t term,
                uint64_t salt = 0) {
  REQUIRE(records.size() >= to + 1 - from);
  for (uint64_t lsn = from; lsn <= to; ++lsn) {
    const WalRecord& r = records[lsn - from];
    CHECK(r.lsn == lsn);
    CHECK(r.term == term);
    CHECK(r.type == lsn % 7);
    CHECK(r.payload == PayloadFor(lsn, salt));
  }
}

std::vector<std::string> Files(Env& env, std::string_view prefix) {
  std::vector<std::string> out;
  StatusOr<std::vector<std::string>> names = env.GetChildren(kDir);
  REQUIRE(names.ok());
  for (const std::string& n : *names) {
    if (n.starts_with(prefix)) out.push_back(JoinPath(kDir, n));
  }
  return out;
}

uint64_t EncodedSize(const WalRecord& r) { return wal::kRecordHeaderBytes + r.payload.size(); }

TEST_CASE("Wal appends and reads back across segments and reopens", "[wal]") {
  MemEnv env;
  {
    auto wal = OpenWal(&env);
    CHECK(wal->first_lsn() == 1);
    CHECK(wal->last_lsn() == 0);
    CHECK(*wal->TermAt(0) == 0);
    AppendRange(*wal, 1, 60, 1);
    std::vector<WalRecord> batch = {Rec(61, 2), Rec(62, 2), Rec(63, 3)};
    REQUIRE(wal->Append(batch).ok());
    REQUIRE(wal->Sync().ok());
    CHECK(wal->synced_lsn() == 63);
    CHECK(Files(env, "wal-").size() >= 4);
    CheckRange(ReadAll(*wal, 1), 1, 60, 1);
    CheckRange(ReadAll(*wal, 17), 17, 60, 1);
    CHECK(*wal->TermAt(60) == 1);
    CHECK(*wal->TermAt(62) == 2);
    CHECK(*wal->TermAt(63) == 3);
    CHECK(absl::IsNotFound(wal->TermAt(64).status()));
    CHECK(wal->bytes_written() > 0);

    // max_bytes bounds the payload but returns at least one record.
    std::vector<WalRecord> out;
    REQUIRE(wal->Read(10, 1, &out).ok());
    CHECK(out.size() == 1);
    REQUIRE(wal->Read(10, 200, &out).ok());
    uint64_t bytes = 0;
    for (const WalRecord& r : out) bytes += r.payload.size();
    CHECK(bytes <= 200);
    CHECK(out.front().lsn == 10);
    CHECK(out.size() > 1);
    REQUIRE(wal->Read(64, 100, &out).ok());
    CHECK(out.empty());
  }
  WalRecoveryReport report;
  auto wal = OpenWal(&env, SmallOptions(), &report);
  CHECK(report.records == 63);
  CHECK(report.segments == Files(env, "wal-").size());
  CHECK(report.truncated_tail_bytes == 0);
  CHECK(wal->last_lsn() == 63);
  CHECK(wal->last_term() == 3);
  CheckRange(ReadAll(*wal, 1), 1, 60, 1);
  AppendRange(*wal, 64, 70, 3);
  CheckRange(ReadAll(*wal, 64), 64, 70, 3);
}

TEST_CASE("Wal reads from any lsn of large segments through the sparse index", "[wal]") {
  MemEnv env;
  WalOptions options = SmallOptions();
  options.segment_bytes_max = 256 << 10;  // Several index entries per segment.
  auto wal = OpenWal(&env, options);
  std::vector<WalRecord> batch;
  for (uint64_t lsn = 1; lsn <= 6000; ++lsn) batch.push_back(Rec(lsn, 1 + lsn / 1000));
  for (size_t i = 0; i < batch.size(); i += 100) {
    REQUIRE(wal->Append(std::span(batch).subspan(i, 100)).ok());
  }
  CHECK(Files(env, "wal-").size() >= 2);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 50; ++i) {
    const uint64_t from = 1 + rng() % 6000;
    CAPTURE(from);
    std::vector<WalRecord> out;
    REQUIRE(wal->Read(from, 3000, &out).ok());
    REQUIRE(!out.empty());
    for (size_t j = 0; j < out.size(); ++j) {
      CHECK(out[j].lsn == from + j);
      CHECK(out[j].payload == batch[from + j - 1].payload);
    }
    CHECK(*wal->TermAt(from) == 1 + from / 1000);
  }
}

TEST_CASE("Wal recovers exactly the records before a torn last record at every byte", "[wal]") {
  const WalRecord last = Rec(11, 1);
  const uint64_t size = EncodedSize(last);
  for (uint64_t keep = 0; keep <= size; ++keep) {
    CAPTURE(keep);
    MemEnv env;
    {
      auto wal = OpenWal(&env);
      AppendRange(*wal, 1, 10, 1);
      REQUIRE(wal->Sync().ok());
      REQUIRE(wal->Append({&last, 1}).ok());
    }
    env.Crash([&](const std::string&, uint64_t unsynced) {
      CHECK(unsynced == size);
      return keep;
    });
    WalRecoveryReport report;
    auto wal = OpenWal(&env, SmallOptions(), &report);
    const uint64_t expected_last = keep == size ? 11 : 10;
    CHECK(wal->last_lsn() == expected_last);
    CHECK(report.truncated_tail_bytes == (keep == size ? 0 : keep));
    CheckRange(ReadAll(*wal, 1), 1, expected_last, 1);
    // The log continues cleanly after the cut.
    AppendRange(*wal, expected_last + 1, 12, 1);
    CheckRange(ReadAll(*wal, 1), 1, 12, 1);
  }
}

TEST_CASE("Wal reports a bit flip in a sealed segment as DataLoss", "[wal]") {
  MemEnv env;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 60, 1);
    REQUIRE(wal->Sync().ok());
  }
  const std::vector<std::string> segments = Files(env, "wal-");
  REQUIRE(segments.size() >= 3);
  REQUIRE(env.FlipBit(segments[1], wal::kSegmentHeaderBytes + 5, 3).ok());
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(&env, SmallOptions());
  CHECK(absl::IsDataLoss(wal.status()));
  CHECK(wal.status().message().find(segments[1]) != std::string_view::npos);
  CHECK(wal.status().message().find(fmt::format("offset {}", wal::kSegmentHeaderBytes)) !=
        std::string_view::npos);
}

TEST_CASE("Wal with verify_from_lsn opens past damage below it and reports it on read", "[wal]") {
  MemEnv env;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 30, 1);
    AppendRange(*wal, 31, 60, 2);
    REQUIRE(wal->Sync().ok());
  }
  const std::vector<std::string> segments = Files(env, "wal-");
  REQUIRE(segments.size() >= 4);
  REQUIRE(env.FlipBit(segments[1], wal::kSegmentHeaderBytes + 5, 3).ok());
  WalOptions options = SmallOptions();
  options.verify_from_lsn = 60;
  WalRecoveryReport report;
  auto wal = OpenWal(&env, options, &report);
  CHECK(report.segments_not_verified == segments.size() - 1);
  CHECK(wal->first_lsn() == 1);
  CHECK(wal->last_lsn() == 60);
  CHECK(wal->last_term() == 2);
  CheckRange(ReadAll(*wal, 60), 60, 60, 2);
  // The damaged segment is reported on every read that reaches it.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::vector<WalRecord> out;
    Status s = wal->Read(1, UINT64_MAX, &out);
    CHECK(absl::IsDataLoss(s));
    CHECK(s.message().find(segments[1]) != std::string_view::npos);
  }
  std::vector<WalRecord> out;
  CHECK(absl::IsDataLoss(wal->Read(1, 1, &out)) == false);  // Segment 0 alone is intact.
  CHECK(out.size() == 1);
  // Terms of the damaged segment are unknown; the others are exact.
  uint64_t damaged_lsn = 0;
  for (uint64_t lsn = 1; lsn <= 60 && damaged_lsn == 0; ++lsn) {
    if (!wal->TermAt(lsn).ok()) damaged_lsn = lsn;
  }
  REQUIRE(damaged_lsn > 1);
  CHECK(absl::IsDataLoss(wal->TermAt(damaged_lsn).status()));
  CHECK(*wal->TermAt(1) == 1);
  CHECK(*wal->TermAt(60) == 2);
  // Appends go on above the damage.
  AppendRange(*wal, 61, 70, 2);
  CheckRange(ReadAll(*wal, 60), 60, 70, 2);
}

TEST_CASE("Wal with verify_from_lsn reads, terms and truncations match a fully verified Open",
          "[wal]") {
  for (uint64_t verify_from : {1u, 20u, 45u, 60u, 1000u}) {
    CAPTURE(verify_from);
    MemEnv env;
    {
      auto wal = OpenWal(&env);
      AppendRange(*wal, 1, 17, 1);
      AppendRange(*wal, 18, 23, 3);
      AppendRange(*wal, 24, 60, 4);
      REQUIRE(wal->Sync().ok());
    }
    const std::vector<WalRecord> expected = ReadAll(*OpenWal(&env), 1);
    WalOptions options = SmallOptions();
    options.verify_from_lsn = verify_from;
    {
      auto wal = OpenWal(&env, options);
      for (uint64_t lsn = 0; lsn <= 60; ++lsn) {
        CAPTURE(lsn);
        CHECK(*wal->TermAt(lsn) == (lsn == 0 ? 0 : lsn <= 17 ? 1 : lsn <= 23 ? 3 : 4));
      }
      const std::vector<WalRecord> read = ReadAll(*wal, 1);
      REQUIRE(read.size() == expected.size());
      for (size_t i = 0; i < read.size(); ++i) {
        CHECK(read[i].lsn == expected[i].lsn);
        CHECK(read[i].payload == expected[i].payload);
      }
    }
    {
      // Truncation into a segment that Open did not read.
      auto wal = OpenWal(&env, options);
      const uint64_t base = wal->last_lsn();
      REQUIRE(base == 60);
      REQUIRE(wal->TruncateAfter(20).ok());
      CHECK(wal->last_lsn() == 20);
      CHECK(wal->last_term() == 3);
      AppendRange(*wal, 21, 60, 4);
      REQUIRE(wal->Sync().ok());
    }
    auto wal = OpenWal(&env);
    CHECK(*wal->TermAt(21) == 4);
    CheckRange(ReadAll(*wal, 21), 21, 60, 4);
  }
}

TEST_CASE("Wal reports a bad record followed by valid ones in the last segment as DataLoss",
          "[wal]") {
  MemEnv env;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 4, 1);
    REQUIRE(wal->Sync().ok());
  }
  const std::vector<std::string> segments = Files(env, "wal-");
  REQUIRE(segments.size() == 1);
  SECTION("payload bit") {
    REQUIRE(env.FlipBit(segments[0], wal::kSegmentHeaderBytes + 35, 0).ok());
  }
  SECTION("length bit") { REQUIRE(env.FlipBit(segments[0], wal::kSegmentHeaderBytes + 1, 6).ok()); }
  SECTION("segment header bit") { REQUIRE(env.FlipBit(segments[0], 20, 1).ok()); }
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(&env, SmallOptions());
  INFO(wal.status().ToString());
  CHECK(absl::IsDataLoss(wal.status()));
  CHECK(wal.status().message().find(segments[0]) != std::string_view::npos);
}

TEST_CASE("Wal Read verifies checksums and reports DataLoss", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 30, 1);
  const std::string first = Files(env, "wal-").front();
  REQUIRE(env.FlipBit(first, wal::kSegmentHeaderBytes + 5, 0).ok());
  std::vector<WalRecord> out;
  Status s = wal->Read(1, 100, &out);
  CHECK(absl::IsDataLoss(s));
  CHECK(s.message().find(first) != std::string_view::npos);
}

TEST_CASE("Wal refuses options it cannot honour", "[wal]") {
  MemEnv env;
  WalOptions options = SmallOptions();
  options.dir = "";
  CHECK(absl::IsInvalidArgument(Wal::Open(&env, options).status()));
  options = SmallOptions();
  options.record_bytes_max = uint64_t{1} << 32;
  CHECK(absl::IsInvalidArgument(Wal::Open(&env, options).status()));
  options = SmallOptions();
  options.segment_bytes_max = 10;
  CHECK(absl::IsInvalidArgument(Wal::Open(&env, options).status()));
}

TEST_CASE("Wal segment file names parse back to their seq", "[wal]") {
  CHECK(wal::SegmentFileName(42) == "wal-000000000042.log");
  CHECK(wal::ParseSegmentFileName(wal::SegmentFileName(42)) == 42u);
  CHECK(wal::ParseRecycleFileName(wal::RecycleFileName(7)) == 7u);
  CHECK(wal::ParseSegmentFileName(wal::SegmentFileName(12345678901234)) == 12345678901234u);
  CHECK_FALSE(wal::ParseSegmentFileName("wal-00000000004x.log").has_value());
  CHECK_FALSE(wal::ParseSegmentFileName(wal::RecycleFileName(7)).has_value());
  CHECK_FALSE(wal::ParseSegmentFileName("wal-1.log").has_value());
}

TEST_CASE("Wal truncates a bit flip in the last record", "[wal]") {
  MemEnv env;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 5, 1);
    REQUIRE(wal->Sync().ok());
  }
  const std::string segment = Files(env, "wal-").back();
  const uint64_t size = *env.GetFileSize(segment);
  const uint64_t last_size = EncodedSize(Rec(5, 1));
  REQUIRE(env.FlipBit(segment, size - 1, 7).ok());
  WalRecoveryReport report;
  auto wal = OpenWal(&env, SmallOptions(), &report);
  CHECK(wal->last_lsn() == 4);
  CHECK(report.truncated_tail_bytes == last_size);
  CHECK(*env.GetFileSize(segment) == size - last_size);
  CheckRange(ReadAll(*wal, 1), 1, 4, 1);
}

TEST_CASE("Wal TruncateAfter removes a suffix durably and the log continues", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 60, 1);
  AppendRange(*wal, 61, 80, 2);
  REQUIRE(wal->Sync().ok());
  const size_t segments_before = Files(env, "wal-").size();

  CHECK(absl::IsInvalidArgument(wal->TruncateAfter(81)));
  REQUIRE(wal->TruncateAfter(80).ok());  // A no-op.
  REQUIRE(wal->TruncateAfter(20).ok());
  CHECK(wal->last_lsn() == 20);
  CHECK(wal->last_term() == 1);
  CHECK(wal->synced_lsn() == 20);
  CHECK(Files(env, "wal-").size() < segments_before);
  CHECK(absl::IsNotFound(wal->TermAt(21).status()));
  AppendRange(*wal, 21, 40, 3, /*salt=*/1);
  REQUIRE(wal->Sync().ok());
  wal.reset();

  env.CrashDropUnsynced();
  wal = OpenWal(&env);
  CHECK(wal->last_lsn() == 40);
  CheckRange(ReadAll(*wal, 1), 1, 20, 1);
  CheckRange(ReadAll(*wal, 21), 21, 40, 3, 1);
  CHECK(*wal->TermAt(20) == 1);
  CHECK(*wal->TermAt(21) == 3);

  // Truncating everything leaves an empty log after the base.
  REQUIRE(wal->TruncateAfter(0).ok());
  CHECK(wal->last_lsn() == 0);
  wal.reset();
  env.CrashDropUnsynced();
  wal = OpenWal(&env);
  CHECK(wal->last_lsn() == 0);
  CHECK(ReadAll(*wal, 1).empty());
}

TEST_CASE("Wal Reset restarts the log durably after a given lsn and term", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 30, 1);
  REQUIRE(wal->Sync().ok());
  REQUIRE(wal->Reset(1000, 7).ok());
  CHECK(wal->first_lsn() == 1001);
  CHECK(wal->last_lsn() == 1000);
  CHECK(wal->last_term() == 7);
  CHECK(*wal->TermAt(1000) == 7);
  CHECK(absl::IsNotFound(wal->TermAt(999).status()));
  std::vector<WalRecord> out;
  CHECK(absl::IsNotFound(wal->Read(5, 100, &out)));
  CHECK(ReadAll(*wal, 1001).empty());
  CHECK(Files(env, "wal-").size() == 1);
  wal.reset();

  env.CrashDropUnsynced();
  wal = OpenWal(&env);
  CHECK(wal->first_lsn() == 1001);
  CHECK(wal->last_lsn() == 1000);
  AppendRange(*wal, 1001, 1010, 8);
  REQUIRE(wal->Sync().ok());
  wal.reset();
  env.CrashDropUnsynced();
  wal = OpenWal(&env);
  CheckRange(ReadAll(*wal, 1001), 1001, 1010, 8);
  CHECK(*wal->TermAt(1000) == 7);
}

TEST_CASE("Wal ReleaseUpTo deletes old segments beyond the retention window", "[wal]") {
  MemEnv env;
  WalOptions options = SmallOptions();
  options.recycled_segments_max = 0;
  SECTION("no retention") {
    auto wal = OpenWal(&env, options);
    AppendRange(*wal, 1, 80, 1);
    const size_t before = Files(env, "wal-").size();
    REQUIRE(wal->ReleaseUpTo(50).ok());
    CHECK(Files(env, "wal-").size() < before);
    CHECK(wal->first_lsn() > 1);
    CHECK(wal->first_lsn() <= 51);
    std::vector<WalRecord> out;
    CHECK(absl::IsNotFound(wal->Read(wal->first_lsn() - 1, 100, &out)));
    CHECK(*wal->TermAt(wal->first_lsn() - 1) == 1);
    CheckRange(ReadAll(*wal, wal->first_lsn()), wal->first_lsn(), 80, 1);
    // The active segment is never released.
    REQUIRE(wal->ReleaseUpTo(80).ok());
    CHECK(Files(env, "wal-").size() == 1);
    AppendRange(*wal, 81, 85, 1);
    REQUIRE(wal->Sync().ok());
    const uint64_t first = wal->first_lsn();
    wal.reset();
    env.CrashDropUnsynced();
    wal = OpenWal(&env, options);
    CHECK(wal->first_lsn() == first);
    CheckRange(ReadAll(*wal, first), first, 85, 1);
  }
  SECTION("retention keeps the newest sealed segments") {
    options.retention_bytes = 2100;  // Two full segments of about 1 KiB.
    auto wal = OpenWal(&env, options);
    AppendRange(*wal, 1, 80, 1);
    const size_t before = Files(env, "wal-").size();
    REQUIRE(wal->ReleaseUpTo(80).ok());
    CHECK(Files(env, "wal-").size() == 3);
    CHECK(Files(env, "wal-").size() < before);
  }
}

TEST_CASE("Wal recycles released segments without resurrecting stale records", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 60, 1);
  REQUIRE(wal->Sync().ok());
  // Stale records with LSNs that would continue the log after the cut sit
  // in the recycled files; only the seq-seeded checksum rejects them.
  REQUIRE(wal->TruncateAfter(12).ok());
  CHECK(Files(env, "recycle-").size() == 2);
  AppendRange(*wal, 13, 30, 2, /*salt=*/5);
  CHECK(Files(env, "recycle-").size() < 2);  // Reused for new segments.
  REQUIRE(wal->Sync().ok());
  AppendRange(*wal, 31, 33, 2, /*salt=*/5);  // Unsynced.
  wal.reset();

  uint64_t kept_total = 0;
  env.Crash([&](const std::string&, uint64_t unsynced) {
    kept_total += unsynced / 2;
    return unsynced / 2;
  });
  WalRecoveryReport report;
  wal = OpenWal(&env, SmallOptions(), &report);
  CHECK(wal->last_lsn() >= 30);
  CHECK(wal->last_lsn() < 33);
  CheckRange(ReadAll(*wal, 1), 1, 12, 1);
  CheckRange(ReadAll(*wal, 13), 13, wal->last_lsn(), 2, 5);

  // Filling recycled files past their old content and crashing again.
  const uint64_t next = wal->last_lsn() + 1;
  AppendRange(*wal, next, 120, 3, /*salt=*/9);
  REQUIRE(wal->ReleaseUpTo(100).ok());
  AppendRange(*wal, 121, 160, 3, /*salt=*/9);
  REQUIRE(wal->Sync().ok());
  wal.reset();
  env.CrashDropUnsynced();
  wal = OpenWal(&env);
  CHECK(wal->last_lsn() == 160);
  CheckRange(ReadAll(*wal, wal->first_lsn()), wal->first_lsn(), 160, 3, 9);
}

TEST_CASE("Wal recovers a crash during creation of a segment from a recycled file", "[wal]") {
  // A recycled file renamed to the new name whose header never became
  // durable (possible on a real file system) holds the old segment's header
  // and records: it is dropped as a torn creation.
  MemEnv env;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 40, 1);
    REQUIRE(wal->Sync().ok());
    REQUIRE(wal->ReleaseUpTo(40).ok());
  }
  const std::vector<std::string> recycled = Files(env, "recycle-");
  REQUIRE(!recycled.empty());
  const std::vector<std::string> live = Files(env, "wal-");
  const auto last_seq = wal::ParseSegmentFileName(live.back().substr(sizeof(kDir)));
  REQUIRE(last_seq.has_value());
  const std::string torn = JoinPath(kDir, wal::SegmentFileName(*last_seq + 1));
  REQUIRE(env.RenameFile(recycled.front(), torn).ok());
  REQUIRE(env.SyncDir(kDir).ok());
  WalRecoveryReport report;
  auto wal = OpenWal(&env, SmallOptions(), &report);
  CHECK(wal->last_lsn() == 40);
  CHECK_FALSE(env.FileExists(torn));
  CHECK(report.truncated_tail_bytes > 0);
  AppendRange(*wal, 41, 60, 1);
  CheckRange(ReadAll(*wal, wal->first_lsn()), wal->first_lsn(), 60, 1);
}

// Fails file removal and renaming on command, to interrupt multi-step changes.
class NoRemoveEnv : public EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  bool fail = false;
  Status RemoveFile(const std::string& p) override {
    return fail ? absl::InternalError("injected") : EnvWrapper::RemoveFile(p);
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    return fail ? absl::InternalError("injected") : EnvWrapper::RenameFile(f, t);
  }
};

TEST_CASE("Wal recovers the reset log after a Reset interrupted before removing segments",
          "[wal]") {
  MemEnv mem;
  NoRemoveEnv env(&mem);
  WalOptions options = SmallOptions();
  options.recycled_segments_max = 0;
  {
    auto wal = OpenWal(&env, options);
    AppendRange(*wal, 1, 40, 1);
    REQUIRE(wal->Sync().ok());
    env.fail = true;
    CHECK_FALSE(wal->Reset(500, 4).ok());
    WalRecord r = Rec(501, 4);
    CHECK(absl::IsFailedPrecondition(wal->Append({&r, 1})));
  }
  mem.CrashDropUnsynced();
  env.fail = false;
  CHECK(Files(mem, "wal-").size() > 1);
  auto wal = OpenWal(&env, options);
  CHECK(Files(mem, "wal-").size() == 1);
  CHECK(wal->first_lsn() == 501);
  CHECK(wal->last_lsn() == 500);
  CHECK(*wal->TermAt(500) == 4);
}

TEST_CASE("Wal refuses bad appends with InvalidArgument and changes nothing", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 3, 2);
  WalRecord big = Rec(4, 2);
  big.payload.assign(SmallOptions().record_bytes_max + 1, 'x');
  std::vector<WalRecord> batch = {Rec(4, 2), big};
  CHECK(absl::IsInvalidArgument(wal->Append(batch)));
  WalRecord gap = Rec(5, 2);
  CHECK(absl::IsInvalidArgument(wal->Append({&gap, 1})));
  WalRecord old_term = Rec(4, 1);
  CHECK(absl::IsInvalidArgument(wal->Append({&old_term, 1})));
  CHECK(wal->last_lsn() == 3);
  big.payload.resize(SmallOptions().record_bytes_max);  // At the limit is fine.
  REQUIRE(wal->Append({&big, 1}).ok());
  std::vector<WalRecord> out;
  REQUIRE(wal->Read(4, 1, &out).ok());
  REQUIRE(out.size() == 1);
  CHECK(out[0].payload == big.payload);
  CheckRange(ReadAll(*wal, 1), 1, 3, 2);
}

TEST_CASE("Wal on a full disk returns ResourceExhausted and stays intact", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 20, 1);
  REQUIRE(wal->Sync().ok());
  env.SetCapacityBytes(env.TotalFileBytes() + 10);
  std::vector<WalRecord> batch = {Rec(21, 1), Rec(22, 1)};
  CHECK(absl::IsResourceExhausted(wal->Append(batch)));
  CHECK(wal->last_lsn() == 20);
  CheckRange(ReadAll(*wal, 1), 1, 20, 1);
  env.SetCapacityBytes(UINT64_MAX);
  REQUIRE(wal->Append(batch).ok());
  REQUIRE(wal->Sync().ok());
  wal.reset();
  env.CrashDropUnsynced();
  wal = OpenWal(&env);
  CheckRange(ReadAll(*wal, 1), 1, 22, 1);
}

TEST_CASE("Wal on a full disk at roll-over keeps the sealed segment active", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  // Fill the first segment to just under the roll-over point.
  uint64_t lsn = 0;
  while (true) {
    WalRecord r = Rec(lsn + 1, 1);
    if (env.TotalFileBytes() + EncodedSize(r) > 1024) break;
    REQUIRE(wal->Append({&r, 1}).ok());
    ++lsn;
  }
  REQUIRE(Files(env, "wal-").size() == 1);
  env.SetCapacityBytes(env.TotalFileBytes() + 20);  // No room for a header.
  WalRecord r = Rec(lsn + 1, 1);
  CHECK(absl::IsResourceExhausted(wal->Append({&r, 1})));
  CHECK(Files(env, "wal-").size() == 1);
  CHECK(wal->last_lsn() == lsn);
  env.SetCapacityBytes(UINT64_MAX);
  REQUIRE(wal->Append({&r, 1}).ok());
  REQUIRE(wal->Sync().ok());
  CHECK(Files(env, "wal-").size() == 2);
  wal.reset();
  wal = OpenWal(&env);
  CheckRange(ReadAll(*wal, 1), 1, lsn + 1, 1);
}

TEST_CASE("Wal write failure leaves the log as before and the log goes on", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 5, 1);
  env.SetWriteFailure(true);
  WalRecord r = Rec(6, 1);
  CHECK_FALSE(wal->Append({&r, 1}).ok());
  CHECK(wal->last_lsn() == 5);
  env.SetWriteFailure(false);
  REQUIRE(wal->Append({&r, 1}).ok());
  REQUIRE(wal->Sync().ok());
  CheckRange(ReadAll(*wal, 1), 1, 6, 1);
}

// Writes half of an Append and then fails, on command, as a real disk may
// when it fills up in the middle of a write.
class HalfWriteEnv : public testing::WrappingEnv {
 public:
  using WrappingEnv::WrappingEnv;
  bool armed = false;

 protected:
  std::unique_ptr<WritableFile> WrapFile(std::unique_ptr<WritableFile> file) override {
    return std::make_unique<File>(std::move(file), &armed);
  }

 private:
  class File : public testing::ForwardingFile {
   public:
    File(std::unique_ptr<WritableFile> target, const bool* armed)
        : ForwardingFile(std::move(target)), armed_(armed) {}
    Status Append(std::string_view data) override {
      if (!*armed_) return target().Append(data);
      target().Append(data.substr(0, data.size() / 2)).IgnoreError();
      return absl::ResourceExhaustedError("half written");
    }

   private:
    const bool* armed_;
  };
};

TEST_CASE("Wal cuts off a partially written batch", "[wal]") {
  MemEnv mem;
  HalfWriteEnv env(&mem);
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 5, 1);
  const std::string segment = Files(mem, "wal-").back();
  const uint64_t size = *mem.GetFileSize(segment);
  env.armed = true;
  std::vector<WalRecord> batch = {Rec(6, 1), Rec(7, 1)};
  CHECK(absl::IsResourceExhausted(wal->Append(batch)));
  env.armed = false;
  CHECK(*mem.GetFileSize(segment) == size);
  CHECK(wal->last_lsn() == 5);
  REQUIRE(wal->Append(batch).ok());
  REQUIRE(wal->Sync().ok());
  wal.reset();
  WalRecoveryReport report;
  wal = OpenWal(&env, SmallOptions(), &report);
  CHECK(report.truncated_tail_bytes == 0);
  CheckRange(ReadAll(*wal, 1), 1, 7, 1);
}

TEST_CASE("Wal refuses every mutation after a failed sync", "[wal]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 5, 1);
  REQUIRE(wal->Sync().ok());
  AppendRange(*wal, 6, 8, 1);
  env.SetSyncFailure(true);
  CHECK_FALSE(wal->Sync().ok());
  CHECK(wal->synced_lsn() == 5);
  env.SetSyncFailure(false);
  WalRecord r = Rec(9, 1);
  CHECK(absl::IsFailedPrecondition(wal->Append({&r, 1})));
  CHECK(absl::IsFailedPrecondition(wal->Sync()));
  CHECK(absl::IsFailedPrecondition(wal->TruncateAfter(3)));
  CHECK(absl::IsFailedPrecondition(wal->Reset(100, 2)));
  CHECK(absl::IsFailedPrecondition(wal->ReleaseUpTo(3)));
  CheckRange(ReadAll(*wal, 1), 1, 8, 1);  // Reads still work.
  wal.reset();
  env.CrashDropUnsynced();
  wal = OpenWal(&env);
  CHECK(wal->last_lsn() == 5);
}

TEST_CASE("Wal crash loses only unsynced records", "[wal]") {
  std::mt19937_64 rng(7);
  for (int round = 0; round < 20; ++round) {
    CAPTURE(round);
    MemEnv env;
    {
      auto wal = OpenWal(&env);
      AppendRange(*wal, 1, 30, 1);
      REQUIRE(wal->Sync().ok());
      AppendRange(*wal, 31, 45, 1);
    }
    env.Crash([&](const std::string&, uint64_t unsynced) { return rng() % (unsynced + 1); });
    auto wal = OpenWal(&env);
    CHECK(wal->last_lsn() >= 30);
    CHECK(wal->last_lsn() <= 45);
    CheckRange(ReadAll(*wal, 1), 1, wal->last_lsn(), 1);
  }
}

// The model: every record ever acknowledged by Append, by lsn, and the base.
struct Model {
  std::map<uint64_t, WalRecord> records;
  uint64_t base_lsn = 0;
  uint64_t base_term = 0;
  uint64_t synced = 0;

  uint64_t last_lsn() const { return records.empty() ? base_lsn : records.rbegin()->first; }
  uint64_t last_term() const { return records.empty() ? base_term : records.rbegin()->second.term; }
  void TruncateAfter(uint64_t lsn) {
    records.erase(records.upper_bound(lsn), records.end());
    synced = std::min(synced, lsn);
  }
};

void CheckAgainstModel(Wal& wal, const Model& model) {
  REQUIRE(wal.last_lsn() == model.last_lsn());
  REQUIRE(wal.last_term() == model.last_term());
  const std::vector<WalRecord> got = ReadAll(wal, wal.first_lsn());
  REQUIRE(got.size() == wal.last_lsn() + 1 - wal.first_lsn());
  for (const WalRecord& r : got) {
    const WalRecord& want = model.records.at(r.lsn);
    REQUIRE(r.term == want.term);
    REQUIRE(r.payload == want.payload);
    REQUIRE(r.type == want.type);
  }
}

void RandomStep(std::mt19937_64& rng, MemEnv& env, std::unique_ptr<Wal>& wal, Model& model,
                const WalOptions& options) {
  const int op = static_cast<int>(rng() % 100);
  if (op < 55) {
    std::vector<WalRecord> batch;
    uint64_t term = model.last_term() + (rng() % 10 == 0 ? 1 : 0);
    const size_t n = 1 + rng() % 4;
    for (size_t i = 0; i < n; ++i) {
      WalRecord r{.term = term,
                  .lsn = model.last_lsn() + 1 + i,
                  .type = static_cast<uint8_t>(rng()),
                  .payload = std::string(rng() % 200, static_cast<char>(rng()))};
      batch.push_back(r);
    }
    REQUIRE(wal->Append(batch).ok());
    for (WalRecord& r : batch) model.records[r.lsn] = r;
  } else if (op < 70) {
    // Preparation (when enabled) runs between writes, as the store's
    // background step would.
    if (rng() % 2 == 0) REQUIRE(wal->PrepareAhead().ok());
    REQUIRE(wal->Sync().ok());
    model.synced = model.last_lsn();
  } else if (op < 78) {
    const uint64_t low = wal->first_lsn() - 1;
    const uint64_t lsn = low + rng() % (model.last_lsn() - low + 1);
    REQUIRE(wal->TruncateAfter(lsn).ok());
    // A real truncation leaves what remains synced; truncating nothing is a
    // no-op.
    if (lsn < model.last_lsn()) model.synced = lsn;
    model.TruncateAfter(lsn);
  } else if (op < 85) {
    REQUIRE(wal->ReleaseUpTo(model.last_lsn() - rng() % 20).ok());
  } else if (op < 87) {
    const uint64_t lsn = model.last_lsn() + rng() % 5;
    REQUIRE(wal->Reset(lsn, model.last_term() + 1).ok());
    model = Model{.base_lsn = lsn, .base_term = model.last_term() + 1, .synced = lsn};
  } else if (op < 95) {
    wal.reset();
    env.Crash([&](const std::string&, uint64_t unsynced) { return rng() % (unsynced + 1); });
    wal = OpenWal(&env, options);
    REQUIRE(wal->last_lsn() >= model.synced);
    REQUIRE(wal->last_lsn() <= model.last_lsn());
    model.TruncateAfter(wal->last_lsn());
    model.synced = wal->last_lsn();
  } else if (op < 97 && options.write_buffer_bytes == 0) {
    // A failed append (I/O error or full disk) leaves the log unchanged.
    // (A buffered Wal writes later, so this applies to write-through only.)
    // Appends into a recycled segment overwrite allocated bytes and need
    // no space, so on a full disk they may still succeed.
    const bool disk_full = rng() % 2 == 0;
    if (disk_full) env.SetCapacityBytes(env.TotalFileBytes() + rng() % 100);
    if (!disk_full) env.SetWriteFailure(true);
    std::vector<WalRecord> batch = {WalRecord{.term = model.last_term(),
                                              .lsn = model.last_lsn() + 1,
                                              .payload = std::string(100 + rng() % 100, 'f')}};
    const Status s = wal->Append(batch);
    env.SetCapacityBytes(UINT64_MAX);
    env.SetWriteFailure(false);
    if (s.ok()) {
      // Overwriting a recycled file needs no new space.
      REQUIRE(disk_full);
      model.records[batch[0].lsn] = batch[0];
    } else {
      CHECK((!disk_full || absl::IsResourceExhausted(s)));
    }
  } else {
    std::vector<WalRecord> out;
    const uint64_t from = wal->first_lsn() + rng() % (model.last_lsn() - wal->first_lsn() + 2);
    REQUIRE(wal->Read(from, rng() % 1000, &out).ok());
    for (const WalRecord& r : out) REQUIRE(r.payload == model.records.at(r.lsn).payload);
  }
  CheckAgainstModel(*wal, model);
}

// Replay a failure with TOYDB_TEST_SEED=<seed>.
TEST_CASE("Wal matches a model under random appends, truncations and crashes", "[wal]") {
  const char* fixed = std::getenv("TOYDB_TEST_SEED");
  const uint64_t base_seed =
      fixed != nullptr ? std::strtoull(fixed, nullptr, 10) : std::random_device()();
  for (uint64_t i = 0; i < (fixed != nullptr ? 1 : 8); ++i) {
    const uint64_t seed = base_seed + i;
    CAPTURE(seed);
    std::mt19937_64 rng(seed);
    MemEnv env;
    WalOptions options = SmallOptions();
    options.segment_bytes_max = 600 + rng() % 2000;
    options.retention_bytes = rng() % 3000;
    options.recycled_segments_max = static_cast<uint32_t>(rng() % 3);
    options.write_buffer_bytes = rng() % 2 == 0 ? 0 : rng() % 1500;
    options.preallocate_bytes = rng() % 2 == 0 ? 0 : rng() % 3000;
    options.preallocate_chunk_bytes = 1 + rng() % 1000;
    options.verify_from_lsn = rng() % 2 == 0 ? 0 : 1 + rng() % 300;
    auto wal = OpenWal(&env, options);
    Model model;
    for (int step = 0; step < 400; ++step) {
      CAPTURE(step);
      RandomStep(rng, env, wal, model, options);
    }
  }
}

TEST_CASE("Wal with a write buffer keeps appends in memory until full, read or synced", "[wal]") {
  MemEnv env;
  WalOptions options = SmallOptions();
  options.segment_bytes_max = 64 * 1024;
  options.write_buffer_bytes = 4096;
  auto wal = OpenWal(&env, options);
  const std::string path = JoinPath(kDir, wal::SegmentFileName(1));
  const uint64_t empty_size = *env.GetFileSize(path);
  AppendRange(*wal, 1, 3, 1);
  CHECK(*env.GetFileSize(path) == empty_size);  // Pending in memory.
  CheckRange(ReadAll(*wal, 1), 1, 3, 1);        // A read writes them out first.
  CHECK(*env.GetFileSize(path) > empty_size);
  AppendRange(*wal, 4, 5, 1);
  REQUIRE(wal->Sync().ok());
  AppendRange(*wal, 6, 7, 1);  // Pending when the process dies.
  const uint64_t before_crash = *env.GetFileSize(path);
  env.CrashDropUnsynced();
  wal.reset();
  wal = OpenWal(&env, options);
  CHECK(wal->last_lsn() == 5);
  CheckRange(ReadAll(*wal, 1), 1, 5, 1);
  // Filling the buffer writes it out without a read or a sync.
  uint64_t lsn = 6;
  while (*env.GetFileSize(path) <= before_crash) {
    AppendRange(*wal, lsn, lsn, 1);
    ++lsn;
  }
  CHECK(lsn - 6 > 10);
}

TEST_CASE("Wal works on the POSIX file system", "[wal]") {
  TempDir dir;
  Env* env = Env::Default();
  WalOptions options = SmallOptions();
  options.dir = JoinPath(dir.path(), "wal");
  {
    StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(env, options);
    REQUIRE(wal.ok());
    AppendRange(**wal, 1, 50, 1);
    REQUIRE((*wal)->Sync().ok());
    REQUIRE((*wal)->TruncateAfter(45).ok());
    REQUIRE((*wal)->ReleaseUpTo(20).ok());
    AppendRange(**wal, 46, 70, 2, /*salt=*/3);
    REQUIRE((*wal)->Sync().ok());
  }
  WalRecoveryReport report;
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(env, options, &report);
  REQUIRE(wal.ok());
  CHECK((*wal)->last_lsn() == 70);
  const uint64_t first = (*wal)->first_lsn();
  CHECK(first > 1);
  CheckRange(ReadAll(**wal, first), first, 45, 1);
  CheckRange(ReadAll(**wal, 46), 46, 70, 2, 3);
}

}  // namespace
}  // namespace toydb
