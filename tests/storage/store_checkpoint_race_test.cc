// Checkpoints that race with writes. A checkpoint captures its state (applied
// LSN, live segments and their lengths) under the store lock, then syncs and
// writes CHECKPOINT without it. These tests write to the store at that point
// (an Env calls back when the checkpoint's temp file is created, or when it
// is about to be renamed into place), enough to roll the active data segment
// so that a segment exists that the checkpoint does not name, and then cut
// the power. Recovery must cut the old active segment at its checkpointed
// length, drop the newer one and replay the rest from the WAL; a second
// recovery, a compaction and later writes must not change what it found.
#include <fmt/format.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "src/storage/checkpoint.h"
#include "src/storage/data_segment.h"
#include "tests/storage/store_test_util.h"
#include "tests/storage/wrapping_env.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

constexpr char kDir[] = "/db";

// Calls a hook once, at a point of the next checkpoint's writing of
// CHECKPOINT: when its temp file is created, or just before the temp file is
// renamed into place. Both come after the capture and the syncs, with no
// store lock held, so the hook may call the store. After PowerOff() every
// mutating file operation fails, as after a power cut (MemEnv::Crash then
// drops what was not synced).
class CheckpointWindowEnv : public testing::WrappingEnv {
 public:
  enum class Point { kTempFileCreated, kBeforeRename };

  explicit CheckpointWindowEnv(MemEnv* disk) : WrappingEnv(disk) {}

  void Arm(Point point, std::function<void()> hook) {
    point_ = point;
    hook_ = std::move(hook);
  }
  bool hook_ran() const { return hook_ran_; }
  void PowerOff() { off_ = true; }
  void PowerOn() { off_ = false; }

  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    if (p == JoinPath(kDir, std::string(kCheckpointFileName) + ".tmp")) {
      MaybeRunHook(Point::kTempFileCreated);
    }
    if (off_) return Dead();
    return WrappingEnv::NewWritableFile(p);
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    if (to == JoinPath(kDir, kCheckpointFileName)) MaybeRunHook(Point::kBeforeRename);
    return off_ ? Dead() : WrappingEnv::RenameFile(from, to);
  }
  StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& p) override {
    if (off_) return Dead();
    return WrappingEnv::NewAppendableFile(p);
  }
  StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(const std::string& p,
                                                            uint64_t offset) override {
    if (off_) return Dead();
    return WrappingEnv::ReuseWritableFile(p, offset);
  }
  Status RemoveFile(const std::string& p) override {
    return off_ ? Dead() : WrappingEnv::RemoveFile(p);
  }
  Status TruncateFile(const std::string& p, uint64_t n) override {
    return off_ ? Dead() : WrappingEnv::TruncateFile(p, n);
  }
  Status CreateDir(const std::string& d) override {
    return off_ ? Dead() : WrappingEnv::CreateDir(d);
  }
  Status SyncDir(const std::string& d) override { return off_ ? Dead() : WrappingEnv::SyncDir(d); }

 protected:
  std::unique_ptr<WritableFile> WrapFile(std::unique_ptr<WritableFile> file) override {
    return std::make_unique<File>(std::move(file), this);
  }

 private:
  class File : public testing::ForwardingFile {
   public:
    File(std::unique_ptr<WritableFile> f, CheckpointWindowEnv* env)
        : ForwardingFile(std::move(f)), env_(env) {}
    Status Append(std::string_view data) override {
      return env_->off_ ? Dead() : target().Append(data);
    }
    Status Sync() override { return env_->off_ ? Dead() : target().Sync(); }

   private:
    CheckpointWindowEnv* env_;
  };

  void MaybeRunHook(Point point) {
    if (hook_ == nullptr || point != point_) return;
    std::function<void()> hook = std::move(hook_);
    hook_ = nullptr;
    hook_ran_ = true;
    hook();
  }
  static Status Dead() { return absl::InternalError("injected power cut"); }

  Point point_ = Point::kTempFileCreated;
  std::function<void()> hook_;
  bool hook_ran_ = false;
  std::atomic<bool> off_{false};
};

using Model = std::map<std::string, std::string>;

// The writes made, in order (nullopt: a delete), and the state they lead to.
class WriteLog {
 public:
  // Only acknowledged writes are logged. CHECK, not REQUIRE: the hook runs
  // inside the store's checkpoint, which an exception must not unwind.
  void Put(Store& store, const std::string& key, const std::string& value, bool sync = false) {
    WriteOptions options;
    options.force_sync = sync;
    auto lsn = store.Put(options, key, value);
    INFO(lsn.status().ToString());
    CHECK(lsn.ok());
    if (lsn.ok()) writes_.emplace_back(key, value);
  }
  void Delete(Store& store, const std::string& key) {
    auto lsn = store.Delete({}, key);
    INFO(lsn.status().ToString());
    CHECK(lsn.ok());
    if (lsn.ok()) writes_.emplace_back(key, std::nullopt);
  }
  size_t size() const { return writes_.size(); }
  Model StateAfter(size_t n) const {
    Model model;
    for (size_t i = 0; i < n; ++i) {
      const auto& [key, value] = writes_[i];
      if (value.has_value()) {
        model[key] = *value;
      } else {
        model.erase(key);
      }
    }
    return model;
  }
  Model State() const { return StateAfter(writes_.size()); }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> writes_;
};

StoreOptions RaceOptions(Env* env, SyncPolicy policy) {
  MemEnv* unused = nullptr;
  StoreOptions options = MemStoreOptions(unused, kDir);
  options.env = env;
  options.sync_policy = policy;
  options.data_segment_bytes_max = 4096;  // A roll every dozen writes.
  options.wal_write_buffer_bytes = 0;     // Unsynced WAL bytes reach the file (torn crashes).
  return options;
}

// Puts `prefix`-N keys with 300-byte values until the active segment rolls,
// then a few more, overwriting and deleting some of them and some of
// `older_prefix`'s along the way.
void WriteUntilRoll(Store& store, WriteLog* log, const std::string& prefix,
                    const std::string& older_prefix) {
  const uint64_t segments_before = store.GetStats().data_segments;
  int extra = -1;
  for (int i = 0; i < 200 && extra != 0; ++i) {
    const std::string key = fmt::format("{}{}", prefix, i % 9);
    log->Put(store, key, fmt::format("{}-{}-{}", key, i, std::string(300, 'a' + i % 26)));
    if (i % 4 == 3) log->Delete(store, fmt::format("{}{}", older_prefix, i % 7));
    if (i % 5 == 4) log->Delete(store, fmt::format("{}{}", prefix, (i + 3) % 9));
    if (extra > 0) --extra;
    if (extra < 0 && store.GetStats().data_segments > segments_before) extra = 3;
  }
  CHECK(store.GetStats().data_segments > segments_before);
}

// The writes before the checkpoint: several sealed segments with overwrites
// (garbage, for compaction) and deletes.
void WriteHistory(Store& store, WriteLog* log) {
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 12; ++i) {
      log->Put(store, fmt::format("old{}", i),
               fmt::format("old{}-r{}-{}", i, round, std::string(200, 'o')));
    }
    log->Delete(store, fmt::format("old{}", 3 * round + 1));
  }
}

Model ReadAll(Store& store) {
  Model seen;
  auto snapshot = store.GetSnapshot();
  REQUIRE(snapshot.ok());
  Status s = (*snapshot)->ForEach([&](std::string_view k, std::string_view v, uint64_t) {
    seen[std::string(k)] = std::string(v);
    return absl::OkStatus();
  });
  INFO(s.ToString());
  REQUIRE(s.ok());
  return seen;
}

// The store holds exactly `model`, through the index (Get) and a snapshot.
void CheckHolds(Store& store, const Model& model) {
  for (const auto& [key, value] : model) {
    auto got = store.Get(key);
    INFO(key << ": " << got.status().ToString());
    REQUIRE(got.ok());
    CHECK(*got == value);
  }
  CHECK(ReadAll(store) == model);
  CHECK(store.GetStats().keys == model.size());
}

std::set<uint32_t> SegmentIdsOnDisk(MemEnv& disk) {
  std::set<uint32_t> ids;
  auto names = disk.GetChildren(kDir);
  REQUIRE(names.ok());
  for (const std::string& name : *names) {
    uint32_t id = 0;
    if (ParseDataSegmentFileName(name, &id)) ids.insert(id);
  }
  return ids;
}

// The checkpoint on disk is the racing one: it names the old active segment
// as unsealed, and a newer segment (created by the roll in the window) is on
// disk but not named.
void CheckCheckpointMissesTheRoll(MemEnv& disk, Store& store) {
  auto checkpoint = ReadCheckpoint(&disk, kDir);
  REQUIRE(checkpoint.ok());
  REQUIRE_FALSE(checkpoint->segments.empty());
  CHECK_FALSE(checkpoint->segments.back().sealed);
  CHECK(checkpoint->applied_lsn < store.GetStats().last_lsn);
  const std::set<uint32_t> on_disk = SegmentIdsOnDisk(disk);
  REQUIRE_FALSE(on_disk.empty());
  CHECK(*on_disk.rbegin() >= checkpoint->next_segment_id);
}

// The power fails: later file operations fail, the store is dropped, and the
// disk keeps its synced bytes plus what `keep` allows of the rest. Then the
// power is back, for the next Open.
void PowerCut(CheckpointWindowEnv* env, MemEnv* disk, std::unique_ptr<Store>* store,
              const MemEnv::KeepUnsynced& keep) {
  env->PowerOff();
  store->reset();
  disk->Crash(keep);
  env->PowerOn();
}

void PowerCut(CheckpointWindowEnv* env, MemEnv* disk, std::unique_ptr<Store>* store) {
  PowerCut(env, disk, store, [](const std::string&, uint64_t) { return uint64_t{0}; });
}

// What recovery found must stay: through another power cut and Open, a
// forced compaction, and a clean close and Open.
void CheckRecoveryIsStable(CheckpointWindowEnv* env, MemEnv* disk, std::unique_ptr<Store>* store,
                           const StoreOptions& options, const Model& model,
                           const MemEnv::KeepUnsynced& keep) {
  PowerCut(env, disk, store, keep);
  *store = OpenOrDie(options);
  CheckHolds(**store, model);
  const uint64_t compactions = (*store)->GetStats().compactions;
  REQUIRE((*store)->Compact(/*force=*/true).ok());
  CHECK((*store)->GetStats().compactions > compactions);
  CheckHolds(**store, model);
  store->reset();
  *store = OpenOrDie(options);
  CheckHolds(**store, model);
}

void CheckRecoveryIsStable(CheckpointWindowEnv* env, MemEnv* disk, std::unique_ptr<Store>* store,
                           const StoreOptions& options, const Model& model) {
  CheckRecoveryIsStable(env, disk, store, options, model,
                        [](const std::string&, uint64_t) { return uint64_t{0}; });
}

const char* PointName(CheckpointWindowEnv::Point point) {
  return point == CheckpointWindowEnv::Point::kTempFileCreated ? "temp file created"
                                                               : "before rename";
}

TEST_CASE("Writes that roll the active segment during a checkpoint survive a crash after it",
          "[store][crash][checkpoint]") {
  const auto point = GENERATE(CheckpointWindowEnv::Point::kTempFileCreated,
                              CheckpointWindowEnv::Point::kBeforeRename);
  CAPTURE(PointName(point));
  MemEnv disk;
  CheckpointWindowEnv env(&disk);
  const StoreOptions options = RaceOptions(&env, SyncPolicy::kEveryWrite);
  WriteLog log;
  auto store = OpenOrDie(options);
  WriteHistory(*store, &log);
  env.Arm(point, [&] { WriteUntilRoll(*store, &log, "window", "old"); });
  REQUIRE(store->Checkpoint().ok());
  REQUIRE(env.hook_ran());
  CheckCheckpointMissesTheRoll(disk, *store);
  // Writes after the checkpoint are replayed from the WAL too.
  for (int i = 0; i < 5; ++i) log.Put(*store, fmt::format("after{}", i), fmt::format("a{}", i));
  log.Delete(*store, "window0");
  const Model model = log.State();
  CheckHolds(*store, model);

  PowerCut(&env, &disk, &store);
  store = OpenOrDie(options);
  CheckHolds(*store, model);
  // Recovery is idempotent: a crash right after it finds the same state.
  CheckRecoveryIsStable(&env, &disk, &store, options, model);
}

TEST_CASE(
    "Writes that roll the active segment during a checkpoint survive a crash before its "
    "rename, from the previous checkpoint",
    "[store][crash][checkpoint]") {
  const auto point = GENERATE(CheckpointWindowEnv::Point::kTempFileCreated,
                              CheckpointWindowEnv::Point::kBeforeRename);
  CAPTURE(PointName(point));
  MemEnv disk;
  CheckpointWindowEnv env(&disk);
  const StoreOptions options = RaceOptions(&env, SyncPolicy::kEveryWrite);
  WriteLog log;
  auto store = OpenOrDie(options);
  WriteHistory(*store, &log);
  REQUIRE(store->Checkpoint().ok());
  const CheckpointState previous = *ReadCheckpoint(&disk, kDir);
  for (int i = 0; i < 4; ++i) log.Put(*store, fmt::format("between{}", i), "b");
  log.Delete(*store, "old0");
  // The power fails in the window, after the writes, before CHECKPOINT is replaced.
  env.Arm(point, [&] {
    WriteUntilRoll(*store, &log, "window", "old");
    env.PowerOff();
  });
  CHECK_FALSE(store->Checkpoint().ok());
  REQUIRE(env.hook_ran());
  PowerCut(&env, &disk, &store);
  auto on_disk = ReadCheckpoint(&disk, kDir);
  REQUIRE(on_disk.ok());
  REQUIRE(*on_disk == previous);

  const Model model = log.State();
  store = OpenOrDie(options);
  CheckHolds(*store, model);
  CheckRecoveryIsStable(&env, &disk, &store, options, model);
}

TEST_CASE(
    "Without syncs, a crash after a checkpoint that raced a roll recovers a prefix of "
    "the writes that includes every synced one",
    "[store][crash][checkpoint]") {
  const auto point = GENERATE(CheckpointWindowEnv::Point::kTempFileCreated,
                              CheckpointWindowEnv::Point::kBeforeRename);
  // How much of the unsynced bytes of each file the crash keeps.
  const int keep_eighths = GENERATE(0, 3, 8);
  CAPTURE(PointName(point), keep_eighths);
  const MemEnv::KeepUnsynced keep = [&](const std::string&, uint64_t unsynced) {
    return unsynced * keep_eighths / 8;
  };
  MemEnv disk;
  CheckpointWindowEnv env(&disk);
  const StoreOptions options = RaceOptions(&env, SyncPolicy::kNone);
  WriteLog log;
  auto store = OpenOrDie(options);
  WriteHistory(*store, &log);
  log.Put(*store, "synced", "s", /*sync=*/true);
  const size_t synced = log.size();
  for (int i = 0; i < 4; ++i) log.Put(*store, fmt::format("between{}", i), "b");
  env.Arm(point, [&] { WriteUntilRoll(*store, &log, "window", "old"); });
  REQUIRE(store->Checkpoint().ok());
  REQUIRE(env.hook_ran());
  CheckCheckpointMissesTheRoll(disk, *store);
  for (int i = 0; i < 5; ++i) log.Put(*store, fmt::format("after{}", i), fmt::format("a{}", i));
  PowerCut(&env, &disk, &store, keep);

  store = OpenOrDie(options);
  const Model recovered = ReadAll(*store);
  // The state after some prefix of the writes, at least through the synced
  // one: every key has a value written for it, in an order that happened.
  std::optional<size_t> prefix;
  for (size_t n = log.size() + 1; n-- > synced && !prefix.has_value();) {
    if (log.StateAfter(n) == recovered) prefix = n;
  }
  INFO("writes: " << log.size() << ", synced: " << synced);
  REQUIRE(prefix.has_value());
  if (keep_eighths == 8) CHECK(*prefix == log.size());  // Nothing was lost.
  CheckHolds(*store, recovered);
  CheckRecoveryIsStable(&env, &disk, &store, options, recovered, keep);
}

// After such a recovery the old active segment is active again. Before it
// was cut, the segment had rolled and background work had written its hint
// file; once it rolls again and a checkpoint names it sealed, the next Open
// must read the segment as it is now, not as that hint file describes it.
TEST_CASE(
    "Writes after recovering from a checkpoint that raced a roll survive the recovered "
    "segment's next roll",
    "[store][crash][checkpoint]") {
  // Two ways the recovered segment comes to differ from the one the hint
  // describes: the window's writes are lost (no syncs), or they are replayed
  // into a segment now allowed to grow larger.
  const bool synced_writes = GENERATE(false, true);
  CAPTURE(synced_writes);
  MemEnv disk;
  CheckpointWindowEnv env(&disk);
  StoreOptions options =
      RaceOptions(&env, synced_writes ? SyncPolicy::kEveryWrite : SyncPolicy::kNone);
  // No compaction in the background work below: its checkpoint would name
  // the rolled segment whole.
  options.compaction_garbage_ratio = 1.0;
  WriteLog log;
  auto store = OpenOrDie(options);
  for (int i = 0; i < 20; ++i) {
    log.Put(*store, fmt::format("hist{}", i), fmt::format("hist{}-{}", i, std::string(200, 'h')));
  }
  const size_t before_window = log.size();
  env.Arm(CheckpointWindowEnv::Point::kTempFileCreated,
          [&] { WriteUntilRoll(*store, &log, "window", "hist"); });
  REQUIRE(store->Checkpoint().ok());
  REQUIRE(env.hook_ran());
  // What the background thread does next: it syncs the rolled segment and
  // writes its hint file.
  REQUIRE(store->RunBackgroundWork().ok());
  REQUIRE(store->GetStats().compactions == 0);
  CheckCheckpointMissesTheRoll(disk, *store);
  PowerCut(&env, &disk, &store);

  // The checkpoint synced the WAL before the window: without syncs, exactly
  // the window's writes are lost.
  Model model = log.StateAfter(synced_writes ? log.size() : before_window);
  if (synced_writes) options.data_segment_bytes_max *= 4;
  store = OpenOrDie(options);
  {
    INFO("after the crash");
    CheckHolds(*store, model);
  }

  // New writes, synced, until the recovered (active) segment rolls; then a
  // clean close, whose checkpoint names that segment sealed.
  const uint64_t segments = store->GetStats().data_segments;
  for (int i = 0; i < 200 && store->GetStats().data_segments == segments; ++i) {
    const std::string key = fmt::format("later{}", i);
    const std::string value = fmt::format("later{}-{}", i, std::string(300, 'l'));
    WriteOptions sync;
    sync.force_sync = true;
    REQUIRE(store->Put(sync, key, value).ok());
    model[key] = value;
  }
  REQUIRE(store->GetStats().data_segments > segments);
  {
    INFO("before the clean close");
    CheckHolds(*store, model);
  }
  store.reset();
  store = OpenOrDie(options);
  INFO("after the clean close");
  CheckHolds(*store, model);
}

}  // namespace
}  // namespace toydb
