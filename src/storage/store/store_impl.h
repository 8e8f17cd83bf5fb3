#ifndef TOYDB_STORAGE_STORE_STORE_IMPL_H_
#define TOYDB_STORAGE_STORE_STORE_IMPL_H_

// StoreImpl: the Store behind the public interface (store.h). Created by
// Store::Open and owned by its caller; thread-safe.
//
// Locks, in the order they may be taken:
//   maintenance_mu_  serializes checkpoints, compactions and hint building;
//   mu_              guards the index, cache, segment table, group-commit
//                    queue and counters; held only for in-memory work and
//                    short appends;
//   wal_mu_          guards the WAL. The leader of a synced group holds it,
//                    and not mu_, while it writes and syncs, so readers and
//                    new writers are not blocked by an fdatasync.

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <variant>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "src/storage/cache/value_cache.h"
#include "src/storage/datalog/background_writer.h"
#include "src/storage/datalog/compaction_batch.h"
#include "src/storage/datalog/data_segment.h"
#include "src/storage/datalog/hint_file.h"
#include "src/storage/index/key_index.h"
#include "src/storage/replica/session_table.h"
#include "src/storage/store/batch_codec.h"
#include "src/storage/store/checkpoint.h"
#include "src/storage/store/group_commit.h"
#include "src/storage/wal/wal.h"
#include "src/util/mutex.h"
#include "toydb/clock.h"
#include "toydb/event_listener.h"
#include "toydb/store.h"

namespace toydb {

struct ApplyResult;

class StoreImpl final : public Store {
 public:
  static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // --- Replica mode (store_replica.cc), the engine under ReplicaStore
  // (src/storage/replica/). The log takes records at the (term, LSN) the
  // replication protocol gives them; records are applied only when the
  // owner says they are committed (ReplicaApplyUpTo), and the record's LSN is
  // every written key's version. Commands carry their compare-and-set and
  // client session (replica_store.h), evaluated at apply against the index
  // and the session table, which is kept with each checkpoint. The public
  // write calls are FailedPrecondition. Reads, snapshots, checkpoints and
  // background work are the Store's.
  struct ReplicaMode {
    uint32_t session_count_max = 1;
    // Open applies the log up to max(checkpoint's applied LSN, this), capped
    // at the log's end, and leaves the records after it unapplied.
    Lsn commit_lsn = 0;
  };
  static StatusOr<std::unique_ptr<StoreImpl>> OpenReplica(const StoreOptions& options,
                                                          const ReplicaMode& mode);
  bool replica_mode() const { return replica_.has_value(); }
  // The WAL's options for a store with `options` (a replica's records carry
  // a command header besides the batch).
  static WalOptions WalOptionsFor(const StoreOptions& options, bool replica);
  // The log (only for a store in replica mode).
  struct LogPosition {
    Lsn first_lsn = 0;
    Lsn last_lsn = 0;
    Term last_term = 0;
    Lsn synced_lsn = 0;
  };
  LogPosition ReplicaLogPosition() ABSL_LOCKS_EXCLUDED(wal_mu_);
  Status ReplicaAppend(std::span<const WalRecord> records) ABSL_LOCKS_EXCLUDED(mu_, wal_mu_);
  Status ReplicaSync() ABSL_LOCKS_EXCLUDED(mu_, wal_mu_);
  // Records from `from` on, up to `to`, at most `max_bytes` of payload (at
  // least one record).
  Status ReplicaRead(Lsn from, Lsn to, uint64_t max_bytes, std::vector<WalRecord>* out)
      ABSL_LOCKS_EXCLUDED(wal_mu_);
  StatusOr<Term> ReplicaTermAt(Lsn lsn) ABSL_LOCKS_EXCLUDED(wal_mu_);
  // FailedPrecondition below the applied LSN.
  Status ReplicaTruncateAfter(Lsn lsn) ABSL_LOCKS_EXCLUDED(mu_, wal_mu_);
  // Checkpoints keep the WAL from `lsn` on (0: no floor).
  void SetWalRetentionFloor(Lsn lsn) ABSL_LOCKS_EXCLUDED(wal_mu_);
  Lsn AppliedLsn() ABSL_LOCKS_EXCLUDED(mu_);
  Status ReplicaApplyUpTo(Lsn commit_lsn, std::vector<ApplyResult>* results)
      ABSL_LOCKS_EXCLUDED(mu_, wal_mu_);
  // A snapshot of the applied state with the session table at its LSN,
  // captured together.
  struct ReplicaSnapshot {
    std::unique_ptr<Snapshot> data;
    std::string sessions;  // SessionTable::Encode()
    Lsn lsn = 0;
    Term term = 0;  // Of the record at lsn.
  };
  StatusOr<ReplicaSnapshot> MakeReplicaSnapshot() ABSL_LOCKS_EXCLUDED(mu_, wal_mu_);
  // For tests: the session table's encoding.
  std::string EncodedSessionsForTesting() ABSL_LOCKS_EXCLUDED(mu_);
  // Store::Repair (store_repair.cc).
  static StatusOr<RepairReport> Repair(const StoreOptions& options);
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

  // For tests: the writers in the group-commit queue, the group being
  // committed included.
  size_t QueuedWritersForTesting() ABSL_LOCKS_EXCLUDED(mu_);
  // For tests: how often group commit read real time (never, on a store
  // without background threads).
  uint64_t GroupCommitRealTimeReadsForTesting() ABSL_LOCKS_EXCLUDED(mu_);
  // The value cache's probe lengths (a walk over its whole table, under the
  // lock); for tests.
  ValueCache::ProbeStats CacheProbeStatsForTesting();

 private:
  // A write waiting in the group-commit queue.
  struct Writer : GroupCommitQueue::Writer {
    // Views into the caller's keys and values, valid until Commit returns.
    absl::InlinedVector<BatchOpView, 1> ops;
    // For compare-and-set: the version the key must have.
    std::optional<uint64_t> expected_version;
    // Filled in by the leader that commits it, before it is woken.
    Status status;
    uint64_t lsn = 0;
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

  StoreImpl(const StoreOptions& options, std::optional<ReplicaMode> replica);
  static StatusOr<std::unique_ptr<StoreImpl>> OpenImpl(const StoreOptions& options,
                                                       std::optional<ReplicaMode> replica);

  // --- Replica mode (store_replica.cc)
  // Loads the session table kept with the checkpoint.
  Status LoadSessions(const CheckpointState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The last LSN Open applies.
  Lsn ReplayLimit() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_, wal_mu_);
  // Applies one committed record of a replica's log (*result, if given,
  // tells the outcome). Errors: DataLoss for a record that cannot be
  // applied (unknown type, malformed); a data-log failure.
  Status ApplyReplicated(const WalRecord& record, ApplyResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ApplyCommand(const WalRecord& record, ApplyResult* result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Consumes `lsn` without writing (a no-op, a failed condition, a
  // duplicate): the applied LSN moves on all the same.
  void SkipLsn(Lsn lsn) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status RefuseReplicaWrite() const;

  // --- Opening (store_open.cc)
  // What the data directory holds, read before anything is changed.
  struct DataDirScan {
    uint32_t max_segment_id = 0;  // Highest id of a data segment file (0: none).
    bool holds_data = false;      // Some data segment file is not empty.
  };
  Status Recover();
  StatusOr<DataDirScan> ScanDataDir(const CheckpointState& state);
  // Opens the WAL, after checking that it holds every write after the
  // checkpoint (from its headers first, so that a refusal changes nothing).
  Status OpenWal(const CheckpointState& state, bool data_present, bool has_checkpoint)
      ABSL_LOCKS_EXCLUDED(mu_);
  static Status WalGapError(const CheckpointState& state, bool has_checkpoint, uint64_t first_lsn,
                            std::optional<uint64_t> last_lsn);
  Status CreateActiveIfNone() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DiscardSegmentsFrom(uint32_t first_new_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status RemoveGarbageFiles(const CheckpointState& state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status CutToLength(const std::string& path, uint64_t length);
  Status LoadSegment(const CheckpointSegment& meta, bool active) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void LoadRecord(uint32_t segment, std::string_view key, const IndexEntry& entry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ReplayWal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Writing (store_write.cc)
  // The queue's options: gathering only when writers are OS threads.
  static GroupCommitQueue::Options GroupCommitOptions(const StoreOptions& options);
  // The store's writer behind a member of group_.
  static Writer* Member(GroupCommitQueue::Writer* writer) { return static_cast<Writer*>(writer); }
  Status ValidateWriter(const Writer& writer) const;
  StatusOr<uint64_t> Commit(Writer* writer);
  static StatusOr<uint64_t> Result(const Writer& writer);
  void PrepareGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status CommitGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends the group's records to the WAL, and syncs it if `sync`. Sets
  // *reached_wal if any of them may be in the log, even on failure.
  Status WriteGroupToWal(bool sync, bool* reached_wal) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckGroupContinuesWal() ABSL_EXCLUSIVE_LOCKS_REQUIRED(wal_mu_);
  // Gives the logged members from group_[from] on the status of a write
  // whose record is in the WAL but not applied (store read-only).
  void FailUnappliedMembers(size_t from, WriteOutcome outcome) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ApplyRecord(const WalRecord& record) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status ApplyOps(uint64_t lsn, std::span<const BatchOpView> ops)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Status RollActiveSegment() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ChargeGarbage(const IndexEntry& entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetReadOnly(const Status& cause) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Reading (store_read.cc)
  // Reads the key's value into *value; its version too if `version` is set.
  Status ReadValue(std::string_view key, std::string* value, uint64_t* version);
  Status LocateAndReadRecord(std::string_view key, bool first, uint64_t* version,
                             std::string* value, IndexEntry* entry,
                             std::shared_ptr<DataSegment>* segment, std::string* scratch,
                             data_format::Record* record, uint64_t* applied_lsn)
      ABSL_LOCKS_EXCLUDED(mu_);

  StatusOr<std::unique_ptr<Snapshot>> GetSnapshotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // --- Maintenance (store_maintenance.cc)
  Status CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status CompactLocked(bool force) ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status CopyLiveRecords(const std::vector<std::shared_ptr<DataSegment>>& inputs,
                         uint64_t tombstone_floor_lsn,
                         std::vector<std::shared_ptr<DataSegment>>* outputs, CompactionMoves* moves)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status CopyBatch(const DataSegment& input, uint64_t tombstone_floor_lsn,
                   const DeadRecordSet& dead, CompactionBatch* batch, CompactionOutput* output)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  void SwapInCompacted(const std::vector<std::shared_ptr<DataSegment>>& inputs,
                       const std::vector<std::shared_ptr<DataSegment>>& outputs,
                       const CompactionMoves& moves) ABSL_LOCKS_EXCLUDED(mu_);
  Status BuildMissingHints() ABSL_EXCLUSIVE_LOCKS_REQUIRED(maintenance_mu_);
  Status SyncWalIfDue() ABSL_LOCKS_EXCLUDED(mu_);
  CheckpointState CurrentCheckpointState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // TOYDB_CHECKs the invariants of a checkpoint about to be written.
  static void CheckCheckpointShape(const CheckpointState& state);
  bool CheckpointDue() ABSL_LOCKS_EXCLUDED(mu_, wal_mu_);
  // The steps of RunBackgroundWork, each failure noted; stops at the first
  // failure but of the WAL preparation.
  Status RunBackgroundSteps() ABSL_LOCKS_EXCLUDED(maintenance_mu_, mu_);
  // The destructor's last work: a checkpoint (if `checkpoint`), then the
  // delivery of every event not yet delivered.
  void CloseMaintenance(bool checkpoint) ABSL_LOCKS_EXCLUDED(maintenance_mu_, mu_);
  void BackgroundLoop();

  // --- Events and background failures (store_events.cc)
  struct ReadOnlyEvent {
    Status cause;
  };
  using StoreEvent =
      std::variant<BackgroundErrorInfo, CheckpointInfo, CompactionInfo, ReadOnlyEvent>;
  // Queues an event for the listener (nothing without a listener). Callable
  // with any store lock held: delivery waits for DeliverEvents.
  void QueueEvent(StoreEvent event) ABSL_LOCKS_EXCLUDED(events_mu_);
  // Notes the outcome of a background step: a failure is counted in the
  // stats and, if the step's last run succeeded, queued for the listener.
  // Returns `status`.
  Status NoteBackgroundResult(BackgroundJob job, Status status) ABSL_LOCKS_EXCLUDED(mu_);
  // Queues OnStoreReadOnly once the store has turned read-only (once).
  void QueueReadOnlyEvent() ABSL_LOCKS_EXCLUDED(mu_);
  // Calls the listener with the queued events, in order, one at a time. Must
  // be called with no store lock held (the listener may call the store); a
  // call made while another thread (or the listener itself, through the
  // store) is delivering leaves the events to that delivery.
  void DeliverEvents() ABSL_LOCKS_EXCLUDED(maintenance_mu_, mu_, wal_mu_, events_mu_);

  const StoreOptions options_;
  Env* const env_;
  Clock* const clock_;
  const std::string wal_dir_;
  std::unique_ptr<FileLock> dir_lock_;
  // Set for a replica's store (see ReplicaMode); fixed at construction.
  const std::optional<ReplicaMode> replica_;
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
  // Checkpoints release the WAL only below this LSN (0: no floor).
  Lsn wal_retention_floor_ ABSL_GUARDED_BY(wal_mu_) = 0;

  // The writers waiting to commit (group_commit.h).
  GroupCommitQueue queue_ ABSL_GUARDED_BY(mu_);
  // The group being committed, taken from queue_, and its WAL records. Only
  // the leader touches them; the records are a member so that their memory
  // is reused from one group to the next.
  std::span<GroupCommitQueue::Writer* const> group_;
  std::vector<WalRecord> group_records_;
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
  // Replica mode: the client sessions as of applied_lsn_ (null otherwise).
  std::unique_ptr<SessionTable> sessions_ ABSL_GUARDED_BY(mu_);
  CheckpointState last_checkpoint_ ABSL_GUARDED_BY(mu_);
  uint64_t wal_bytes_at_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  StoreStats stats_ ABSL_GUARDED_BY(mu_);
  // Per BackgroundJob: its last run failed (its next failure is not told
  // to the listener again).
  static constexpr size_t kBackgroundJobs =
      static_cast<size_t>(BackgroundJob::kCheckpointOnClose) + 1;
  bool background_job_failing_[kBackgroundJobs] ABSL_GUARDED_BY(mu_) = {};
  bool read_only_reported_ ABSL_GUARDED_BY(mu_) = false;

  // Events for options_.event_listener, queued by any thread, delivered by
  // DeliverEvents. A leaf lock.
  Mutex events_mu_ ABSL_ACQUIRED_AFTER(mu_, wal_mu_);
  std::vector<StoreEvent> events_ ABSL_GUARDED_BY(events_mu_);
  bool delivering_events_ ABSL_GUARDED_BY(events_mu_) = false;

  // Background thread (when options_.background_threads).
  std::thread background_;
  Mutex background_mu_;
  CondVar background_cv_;
  bool stopping_ ABSL_GUARDED_BY(background_mu_) = false;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_STORE_STORE_IMPL_H_
