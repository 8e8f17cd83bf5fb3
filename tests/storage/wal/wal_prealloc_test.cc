// Tests of WAL segment preallocation (WalOptions::preallocate_bytes,
// src/storage/wal/wal_prealloc.h) on MemEnv: appends overwrite prepared zeros,
// recovery treats a zero tail as the clean end of the log and still cuts a
// torn record followed by zeros exactly as before, power cuts and failed
// syncs during preparation, sealing, and preparation on another thread.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <thread>

#include "src/storage/wal/wal.h"
#include "src/storage/wal/wal_format.h"
#include "toydb/mem_env.h"

namespace toydb {
namespace {

constexpr char kDir[] = "/db/wal";
constexpr uint64_t kSegmentBytes = 16 << 10;
constexpr uint64_t kChunkBytes = 2 << 10;

WalOptions PreallocOptions() {
  WalOptions options;
  options.dir = kDir;
  options.segment_bytes_max = kSegmentBytes;
  options.retention_bytes = 0;
  options.recycled_segments_max = 0;
  options.preallocate_bytes = 3 * kChunkBytes;
  options.preallocate_chunk_bytes = kChunkBytes;
  return options;
}

WalRecord Rec(uint64_t lsn) {
  return WalRecord{.term = 1,
                   .lsn = lsn,
                   .type = 1,
                   .payload = fmt::format("record {} {}", lsn, std::string(lsn % 50, 'x'))};
}

uint64_t EncodedSize(const WalRecord& r) { return wal::kRecordHeaderBytes + r.payload.size(); }

std::unique_ptr<Wal> OpenWal(Env* env, WalRecoveryReport* report = nullptr,
                             const WalOptions& options = PreallocOptions()) {
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(env, options, report);
  INFO(wal.status().ToString());
  REQUIRE(wal.ok());
  return std::move(*wal);
}

void AppendRange(Wal& wal, uint64_t from, uint64_t to) {
  for (uint64_t lsn = from; lsn <= to; ++lsn) {
    WalRecord r = Rec(lsn);
    REQUIRE(wal.Append({&r, 1}).ok());
  }
}

void CheckLog(Wal& wal, uint64_t last) {
  REQUIRE(wal.last_lsn() == last);
  std::vector<WalRecord> out;
  REQUIRE(wal.Read(1, UINT64_MAX, &out).ok());
  REQUIRE(out.size() == last);
  for (uint64_t lsn = 1; lsn <= last; ++lsn) CHECK(out[lsn - 1].payload == Rec(lsn).payload);
}

std::vector<std::string> Segments(Env& env) {
  std::vector<std::string> out;
  const std::vector<std::string> names = *env.GetChildren(kDir);
  for (const std::string& n : names) {
    if (wal::ParseSegmentFileName(n)) out.push_back(JoinPath(kDir, n));
  }
  return out;
}

uint64_t Size(Env& env, const std::string& path) { return *env.GetFileSize(path); }

// The offset just past the last non-zero byte: where the records end.
uint64_t DataEnd(Env& env, const std::string& path) {
  const std::string bytes = *env.ReadFileToString(path);
  const size_t last = bytes.find_last_not_of('\0');
  return last == std::string::npos ? 0 : last + 1;
}

TEST_CASE("Wal preallocation: a new log's first segment starts with a prepared chunk",
          "[wal][prealloc]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  const std::string segment = Segments(env).front();
  CHECK(Size(env, segment) == wal::kSegmentHeaderBytes + kChunkBytes);
  CHECK(env.UnsyncedBytes(segment) == 0);
  // Appends overwrite the zeros: the file does not grow.
  AppendRange(*wal, 1, 10);
  REQUIRE(wal->Sync().ok());
  CHECK(Size(env, segment) == wal::kSegmentHeaderBytes + kChunkBytes);
  CHECK(wal->PrepareWanted());
  REQUIRE(wal->PrepareAhead().ok());
  CHECK_FALSE(wal->PrepareWanted());
  CHECK(Size(env, segment) >= DataEnd(env, segment) + 3 * kChunkBytes - kChunkBytes);
  CHECK(env.UnsyncedBytes(segment) == 0);
  // Nothing more to do until the writes catch up.
  const uint64_t syncs = env.SyncCount();
  REQUIRE(wal->PrepareAhead().ok());
  CHECK(env.SyncCount() == syncs);
}

TEST_CASE("Wal preallocation: reopening after preparation without writes keeps the zeros",
          "[wal][prealloc]") {
  MemEnv env;
  uint64_t size = 0;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 5);
    REQUIRE(wal->Sync().ok());
    REQUIRE(wal->PrepareAhead().ok());
    size = Size(env, Segments(env).front());
  }
  for (int round = 0; round < 2; ++round) {
    env.CrashDropUnsynced();
    WalRecoveryReport report;
    auto wal = OpenWal(&env, &report);
    CheckLog(*wal, 5);
    CHECK(report.truncated_tail_bytes == 0);
    CHECK(Size(env, Segments(env).front()) == size);
  }
  // The log goes on over the zeros, and recovers again.
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 6, 20);
    REQUIRE(wal->Sync().ok());
    CHECK(Size(env, Segments(env).front()) == size);
  }
  env.CrashDropUnsynced();
  auto wal = OpenWal(&env);
  CheckLog(*wal, 20);
}

TEST_CASE("Wal preallocation: a torn record followed by zeros is cut exactly as before",
          "[wal][prealloc]") {
  const WalRecord last = Rec(11);
  const uint64_t size = EncodedSize(last);
  for (uint64_t keep = 0; keep <= size; ++keep) {
    CAPTURE(keep);
    MemEnv env;
    uint64_t file_size = 0;
    uint64_t end10 = 0;  // Where record 10 ends.
    {
      auto wal = OpenWal(&env);
      AppendRange(*wal, 1, 10);
      REQUIRE(wal->Sync().ok());
      REQUIRE(wal->PrepareAhead().ok());
      end10 = DataEnd(env, Segments(env).front());
      REQUIRE(wal->Append({&last, 1}).ok());
      file_size = Size(env, Segments(env).front());
    }
    // Only the record's bytes are unsynced, not the zeros after it.
    env.Crash([&](const std::string&, uint64_t unsynced) {
      CHECK(unsynced == size);
      return keep;
    });
    WalRecoveryReport report;
    auto wal = OpenWal(&env, &report);
    const uint64_t expected_last = keep == size ? 11 : 10;
    CheckLog(*wal, expected_last);
    if (keep == size) {
      CHECK(report.truncated_tail_bytes == 0);
      CHECK(Size(env, Segments(env).front()) == file_size);
    } else {
      // The torn prefix is cut with everything after it, as in a file
      // without preallocation. A prefix of zeros alone is indistinguishable
      // from the zero tail and stays: the log ends before it either way.
      std::string encoded;
      wal::EncodeRecord(1, last, &encoded);
      const bool all_zero = encoded.substr(0, keep).find_first_not_of('\0') == std::string::npos;
      CHECK(report.truncated_tail_bytes == (all_zero ? 0 : file_size - end10));
      CHECK(Size(env, Segments(env).front()) == (all_zero ? file_size : end10));
    }
    AppendRange(*wal, expected_last + 1, 12);
    REQUIRE(wal->Sync().ok());
    CheckLog(*wal, 12);
  }
}

TEST_CASE(
    "Wal preallocation: garbage in the zero tail is cut, a valid record after damage is "
    "DataLoss",
    "[wal][prealloc]") {
  MemEnv env;
  std::string segment;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 20);
    REQUIRE(wal->Sync().ok());
    REQUIRE(wal->PrepareAhead().ok());
    segment = Segments(env).front();
  }
  const uint64_t end = DataEnd(env, segment);
  const uint64_t size = Size(env, segment);
  REQUIRE(size > end + 100);
  SECTION("a flipped bit in the zeros") {
    REQUIRE(env.FlipBit(segment, end + 77, 2).ok());
    WalRecoveryReport report;
    auto wal = OpenWal(&env, &report);
    CheckLog(*wal, 20);
    CHECK(report.truncated_tail_bytes == size - end);
    CHECK(Size(env, segment) == end);
  }
  SECTION("a flipped bit in a record followed by valid ones") {
    REQUIRE(env.FlipBit(segment, end / 2, 2).ok());
    CHECK(absl::IsDataLoss(Wal::Open(&env, PreallocOptions()).status()));
  }
}

TEST_CASE("Wal preallocation: a power cut during preparation loses no synced record",
          "[wal][prealloc]") {
  for (uint64_t keep : {uint64_t{0}, uint64_t{1}, kChunkBytes / 2, uint64_t{100000}}) {
    CAPTURE(keep);
    MemEnv env;
    {
      auto wal = OpenWal(&env);
      AppendRange(*wal, 1, 30);
      REQUIRE(wal->Sync().ok());
      // The zeros are written but their sync fails: the power goes with
      // them unsynced (or partly written).
      env.SetSyncFailure(true);
      CHECK_FALSE(wal->PrepareAhead().ok());
      env.SetSyncFailure(false);
      // The Wal no longer vouches for this file.
      CHECK_FALSE(wal->Sync().ok());
      CHECK(absl::IsFailedPrecondition(wal->Append(std::vector<WalRecord>{Rec(31)})));
    }
    env.Crash([&](const std::string&, uint64_t unsynced) { return std::min(keep, unsynced); });
    WalRecoveryReport report;
    auto wal = OpenWal(&env, &report);
    CheckLog(*wal, 30);
    AppendRange(*wal, 31, 40);
    REQUIRE(wal->Sync().ok());
    CheckLog(*wal, 40);
  }
}

TEST_CASE("Wal preallocation: a full disk stops the preparation, not the log", "[wal][prealloc]") {
  MemEnv env;
  auto wal = OpenWal(&env);
  AppendRange(*wal, 1, 30);
  env.SetCapacityBytes(env.TotalFileBytes() + 10);
  CHECK(absl::IsResourceExhausted(wal->PrepareAhead()));
  env.SetCapacityBytes(UINT64_MAX);
  AppendRange(*wal, 31, 200);
  REQUIRE(wal->Sync().ok());
  REQUIRE(wal->PrepareAhead().ok());
  CheckLog(*wal, 200);
}

TEST_CASE("Wal preallocation: sealed segments are cut to their records", "[wal][prealloc]") {
  MemEnv env;
  uint64_t last = 0;
  {
    auto wal = OpenWal(&env);
    while (Segments(env).size() < 4) {
      AppendRange(*wal, last + 1, last + 10);
      last += 10;
      REQUIRE(wal->PrepareAhead().ok());
    }
    REQUIRE(wal->Sync().ok());
    const std::vector<std::string> segments = Segments(env);
    for (size_t i = 0; i + 1 < segments.size(); ++i) {
      CAPTURE(segments[i]);
      CHECK(Size(env, segments[i]) == DataEnd(env, segments[i]));
      CHECK(Size(env, segments[i]) <= kSegmentBytes);
    }
    CHECK(Size(env, segments.back()) > DataEnd(env, segments.back()));
  }
  env.CrashDropUnsynced();
  auto wal = OpenWal(&env);
  CheckLog(*wal, last);
}

TEST_CASE("Wal preallocation: TruncateAfter and a failed append cut the prepared file",
          "[wal][prealloc]") {
  MemEnv env;
  {
    auto wal = OpenWal(&env);
    AppendRange(*wal, 1, 20);
    REQUIRE(wal->Sync().ok());
    REQUIRE(wal->PrepareAhead().ok());
    env.SetWriteFailure(true);
    CHECK_FALSE(wal->Append(std::vector<WalRecord>{Rec(21)}).ok());
    env.SetWriteFailure(false);
    REQUIRE(wal->TruncateAfter(15).ok());
    REQUIRE(wal->PrepareAhead().ok());
    AppendRange(*wal, 16, 25);
    REQUIRE(wal->Sync().ok());
  }
  env.CrashDropUnsynced();
  auto wal = OpenWal(&env);
  CheckLog(*wal, 25);
}

TEST_CASE("Wal preallocation runs on another thread while the owner appends",
          "[wal][prealloc][threads]") {
  MemEnv env;
  WalOptions options = PreallocOptions();
  options.segment_bytes_max = 64 << 10;
  auto wal = OpenWal(&env, nullptr, options);
  std::atomic<bool> done{false};
  std::atomic<int> rounds{0};
  std::atomic<bool> prepare_failed{false};  // Catch's assertions are not thread-safe.
  std::thread preparer([&] {
    while (!done.load()) {
      if (wal->PrepareWanted() && !wal->PrepareAhead().ok()) prepare_failed.store(true);
      rounds++;
      std::this_thread::yield();
    }
  });
  uint64_t lsn = 0;
  for (int i = 0; i < 300; ++i) {
    AppendRange(*wal, lsn + 1, lsn + 5);
    lsn += 5;
    REQUIRE(wal->Sync().ok());
  }
  // Under load the thread may not have run yet: let it run once.
  const int seen = rounds.load();
  while (rounds.load() < seen + 2) std::this_thread::yield();
  done.store(true);
  preparer.join();
  CHECK_FALSE(prepare_failed.load());
  CheckLog(*wal, lsn);
  wal.reset();
  env.CrashDropUnsynced();
  wal = OpenWal(&env, nullptr, options);
  CheckLog(*wal, lsn);
}

}  // namespace
}  // namespace toydb
