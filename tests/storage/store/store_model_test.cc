// A seeded, randomized model test of the Store: random puts, deletes,
// batches and compare-and-sets, compactions, checkpoints, crashes and
// reopens, checked against a std::map after every reopen. A failure prints
// its seed; TOYDB_MODEL_SEED=N replays one seed, TOYDB_MODEL_SEEDS=N runs more.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <random>

#include "tests/storage/store_test_util.h"

namespace toydb {
namespace {

using testing::CrashStore;
using testing::MemStoreOptions;
using testing::OpenOrDie;

struct ModelValue {
  std::string value;
  uint64_t version;
};
using Model = std::map<std::string, ModelValue>;

class ModelRun {
 public:
  explicit ModelRun(uint64_t seed) : rng_(seed) {
    options_ = MemStoreOptions(&env_);
    options_.data_segment_bytes_max = 16 * 1024;
    options_.wal_segment_bytes_max = 64 * 1024;
    options_.cache_bytes_max = 4 * 1024;
    options_.compaction_garbage_ratio = 0.3;
    // Half the seeds buffer the WAL and never sync. Acknowledged writes may
    // then be lost in a crash, so those runs close cleanly instead.
    if (rng_() % 2 == 0) {
      options_.sync_policy = SyncPolicy::kNone;
      options_.wal_write_buffer_bytes = 1 + rng_() % 4096;
    }
    store_ = OpenOrDie(options_);
  }

  void Run(int steps) {
    for (int step = 0; step < steps; ++step) {
      CAPTURE(step);
      const uint64_t dice = rng_() % 100;
      if (dice < 45) {
        DoPut();
      } else if (dice < 60) {
        DoDelete();
      } else if (dice < 70) {
        DoBatch();
      } else if (dice < 80) {
        DoCompareAndSet();
      } else if (dice < 90) {
        DoGet();
      } else if (dice < 93) {
        REQUIRE(store_->Compact(rng_() % 2 == 0).ok());
      } else if (dice < 95) {
        REQUIRE(store_->Checkpoint().ok());
      } else if (dice < 97) {
        REQUIRE(store_->RunBackgroundWork().ok());
      } else if (dice < 99 && options_.sync_policy == SyncPolicy::kEveryWrite) {
        CrashStore(&env_, &store_,
                   [&](const std::string&, uint64_t n) { return rng_() % (n + 1); });
        Reopen();
      } else {
        store_.reset();
        Reopen();
      }
    }
    Reopen();
  }

 private:
  std::string Key() { return "key-" + std::to_string(rng_() % 64); }
  std::string Value() { return std::string(rng_() % 300, static_cast<char>('a' + rng_() % 26)); }

  void DoPut() {
    std::string key = Key(), value = Value();
    auto lsn = store_->Put({}, key, value);
    REQUIRE(lsn.ok());
    model_[key] = {value, *lsn};
  }
  void DoDelete() {
    std::string key = Key();
    REQUIRE(store_->Delete({}, key).ok());
    model_.erase(key);
  }
  void DoBatch() {
    WriteBatch batch;
    std::vector<std::pair<std::string, std::optional<std::string>>> ops;
    const int n = 1 + static_cast<int>(rng_() % 8);
    for (int i = 0; i < n; ++i) {
      std::string key = Key();
      if (rng_() % 4 == 0) {
        batch.Delete(key);
        ops.emplace_back(key, std::nullopt);
      } else {
        std::string value = Value();
        batch.Put(key, value);
        ops.emplace_back(key, value);
      }
    }
    auto lsn = store_->Write({}, batch);
    REQUIRE(lsn.ok());
    for (const auto& [key, value] : ops) {
      if (value.has_value()) {
        model_[key] = {*value, *lsn};
      } else {
        model_.erase(key);
      }
    }
  }
  void DoCompareAndSet() {
    std::string key = Key(), value = Value();
    auto it = model_.find(key);
    const uint64_t current = it == model_.end() ? 0 : it->second.version;
    const bool right = rng_() % 2 == 0;
    auto lsn = store_->CompareAndSet({}, key, right ? current : current + 1, value);
    if (!right) {
      REQUIRE(absl::IsAborted(lsn.status()));
      return;
    }
    REQUIRE(lsn.ok());
    model_[key] = {value, *lsn};
  }
  void DoGet() {
    std::string key = Key();
    auto got = store_->GetVersioned(key);
    auto it = model_.find(key);
    if (it == model_.end()) {
      REQUIRE(absl::IsNotFound(got.status()));
    } else {
      REQUIRE(got.ok());
      REQUIRE(got->value == it->second.value);
      REQUIRE(got->version == it->second.version);
    }
  }
  void Reopen() {
    store_.reset();
    store_ = OpenOrDie(options_);
    Model seen;
    auto snapshot_or = store_->GetSnapshot();
    REQUIRE(snapshot_or.ok());
    auto& snapshot = *snapshot_or;
    REQUIRE(snapshot
                ->ForEach([&](std::string_view k, std::string_view v, uint64_t version) {
                  seen[std::string(k)] = {std::string(v), version};
                  return absl::OkStatus();
                })
                .ok());
    REQUIRE(seen.size() == model_.size());
    for (const auto& [key, expected] : model_) {
      INFO("key " << key);
      REQUIRE(seen.contains(key));
      REQUIRE(seen[key].value == expected.value);
      REQUIRE(seen[key].version == expected.version);
      REQUIRE(*store_->Get(key) == expected.value);
    }
  }

  std::mt19937_64 rng_;
  MemEnv env_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
  Model model_;
};

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v == nullptr ? fallback : std::strtoull(v, nullptr, 10);
}

TEST_CASE("Store matches a std::map model through crashes, compactions and reopens",
          "[store][model]") {
  std::vector<uint64_t> seeds;
  if (uint64_t one = EnvOr("TOYDB_MODEL_SEED", 0); one != 0) {
    seeds.push_back(one);
  } else {
    const uint64_t base = std::random_device{}();
    for (uint64_t i = 0; i < EnvOr("TOYDB_MODEL_SEEDS", 8); ++i) seeds.push_back(base + i);
  }
  for (uint64_t seed : seeds) {
    INFO("replay with TOYDB_MODEL_SEED=" << seed);
    ModelRun(seed).Run(1500);
  }
}

}  // namespace
}  // namespace toydb
