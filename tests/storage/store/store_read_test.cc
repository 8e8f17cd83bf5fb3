// Tests of the Store's read path: the value cache under a stream of misses,
// Get into a string its key points into, and reads of sealed segments while
// compaction replaces and recycles their files.
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "src/storage/datalog/data_format.h"
#include "src/storage/datalog/data_segment.h"
#include "src/storage/store/store_impl.h"
#include "tests/storage/store_test_util.h"
#include "tests/storage/temp_dir.h"
#include "toydb/store.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

std::string Key(uint64_t i) { return fmt::format("{:016}", i); }
std::string Value(uint64_t i) { return fmt::format("{:0100}", i * 7919); }

// The shape of a store whose keys are far more than its cache holds, written
// and then each read once: every read misses and inserts into a full cache.
TEST_CASE("Store reads of many more keys than its cache holds keep the cache's probes short",
          "[store][value_cache]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.data_segment_bytes_max = 1u << 20;
  options.cache_bytes_max = 512u << 10;  // 4,096 slots: 2,867 entries.
  auto store = OpenOrDie(options);
  constexpr uint64_t kKeys = 40'000;
  for (uint64_t i = 0; i < kKeys; ++i) REQUIRE(store->Put({}, Key(i), Value(i)).ok());
  std::string value;
  for (uint64_t i = 0; i < kKeys; ++i) {
    REQUIRE(store->Get(Key(i), &value).ok());
    REQUIRE(value == Value(i));
  }
  const StoreStats stats = store->GetStats();
  CHECK(stats.cache_misses == kKeys);
  const ValueCache::ProbeStats probes =
      static_cast<StoreImpl*>(store.get())->CacheProbeStatsForTesting();
  INFO("longest probe " << probes.longest_probe << ", longest run " << probes.longest_run);
  CHECK(probes.longest_probe <= 32);
  CHECK(probes.longest_run <= 128);  // About 30 here; 155 with the cache's earlier eviction.
}

// A plain read takes the index's first hash-bit match and confirms the key
// from the record; among many keys some reads land on another key's record
// and must start over with an exact lookup. Every read of a present key must
// return its own value, every absent key NotFound, and each miss count once.
TEST_CASE("Store reads of many keys return each key's own value despite index hash-bit matches",
          "[store]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.data_segment_bytes_max = 1u << 20;
  options.cache_bytes_max = 0;  // Every read goes to the index and the record.
  auto store = OpenOrDie(options);
  constexpr uint64_t kKeys = 30'000;
  for (uint64_t i = 0; i < kKeys; ++i) REQUIRE(store->Put({}, Key(i), Value(i)).ok());
  std::string value;
  for (uint64_t i = 0; i < kKeys; ++i) {
    REQUIRE(store->Get(Key(i), &value).ok());
    REQUIRE(value == Value(i));
    StatusOr<VersionedValue> versioned = store->GetVersioned(Key(i));
    REQUIRE(versioned.ok());
    REQUIRE(versioned->value == Value(i));
  }
  for (uint64_t i = kKeys; i < 2 * kKeys; ++i) {
    REQUIRE(absl::IsNotFound(store->Get(Key(i), &value)));
  }
  CHECK(store->GetStats().cache_misses == 2 * kKeys);
}

// Following a chain of keys with one string: each read's key points into the
// string the read writes its value to. Values of growing lengths make the
// string reallocate (a read of the key after that is a use after free, which
// ASan reports); values of one length overwrite the key in place (a read of
// it after that sees the next key).
TEST_CASE("Store Get follows a chain when the key points into the value being read into",
          "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  constexpr int kLinks = 40;
  // Key i holds the name of key i + 1; the last holds "end".
  const auto link = [](int i, bool growing) {
    return growing ? fmt::format("g{}", std::string(static_cast<size_t>(i) * 8 + 1, 'x'))
                   : fmt::format("s{:04}", i);
  };
  for (bool growing : {true, false}) {
    for (int i = 0; i < kLinks; ++i) {
      REQUIRE(store->Put({}, link(i, growing), i + 1 < kLinks ? link(i + 1, growing) : "end").ok());
    }
  }
  // Twice: the first pass reads the data log (and fills the cache), the
  // second reads the cache.
  for (int pass = 0; pass < 2; ++pass) {
    for (bool growing : {true, false}) {
      INFO("pass " << pass << (growing ? ", growing values" : ", values of one length"));
      std::string cur = link(0, growing);
      cur.shrink_to_fit();
      int steps = 0;
      while (cur != "end" && steps <= kLinks) {
        ++steps;
        REQUIRE(store->Get(cur, &cur).ok());
        REQUIRE(cur == (steps < kLinks ? link(steps, growing) : "end"));
      }
      CHECK(steps == kLinks);
    }
  }
}

// Counts the reads that go through RandomAccessFile::Read (pread, for
// PosixEnv); a mapped segment's reads make none.
class ReadCountingEnv : public EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& p) override {
    StatusOr<std::unique_ptr<RandomAccessFile>> file = EnvWrapper::NewRandomAccessFile(p);
    if (!file.ok()) return file;
    return std::unique_ptr<RandomAccessFile>(new CountingFile(std::move(*file), &reads));
  }
  std::atomic<uint64_t> reads{0};

 private:
  class CountingFile : public RandomAccessFile {
   public:
    CountingFile(std::unique_ptr<RandomAccessFile> target, std::atomic<uint64_t>* reads)
        : target_(std::move(target)), reads_(reads) {}
    Status Read(uint64_t offset, size_t n, std::string* out) const override {
      reads_->fetch_add(1);
      return target_->Read(offset, n, out);
    }

   private:
    std::unique_ptr<RandomAccessFile> target_;
    std::atomic<uint64_t>* reads_;
  };
};

// Options for a store on the real file system with small segments and no
// value cache, so that every read goes to a data segment.
StoreOptions PosixStoreOptions(Env* env, const std::string& dir) {
  StoreOptions options;
  options.dir = dir;
  options.env = env;
  options.background_threads = false;
  options.sync_policy = SyncPolicy::kNone;
  options.data_segment_bytes_max = 64 * 1024;
  options.cache_bytes_max = 0;
  return options;
}

void OverwriteByte(const std::string& path, uint64_t offset) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  REQUIRE(fd >= 0);
  char byte = 0;
  REQUIRE(::pread(fd, &byte, 1, static_cast<off_t>(offset)) == 1);
  byte ^= 0x20;
  REQUIRE(::pwrite(fd, &byte, 1, static_cast<off_t>(offset)) == 1);
  ::close(fd);
}

TEST_CASE("Store reads sealed segments through a mapping and verifies every record",
          "[store][mmap]") {
  TempDir dir;
  ReadCountingEnv env(Env::Default());
  auto store = OpenOrDie(PosixStoreOptions(&env, dir.path()));
  constexpr uint64_t kKeys = 2000;  // About four 64 KiB segments.
  for (uint64_t i = 0; i < kKeys; ++i) REQUIRE(store->Put({}, Key(i), Value(i)).ok());
  REQUIRE(store->GetStats().data_segments >= 4);
  // The first segment is sealed: its reads make no read call.
  const uint64_t reads_before = env.reads.load();
  std::string value;
  for (uint64_t i = 0; i < 100; ++i) {
    REQUIRE(store->Get(Key(i), &value).ok());
    REQUIRE(value == Value(i));
  }
  CHECK(env.reads.load() == reads_before);
  // Damage on disk is seen through the mapping, and reported.
  const uint64_t record_bytes = data_format::RecordBytes(16, 100);
  OverwriteByte(JoinPath(dir.path(), DataSegmentFileName(1)), record_bytes - 1);
  Status s = store->Get(Key(0), &value);
  CHECK(absl::IsDataLoss(s));
  // Every other key still reads, from every segment.
  for (uint64_t i = 1; i < kKeys; ++i) {
    REQUIRE(store->Get(Key(i), &value).ok());
    REQUIRE(value == Value(i));
  }
  // After a reopen, the segments the checkpoint names are mapped at Open.
  OverwriteByte(JoinPath(dir.path(), DataSegmentFileName(1)), record_bytes - 1);
  store.reset();
  store = OpenOrDie(PosixStoreOptions(&env, dir.path()));
  const uint64_t reads_after_open = env.reads.load();
  for (uint64_t i = 0; i < 100; ++i) {
    REQUIRE(store->Get(Key(i), &value).ok());
    REQUIRE(value == Value(i));
  }
  CHECK(env.reads.load() == reads_after_open);
}

// Compaction retires segments whose files then go to the pool and are
// overwritten by new segments; a snapshot taken before must go on reading
// the old bytes, and the store the new ones, however the files are mapped.
TEST_CASE("Store snapshot and reads stay right while compaction recycles mapped segment files",
          "[store][mmap]") {
  TempDir dir;
  auto store = OpenOrDie(PosixStoreOptions(Env::Default(), dir.path()));
  constexpr uint64_t kKeys = 2000;
  const auto value_in_round = [](uint64_t i, int round) {
    return fmt::format("{}-{:0096}", round, i);
  };
  for (uint64_t i = 0; i < kKeys; ++i) REQUIRE(store->Put({}, Key(i), value_in_round(i, 0)).ok());
  StatusOr<std::unique_ptr<Snapshot>> snapshot = store->GetSnapshot();
  REQUIRE(snapshot.ok());
  std::string value;
  for (int round = 1; round <= 4; ++round) {
    for (uint64_t i = 0; i < kKeys; ++i) {
      REQUIRE(store->Put({}, Key(i), value_in_round(i, round)).ok());
    }
    REQUIRE(store->Compact(/*force=*/true).ok());
    for (uint64_t i = 0; i < kKeys; i += 7) {
      REQUIRE(store->Get(Key(i), &value).ok());
      REQUIRE(value == value_in_round(i, round));
    }
    if (round == 2) {
      // Segments of round 0 were compacted away while the snapshot held
      // them: it still reads them whole.
      uint64_t seen = 0;
      REQUIRE((*snapshot)
                  ->ForEach([&](std::string_view key, std::string_view v, uint64_t) {
                    const uint64_t i = std::stoull(std::string(key));
                    REQUIRE(v == value_in_round(i, 0));
                    ++seen;
                    return absl::OkStatus();
                  })
                  .ok());
      CHECK(seen == kKeys);
      snapshot->reset();  // Its files go to the pool and are reused from now on.
    }
  }
  CHECK(store->GetStats().compactions == 4);
}

// Readers on other threads while writes roll segments and compaction
// replaces them: every read finds its key's latest or an earlier value of
// that key, never a damaged record or another key's.
TEST_CASE("Store reads from many threads while compaction retires mapped segments",
          "[store][mmap][threads]") {
  TempDir dir;
  StoreOptions options = PosixStoreOptions(Env::Default(), dir.path());
  options.background_threads = true;
  options.compaction_garbage_ratio = 0.3;
  auto store = OpenOrDie(options);
  constexpr uint64_t kKeys = 1000;
  // Every value of key i starts with the key.
  const auto value_in_round = [](uint64_t i, int round) {
    return fmt::format("{}{:084}", Key(i), round);
  };
  for (uint64_t i = 0; i < kKeys; ++i) REQUIRE(store->Put({}, Key(i), value_in_round(i, 0)).ok());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937_64 rng(static_cast<uint64_t>(t));
      std::string value;
      while (!stop.load()) {
        const uint64_t i = rng() % kKeys;
        Status s = store->Get(Key(i), &value);
        if (!s.ok() || value.substr(0, 16) != Key(i)) bad.fetch_add(1);
        reads.fetch_add(1);
      }
    });
  }
  for (int round = 1; round <= 20; ++round) {
    for (uint64_t i = 0; i < kKeys; ++i) {
      REQUIRE(store->Put({}, Key(i), value_in_round(i, round)).ok());
    }
    REQUIRE(store->Compact(/*force=*/round % 4 == 3).ok());
  }
  stop.store(true);
  for (std::thread& t : readers) t.join();
  CHECK(bad.load() == 0);
  CHECK(reads.load() > 0);
  CHECK(store->GetStats().compactions > 0);
}

}  // namespace
}  // namespace toydb
