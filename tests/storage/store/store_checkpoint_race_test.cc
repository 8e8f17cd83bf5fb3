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

#include "src/storage/datalog/data_segment.h"
#include "src/storage/store/checkpoint.h"
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

MemEnv::KeepUnsynced KeepNothing() {
  return [](const std::string&, uint64_t) { return uint64_t{0}; };
}

// One store on a MemEnv seen through a CheckpointWindowEnv, and the log of
// what was written to it. The store is declared last, so it is dropped
// before the Envs it uses.
struct Race {
  explicit Race(SyncPolicy policy) : options(RaceOptions(&env, policy)) {}

  void Open() { store = OpenOrDie(options); }

  // The power fails: later file operations fail, the store is dropped, and
  // the disk keeps its synced bytes plus what `keep` allows of the rest.
  // Then the power is back, for the next Open.
  void PowerCut(const MemEnv::KeepUnsynced& keep = KeepNothing()) {
    env.PowerOff();
    store.reset();
    disk.Crash(keep);
    env.PowerOn();
  }

  // What recovery found must stay: through another power cut and Open, a
  // forced compaction, and a clean close and Open.
  void CheckRecoveryIsStable(const Model& model, const MemEnv::KeepUnsynced& keep = KeepNothing()) {
    PowerCut(keep);
    Open();
    CheckHolds(*store, model);
    const uint64_t compactions = store->GetStats().compactions;
    REQUIRE(store->Compact(/*force=*/true).ok());
    CHECK(store->GetStats().compactions > compactions);
    CheckHolds(*store, model);
    store.reset();
    Open();
    CheckHolds(*store, model);
  }

  MemEnv disk;
  CheckpointWindowEnv env{&disk};
  StoreOptions options;
  WriteLog log;
  std::unique_ptr<Store> store;
};

const char* PointName(CheckpointWindowEnv::Point point) {
  return point == CheckpointWindowEnv::Point::kTempFileCreated ? "temp file created"
                                                               : "before rename";
}

TEST_CASE("Writes that roll the active segment during a checkpoint survive a crash after it",
          "[store][crash][checkpoint]") {
  const auto point = GENERATE(CheckpointWindowEnv::Point::kTempFileCreated,
                              CheckpointWindowEnv::Point::kBeforeRename);
  CAPTURE(PointName(point));
  Race race(SyncPolicy::kEveryWrite);
  race.Open();
  WriteHistory(*race.store, &race.log);
  race.env.Arm(point, [&] { WriteUntilRoll(*race.store, &race.log, "window", "old"); });
  REQUIRE(race.store->Checkpoint().ok());
  REQUIRE(race.env.hook_ran());
  CheckCheckpointMissesTheRoll(race.disk, *race.store);
  // Writes after the checkpoint are replayed from the WAL too.
  for (int i = 0; i < 5; ++i)
    race.log.Put(*race.store, fmt::format("after{}", i), fmt::format("a{}", i));
  race.log.Delete(*race.store, "window0");
  const Model model = race.log.State();
  CheckHolds(*race.store, model);

  race.PowerCut();
  race.Open();
  CheckHolds(*race.store, model);
  // Recovery is idempotent: a crash right after it finds the same state.
  race.CheckRecoveryIsStable(model);
}

TEST_CASE(
    "Writes that roll the active segment during a checkpoint survive a crash before its "
    "rename, from the previous checkpoint",
    "[store][crash][checkpoint]") {
  const auto point = GENERATE(CheckpointWindowEnv::Point::kTempFileCreated,
                              CheckpointWindowEnv::Point::kBeforeRename);
  CAPTURE(PointName(point));
  Race race(SyncPolicy::kEveryWrite);
  race.Open();
  WriteHistory(*race.store, &race.log);
  REQUIRE(race.store->Checkpoint().ok());
  const CheckpointState previous = *ReadCheckpoint(&race.disk, kDir);
  for (int i = 0; i < 4; ++i) race.log.Put(*race.store, fmt::format("between{}", i), "b");
  race.log.Delete(*race.store, "old0");
  // The power fails in the window, after the writes, before CHECKPOINT is replaced.
  race.env.Arm(point, [&] {
    WriteUntilRoll(*race.store, &race.log, "window", "old");
    race.env.PowerOff();
  });
  CHECK_FALSE(race.store->Checkpoint().ok());
  REQUIRE(race.env.hook_ran());
  race.PowerCut();
  auto on_disk = ReadCheckpoint(&race.disk, kDir);
  REQUIRE(on_disk.ok());
  REQUIRE(*on_disk == previous);

  const Model model = race.log.State();
  race.Open();
  CheckHolds(*race.store, model);
  race.CheckRecoveryIsStable(model);
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
  Race race(SyncPolicy::kNone);
  race.Open();
  WriteHistory(*race.store, &race.log);
  race.log.Put(*race.store, "synced", "s", /*sync=*/true);
  const size_t synced = race.log.size();
  for (int i = 0; i < 4; ++i) race.log.Put(*race.store, fmt::format("between{}", i), "b");
  race.env.Arm(point, [&] { WriteUntilRoll(*race.store, &race.log, "window", "old"); });
  REQUIRE(race.store->Checkpoint().ok());
  REQUIRE(race.env.hook_ran());
  CheckCheckpointMissesTheRoll(race.disk, *race.store);
  for (int i = 0; i < 5; ++i)
    race.log.Put(*race.store, fmt::format("after{}", i), fmt::format("a{}", i));
  race.PowerCut(keep);

  race.Open();
  const Model recovered = ReadAll(*race.store);
  // The state after some prefix of the writes, at least through the synced
  // one: every key has a value written for it, in an order that happened.
  std::optional<size_t> prefix;
  for (size_t n = race.log.size() + 1; n-- > synced && !prefix.has_value();) {
    if (race.log.StateAfter(n) == recovered) prefix = n;
  }
  INFO("writes: " << race.log.size() << ", synced: " << synced);
  REQUIRE(prefix.has_value());
  if (keep_eighths == 8) CHECK(*prefix == race.log.size());  // Nothing was lost.
  CheckHolds(*race.store, recovered);
  race.CheckRecoveryIsStable(recovered, keep);
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
  Race race(synced_writes ? SyncPolicy::kEveryWrite : SyncPolicy::kNone);
  // No compaction in the background work below: its checkpoint would name
  // the rolled segment whole.
  race.options.compaction_garbage_ratio = 1.0;
  race.Open();
  for (int i = 0; i < 20; ++i) {
    race.log.Put(*race.store, fmt::format("hist{}", i),
                 fmt::format("hist{}-{}", i, std::string(200, 'h')));
  }
  const size_t before_window = race.log.size();
  race.env.Arm(CheckpointWindowEnv::Point::kTempFileCreated,
               [&] { WriteUntilRoll(*race.store, &race.log, "window", "hist"); });
  REQUIRE(race.store->Checkpoint().ok());
  REQUIRE(race.env.hook_ran());
  // What the background thread does next: it syncs the rolled segment and
  // writes its hint file.
  REQUIRE(race.store->RunBackgroundWork().ok());
  REQUIRE(race.store->GetStats().compactions == 0);
  CheckCheckpointMissesTheRoll(race.disk, *race.store);
  race.PowerCut();

  // The checkpoint synced the WAL before the window: without syncs, exactly
  // the window's writes are lost.
  Model model = race.log.StateAfter(synced_writes ? race.log.size() : before_window);
  if (synced_writes) race.options.data_segment_bytes_max *= 4;
  race.Open();
  {
    INFO("after the crash");
    CheckHolds(*race.store, model);
  }

  // New writes, synced, until the recovered (active) segment rolls; then a
  // clean close, whose checkpoint names that segment sealed.
  const uint64_t segments = race.store->GetStats().data_segments;
  for (int i = 0; i < 200 && race.store->GetStats().data_segments == segments; ++i) {
    const std::string key = fmt::format("later{}", i);
    const std::string value = fmt::format("later{}-{}", i, std::string(300, 'l'));
    WriteOptions sync;
    sync.force_sync = true;
    REQUIRE(race.store->Put(sync, key, value).ok());
    model[key] = value;
  }
  REQUIRE(race.store->GetStats().data_segments > segments);
  {
    INFO("before the clean close");
    CheckHolds(*race.store, model);
  }
  race.store.reset();
  race.Open();
  INFO("after the clean close");
  CheckHolds(*race.store, model);
}

}  // namespace
}  // namespace toydb
