// Tests of the Store's write path (store_write.cc): compare-and-set checked
// against every earlier write of its commit group, deterministically (a WAL
// sync held closed so that writers pile up into one group) and under threads
// (every successful compare-and-set expected exactly the version it replaced).
#include <fmt/format.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "src/storage/store/store_impl.h"
#include "tests/storage/store_test_util.h"
#include "tests/storage/wrapping_env.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

// An Env whose file syncs wait while the gate is closed: the leader of a
// synced group then stays in its WAL sync, and writers that arrive meanwhile
// queue behind it and form the next group together.
class GatedSyncEnv : public testing::WrappingEnv {
 public:
  using WrappingEnv::WrappingEnv;

  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closed_ = false;
    }
    cv_.notify_all();
  }
  // Waits until a sync is held at the closed gate.
  void AwaitHeldSync() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return held_ > 0; });
  }

 protected:
  std::unique_ptr<WritableFile> WrapFile(std::unique_ptr<WritableFile> file) override {
    return std::make_unique<GatedFile>(this, std::move(file));
  }

 private:
  class GatedFile : public testing::ForwardingFile {
   public:
    GatedFile(GatedSyncEnv* env, std::unique_ptr<WritableFile> file)
        : ForwardingFile(std::move(file)), env_(env) {}
    Status Sync() override {
      env_->PassGate();
      return target().Sync();
    }

   private:
    GatedSyncEnv* const env_;
  };

  void PassGate() {
    std::unique_lock<std::mutex> lock(mu_);
    ++held_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !closed_; });
    --held_;
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
  int held_ = 0;
};

// A store on a gated MemEnv, and threads whose writes queue in a known
// order behind a leader held in its WAL sync.
class GroupFixture {
 public:
  GroupFixture() {
    StoreOptions options = MemStoreOptions(&mem_env_);
    options.env = &env_;
    options.wal_preallocate_bytes = 0;  // No preparation syncs at the gate.
    store_ = OpenOrDie(options);
  }
  ~GroupFixture() {
    env_.Open();
    for (std::thread& t : threads_) t.join();
  }

  Store& store() { return *store_; }

  // Starts a synced write that leads a group and stays in its WAL sync until
  // ReleaseGroup().
  void HoldLeader() {
    env_.Close();
    Start([](Store& s) { return s.Put({}, "leader", "x"); });
    env_.AwaitHeldSync();
  }
  // Starts `write` on a thread of its own and returns once it is queued,
  // behind those started before it. Its result is in results()[i], i being
  // the order in which it was started.
  void Start(std::function<StatusOr<uint64_t>(Store&)> write) {
    const size_t queued = Queued();
    size_t slot;
    {
      std::lock_guard<std::mutex> lock(results_mu_);
      slot = results_.size();
      results_.emplace_back(absl::UnknownError("not finished"));
    }
    threads_.emplace_back([this, slot, write = std::move(write)] {
      StatusOr<uint64_t> result = write(*store_);
      std::lock_guard<std::mutex> lock(results_mu_);
      results_[slot] = std::move(result);
    });
    while (Queued() == queued) std::this_thread::yield();
  }
  // Opens the gate and waits for every started write.
  std::vector<StatusOr<uint64_t>> ReleaseGroup() {
    env_.Open();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
    std::lock_guard<std::mutex> lock(results_mu_);
    return results_;
  }

 private:
  size_t Queued() { return static_cast<StoreImpl&>(*store_).QueuedWritersForTesting(); }

  MemEnv mem_env_;
  GatedSyncEnv env_{&mem_env_};
  std::unique_ptr<Store> store_;
  std::vector<std::thread> threads_;
  std::mutex results_mu_;
  std::vector<StatusOr<uint64_t>> results_;
};

TEST_CASE("A compare-and-set sees every earlier write of its commit group", "[store][write]") {
  GroupFixture group;
  Store& store = group.store();
  const uint64_t v1 = *store.Put({}, "k", "v1");

  SECTION("a put before it") {
    group.HoldLeader();
    group.Start([](Store& s) { return s.Put({}, "k", "v2"); });
    group.Start([v1](Store& s) { return s.CompareAndSet({}, "k", v1, "cas"); });
    auto results = group.ReleaseGroup();
    REQUIRE(results[1].ok());
    INFO(results[2].status().ToString());
    CHECK(absl::IsAborted(results[2].status()));
    CHECK(*store.Get("k") == "v2");
  }
  SECTION("a delete before it") {
    group.HoldLeader();
    group.Start([](Store& s) { return s.Delete({}, "k"); });
    group.Start([v1](Store& s) { return s.CompareAndSet({}, "k", v1, "cas"); });
    auto results = group.ReleaseGroup();
    REQUIRE(results[1].ok());
    CHECK(absl::IsAborted(results[2].status()));
    CHECK(absl::IsNotFound(store.Get("k").status()));
  }
  SECTION("a batch before it") {
    group.HoldLeader();
    group.Start([](Store& s) {
      WriteBatch batch;
      batch.Put("other", "o");
      batch.Put("k", "batch");
      return s.Write({}, batch);
    });
    group.Start([v1](Store& s) { return s.CompareAndSet({}, "k", v1, "cas"); });
    auto results = group.ReleaseGroup();
    REQUIRE(results[1].ok());
    CHECK(absl::IsAborted(results[2].status()));
    CHECK(*store.Get("k") == "batch");
  }
  SECTION("a put that creates the key, before a create-if-absent") {
    group.HoldLeader();
    group.Start([](Store& s) { return s.Put({}, "new", "put"); });
    group.Start([](Store& s) { return s.CompareAndSet({}, "new", 0, "cas"); });
    auto results = group.ReleaseGroup();
    REQUIRE(results[1].ok());
    CHECK(absl::IsAborted(results[2].status()));
    CHECK(*store.Get("new") == "put");
  }
  SECTION("a delete before a create-if-absent succeeds") {
    group.HoldLeader();
    group.Start([](Store& s) { return s.Delete({}, "k"); });
    group.Start([](Store& s) { return s.CompareAndSet({}, "k", 0, "cas"); });
    auto results = group.ReleaseGroup();
    REQUIRE(results[1].ok());
    REQUIRE(results[2].ok());
    auto now = store.GetVersioned("k");
    REQUIRE(now.ok());
    CHECK(now->value == "cas");
    CHECK(now->version == *results[2]);
  }
  SECTION("an earlier compare-and-set, which the later one must expect") {
    group.HoldLeader();
    group.Start([v1](Store& s) { return s.CompareAndSet({}, "k", v1, "first"); });
    group.Start([v1](Store& s) { return s.CompareAndSet({}, "k", v1, "second"); });
    auto results = group.ReleaseGroup();
    REQUIRE(results[1].ok());
    CHECK(absl::IsAborted(results[2].status()));
    CHECK(*store.Get("k") == "first");
  }
}

// A Clock that counts its reads; time moves on one microsecond per read.
class CountingClock : public Clock {
 public:
  int64_t NowMicros() override { return ++reads_; }
  int64_t reads() const { return reads_.load(); }

 private:
  std::atomic<int64_t> reads_{0};
};

TEST_CASE("Group commit reads real time only in a store with background threads",
          "[store][write]") {
  // The gathering wait for returning writers is real time (writers are OS
  // threads). The simulator's store, on one thread with an injected clock,
  // must never reach it.
  CountingClock clock;
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.clock = &clock;
  SECTION("without background threads: never, even with writers in groups") {
    GroupFixture group;  // background_threads = false, as MemStoreOptions.
    group.HoldLeader();
    group.Start([](Store& s) { return s.Put({}, "a", "1"); });
    group.Start([](Store& s) { return s.CompareAndSet({}, "b", 0, "2"); });
    for (const auto& result : group.ReleaseGroup()) CHECK(result.ok());
    for (int i = 0; i < 3; ++i) REQUIRE(group.store().Put({}, "c", "3").ok());
    CHECK(static_cast<StoreImpl&>(group.store()).GroupCommitRealTimeReadsForTesting() == 0);

    auto store = OpenOrDie(options);
    for (int i = 0; i < 20; ++i) {
      WriteOptions w;
      w.force_sync = true;
      REQUIRE(store->Put(w, fmt::format("k{}", i), "v").ok());
      REQUIRE(store->RunBackgroundWork().ok());
    }
    CHECK(static_cast<StoreImpl&>(*store).GroupCommitRealTimeReadsForTesting() == 0);
    CHECK(clock.reads() > 0);  // Its timed work reads the injected clock.
  }
  SECTION("with background threads: synced groups are timed in real time") {
    options.background_threads = true;
    auto store = OpenOrDie(options);
    for (int i = 0; i < 5; ++i) REQUIRE(store->Put({}, fmt::format("k{}", i), "v").ok());
    CHECK(static_cast<StoreImpl&>(*store).GroupCommitRealTimeReadsForTesting() > 0);
  }
}

// One successful write of a key, as its caller saw it.
struct Event {
  enum Kind { kPut, kDelete, kCas } kind;
  uint64_t lsn;
  uint64_t expected;  // For kCas.
};

// Catch2 assertions are not thread-safe: threads keep their events and the
// main thread checks them.
struct History {
  std::mutex mu;
  std::map<std::string, std::vector<Event>> by_key;
  void Add(const std::string& key, Event e) {
    std::lock_guard<std::mutex> lock(mu);
    by_key[key].push_back(e);
  }
};

// Every successful compare-and-set must have expected exactly the version it
// replaced: the LSN of the key's previous write, or 0 if that was a delete or
// there was none. Returns the violations found.
std::vector<std::string> CasViolations(History& history) {
  std::vector<std::string> violations;
  for (auto& [key, events] : history.by_key) {
    std::sort(events.begin(), events.end(),
              [](const Event& a, const Event& b) { return a.lsn < b.lsn; });
    uint64_t version = 0;
    for (const Event& e : events) {
      if (e.kind == Event::kCas && e.expected != version) {
        violations.push_back(fmt::format("{}: compare-and-set at lsn {} expected {}, replaced {}",
                                         key, e.lsn, e.expected, version));
      }
      version = e.kind == Event::kDelete ? 0 : e.lsn;
    }
  }
  return violations;
}

TEST_CASE("Concurrent puts, deletes and compare-and-sets keep the compare-and-set rule",
          "[store][write][threads]") {
  MemEnv mem_env;
  testing::SlowSyncEnv env{&mem_env, std::chrono::microseconds(500)};
  StoreOptions options = MemStoreOptions(&mem_env);
  options.env = &env;
  options.background_threads = true;
  auto store = OpenOrDie(options);
  constexpr int kKeys = 3, kWritesPerThread = 400;
  History history;
  std::atomic<int> successful_cas{0};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kWritesPerThread; ++i) {
        const std::string key = fmt::format("k{}", rng() % kKeys);
        const bool del = rng() % 5 == 0;
        auto lsn = del ? store->Delete({}, key) : store->Put({}, key, fmt::format("p{}", i));
        if (!lsn.ok()) {
          ++errors;
          continue;
        }
        history.Add(key, Event{del ? Event::kDelete : Event::kPut, *lsn, 0});
      }
    });
  }
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < kWritesPerThread; ++i) {
        const std::string key = fmt::format("k{}", rng() % kKeys);
        auto current = store->GetVersioned(key);
        if (!current.ok() && !absl::IsNotFound(current.status())) {
          ++errors;
          continue;
        }
        const uint64_t expected = current.ok() ? current->version : 0;
        auto lsn = store->CompareAndSet({}, key, expected, fmt::format("c{}", i));
        if (lsn.ok()) {
          ++successful_cas;
          history.Add(key, Event{Event::kCas, *lsn, expected});
        } else if (!absl::IsAborted(lsn.status())) {
          ++errors;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(errors.load() == 0);
  CHECK(successful_cas.load() > 0);
  const std::vector<std::string> violations = CasViolations(history);
  INFO(fmt::format("{} of {} successful compare-and-sets broke the rule; first: {}",
                   violations.size(), successful_cas.load(),
                   violations.empty() ? "" : violations.front()));
  CHECK(violations.empty());
}

}  // namespace
}  // namespace toydb
