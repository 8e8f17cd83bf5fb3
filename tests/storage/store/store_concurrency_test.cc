// Concurrency tests of the Store: writers, readers, compaction and the
// background thread at once (also run under ThreadSanitizer: tag [threads]).
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "tests/storage/store_test_util.h"
#include "tests/storage/wrapping_env.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

// Catch2 assertions are not thread-safe: threads record what went wrong here
// and the main thread checks it.
class Failures {
 public:
  void Add(std::string what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (list_.size() < 10) list_.push_back(std::move(what));
  }
  std::vector<std::string> list() {
    std::lock_guard<std::mutex> lock(mu_);
    return list_;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> list_;
};

// Values are "<writer>:<counter>"; each writer owns its keys, so a reader may
// never see a key's counter go backwards.
uint64_t CounterOf(const std::string& value) {
  return std::stoull(value.substr(value.find(':') + 1));
}

TEST_CASE("Compaction runs concurrently with readers and writers", "[store][threads]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.background_threads = true;
  options.checkpoint_wal_bytes = 64 * 1024;
  auto store = OpenOrDie(options);

  // Writers go on past kWritesPerWriter until the compactor has swapped in
  // a few compactions and the readers have read a while, however the threads
  // are scheduled (bounded, so a broken store fails instead of hanging).
  constexpr int kWriters = 4, kKeysPerWriter = 20, kWritesPerWriter = 1500;
  constexpr int kMaxWritesPerWriter = 300000;
  std::atomic<bool> writing{true};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> compactions{0};
  auto enough = [&] { return compactions.load() >= 3 && reads.load() >= 1000; };
  Failures failures;
  std::vector<int> written(kWriters);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      int i = 0;
      while (i < kWritesPerWriter || (!enough() && i < kMaxWritesPerWriter)) {
        ++i;
        std::string key = "w" + std::to_string(w) + "-" + std::to_string(i % kKeysPerWriter);
        WriteBatch batch;
        batch.Put(key, std::to_string(w) + ":" + std::to_string(i));
        if (Status st = store->Write({}, batch).status(); !st.ok()) failures.Add(st.ToString());
      }
      written[w] = i;
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      std::map<std::string, uint64_t> last_seen;
      while (writing.load()) {
        for (int w = 0; w < kWriters; ++w) {
          std::string key = "w" + std::to_string(w) + "-" + std::to_string(reads % kKeysPerWriter);
          auto v = store->Get(key);
          if (absl::IsNotFound(v.status())) continue;
          if (!v.ok()) {
            failures.Add(v.status().ToString());
            continue;
          }
          const uint64_t counter = CounterOf(*v);
          if (counter < last_seen[key]) failures.Add("counter went back for " + key);
          last_seen[key] = counter;
          reads++;
        }
      }
    });
  }
  std::thread compactor([&] {
    while (writing.load()) {
      if (Status st = store->Compact(/*force=*/true); !st.ok()) failures.Add(st.ToString());
      compactions = store->GetStats().compactions;
    }
  });
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  writing = false;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();
  compactor.join();
  CHECK(failures.list().empty());

  StoreStats stats = store->GetStats();
  CHECK(stats.compactions >= 3);
  CHECK(reads.load() >= 1000);
  uint64_t total = 0;
  for (int n : written) total += static_cast<uint64_t>(n);
  CHECK(stats.writes == total);
  auto check_final = [&](Store& s) {
    for (int w = 0; w < kWriters; ++w) {
      for (int k = 0; k < kKeysPerWriter; ++k) {
        const int last = written[w] - ((written[w] - k) % kKeysPerWriter);
        REQUIRE(*s.Get("w" + std::to_string(w) + "-" + std::to_string(k)) ==
                std::to_string(w) + ":" + std::to_string(last));
      }
    }
  };
  check_final(*store);
  store.reset();
  store = OpenOrDie(options);
  check_final(*store);
}

// A store with background threads on a MemEnv whose syncs are slow, as the
// group-commit tests need.
struct SlowSyncStore {
  SlowSyncStore() {
    StoreOptions options = MemStoreOptions(&mem_env);
    options.env = &env;
    options.background_threads = true;
    store = OpenOrDie(options);
  }
  MemEnv mem_env;
  testing::SlowSyncEnv env{&mem_env, std::chrono::milliseconds(2)};
  std::unique_ptr<Store> store;
};

// `threads` threads each put `writes` keys of their own ("t<thread>-<i>"),
// all at once; failures are collected.
void PutFromThreads(Store& store, int threads, int writes, Failures* failures) {
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      for (int i = 0; i < writes; ++i) {
        auto lsn = store.Put({}, "t" + std::to_string(t) + "-" + std::to_string(i), "v");
        if (!lsn.ok()) failures->Add(lsn.status().ToString());
      }
    });
  }
  for (auto& t : running) t.join();
}

TEST_CASE("Concurrent synced writers share fdatasyncs (group commit)", "[store][threads]") {
  SlowSyncStore slow;
  Store* store = slow.store.get();
  constexpr int kThreads = 8, kWrites = 100;
  Failures failures;
  PutFromThreads(*store, kThreads, kWrites, &failures);
  CHECK(failures.list().empty());
  StoreStats stats = store->GetStats();
  CHECK(stats.writes == kThreads * kWrites);
  CHECK(stats.keys == kThreads * kWrites);
  // Each group is one WAL write and one sync. While one sync runs, the other
  // seven writers queue, so groups average well above one write.
  CHECK(stats.write_groups < stats.writes / 2);
  CHECK(stats.wal_syncs >= stats.write_groups);
  CHECK(stats.last_lsn == kThreads * kWrites);
}

TEST_CASE("A leader does not wait for writers of an earlier group that stopped writing",
          "[store][threads]") {
  SlowSyncStore slow;
  Store* store = slow.store.get();
  // Sixteen writers make groups of many; then they stop but one, whose
  // leaders expect the others back: its writes must still go through.
  constexpr int kThreads = 16, kWrites = 20, kAloneWrites = 50;
  Failures failures;
  PutFromThreads(*store, kThreads, kWrites, &failures);
  for (int i = 0; i < kAloneWrites; ++i) {
    auto lsn = store->Put({}, "alone-" + std::to_string(i), "v");
    if (!lsn.ok()) failures.Add(lsn.status().ToString());
  }
  CHECK(failures.list().empty());
  StoreStats stats = store->GetStats();
  CHECK(stats.writes == kThreads * kWrites + kAloneWrites);
  CHECK(stats.keys == kThreads * kWrites + kAloneWrites);
  CHECK(stats.last_lsn == kThreads * kWrites + kAloneWrites);
}

TEST_CASE("Concurrent compare-and-set increments lose no update and apply none twice",
          "[store][threads]") {
  SlowSyncStore slow;
  Store* store = slow.store.get();
  REQUIRE(store->Put({}, "counter", "0").ok());
  // Every thread reads the counter and writes it plus one if its version is
  // unchanged; groups hold several such writes, of which only the first of a
  // version may succeed.
  constexpr int kThreads = 8, kIncrements = 25;
  Failures failures;
  std::atomic<int> succeeded{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int done = 0; done < kIncrements;) {
        auto current = store->GetVersioned("counter");
        if (!current.ok()) {
          failures.Add(current.status().ToString());
          return;
        }
        const std::string next = std::to_string(std::stoi(current->value) + 1);
        auto lsn = store->CompareAndSet({}, "counter", current->version, next);
        if (lsn.ok()) {
          ++done;
          ++succeeded;
        } else if (!absl::IsAborted(lsn.status())) {
          failures.Add(lsn.status().ToString());
          return;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures.list().empty());
  CHECK(succeeded.load() == kThreads * kIncrements);
  CHECK(*store->Get("counter") == std::to_string(kThreads * kIncrements));
}

TEST_CASE("After a failed sync no concurrent write is acknowledged, and acknowledged ones survive",
          "[store][threads]") {
  MemEnv mem_env;
  StoreOptions options = MemStoreOptions(&mem_env);
  options.background_threads = true;
  auto store = OpenOrDie(options);
  constexpr int kThreads = 8;
  std::atomic<int> acknowledged_count{0};
  std::atomic<bool> failed_syncs{false};
  Failures failures;
  std::mutex acknowledged_mu;
  std::vector<std::string> acknowledged;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0;; ++i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i);
        const bool failing_before = failed_syncs.load();
        auto lsn = store->Put({}, key, "v");
        if (!lsn.ok()) break;
        // Syncs failed since before this write started: it cannot be durable.
        if (failing_before) failures.Add("acknowledged after a failed sync: " + key);
        ++acknowledged_count;
        std::lock_guard<std::mutex> lock(acknowledged_mu);
        acknowledged.push_back(key);
      }
      // Once a write failed, the store is read-only for every writer.
      if (!absl::IsFailedPrecondition(store->Put({}, "after", "v").status())) {
        failures.Add("a write after the failure was not refused");
      }
    });
  }
  while (acknowledged_count.load() < 200) std::this_thread::yield();
  mem_env.SetSyncFailure(true);
  failed_syncs = true;
  for (auto& t : threads) t.join();
  CHECK(failures.list().empty());
  CHECK(store->GetStats().read_only);
  mem_env.SetSyncFailure(false);
  testing::CrashStore(&mem_env, &store);
  store = OpenOrDie(MemStoreOptions(&mem_env));
  for (const std::string& key : acknowledged) {
    INFO(key);
    CHECK(store->Get(key).ok());
  }
}

}  // namespace
}  // namespace toydb
