// Crash and fault tests of the Store on MemEnv: torn WAL tails, lost unsynced
// bytes, bit flips, failed syncs and full disks.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <map>
#include <random>

#include "tests/storage/store_test_util.h"
#include "toydb/clock.h"

namespace toydb {
namespace {

using testing::CrashStore;
using testing::MemStoreOptions;
using testing::OpenOrDie;

std::vector<std::string> WalFiles(MemEnv& env) {
  std::vector<std::string> paths;
  auto names = env.GetChildren("/db/wal");
  REQUIRE(names.ok());
  for (const auto& name : *names) paths.push_back("/db/wal/" + name);
  return paths;
}

TEST_CASE("A torn last WAL record at every byte offset recovers exactly the writes before it",
          "[store][crash]") {
  constexpr int kSynced = 5;
  uint64_t record_bytes = 0;
  for (uint64_t keep = 0;; ++keep) {
    MemEnv env;
    StoreOptions options = MemStoreOptions(&env);
    options.sync_policy = SyncPolicy::kNone;
    options.wal_write_buffer_bytes = 0;  // The torn record must reach the file.
    auto store = OpenOrDie(options);
    for (int i = 0; i < kSynced; ++i) {
      WriteOptions w;
      w.force_sync = i + 1 == kSynced;
      REQUIRE(store->Put(w, "k" + std::to_string(i), "value-" + std::to_string(i)).ok());
    }
    REQUIRE(store->Put({}, "torn", std::string(40, 't')).ok());
    std::string wal_path;
    for (const auto& path : WalFiles(env)) {
      if (env.UnsyncedBytes(path) > 0) wal_path = path;
    }
    REQUIRE_FALSE(wal_path.empty());  // The last record really is unsynced.
    record_bytes = env.UnsyncedBytes(wal_path);
    if (keep > record_bytes) break;
    CAPTURE(keep, record_bytes);
    CrashStore(&env, &store,
               [&](const std::string& path, uint64_t) { return path == wal_path ? keep : 0; });
    store = OpenOrDie(options);
    for (int i = 0; i < kSynced; ++i) {
      CHECK(*store->Get("k" + std::to_string(i)) == "value-" + std::to_string(i));
    }
    const bool whole = keep == record_bytes;
    CHECK(store->Get("torn").ok() == whole);
    CHECK(store->GetStats().last_lsn == (whole ? kSynced + 1 : kSynced));
    // The log continues cleanly after the cut.
    const uint64_t next = *store->Put({}, "after", "x");
    CHECK(next == (whole ? kSynced + 2 : kSynced + 1));
  }
  CHECK(record_bytes > 40);
}

TEST_CASE("Crashes never lose a write acknowledged under sync-every-write", "[store][crash]") {
  const uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  std::map<std::string, std::string> acknowledged;
  auto store = OpenOrDie(options);
  for (int round = 0; round < 20; ++round) {
    const int writes = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < writes; ++i) {
      std::string key = "k" + std::to_string(rng() % 40);
      std::string value = std::to_string(rng());
      REQUIRE(store->Put({}, key, value).ok());
      acknowledged[key] = value;
    }
    if (rng() % 4 == 0) REQUIRE(store->Checkpoint().ok());
    // A crash may keep any prefix of whatever was not synced.
    CrashStore(&env, &store,
               [&](const std::string&, uint64_t unsynced) { return rng() % (unsynced + 1); });
    store = OpenOrDie(options);
    for (const auto& [key, value] : acknowledged) REQUIRE(*store->Get(key) == value);
  }
}

TEST_CASE("A flipped bit in the middle of the WAL is DataLoss, never a silent skip",
          "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  auto store = OpenOrDie(options);
  for (int i = 0; i < 40; ++i)
    REQUIRE(store->Put({}, "k" + std::to_string(i), std::string(30, 'v')).ok());
  CrashStore(&env, &store);  // No checkpoint: recovery must replay the WAL.
  const std::vector<std::string> wal = WalFiles(env);
  REQUIRE(wal.size() == 1);
  // The segment is preallocated: its records end where its zeros begin.
  const std::string bytes = *env.ReadFileToString(wal.front());
  const uint64_t log_end = bytes.find_last_not_of('\0') + 1;
  REQUIRE(log_end > 40 * 30);
  REQUIRE(env.FlipBit(wal.front(), log_end / 2, 3).ok());
  StatusOr<std::unique_ptr<Store>> reopened = Store::Open(options);
  INFO(reopened.status().ToString());
  CHECK(absl::IsDataLoss(reopened.status()));
}

TEST_CASE("A damaged checkpoint is DataLoss", "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  {
    auto store = OpenOrDie(options);
    REQUIRE(store->Put({}, "k", "v").ok());
  }
  REQUIRE(env.FlipBit("/db/CHECKPOINT", 6, 0).ok());
  CHECK(absl::IsDataLoss(Store::Open(options).status()));
}

TEST_CASE("A damaged data record is DataLoss for its key only", "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  auto store = OpenOrDie(options);
  REQUIRE(store->Put({}, "first", "aaaaaaaa").ok());
  REQUIRE(store->Put({}, "second", "bbbbbbbb").ok());
  REQUIRE(store->Checkpoint().ok());  // Writes the data log's buffer out.
  std::string segment;
  auto names = env.GetChildren("/db");
  REQUIRE(names.ok());
  for (const auto& name : *names) {
    if (name.ends_with(".seg")) segment = "/db/" + name;
  }
  REQUIRE(env.FlipBit(segment, 25, 1).ok());  // Inside the first record's key.
  CHECK(absl::IsDataLoss(store->Get("first").status()));
  CHECK(*store->Get("second") == "bbbbbbbb");
}

TEST_CASE("A failed fsync puts the store in a read-only state that every write reports",
          "[store][crash]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  REQUIRE(store->Put({}, "k", "v").ok());
  env.SetSyncFailure(true);
  CHECK_FALSE(store->Put({}, "k", "lost?").ok());
  env.SetSyncFailure(false);
  auto later = store->Put({}, "other", "v");
  CHECK(absl::IsFailedPrecondition(later.status()));
  CHECK(later.status().message().find("read-only") != std::string::npos);
  CHECK(absl::IsFailedPrecondition(store->Delete({}, "k").status()));
  CHECK(store->GetStats().read_only);
  CHECK(store->Get("k").ok());  // Reads still work.
  CHECK_FALSE(store->Checkpoint().ok());
}

TEST_CASE("Rolled data segments are synced before a checkpoint names them", "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.sync_policy = SyncPolicy::kNone;  // Only checkpoints make anything durable.
  auto store = OpenOrDie(options);
  const std::string value(1000, 'v');
  // 64 KiB data segments: these writes roll the active segment several times,
  // and a roll seals without a sync.
  for (int i = 0; i < 300; ++i) REQUIRE(store->Put({}, fmt::format("k{}", i), value).ok());
  REQUIRE(store->GetStats().data_segments > 3);
  SECTION("a failed sync of a sealed segment makes the checkpoint fail and the store read-only") {
    env.SetSyncFailure(true);
    CHECK_FALSE(store->Checkpoint().ok());
    env.SetSyncFailure(false);
    CHECK(store->GetStats().read_only);
    CHECK(absl::IsFailedPrecondition(store->Put({}, "later", "v").status()));
  }
  SECTION("after a checkpoint a crash keeps every write, from the data log alone") {
    REQUIRE(store->Checkpoint().ok());
    CrashStore(&env, &store);
    store = OpenOrDie(options);
    for (int i = 0; i < 300; ++i) {
      auto got = store->Get(fmt::format("k{}", i));
      INFO(i);
      REQUIRE(got.ok());
      CHECK(*got == value);
    }
  }
}

TEST_CASE("A full disk refuses the write with ResourceExhausted and loses nothing",
          "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  // A preallocated WAL segment has its space already (the next test has
  // preallocation on).
  options.wal_preallocate_bytes = 0;
  auto store = OpenOrDie(options);
  for (int i = 0; i < 10; ++i) REQUIRE(store->Put({}, "k" + std::to_string(i), "v").ok());
  env.SetCapacityBytes(env.TotalFileBytes() + 100);
  auto full = store->Put({}, "big", std::string(1000, 'x'));
  INFO(full.status().ToString());
  CHECK(absl::IsResourceExhausted(full.status()));
  CHECK(absl::IsNotFound(store->Get("big").status()));
  env.SetCapacityBytes(UINT64_MAX);
  CHECK(store->Put({}, "big", std::string(1000, 'x')).ok());
  store.reset();
  store = OpenOrDie(options);
  for (int i = 0; i < 10; ++i) CHECK(*store->Get("k" + std::to_string(i)) == "v");
  CHECK(store->Get("big")->size() == 1000);
}

TEST_CASE("A full disk with a preallocated WAL refuses writes and loses nothing acknowledged",
          "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.sync_policy = SyncPolicy::kEveryWrite;
  REQUIRE(options.wal_preallocate_bytes > 0);
  auto store = OpenOrDie(options);
  REQUIRE(store->RunBackgroundWork().ok());  // Prepares the WAL ahead.
  env.SetCapacityBytes(env.TotalFileBytes() + 64 * 1024);
  // Write until the disk refuses: the WAL has room, so it is the data log
  // that fills up; the store then refuses every write, as after a failed
  // fsync, since the refused write reached the WAL.
  std::vector<std::string> acknowledged;
  Status refused;
  for (int i = 0; i < 10000 && refused.ok(); ++i) {
    const std::string key = fmt::format("key{:05}", i);
    StatusOr<uint64_t> put = store->Put({}, key, std::string(500, 'v'));
    if (put.ok()) {
      acknowledged.push_back(key);
    } else {
      refused = put.status();
    }
  }
  INFO(refused.ToString());
  REQUIRE_FALSE(refused.ok());
  CHECK((absl::IsResourceExhausted(refused) || absl::IsFailedPrecondition(refused)));
  CHECK(acknowledged.size() > 10);
  for (const std::string& key : acknowledged) CHECK(store->Get(key).ok());  // Reads still work.
  // With space again, a reopen has every acknowledged write.
  env.SetCapacityBytes(UINT64_MAX);
  store.reset();
  store = OpenOrDie(options);
  for (const std::string& key : acknowledged) CHECK(store->Get(key)->size() == 500);
  CHECK(store->Put({}, "after", "v").ok());
}

TEST_CASE(
    "A write committed to the WAL but not applied (full data log) says so, and a reopen "
    "applies it",
    "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  REQUIRE(options.sync_policy == SyncPolicy::kEveryWrite);
  auto store = OpenOrDie(options);
  REQUIRE(store->RunBackgroundWork().ok());  // The WAL has room ahead: only the data log fills.
  env.SetCapacityBytes(env.TotalFileBytes() + 64 * 1024);
  std::string refused_key;
  Status refused;
  for (int i = 0; i < 10000 && refused.ok(); ++i) {
    refused_key = fmt::format("key{:05}", i);
    refused = store->Put({}, refused_key, std::string(500, 'v')).status();
  }
  INFO(refused.ToString());
  REQUIRE_FALSE(refused.ok());
  // What the caller is told: committed at an LSN, not applied, store read-only.
  CHECK(absl::IsFailedPrecondition(refused));
  REQUIRE(GetWriteOutcome(refused) == WriteOutcome::kCommitted);
  const std::optional<uint64_t> lsn = GetWriteOutcomeLsn(refused);
  REQUIRE(lsn.has_value());
  CHECK(*lsn == store->GetStats().last_lsn);
  CHECK(refused.message().find("committed") != std::string_view::npos);
  CHECK(absl::IsNotFound(store->Get(refused_key).status()));  // Not applied here.
  CHECK(store->GetStats().read_only);
  // A later write is refused before it reaches the WAL: it changed nothing.
  const Status later = store->Put({}, "later", "v").status();
  CHECK(absl::IsFailedPrecondition(later));
  CHECK(GetWriteOutcome(later) == WriteOutcome::kNotWritten);
  CHECK_FALSE(GetWriteOutcomeLsn(later).has_value());

  // What a reopen shows agrees: the committed write is there, at its LSN.
  env.SetCapacityBytes(UINT64_MAX);
  SECTION("after a clean close") { store.reset(); }
  SECTION("after a power cut") { CrashStore(&env, &store); }
  store = OpenOrDie(options);
  auto reopened = store->GetVersioned(refused_key);
  INFO(reopened.status().ToString());
  REQUIRE(reopened.ok());
  CHECK(reopened->version == *lsn);
  CHECK(reopened->value == std::string(500, 'v'));
  CHECK(absl::IsNotFound(store->Get("later").status()));
  CHECK(store->GetStats().last_lsn == *lsn);
}

TEST_CASE("A write whose WAL sync failed has an unknown outcome, which a reopen decides",
          "[store][crash]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  auto store = OpenOrDie(options);
  REQUIRE(store->Put({}, "k", "before").ok());
  env.SetSyncFailure(true);
  const Status failed = store->Put({}, "k", "after").status();
  env.SetSyncFailure(false);
  INFO(failed.ToString());
  CHECK(absl::IsFailedPrecondition(failed));
  REQUIRE(GetWriteOutcome(failed) == WriteOutcome::kUnknown);
  const uint64_t lsn = GetWriteOutcomeLsn(failed).value_or(0);
  CHECK(lsn == 2);
  CHECK(*store->Get("k") == "before");
  // Either the bytes reached the disk or they did not; the version tells.
  bool expect_write = false;
  SECTION("the unsynced bytes survive (a clean close)") {
    store.reset();
    expect_write = true;
  }
  SECTION("the unsynced bytes are lost (a power cut)") { CrashStore(&env, &store); }
  store = OpenOrDie(options);
  auto reopened = store->GetVersioned("k");
  REQUIRE(reopened.ok());
  CHECK(reopened->value == (expect_write ? "after" : "before"));
  CHECK((reopened->version == lsn) == expect_write);
}

TEST_CASE("Interval sync policy syncs when the injected clock says so", "[store][crash]") {
  struct FakeClock : Clock {
    int64_t now = 0;
    int64_t NowMicros() override { return now; }
  } clock;
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.sync_policy = SyncPolicy::kInterval;
  options.sync_interval_ms = 10;
  options.clock = &clock;
  auto store = OpenOrDie(options);
  REQUIRE(store->Put({}, "early", "v").ok());
  const uint64_t syncs = env.SyncCount();
  REQUIRE(store->RunBackgroundWork().ok());
  CHECK(env.SyncCount() == syncs);  // Not due yet.
  clock.now += 10'000;
  REQUIRE(store->RunBackgroundWork().ok());
  CHECK(env.SyncCount() > syncs);
  REQUIRE(store->Put({}, "late", "v").ok());  // Unsynced: lost by the crash.
  CrashStore(&env, &store);
  store = OpenOrDie(options);
  CHECK(store->Get("early").ok());
  CHECK(absl::IsNotFound(store->Get("late").status()));
}

}  // namespace
}  // namespace toydb
