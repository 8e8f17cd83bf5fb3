// Crash-point tests: the same workload (writes, batches, deletes,
// compactions, checkpoints) is run again and again, and each time the power
// fails at a different file-system operation: that operation and every later
// one fail, the disk then loses what was not synced (keeping a random torn
// prefix), and the store is reopened. Every acknowledged write must be there;
// the one write in flight at the crash may be there or not, but whole.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>

#include "tests/storage/store_test_util.h"
#include "tests/storage/wrapping_env.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

// Fails every mutating file-system call from the `fail_at`-th on, as a power
// cut would. The call that hits the cut writes half of an Append first.
class PowerCutEnv : public testing::WrappingEnv {
 public:
  PowerCutEnv(Env* target, int64_t fail_at) : WrappingEnv(target), remaining_(fail_at) {}
  int64_t operations() const { return operations_; }
  bool cut() const { return remaining_ <= 0; }

  Status RemoveFile(const std::string& p) override {
    return Step() ? EnvWrapper::RemoveFile(p) : Dead();
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    return Step() ? EnvWrapper::RenameFile(f, t) : Dead();
  }
  Status TruncateFile(const std::string& p, uint64_t n) override {
    return Step() ? EnvWrapper::TruncateFile(p, n) : Dead();
  }
  Status SyncDir(const std::string& d) override { return Step() ? EnvWrapper::SyncDir(d) : Dead(); }

 protected:
  std::unique_ptr<WritableFile> WrapFile(std::unique_ptr<WritableFile> file) override {
    return std::make_unique<File>(std::move(file), this);
  }

 private:
  class File : public testing::ForwardingFile {
   public:
    File(std::unique_ptr<WritableFile> f, PowerCutEnv* env)
        : ForwardingFile(std::move(f)), env_(env) {}
    Status Append(std::string_view data) override {
      if (env_->Step()) return target().Append(data);
      if (!env_->dead_before_) target().Append(data.substr(0, data.size() / 2)).IgnoreError();
      env_->dead_before_ = true;
      return Dead();
    }
    Status Sync() override { return env_->Step() ? target().Sync() : Dead(); }

   private:
    PowerCutEnv* env_;
  };

  // Counts one mutating call; false once the power is off.
  bool Step() {
    operations_++;
    return --remaining_ >= 0;
  }
  static Status Dead() { return absl::InternalError("injected power cut"); }

  int64_t remaining_;
  int64_t operations_ = 0;
  bool dead_before_ = false;
};

using Model = std::map<std::string, std::string>;

// One random operation; nullopt-valued entries in `effect` are deletes.
struct Op {
  enum Kind { kWrite, kCompact, kCheckpoint } kind = kWrite;
  std::vector<std::pair<std::string, std::optional<std::string>>> effect;
};

Op RandomOp(std::mt19937_64& rng) {
  Op op;
  const uint64_t dice = rng() % 100;
  if (dice < 5) {
    op.kind = Op::kCompact;
  } else if (dice < 8) {
    op.kind = Op::kCheckpoint;
  } else {
    const int n = dice < 20 ? 1 + static_cast<int>(rng() % 4) : 1;
    for (int i = 0; i < n; ++i) {
      std::string key = "k" + std::to_string(rng() % 24);
      if (rng() % 5 == 0) {
        op.effect.emplace_back(key, std::nullopt);
      } else {
        op.effect.emplace_back(key, std::string(rng() % 200, static_cast<char>('a' + rng() % 26)));
      }
    }
  }
  return op;
}

Status Apply(Store& store, const Op& op) {
  if (op.kind == Op::kCompact) return store.Compact(/*force=*/true);
  if (op.kind == Op::kCheckpoint) return store.Checkpoint();
  WriteBatch batch;
  for (const auto& [key, value] : op.effect) {
    if (value.has_value()) {
      batch.Put(key, *value);
    } else {
      batch.Delete(key);
    }
  }
  return store.Write({}, batch).status();
}

void ApplyToModel(const Op& op, Model* model) {
  for (const auto& [key, value] : op.effect) {
    if (value.has_value()) {
      (*model)[key] = *value;
    } else {
      model->erase(key);
    }
  }
}

Model ReadAll(Store& store) {
  Model seen;
  auto snapshot = store.GetSnapshot();
  REQUIRE(snapshot.ok());
  REQUIRE((*snapshot)
              ->ForEach([&](std::string_view k, std::string_view v, uint64_t) {
                seen[std::string(k)] = std::string(v);
                return absl::OkStatus();
              })
              .ok());
  return seen;
}

StoreOptions SmallStore(Env* env) {
  MemEnv* unused = nullptr;
  StoreOptions options = MemStoreOptions(unused);
  options.env = env;
  options.data_segment_bytes_max = 4096;
  options.wal_segment_bytes_max = 4096;
  return options;
}

// Runs the workload of `seed` with the power cut at operation `fail_at`.
// Returns the number of file-system operations the run made.
int64_t RunWithPowerCut(uint64_t seed, int64_t fail_at, int ops) {
  MemEnv disk;
  std::mt19937_64 rng(seed);
  Model acknowledged;
  std::optional<Op> in_flight;
  int64_t operations = 0;
  {
    PowerCutEnv env(&disk, fail_at);
    auto store = Store::Open(SmallStore(&env));
    if (store.ok()) {
      for (int i = 0; i < ops && !env.cut(); ++i) {
        Op op = RandomOp(rng);
        if (Apply(**store, op).ok()) {
          ApplyToModel(op, &acknowledged);
        } else if (op.kind == Op::kWrite) {
          in_flight = op;  // Its outcome is unknown.
          break;
        }
      }
    }
    operations = env.operations();
  }
  // The disk keeps any prefix of what was not synced.
  disk.Crash([&](const std::string&, uint64_t unsynced) { return rng() % (unsynced + 1); });
  auto store = OpenOrDie(SmallStore(&disk));
  const Model seen = ReadAll(*store);
  Model with_in_flight = acknowledged;
  if (in_flight.has_value()) ApplyToModel(*in_flight, &with_in_flight);
  INFO("seed " << seed << " power cut at operation " << fail_at);
  CHECK((seen == acknowledged || seen == with_in_flight));
  return operations;
}

TEST_CASE("Store recovers every acknowledged write whichever file operation the power cut hits",
          "[store][crash]") {
  constexpr int kOps = 300;
  // TOYDB_CRASH_POINT_SEEDS=N runs seeds 1..N (4 by default) for a longer sweep.
  const char* env_seeds = std::getenv("TOYDB_CRASH_POINT_SEEDS");
  const uint64_t seeds = env_seeds != nullptr ? std::strtoull(env_seeds, nullptr, 10) : 4;
  for (uint64_t seed = 1; seed <= seeds; ++seed) {
    const int64_t total = RunWithPowerCut(seed, INT64_MAX, kOps);
    REQUIRE(total > 100);
    for (int64_t fail_at = 0; fail_at <= total; ++fail_at) RunWithPowerCut(seed, fail_at, kOps);
  }
}

}  // namespace
}  // namespace toydb
