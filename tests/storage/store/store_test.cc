// Tests of the Store API: reads and writes, batches, compare-and-set, limits,
// snapshots, checkpoints, compaction and reopening.
#include "toydb/store.h"

#include <catch2/catch.hpp>
#include <map>

#include "src/storage/datalog/segment_file_pool.h"
#include "tests/storage/store_test_util.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

std::string ValueOf(Store& store, std::string_view key) {
  StatusOr<std::string> v = store.Get(key);
  if (absl::IsNotFound(v.status())) return "<absent>";
  REQUIRE(v.ok());
  return *v;
}

TEST_CASE("Store puts, gets and deletes, and every write gets the next LSN", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  CHECK(*store->Put({}, "a", "1") == 1);
  CHECK(*store->Put({}, "b", "2") == 2);
  CHECK(*store->Put({}, "a", "3") == 3);
  CHECK(ValueOf(*store, "a") == "3");
  CHECK(store->GetVersioned("a")->version == 3);
  CHECK(*store->Delete({}, "a") == 4);
  CHECK(absl::IsNotFound(store->Get("a").status()));
  CHECK(*store->Delete({}, "never-there") == 5);
  CHECK(store->GetStats().keys == 1);
  CHECK(ValueOf(*store, "b") == "2");
}

TEST_CASE("Store keeps binary keys and values exactly", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  const std::string key("k\0\xff", 3), value("\0\x01\x02\xfe", 4);
  REQUIRE(store->Put({}, key, value).ok());
  REQUIRE(store->Put({}, "empty", "").ok());
  store.reset();
  store = OpenOrDie(MemStoreOptions(&env));
  CHECK(*store->Get(key) == value);
  CHECK(*store->Get("empty") == "");
}

TEST_CASE("Store survives a clean reopen with everything in place", "[store]") {
  MemEnv env;
  {
    auto store = OpenOrDie(MemStoreOptions(&env));
    for (int i = 0; i < 500; ++i)
      REQUIRE(store->Put({}, "k" + std::to_string(i % 100), std::to_string(i)).ok());
    REQUIRE(store->Delete({}, "k7").ok());
  }
  auto store = OpenOrDie(MemStoreOptions(&env));
  CHECK(store->GetStats().keys == 99);
  CHECK(store->GetStats().last_lsn == 501);
  CHECK(ValueOf(*store, "k7") == "<absent>");
  CHECK(ValueOf(*store, "k42") == "442");
  CHECK(*store->Put({}, "next", "x") == 502);
}

TEST_CASE("Store applies a WriteBatch atomically, with later operations winning", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  REQUIRE(store->Put({}, "gone", "x").ok());
  WriteBatch batch;
  batch.Put("a", "1");
  batch.Put("b", "2");
  batch.Delete("gone");
  batch.Put("a", "final");
  auto lsn = store->Write({}, batch);
  REQUIRE(lsn.ok());
  CHECK(ValueOf(*store, "a") == "final");
  CHECK(store->GetVersioned("b")->version == *lsn);
  CHECK(ValueOf(*store, "gone") == "<absent>");
  store.reset();
  store = OpenOrDie(MemStoreOptions(&env));
  CHECK(ValueOf(*store, "a") == "final");
  CHECK(ValueOf(*store, "b") == "2");
}

TEST_CASE("Store compare-and-set checks the key's version", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  auto created = store->CompareAndSet({}, "k", 0, "v1");
  REQUIRE(created.ok());
  auto stale = store->CompareAndSet({}, "k", 0, "v2");
  CHECK(absl::IsAborted(stale.status()));
  CHECK(stale.status().message().find("current version 1") != std::string::npos);
  auto updated = store->CompareAndSet({}, "k", *created, "v2");
  REQUIRE(updated.ok());
  CHECK(ValueOf(*store, "k") == "v2");
  CHECK(absl::IsAborted(store->CompareAndSet({}, "k", *created, "v3").status()));
  REQUIRE(store->Delete({}, "k").ok());
  CHECK(store->CompareAndSet({}, "k", 0, "again").ok());
}

TEST_CASE("Store refuses requests over its limits and changes nothing", "[store]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.key_bytes_max = 8;
  options.value_bytes_max = 16;
  options.batch_ops_max = 3;
  options.batch_bytes_max = 40;
  auto store = OpenOrDie(options);
  REQUIRE(*store->Put({}, "k", "v") == 1);

  CHECK(absl::IsInvalidArgument(store->Put({}, "", "v").status()));
  CHECK(absl::IsInvalidArgument(store->Put({}, "123456789", "v").status()));
  CHECK(absl::IsInvalidArgument(store->Put({}, "k", std::string(17, 'x')).status()));
  CHECK(absl::IsInvalidArgument(store->Get("123456789").status()));
  CHECK(absl::IsInvalidArgument(store->Get("").status()));
  WriteBatch too_many;
  for (int i = 0; i < 4; ++i) too_many.Put("k" + std::to_string(i), "v");
  CHECK(absl::IsInvalidArgument(store->Write({}, too_many).status()));
  WriteBatch too_big;
  for (int i = 0; i < 3; ++i) too_big.Put("k" + std::to_string(i), std::string(16, 'v'));
  CHECK(absl::IsInvalidArgument(store->Write({}, too_big).status()));
  CHECK(absl::IsInvalidArgument(store->Write({}, WriteBatch()).status()));

  CHECK(ValueOf(*store, "k") == "v");
  CHECK(ValueOf(*store, "k0") == "<absent>");
  CHECK(*store->Put({}, "k", "w") == 2);  // No LSN was used up.
}

TEST_CASE("StoreOptions::Validate refuses nonsense", "[store]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  REQUIRE(options.Validate().ok());
  auto refused = [&](auto mutate) {
    StoreOptions o = options;
    mutate(o);
    return absl::IsInvalidArgument(Store::Open(o).status());
  };
  CHECK(refused([](StoreOptions& o) { o.dir = ""; }));
  CHECK(refused([](StoreOptions& o) { o.key_bytes_max = 0; }));
  CHECK(refused([](StoreOptions& o) { o.key_bytes_max = 70000; }));
  CHECK(refused([](StoreOptions& o) { o.batch_bytes_max = 1; }));
  CHECK(refused([](StoreOptions& o) { o.data_segment_bytes_max = 100; }));
  CHECK(refused([](StoreOptions& o) { o.compaction_garbage_ratio = 0; }));
  CHECK(refused([](StoreOptions& o) {
    o.sync_policy = SyncPolicy::kInterval;
    o.sync_interval_ms = 0;
  }));
}

TEST_CASE("Store refuses a second open of the same directory", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  CHECK(absl::IsFailedPrecondition(Store::Open(MemStoreOptions(&env)).status()));
  store.reset();
  CHECK(Store::Open(MemStoreOptions(&env)).ok());
}

TEST_CASE("Store snapshot is a consistent view at its LSN", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  for (int i = 0; i < 300; ++i)
    REQUIRE(store->Put({}, "k" + std::to_string(i % 50), std::to_string(i)).ok());
  REQUIRE(store->Delete({}, "k0").ok());
  auto snapshot_or = store->GetSnapshot();
  REQUIRE(snapshot_or.ok());
  auto& snapshot = *snapshot_or;
  CHECK(snapshot->lsn() == 301);
  // Later writes and a compaction that removes the snapshot's files.
  for (int i = 0; i < 300; ++i) REQUIRE(store->Put({}, "k" + std::to_string(i % 50), "later").ok());
  REQUIRE(store->Compact(/*force=*/true).ok());

  std::map<std::string, std::pair<std::string, uint64_t>> seen;
  REQUIRE(snapshot
              ->ForEach([&](std::string_view k, std::string_view v, uint64_t version) {
                CHECK(seen.emplace(std::string(k), std::make_pair(std::string(v), version)).second);
                return absl::OkStatus();
              })
              .ok());
  CHECK(seen.size() == 49);
  CHECK_FALSE(seen.contains("k0"));
  CHECK(seen.at("k7").first == "257");
  CHECK(seen.at("k7").second == 258);
  // A visitor's error stops the iteration.
  int visits = 0;
  CHECK(absl::IsCancelled(snapshot->ForEach([&](auto, auto, auto) {
    visits++;
    return absl::CancelledError("stop");
  })));
  CHECK(visits == 1);
}

TEST_CASE("Store compaction reclaims garbage and keeps every live value", "[store]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  auto store = OpenOrDie(options);
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 200; ++i) {
      REQUIRE(store->Put({}, "key" + std::to_string(i), std::string(100, 'a' + round)).ok());
    }
  }
  for (int i = 0; i < 200; i += 2) REQUIRE(store->Delete({}, "key" + std::to_string(i)).ok());
  StoreStats before = store->GetStats();
  CHECK(before.data_segments > 3);
  REQUIRE(store->Compact(/*force=*/false).ok());
  StoreStats after = store->GetStats();
  CHECK(after.compactions == 1);
  CHECK(after.data_bytes < before.data_bytes / 3);
  // Overwrite again so the first compaction's outputs (which have hint files)
  // are compacted in turn: their hint files must go with them.
  for (int i = 1; i < 200; i += 2) {
    REQUIRE(store->Put({}, "key" + std::to_string(i), std::string(100, 'j')).ok());
  }
  REQUIRE(store->Compact(/*force=*/true).ok());
  after = store->GetStats();
  CHECK(after.compactions == 2);
  // Every data file and hint file left belongs to a live segment.
  auto names = env.GetChildren("/db");
  REQUIRE(names.ok());
  // Files of compacted segments may wait in the pool for reuse, a bounded few.
  size_t segments = 0, pooled = 0;
  for (const std::string& name : *names) {
    if (SegmentFilePool::IsPoolFileName(name)) {
      pooled++;
    } else if (name.ends_with(".seg")) {
      segments++;
    }
    if (name.ends_with(".hint")) {
      CHECK(env.FileExists("/db/" + name.substr(0, name.size() - 5) + ".seg"));
    }
  }
  CHECK(segments == after.data_segments);
  CHECK(pooled <= SegmentFilePool::kMaxFiles);
  for (int i = 0; i < 200; ++i) {
    CHECK(ValueOf(*store, "key" + std::to_string(i)) ==
          (i % 2 == 0 ? "<absent>" : std::string(100, 'j')));
  }
  store.reset();
  store = OpenOrDie(options);
  CHECK(store->GetStats().keys == 100);
  CHECK(ValueOf(*store, "key1") == std::string(100, 'j'));
  CHECK(ValueOf(*store, "key2") == "<absent>");
}

TEST_CASE("Store reopens from hint files, or by scanning when a hint is damaged", "[store]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  {
    auto store = OpenOrDie(options);
    for (int i = 0; i < 2000; ++i)
      REQUIRE(store->Put({}, "k" + std::to_string(i), std::string(60, 'v')).ok());
    for (int i = 0; i < 2000; i += 3) REQUIRE(store->Delete({}, "k" + std::to_string(i)).ok());
    REQUIRE(store->RunBackgroundWork().ok());  // Writes hints for sealed segments.
    while (true) {
      StoreStats before = store->GetStats();
      REQUIRE(store->RunBackgroundWork().ok());
      if (store->GetStats().compactions == before.compactions) break;
    }
  }
  auto children = env.GetChildren("/db");
  REQUIRE(children.ok());
  std::vector<std::string> hints;
  for (const auto& name : *children) {
    if (name.ends_with(".hint")) hints.push_back(name);
  }
  REQUIRE(hints.size() >= 2);
  REQUIRE(env.FlipBit("/db/" + hints.front(), 5, 1).ok());
  auto store = OpenOrDie(options);
  CHECK(store->GetStats().keys == 2000 - 667);
  for (int i = 0; i < 2000; ++i) {
    CHECK(ValueOf(*store, "k" + std::to_string(i)) ==
          (i % 3 == 0 ? "<absent>" : std::string(60, 'v')));
  }
}

TEST_CASE("Store checkpoint lets the WAL release old segments", "[store]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  auto store = OpenOrDie(options);
  auto wal_files = [&] { return env.GetChildren("/db/wal")->size(); };
  for (int i = 0; i < 3000; ++i)
    REQUIRE(store->Put({}, "k" + std::to_string(i % 10), std::string(50, 'x')).ok());
  const size_t before = wal_files();
  CHECK(before > 3);
  REQUIRE(store->Checkpoint().ok());
  CHECK(store->GetStats().checkpoint_lsn == 3000);
  CHECK(wal_files() < before);
  store.reset();
  store = OpenOrDie(options);
  CHECK(store->GetStats().last_lsn == 3000);
  CHECK(store->GetStats().keys == 10);
}

TEST_CASE("Store cache serves repeated reads and never a stale value", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  REQUIRE(store->Put({}, "k", "one").ok());
  CHECK(ValueOf(*store, "k") == "one");
  CHECK(ValueOf(*store, "k") == "one");
  CHECK(store->GetStats().cache_hits >= 1);
  REQUIRE(store->Put({}, "k", "two").ok());
  CHECK(ValueOf(*store, "k") == "two");
  REQUIRE(store->Delete({}, "k").ok());
  CHECK(ValueOf(*store, "k") == "<absent>");
  CHECK(store->GetStats().cache_bytes <= MemStoreOptions(&env).cache_bytes_max);
}

TEST_CASE("Store Get into a caller's string reuses it and reports what Get reports", "[store]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  REQUIRE(store->Put({}, "k", std::string(300, 'a')).ok());
  REQUIRE(store->Put({}, "short", "s").ok());
  std::string value = "previous contents";
  REQUIRE(store->Get("k", &value).ok());  // From the data log.
  CHECK(value == std::string(300, 'a'));
  const char* buffer = value.data();
  REQUIRE(store->Get("short", &value).ok());
  CHECK(value == "s");
  REQUIRE(store->Get("k", &value).ok());  // From the cache, into the same buffer.
  CHECK(value == std::string(300, 'a'));
  CHECK(value.data() == buffer);
  CHECK(absl::IsNotFound(store->Get("absent", &value)));
  CHECK(absl::IsInvalidArgument(store->Get("", &value)));
  auto versioned = store->GetVersioned("k");
  REQUIRE(versioned.ok());
  CHECK(versioned->version == 1);
  CHECK(versioned->value == std::string(300, 'a'));
}

TEST_CASE("Store compaction after a reopen drops what was overwritten before it", "[store]") {
  // The records a later write replaced are known as garbage from the writes
  // themselves, or, after a reopen, from the order the segments load in.
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  {
    auto store = OpenOrDie(options);
    for (int round = 0; round < 8; ++round) {
      for (int i = 0; i < 200; ++i) {
        REQUIRE(store->Put({}, "key" + std::to_string(i), std::string(100, 'a' + round)).ok());
      }
    }
  }
  auto store = OpenOrDie(options);
  const StoreStats before = store->GetStats();
  REQUIRE(store->Compact(/*force=*/true).ok());
  const StoreStats after = store->GetStats();
  CHECK(after.compactions == 1);
  // One live record of about 130 bytes per key is left, in compacted
  // segments and the active one, instead of eight.
  CHECK(after.data_bytes < before.data_bytes / 4);
  CHECK(after.data_bytes >= 200u * (100 + 5));
  for (int i = 0; i < 200; ++i)
    CHECK(ValueOf(*store, "key" + std::to_string(i)) == std::string(100, 'h'));
  store.reset();
  store = OpenOrDie(options);
  for (int i = 0; i < 200; ++i)
    CHECK(ValueOf(*store, "key" + std::to_string(i)) == std::string(100, 'h'));
}

TEST_CASE("Store reuses the files of compacted segments and drops leftovers at Open", "[store]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.background_threads = false;
  options.data_segment_bytes_max = 4096;
  auto store = OpenOrDie(options);
  auto pooled_files = [&] {
    size_t n = 0;
    const StatusOr<std::vector<std::string>> names = env.GetChildren("/db");
    REQUIRE(names.ok());
    for (const std::string& name : *names) {
      if (SegmentFilePool::IsPoolFileName(name)) n++;
    }
    return n;
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 100; ++i) {
      REQUIRE(store->Put({}, "key" + std::to_string(i), std::string(100, 'a' + round)).ok());
    }
  }
  REQUIRE(store->Compact(/*force=*/true).ok());
  CHECK(pooled_files() == SegmentFilePool::kMaxFiles);
  // New segments take the pooled files before creating any.
  for (int i = 0; i < 100; ++i) {
    REQUIRE(store->Put({}, "key" + std::to_string(i), std::string(100, 'z')).ok());
  }
  CHECK(pooled_files() == 0);
  for (int i = 0; i < 100; ++i)
    CHECK(ValueOf(*store, "key" + std::to_string(i)) == std::string(100, 'z'));
  // A reused file holds old records past the segment's end; a reopen (which
  // scans or reads hints up to the recorded lengths) must not see them.
  REQUIRE(store->Compact(/*force=*/true).ok());
  CHECK(pooled_files() > 0);
  store.reset();
  store = OpenOrDie(options);
  CHECK(pooled_files() == 0);
  for (int i = 0; i < 100; ++i)
    CHECK(ValueOf(*store, "key" + std::to_string(i)) == std::string(100, 'z'));
  CHECK(store->GetStats().keys == 100);
}

}  // namespace
}  // namespace toydb
