#ifndef TOYDB_STORAGE_STORE_IMPL_H_
#define TOYDB_STORAGE_STORE_IMPL_H_

// StoreImpl: the Store behind the public interface (store.h). Created by
// Store::Open and owned by its caller; thread-safe.
//
// Locks, in the order they may be taken:
//   maintenance_mu_  serializes checkpoints, compactions and hint building;
//   mu_              guards the index, cache, segment table, writer queue and
//                    counters; held only for in-memory work and short appends;
//   wal_mu_          guards the WAL. The leader of a synced group holds it,
//                    and not mu_, while it writes and syncs, so readers and
//                    new writers are not blocked by an fdatasync.

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "src/storage/background_writer.h"
#include "src/storage/batch_codec.h"
#include "src/storage/checkpoint.h"
#include "src/storage/compaction_batch.h"
#include "src/storage/data_segment.h"
#include "src/storage/hint_file.h"
#include "src/storage/key_index.h"
#include "src/storage/value_cache.h"
#include "src/storage/wal.h"
#include "src/util/mutex.h"
#include "src/util/wake_word.h"
#include "toydb/clock.h"
#include "toydb/store.h"

namespace toydb {

class StoreImpl final : public Store {
 public:
  static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~StoreImpl() override;

  StatusOr<uint64_t> Put(const WriteOptions& options, std::string_view key,
                         std::string_view value) override;
  StatusOr<uint64_t> Delete(const WriteOptions& options, std::string_view key) override;
  StatusOr<uint64_t> Write(const WriteOptions& options, const WriteBatch& batch) override;
  StatusOr<uint64_t> CompareAndSet(const WriteOptions& options, std::string_view key,
                                   uint64_t expected_version, std::string_view value) override;
  StatusOr<std::string> Get(std::string_view key) override;
  Status Get(std::string_view key, std::string* value) override;
  StatusOr<VersionedValue> GetVersioned(std::string_view key) override;
  StatusOr<std::unique_ptr<Snapshot>> GetSnapshot() override;
  Status Checkpoint() override;
  Status Compact(bool force) override;
  Status RunBackgroundWork() override;
  StoreStats GetStats() override;

  // The value cache's probe lengths (a walk over its whole table, under the
  // lock); for tests.
  ValueCache::ProbeStats CacheProbeStatsForTesting();

 private:
  // A write waiting in the group-commit queue.
  struct Writer {
    // Views into the caller's keys and values, valid until Commit returns.
    absl::InlinedVector<BatchOpView, 1> ops;
    uint64_t bytes = 0;  // Key and value bytes of ops.
    // For compare-and-set: the version the key must have.
    std::optional<uint64_t> expected_version;
    bool sync = false;
    // Filled in by the leader that commits it, before it sets `state`.
    Status status;
    uint64_t lsn = 0;
    // kWaiting until a leader sets kDone (committed: status and lsn are set)
    // or kLead (this writer is now at the front and leads the next group).
    // Followers sleep on their own word, not on mu_, so waking a group does
    // not make every member fight for mu_ again; one wake-up each (see
    // WakeWord: the member may return and free itself as soon as it sees the
    // new state, the leader never touches it after setting it).
    static constexpr uint32_t kWaiting = 0, kDone = 1, kLead = 2;
    WakeWord state{kWaiting};
    // Members of the same group that this one wakes once it is done, before
    // it returns (set by the leader before kDone): the wake-ups of a large
    // group spread over the woken threads, as a tree, instead of all being
    // system calls of the leader's.
    Writer* wakes_next[2] = {nullptr, nullptr};

    // Returns kDone or kLead.
    uint32_t WaitWhileWaiting() { return state.WaitWhile(kWaiting); }
    void Wake(uint32_t new_state) { state.Set(new_state); }
    // Called by this writer's own thread once it is done.
    void WakeNext() {
      for (Writer* next : wakes_next) {
        if (next != nullptr) next->Wake(kDone);
      }
    }
  };
  // The segments compaction writes, each sealed with its hint file.
  struct CompactionOutput {
    StoreImpl* store;
    std::vector<std::shared_ptr<DataSegment>>* outputs;
    CompactionMoves* moves;
    std::shared_ptr<DataSegment> segment;
    HintFileBuilder hint;

    Status Add(uint32_t input_id, const CompactionBatch& batch, const CompactionBatch::Record& r);
    Status Finish();
  };

  explicit StoreImpl(const StoreOptions& options);

  // --- Opening (store_open.cc)
  Status Recover();
  Status RemoveOrphanFiles(const CheckpointState& state);
  Status LoadSegment(const CheckpointSegment& meta, bool active) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoadRecord(uint32_t segment, std::string_view key, const IndexEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ReplayWal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Writing (store_write.cc)
  Status ValidateWriter(const Writer& writer) const;
  StatusOr<uint64_t> Commit(Writer* writer);
  static StatusOr<uint64_t> Result(const Writer& writer);
  // Called by a leader of synced writes before it takes its group: while
  // fewer writers are queued than were around the last group, waits (briefly,
  // bounded by the last group's WAL write and sync time) for the members of
  // the previous group to come back, so that they join this group instead of
  // forming a second one that alternates with it.
  void AwaitReturningWriters() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TakeGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PrepareGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status CommitGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ApplyRecord(const WalRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ApplyOps(uint64_t lsn, std::span<const BatchOpView> ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status RollActiveSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ChargeGarbage(const IndexEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetReadOnly(const Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Reading (store_read.cc)
  // Reads the key's value into *value; its version too if `version` is set.
  Status ReadValue(std::string_view key, std::string* value, uint64_t* version);

  // --- Maintenance (store_maintenance.cc)
  Status CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status CompactLocked(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status CopyLiveRecords(const std::vector<std::shared_ptr<DataSegment>>& inputs,
                         uint64_t tombstone_floor_lsn,
                         std::vector<std::shared_ptr<DataSegment>>* outputs, CompactionMoves* moves)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status CopyBatch(const DataSegment& input, uint64_t tombstone_floor_lsn,
                   const DeadRecordSet& dead, CompactionBatch* batch,
                   CompactionOutput* output) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  void SwapInCompacted(const std::vector<std::shared_ptr<DataSegment>>& inputs,
                       const std::vector<std::shared_ptr<DataSegment>>& outputs,
                       const CompactionMoves& moves) ABSL_LOCKS_EXCLUDED(mu_);
  Status BuildMissingHints() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status SyncWalIfDue() ABSL_LOCKS_EXCLUDED(mu_);
  CheckpointState CurrentCheckpointState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void BackgroundLoop();

  const StoreOptions options_;
  Env* const env_;
  Clock* const clock_;
  const std::string wal_dir_;
  std::unique_ptr<FileLock> dir_lock_;
  // Set once Open has recovered the store; a failed Open closes without a checkpoint.
  bool recovered_ = false;

  Mutex maintenance_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  Mutex mu_ ABSL_ACQUIRED_BEFORE(wal_mu_);
  Mutex wal_mu_;

  std::unique_ptr<Wal> wal_ ABSL_GUARDED_BY(wal_mu_);
  // The same Wal, for its two thread-safe calls (PrepareAhead, PrepareWanted),
  // which need no lock. Set once by Open.
  Wal* wal_preparer_ = nullptr;
  int64_t last_wal_sync_micros_ ABSL_GUARDED_BY(wal_mu_) = 0;

  std::deque<Writer*> writers_ ABSL_GUARDED_BY(mu_);
  // The group being committed and its WAL records. Only the leader (the
  // writer at the front of writers_) touches them; they are members so their
  // memory is reused from one group to the next.
  std::vector<Writer*> group_;
  std::vector<WalRecord> group_records_;
  // Writers queued when the last group was committed (its members included).
  size_t expected_writers_ ABSL_GUARDED_BY(mu_) = 0;
  // How long the last group's WAL write (and sync) took.
  std::chrono::microseconds last_group_wal_time_ ABSL_GUARDED_BY(mu_){0};
  // Set while a leader waits in AwaitReturningWriters for the queue to hold
  // gather_target_ writers; the writer that completes it signals gather_cv_.
  bool gathering_ ABSL_GUARDED_BY(mu_) = false;
  size_t gather_target_ ABSL_GUARDED_BY(mu_) = 0;
  CondVar gather_cv_;
  // Writes full data-log buffers off the writers' thread (when
  // options_.background_threads). Declared before the segments: destroyed
  // after them, so a segment's last background write can finish.
  std::unique_ptr<BackgroundWriter> background_writer_;
  KeyIndex index_ ABSL_GUARDED_BY(mu_);
  ValueCache cache_ ABSL_GUARDED_BY(mu_);
  std::map<uint32_t, std::shared_ptr<DataSegment>> segments_ ABSL_GUARDED_BY(mu_);
  // Files of compacted segments, reused by new segments (thread-safe).
  std::shared_ptr<SegmentFilePool> file_pool_;
  std::shared_ptr<DataSegment> active_ ABSL_GUARDED_BY(mu_);
  // Sealed segments whose hint file is still to be written.
  std::vector<uint32_t> segments_without_hint_ ABSL_GUARDED_BY(mu_);
  uint32_t next_segment_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t last_lsn_ ABSL_GUARDED_BY(mu_) = 0;     // Last LSN assigned.
  uint64_t applied_lsn_ ABSL_GUARDED_BY(mu_) = 0;  // Last LSN in the data log and index.
  Status read_only_cause_ ABSL_GUARDED_BY(mu_);
  CheckpointState last_checkpoint_ ABSL_GUARDED_BY(mu_);
  uint64_t wal_bytes_at_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  StoreStats stats_ ABSL_GUARDED_BY(mu_);

  // Background thread (when options_.background_threads).
  std::thread background_;
  Mutex background_mu_;
  CondVar background_cv_;
  bool stopping_ ABSL_GUARDED_BY(background_mu_) = false;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_STORE_IMPL_H_
