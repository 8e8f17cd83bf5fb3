// Tests of what a Store tells its host about background work: the
// EventListener's callbacks, StoreStats' background error counters, and the
// read-only error's payload. Faults come from MemEnv.
#include <catch2/catch.hpp>
#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/util/mutex.h"
#include "tests/storage/store_test_util.h"
#include "toydb/event_listener.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

// Records every callback; thread-safe, as a listener must be.
class RecordingListener : public EventListener {
 public:
  void OnBackgroundError(const BackgroundErrorInfo& info) override {
    MutexLock lock(&mu_);
    errors_.push_back(info);
  }
  void OnCheckpointCompleted(const CheckpointInfo& info) override {
    MutexLock lock(&mu_);
    checkpoints_.push_back(info);
  }
  void OnCompactionCompleted(const CompactionInfo& info) override {
    MutexLock lock(&mu_);
    compactions_.push_back(info);
  }
  void OnStoreReadOnly(const Status& cause) override {
    MutexLock lock(&mu_);
    read_only_.push_back(cause);
  }

  std::vector<BackgroundErrorInfo> errors() {
    MutexLock lock(&mu_);
    return errors_;
  }
  std::vector<CheckpointInfo> checkpoints() {
    MutexLock lock(&mu_);
    return checkpoints_;
  }
  std::vector<CompactionInfo> compactions() {
    MutexLock lock(&mu_);
    return compactions_;
  }
  std::vector<Status> read_only() {
    MutexLock lock(&mu_);
    return read_only_;
  }
  // Waits (up to a minute: never a timing assertion) until `done` holds.
  template <typename Predicate>
  bool WaitUntil(Predicate done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(1);
    while (std::chrono::steady_clock::now() < deadline) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

 private:
  // The project's Mutex, which ThreadSanitizer sees (Debian's abseil is not
  // built with it).
  Mutex mu_;
  std::vector<BackgroundErrorInfo> errors_ ABSL_GUARDED_BY(mu_);
  std::vector<CheckpointInfo> checkpoints_ ABSL_GUARDED_BY(mu_);
  std::vector<CompactionInfo> compactions_ ABSL_GUARDED_BY(mu_);
  std::vector<Status> read_only_ ABSL_GUARDED_BY(mu_);
};

bool IsCheckpointFile(const std::string& path) {
  return path.find("/CHECKPOINT") != std::string::npos;
}

std::string Key(int i) { return "key-" + std::to_string(1000 + i); }

void CheckServes(Store& store, const std::string& key) {
  REQUIRE(store.Put({}, key, "still-serving").ok());
  CHECK(*store.Get(key) == "still-serving");
  CHECK_FALSE(store.GetStats().read_only);
}

TEST_CASE("A checkpoint that fails in the background is counted and told, and the store serves",
          "[store][events]") {
  MemEnv env;
  RecordingListener listener;
  StoreOptions options = MemStoreOptions(&env);
  options.event_listener = &listener;
  options.checkpoint_wal_bytes = 1024;
  auto store = OpenOrDie(options);
  for (int i = 0; i < 30; ++i) REQUIRE(store->Put({}, Key(i), std::string(50, 'v')).ok());

  env.SetWriteFailureFilter(IsCheckpointFile);
  const Status failed = store->RunBackgroundWork();
  CHECK_FALSE(failed.ok());
  REQUIRE(listener.errors().size() == 1);
  CHECK(listener.errors()[0].job == BackgroundJob::kCheckpoint);
  CHECK(listener.errors()[0].status == failed);
  StoreStats stats = store->GetStats();
  CHECK(stats.background_errors == 1);
  CHECK(stats.checkpoints == 0);
  CHECK(absl::IsInternal(stats.last_background_error));
  CHECK(std::string(stats.last_background_error.message()).starts_with("checkpoint: "));
  CheckServes(*store, "during-fault");

  // Retried each round: counted each time, told once.
  CHECK_FALSE(store->RunBackgroundWork().ok());
  CHECK(store->GetStats().background_errors == 2);
  CHECK(listener.errors().size() == 1);

  env.SetWriteFailureFilter(nullptr);
  REQUIRE(store->RunBackgroundWork().ok());
  stats = store->GetStats();
  CHECK(stats.checkpoints == 1);
  CHECK(stats.background_errors == 2);
  REQUIRE(listener.checkpoints().size() == 1);
  CHECK(listener.checkpoints()[0].applied_lsn == stats.last_lsn);
  CHECK(listener.checkpoints()[0].data_segments == stats.data_segments);
  CheckServes(*store, "after-fault");
  CHECK(listener.read_only().empty());

  // A failure after a success is told again.
  REQUIRE(store->Put({}, "more", std::string(2000, 'm')).ok());
  env.SetWriteFailureFilter(IsCheckpointFile);
  CHECK_FALSE(store->RunBackgroundWork().ok());
  CHECK(listener.errors().size() == 2);
  env.SetWriteFailureFilter(nullptr);
}

TEST_CASE("A compaction that fails in the background is counted and told, and the store serves",
          "[store][events]") {
  MemEnv env;
  RecordingListener listener;
  StoreOptions options = MemStoreOptions(&env);
  options.event_listener = &listener;
  options.data_segment_bytes_max = 4096;
  options.checkpoint_wal_bytes = uint64_t{1} << 30;  // No checkpoint but compaction's.
  auto store = OpenOrDie(options);
  for (int i = 0; i < 100; ++i) REQUIRE(store->Put({}, Key(i), std::string(60, 'v')).ok());
  // Builds the hint files of the sealed segments (one per round); no garbage
  // yet, so nothing to compact.
  for (int i = 0; i < 10; ++i) REQUIRE(store->RunBackgroundWork().ok());
  REQUIRE(store->GetStats().compactions == 0);
  // Garbage in the first sealed segments, written into the active one.
  const uint64_t segments = store->GetStats().data_segments;
  for (int i = 0; i < 30; ++i) REQUIRE(store->Delete({}, Key(i)).ok());
  REQUIRE(store->GetStats().data_segments == segments);  // No roll: no new hint due.

  // Writes to data segments that do not exist yet fail: compaction's outputs.
  const StatusOr<std::vector<std::string>> names = env.GetChildren("/db");
  REQUIRE(names.ok());
  std::set<std::string> existing;
  for (const std::string& name : *names) existing.insert("/db/" + name);
  env.SetWriteFailureFilter([existing](const std::string& path) {
    return path.ends_with(".seg") && !existing.contains(path);
  });
  const Status failed = store->RunBackgroundWork();
  CHECK_FALSE(failed.ok());
  REQUIRE(listener.errors().size() == 1);
  CHECK(listener.errors()[0].job == BackgroundJob::kCompaction);
  CHECK(store->GetStats().background_errors == 1);
  CHECK(std::string(store->GetStats().last_background_error.message()).starts_with("compaction: "));
  CHECK(store->GetStats().compactions == 0);
  CHECK(listener.compactions().empty());
  CHECK(store->Get(Key(50)).ok());
  CHECK(absl::IsNotFound(store->Get(Key(5)).status()));
  CHECK_FALSE(store->GetStats().read_only);

  env.SetWriteFailureFilter(nullptr);
  REQUIRE(store->RunBackgroundWork().ok());
  CHECK(store->GetStats().compactions == 1);
  REQUIRE(listener.compactions().size() == 1);
  const CompactionInfo compaction = listener.compactions()[0];
  CHECK(compaction.input_segments >= 1);
  CHECK(compaction.output_segments >= 1);
  CHECK(compaction.input_bytes == store->GetStats().compaction_input_bytes);
  CHECK(compaction.output_bytes == store->GetStats().compaction_output_bytes);
  CHECK(compaction.output_bytes < compaction.input_bytes);
  CHECK(listener.checkpoints().size() == 1);  // The compaction's own.
  CheckServes(*store, "after-fault");
  CHECK(*store->Get(Key(50)) == std::string(60, 'v'));
}

TEST_CASE("A checkpoint that fails on close is told to the listener", "[store][events]") {
  MemEnv env;
  RecordingListener listener;
  StoreOptions options = MemStoreOptions(&env);
  options.event_listener = &listener;
  auto store = OpenOrDie(options);
  REQUIRE(store->Put({}, "k", "v").ok());
  env.SetWriteFailureFilter(IsCheckpointFile);
  store.reset();
  REQUIRE(listener.errors().size() == 1);
  CHECK(listener.errors()[0].job == BackgroundJob::kCheckpointOnClose);
  CHECK(absl::IsInternal(listener.errors()[0].status));
  env.SetWriteFailureFilter(nullptr);
  // Nothing was lost: the WAL still has the write.
  store = OpenOrDie(options);
  CHECK(*store->Get("k") == "v");
}

TEST_CASE("A store turned read-only says so by payload, in its stats and to the listener",
          "[store][events]") {
  MemEnv env;
  RecordingListener listener;
  StoreOptions options = MemStoreOptions(&env);
  options.event_listener = &listener;
  auto store = OpenOrDie(options);
  REQUIRE(store->Put({}, "k", "v").ok());
  env.SetSyncFailure(true);
  // The write whose sync failed is read-only too, and says its outcome.
  const Status failed_write = store->Put({}, "k", "w").status();
  CHECK(absl::IsFailedPrecondition(failed_write));
  CHECK(IsStoreReadOnly(failed_write));
  CHECK(GetWriteOutcome(failed_write) == WriteOutcome::kUnknown);
  CHECK_FALSE(IsNotPrimary(failed_write));
  CHECK_FALSE(LeaderHint(failed_write).has_value());
  env.SetSyncFailure(false);
  // Every later write reports the same cause, and no outcome: it changed nothing.
  const Status failed = store->Put({}, "other", "x").status();
  CHECK(IsStoreReadOnly(failed));
  CHECK(GetWriteOutcome(failed) == WriteOutcome::kNotWritten);
  CHECK(store->Put({}, "third", "y").status() == failed);
  CHECK(store->GetStats().read_only);
  CHECK(*store->Get("k") == "v");  // Reads go on.

  // Told at the next round of background work, once; the rounds then do
  // nothing and count nothing.
  CHECK(listener.read_only().empty());
  CHECK(store->RunBackgroundWork() == failed);
  REQUIRE(listener.read_only().size() == 1);
  CHECK(listener.read_only()[0] == failed);
  CHECK(store->RunBackgroundWork() == failed);
  CHECK(listener.read_only().size() == 1);
  CHECK(store->GetStats().background_errors == 0);
  CHECK(listener.errors().empty());
}

TEST_CASE("A listener may call the store from its callbacks", "[store][events]") {
  MemEnv env;
  struct CheckpointingListener : EventListener {
    Store* store = nullptr;
    int checkpoints = 0;
    void OnCheckpointCompleted(const CheckpointInfo&) override {
      // A checkpoint from inside a callback raises an event of its own,
      // delivered after this callback returns.
      if (++checkpoints == 1) REQUIRE(store->Checkpoint().ok());
      CHECK(store->GetStats().checkpoints >= static_cast<uint64_t>(checkpoints));
    }
  } listener;
  StoreOptions options = MemStoreOptions(&env);
  options.event_listener = &listener;
  auto store = OpenOrDie(options);
  listener.store = store.get();
  REQUIRE(store->Put({}, "k", "v").ok());
  REQUIRE(store->Checkpoint().ok());
  CHECK(listener.checkpoints == 2);
  store.reset();  // The close's checkpoint: a third event.
  CHECK(listener.checkpoints == 3);
}

TEST_CASE("The background thread tells the listener of a failed checkpoint and goes on",
          "[store][events][threads]") {
  MemEnv env;
  RecordingListener listener;
  StoreOptions options = MemStoreOptions(&env);
  options.event_listener = &listener;
  options.background_threads = true;
  options.checkpoint_wal_bytes = 1024;
  env.SetWriteFailureFilter(IsCheckpointFile);
  auto store = OpenOrDie(options);
  for (int i = 0; i < 30; ++i) REQUIRE(store->Put({}, Key(i), std::string(50, 'v')).ok());
  REQUIRE(listener.WaitUntil([&] { return !listener.errors().empty(); }));
  CHECK(listener.errors()[0].job == BackgroundJob::kCheckpoint);
  CHECK(store->GetStats().background_errors >= 1);
  CheckServes(*store, "during-fault");

  env.SetWriteFailureFilter(nullptr);
  REQUIRE(listener.WaitUntil([&] { return !listener.checkpoints().empty(); }));
  CHECK(store->GetStats().checkpoints >= 1);
  CheckServes(*store, "after-fault");
  store.reset();
  CHECK(listener.errors().size() == 1);
}

TEST_CASE("The background thread tells the listener the store turned read-only",
          "[store][events][threads]") {
  MemEnv env;
  RecordingListener listener;
  StoreOptions options = MemStoreOptions(&env);
  options.event_listener = &listener;
  options.background_threads = true;
  auto store = OpenOrDie(options);
  env.SetSyncFailure(true);
  REQUIRE(IsStoreReadOnly(store->Put({}, "k", "v").status()));
  // The listener hears the cause every later write reports.
  const Status cause = store->Put({}, "k2", "v").status();
  REQUIRE(IsStoreReadOnly(cause));
  REQUIRE(listener.WaitUntil([&] { return !listener.read_only().empty(); }));
  CHECK(listener.read_only()[0] == cause);
  store.reset();
  CHECK(listener.read_only().size() == 1);
}

}  // namespace
}  // namespace toydb
