// Tests of DataSegment: buffered appends, reads, scans, reopening at a
// checkpointed length, removal of an obsolete segment with its hint file, and
// write-back ahead on the real file system.
#include "src/storage/datalog/data_segment.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <vector>

#include "src/storage/datalog/background_writer.h"
#include "src/storage/datalog/compaction_batch.h"
#include "src/storage/datalog/hint_file.h"
#include "tests/storage/temp_dir.h"
#include "toydb/mem_env.h"

namespace toydb {
namespace {

std::string Record(uint64_t lsn, std::string_view key, std::string_view value) {
  std::string out;
  data_format::EncodeRecord(lsn, false, key, value, &out);
  return out;
}

// A new segment in /db (created and synced if need be) on `env`.
std::shared_ptr<DataSegment> NewSegment(MemEnv& env, uint32_t id) {
  REQUIRE(env.CreateDir("/db").ok());
  REQUIRE(env.SyncDir("/db").ok());
  auto segment = DataSegment::Create(&env, "/db", id);
  REQUIRE(segment.ok());
  return *segment;
}

TEST_CASE("DataSegment buffers appends until flushed, then reads and scans them",
          "[data_segment]") {
  MemEnv env;
  auto segment = NewSegment(env, 7);
  DataSegment& s = *segment;
  const std::string a = Record(1, "a", "alpha"), b = Record(2, "b", "beta");
  CHECK(*s.Append(a) == 0);
  CHECK(*s.Append(b) == a.size());
  CHECK(s.size() == a.size() + b.size());
  CHECK(s.flushed_size() == 0);  // Still in the write buffer.
  CHECK(*env.GetFileSize(s.path()) == 0);
  {
    // Buffered records read back from the buffer.
    std::string scratch;
    data_format::Record r;
    REQUIRE(s.ReadBufferedRecord(a.size(), b.size(), &scratch, &r).ok());
    CHECK(r.key == "b");
    CHECK(absl::IsDataLoss(s.ReadBufferedRecord(1, a.size(), &scratch, &r)));
  }
  REQUIRE(s.Flush().ok());
  {
    std::string scratch;
    data_format::Record r;
    CHECK(absl::IsInternal(s.ReadBufferedRecord(0, a.size(), &scratch, &r)));  // Flushed.
  }
  CHECK(s.flushed_size() == s.size());

  std::string scratch;
  data_format::Record r;
  REQUIRE(s.ReadRecord(a.size(), b.size(), &scratch, &r).ok());
  CHECK(r.key == "b");
  CHECK(r.value == "beta");
  CHECK(absl::IsDataLoss(s.ReadRecord(1, a.size(), &scratch, &r)));  // Not a record boundary.

  REQUIRE(s.Seal().ok());
  std::vector<std::string> keys;
  REQUIRE(s.Scan([&](uint64_t, uint64_t, const data_format::Record& rec) {
             keys.emplace_back(rec.key);
           }).ok());
  CHECK(keys == std::vector<std::string>{"a", "b"});
}

TEST_CASE("DataSegment seal ends appends without a sync; SyncWritten makes it durable",
          "[data_segment]") {
  MemEnv env;
  auto segment = NewSegment(env, 3);
  DataSegment& s = *segment;
  const std::string a = Record(1, "a", "alpha");
  REQUIRE(s.Append(a).ok());
  REQUIRE(s.Seal().ok());
  CHECK_FALSE(s.writable());
  CHECK(absl::IsFailedPrecondition(s.Append(a).status()));
  CHECK(s.flushed_size() == a.size());  // The seal flushed the buffer...
  REQUIRE(env.SyncDir("/db").ok());
  SECTION("a failed sync is reported, and a retry may still report it") {
    env.SetSyncFailure(true);
    CHECK_FALSE(s.SyncWritten().ok());
    env.SetSyncFailure(false);
  }
  SECTION("once synced the record survives a crash and later syncs do nothing") {
    REQUIRE(s.SyncWritten().ok());
    REQUIRE(s.SyncWritten().ok());
    env.CrashDropUnsynced();
    CHECK(*env.GetFileSize("/db/" + DataSegmentFileName(3)) == a.size());
  }
}

TEST_CASE("DataSegment sealed but not synced loses its bytes in a crash", "[data_segment]") {
  MemEnv env;
  auto segment = NewSegment(env, 4);
  REQUIRE(segment->Append(Record(1, "a", "alpha")).ok());
  REQUIRE(segment->Seal().ok());
  env.CrashDropUnsynced();
  auto size = env.GetFileSize("/db/" + DataSegmentFileName(4));
  // The file's entry may or may not have been made durable; its bytes were not.
  CHECK((!size.ok() || *size == 0));
}

TEST_CASE("DataSegment reopened at a checkpointed length reads only up to it and cuts nothing",
          "[data_segment]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  const std::string a = Record(1, "a", "1"), b = Record(2, "b", "2");
  {
    auto segment = DataSegment::Create(&env, "/db", 1);
    REQUIRE(segment.ok());
    REQUIRE((*segment)->Append(a).ok());
    REQUIRE((*segment)->Append(b).ok());
    REQUIRE((*segment)->Sync().ok());
  }
  auto reopened = DataSegment::OpenExisting(&env, "/db", 1, a.size(), /*writable=*/false);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->size() == a.size());
  CHECK(*env.GetFileSize((*reopened)->path()) == a.size() + b.size());
  int records = 0;
  REQUIRE(
      (*reopened)->Scan([&](uint64_t, uint64_t, const data_format::Record&) { ++records; }).ok());
  CHECK(records == 1);
  reopened->reset();
  // Appends would land after bytes that are not part of the segment.
  CHECK(absl::IsFailedPrecondition(
      DataSegment::OpenExisting(&env, "/db", 1, a.size(), /*writable=*/true).status()));
  REQUIRE(env.TruncateFile("/db/" + DataSegmentFileName(1), a.size()).ok());
  CHECK(DataSegment::OpenExisting(&env, "/db", 1, a.size(), /*writable=*/true).ok());
  CHECK(absl::IsDataLoss(DataSegment::OpenExisting(&env, "/db", 1, 1000, false).status()));
  CHECK(absl::IsDataLoss(DataSegment::OpenExisting(&env, "/db", 9, 0, false).status()));
}

TEST_CASE("DataSegment marked obsolete removes its file and hint file when released",
          "[data_segment]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  std::string path;
  {
    auto segment = DataSegment::Create(&env, "/db", 3);
    REQUIRE(segment.ok());
    REQUIRE((*segment)->Append(Record(1, "k", "v")).ok());
    REQUIRE((*segment)->Seal().ok());
    HintFileBuilder hint;
    hint.Add(HintEntry{1, 0, 22, false, "k"});
    REQUIRE(hint.Finish(&env, JoinPath("/db", HintFileName(3))).ok());
    path = (*segment)->path();
    std::shared_ptr<DataSegment> reader = *segment;  // A reader still holds it.
    (*segment)->MarkObsolete();
    segment->reset();
    CHECK(env.FileExists(path));
  }
  CHECK_FALSE(env.FileExists(path));
  CHECK_FALSE(env.FileExists(JoinPath("/db", HintFileName(3))));
}

TEST_CASE("DataSegment writing back ahead on the POSIX file system keeps every record",
          "[data_segment]") {
  TempDir dir;
  Env* env = Env::Default();
  const std::string value(1000, 'w');
  std::vector<uint64_t> offsets;
  {
    auto segment = DataSegment::Create(env, dir.path(), 3);
    REQUIRE(segment.ok());
    // 4,000 records of about 1 KiB: several buffer flushes, each started
    // towards the disk before the next.
    for (uint64_t lsn = 1; lsn <= 4000; ++lsn) {
      auto at = (*segment)->Append(Record(lsn, fmt::format("key{}", lsn), value));
      REQUIRE(at.ok());
      offsets.push_back(*at);
    }
    REQUIRE((*segment)->Seal().ok());
  }
  const uint64_t size = *env->GetFileSize(JoinPath(dir.path(), DataSegmentFileName(3)));
  auto reopened = DataSegment::OpenExisting(env, dir.path(), 3, size, /*writable=*/false);
  REQUIRE(reopened.ok());
  uint64_t lsn = 0;
  REQUIRE((*reopened)
              ->Scan([&](uint64_t offset, uint64_t, const data_format::Record& r) {
                ++lsn;
                CHECK(offset == offsets[lsn - 1]);
                CHECK(r.lsn == lsn);
                CHECK(r.key == fmt::format("key{}", lsn));
                CHECK(r.value == value);
              })
              .ok());
  CHECK(lsn == 4000);
}

TEST_CASE("DeadRecordSet tells dead records apart, even the smallest back to back",
          "[data_segment]") {
  MemEnv env;
  auto segment = NewSegment(env, 1);
  DataSegment& s = *segment;
  // 1-byte keys and empty values: the smallest records, closer together than
  // anything a store writes, each must keep a mark of its own.
  std::vector<uint64_t> offsets;
  for (uint64_t lsn = 1; lsn <= 3000; ++lsn) {
    auto at = s.AppendRecord(lsn, false, std::string(1, static_cast<char>('a' + lsn % 26)), "");
    REQUIRE(at.ok());
    offsets.push_back(*at);
  }
  REQUIRE(offsets[1] - offsets[0] == data_format::kHeaderBytes + 1);
  // Marked out of order, as overwrites come.
  for (size_t i = offsets.size(); i-- > 0;) {
    if (i % 3 == 0) s.MarkDead(static_cast<uint32_t>(offsets[i]));
  }
  const DeadRecordSet dead(s.dead_offsets());
  for (size_t i = 0; i < offsets.size(); ++i) {
    INFO("record " << i << " at " << offsets[i]);
    CHECK(dead.Contains(offsets[i]) == (i % 3 == 0));
  }
  // Past the last mark (and past the end) nothing is dead; nor in an empty set.
  CHECK_FALSE(dead.Contains(s.size() + 1000000));
  CHECK_FALSE(DeadRecordSet({}).Contains(0));
}

// Reads a record the way the store does: from the file once it is there,
// else from a buffer.
Status ReadLikeTheStore(const DataSegment& s, uint64_t offset, uint64_t length,
                        std::string* scratch, data_format::Record* r) {
  return offset + length <= s.flushed_size() ? s.ReadRecord(offset, length, scratch, r)
                                             : s.ReadBufferedRecord(offset, length, scratch, r);
}

// A new segment on a MemEnv whose full buffers go to a background writer.
// The segment is declared last: it goes first, while the writer still runs.
struct SegmentWithBackgroundWriter {
  MemEnv env;
  BackgroundWriter background;
  std::shared_ptr<DataSegment> segment;

  SegmentWithBackgroundWriter() : segment(NewSegment(env, 4)) {
    segment->WriteFullBuffersOn(&background);
  }
};

TEST_CASE("DataSegment hands full buffers to a background writer and serves every record",
          "[data_segment][threads]") {
  SegmentWithBackgroundWriter fixture;
  DataSegment& s = *fixture.segment;
  // About 3 MiB: a dozen buffers, each written while the next one fills and
  // while records of all three places (file, buffer in flight, write
  // buffer) are read back.
  const std::string value(1000, 'b');
  struct At {
    uint64_t offset, length;
  };
  std::vector<At> records;
  for (uint64_t lsn = 1; lsn <= 3000; ++lsn) {
    const std::string key = fmt::format("key{}", lsn);
    auto at = s.AppendRecord(lsn, false, key, value);
    REQUIRE(at.ok());
    records.push_back(At{*at, data_format::RecordBytes(key.size(), value.size())});
    REQUIRE(s.FlushIfFull().ok());
    for (uint64_t back : {uint64_t{1}, uint64_t{200}, uint64_t{600}}) {
      if (back > lsn) continue;
      const At& r = records[lsn - back];
      std::string scratch;
      data_format::Record record;
      REQUIRE(ReadLikeTheStore(s, r.offset, r.length, &scratch, &record).ok());
      REQUIRE(record.lsn == lsn - back + 1);
    }
  }
  CHECK(s.flushed_size() > 0);
  REQUIRE(s.Seal().ok());
  CHECK(s.flushed_size() == s.size());
  uint64_t lsn = 0;
  REQUIRE(s.Scan([&](uint64_t offset, uint64_t, const data_format::Record& r) {
             ++lsn;
             CHECK(offset == records[lsn - 1].offset);
             CHECK(r.lsn == lsn);
           }).ok());
  CHECK(lsn == 3000);
}

TEST_CASE("DataSegment reports a failed background write and keeps its records readable",
          "[data_segment][threads]") {
  SegmentWithBackgroundWriter fixture;
  MemEnv& env = fixture.env;
  DataSegment& s = *fixture.segment;
  const std::string value(1000, 'f');
  std::vector<uint64_t> offsets;
  env.SetWriteFailure(true);
  // The first full buffer goes to the background writer, whose write fails;
  // the next hand-over (or any flush) reports it and writes nothing more.
  Status failure;
  uint64_t lsn = 0;
  while (failure.ok() && lsn < 2000) {
    ++lsn;
    auto at = s.AppendRecord(lsn, false, fmt::format("key{}", lsn), value);
    REQUIRE(at.ok());
    offsets.push_back(*at);
    failure = s.FlushIfFull();
  }
  REQUIRE_FALSE(failure.ok());
  CHECK_FALSE(s.Flush().ok());
  CHECK(s.flushed_size() == 0);
  CHECK(*env.GetFileSize(s.path()) == 0);
  // Nothing reached the file, yet every record is still served from memory.
  for (uint64_t i = 0; i < offsets.size(); ++i) {
    std::string scratch;
    data_format::Record record;
    const uint64_t length =
        data_format::RecordBytes(fmt::format("key{}", i + 1).size(), value.size());
    REQUIRE(ReadLikeTheStore(s, offsets[i], length, &scratch, &record).ok());
    CHECK(record.lsn == i + 1);
  }
  env.SetWriteFailure(false);
}

}  // namespace
}  // namespace toydb
