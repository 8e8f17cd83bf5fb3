#ifndef TOYDB_STORAGE_REPLICA_REPLICA_STORE_H_
#define TOYDB_STORAGE_REPLICA_REPLICA_STORE_H_

// ReplicaStore: the storage of one replica of a replica group. Unlike the
// single-node Store, it keeps log, commit and apply apart:
//   - the log (the WAL) takes records at the (term, LSN) the protocol gives
//     them; a suffix that was never committed can be cut;
//   - committed records are applied, in LSN order, only when the replica says
//     so (ApplyUpTo); the record's LSN becomes the version of every key it
//     writes, on every replica alike;
//   - a command's compare-and-set condition and its client session (client
//     id, sequence) are evaluated at apply, identically on every replica;
//   - Open applies only up to the applied LSN recorded durably, and leaves
//     the records after it in the log, unapplied, until the replica learns
//     that they are committed.
// It also keeps the replica's hard state (term, vote, commit LSN) and makes
// and installs snapshots.
//
// Owned by one Replica. Not thread-safe for writes: one thread (the
// replica's) calls everything but the reads of `store()`, which any thread may
// call while that thread works (the Store's own locking covers them, and a
// snapshot install waits for calls in flight before it swaps the store).
//
// On disk (state_dir.h): the replica's directory holds HARDSTATE, CURRENT
// naming the live state directory (a Store directory: data segments, the
// log in wal/, CHECKPOINT with the session table), and staged snapshots.
// Implemented by ReplicaStoreImpl (replica_store_impl.h) over StoreImpl's
// replica mode (store_replica.cc).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "src/storage/wal/wal_format.h"
#include "toydb/options.h"
#include "toydb/status.h"
#include "toydb/store.h"
#include "toydb/types.h"
#include "toydb/write_batch.h"

namespace toydb {

// WAL record types of a replica's log (the single-node Store writes
// kWalRecordWriteBatch = 1, batch_codec.h). Any other type in a replica's log
// is DataLoss.
inline constexpr uint8_t kWalRecordCommand = 2;  // payload: EncodeCommand
inline constexpr uint8_t kWalRecordNoop = 3;     // a new primary's first entry; empty payload

// A client write as it travels in the log. Evaluated when applied.
struct ReplicatedCommand {
  // The client's session: a command whose (client_id, sequence) was applied
  // before is not applied again; its first result is returned. client_id 0
  // means no session (never deduplicated). Sequences of one client grow.
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  // Compare-and-set: the command applies only if the key of its single put
  // has this version (0: the key must be absent). A command with one must
  // have exactly one operation, a put.
  std::optional<Lsn> expected_version;
  // Puts and deletes, applied atomically; at least one, within the store's
  // limits (AppendLog refuses others).
  std::vector<WriteBatch::Op> ops;
  bool operator==(const ReplicatedCommand& other) const;
};

std::string EncodeCommand(const ReplicatedCommand& command);
// DataLoss if malformed (it passed the WAL's checksum: a bug, not a torn write):
// truncated, trailing bytes, unknown flags, no operation, an operation count
// or length beyond the payload, a compare-and-set that is not a single put.
// Nothing is reserved beyond the payload's size.
StatusOr<ReplicatedCommand> DecodeCommand(std::string_view payload);

// The outcome of applying one committed record, the same on every replica.
struct ApplyResult {
  Lsn lsn = 0;             // the record's
  uint8_t type = 0;        // kWalRecordCommand or kWalRecordNoop
  uint64_t client_id = 0;  // of the command (0 for a no-op)
  uint64_t sequence = 0;
  // OK: the command's writes are applied, with version == lsn.
  // Aborted: its compare-and-set failed; `version` is the key's current one.
  // FailedPrecondition: its sequence is below the session's last one, whose
  // result is all the session keeps (a stale retry).
  Status status;
  Lsn version = 0;
  // The session had applied this (client_id, sequence): nothing changed, and
  // status/version are the first application's.
  bool duplicate = false;
};

// The replica's durable protocol state (ReplicaCore's HardState).
struct ReplicaHardState {
  Term term = 0;
  NodeId vote = 0;
  Lsn commit_lsn = 0;
  bool operator==(const ReplicaHardState&) const = default;
};

struct ReplicaStoreOptions {
  // The store's directory, limits, sync policy, Env, Clock and background
  // work, as for a single-node Store.
  StoreOptions store;
  // Sessions kept; beyond it, the session with the lowest last-applied LSN
  // is evicted (a rule every replica applies alike). At least 1. Every
  // replica of a group must use the same value, or their states diverge.
  uint32_t session_count_max = 100000;
};

// A snapshot being produced: an immutable byte stream of the state at
// (lsn, term): every key with its value and version, and the session table.
// Read in chunks at any offset, so a transfer can resume. Keeps what it needs
// alive until destroyed. Not thread-safe.
class SnapshotSource {
 public:
  virtual ~SnapshotSource() = default;
  virtual Lsn lsn() const = 0;
  virtual Term term() const = 0;
  virtual uint64_t size() const = 0;      // bytes of the whole stream
  virtual uint64_t checksum() const = 0;  // of the whole stream
  // Up to `max_bytes` from `offset` (less only at the end).
  [[nodiscard]] virtual Status Read(uint64_t offset, uint64_t max_bytes, std::string* out) = 0;
};

class ReplicaStore {
 public:
  // Opens or creates the replica's store in options.store.dir and recovers
  // it: the log as it was durably written, the state applied up to the
  // applied LSN it had recorded (never beyond), the hard state. The applied
  // LSN recorded is max(the checkpoint's, the hard state's commit_lsn),
  // capped at the log's last LSN; the records after it stay in the log,
  // unapplied. Removes what an interrupted install or transfer left.
  [[nodiscard]] static StatusOr<std::unique_ptr<ReplicaStore>> Open(
      const ReplicaStoreOptions& options);
  virtual ~ReplicaStore() = default;

  // --- Hard state. Persisted durably and atomically before returning.
  virtual ReplicaHardState hard_state() const = 0;
  [[nodiscard]] virtual Status SaveHardState(const ReplicaHardState& state) = 0;

  // --- The log.
  // The first LSN held (entries below were compacted away or came with a
  // snapshot), the last one, its term, and the last one known durable.
  virtual Lsn first_lsn() const = 0;
  virtual Lsn last_lsn() const = 0;
  virtual Term last_term() const = 0;
  virtual Lsn synced_lsn() const = 0;
  // For first_lsn() - 1 <= lsn <= last_lsn(); OutOfRange outside. (At
  // first_lsn() - 1: the term of the last compacted or snapshot record.)
  [[nodiscard]] virtual StatusOr<Term> TermAt(Lsn lsn) = 0;
  // Records from `from` to `to` inclusive, stopping after `max_bytes` of
  // payload (at least one if any is in range), appended to *out.
  // OutOfRange if `from` < first_lsn() or `to` > last_lsn(); nothing if
  // `from` > `to`.
  [[nodiscard]] virtual Status ReadLog(Lsn from, Lsn to, uint64_t max_bytes,
                                       std::vector<WalRecord>* out) = 0;
  // Appends records at their (term, LSN): the first must be last_lsn() + 1,
  // LSNs dense, terms not decreasing, types kWalRecordCommand or
  // kWalRecordNoop (empty payload), each command well formed and within the
  // store's limits. Not durable until SyncLog(). InvalidArgument, and nothing
  // appended, if they do not fit. A write failure other than a full disk
  // turns the store read-only.
  [[nodiscard]] virtual Status AppendLog(std::span<const WalRecord> records) = 0;
  // Makes every appended record durable (one fdatasync, whatever the sync
  // policy: the protocol acknowledges only durable records; the policy
  // governs the store's own background syncs). synced_lsn() becomes
  // last_lsn(). A failure turns the store read-only.
  [[nodiscard]] virtual Status SyncLog() = 0;
  // Drops every record after `lsn`, durably (nothing if lsn >= last_lsn()).
  // FailedPrecondition if `lsn` is below applied_lsn() (applied records are
  // committed and never cut); the log is then unchanged.
  [[nodiscard]] virtual Status TruncateLogAfter(Lsn lsn) = 0;
  // The log keeps every record from `lsn` on (a follower still to be caught
  // up from it), besides the byte-based retention window: checkpoints
  // release the WAL only up to lsn - 1. 0 removes the floor. Not persisted
  // (the replica sets it again after a restart); kept across installs.
  virtual void SetRetentionFloor(Lsn lsn) = 0;

  // --- Apply.
  virtual Lsn applied_lsn() const = 0;
  // Applies the logged records after applied_lsn() up to `commit_lsn`, in
  // order, appending one result per record to `results`. The caller vouches
  // that they are committed. InvalidArgument, nothing applied, if
  // `commit_lsn` is past last_lsn(). A record that cannot be applied (an
  // unknown type, a malformed command) is DataLoss: it and the records after
  // it stay unapplied. A failure (a full disk) turns the store read-only, as
  // the Store does; what was applied stays applied.
  [[nodiscard]] virtual Status ApplyUpTo(Lsn commit_lsn, std::vector<ApplyResult>* results) = 0;

  // --- Reads: the applied state. Writes through it are FailedPrecondition
  // (a replica's state changes only by apply). Owned by this ReplicaStore;
  // the pointer stays valid across snapshot installs.
  virtual Store* store() = 0;

  // --- Snapshots.
  // A snapshot of the applied state at applied_lsn(), and the term of the
  // record there. Written to a file in the replica's directory, removed when
  // the source is destroyed.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<SnapshotSource>> MakeSnapshot() = 0;
  // Receiving a snapshot: chunks are written in order at their offset into a
  // staging file, which survives restarts, so a transfer resumes at
  // ReceivedSnapshotBytes(). A chunk at another offset than that is
  // InvalidArgument. A snapshot of another (lsn, term) than the staged one
  // replaces it. Each chunk is synced before this returns. FailedPrecondition
  // for a snapshot whose lsn is not past applied_lsn().
  virtual uint64_t ReceivedSnapshotBytes(Lsn lsn, Term term) = 0;
  [[nodiscard]] virtual Status ReceiveSnapshotChunk(Lsn lsn, Term term, uint64_t offset,
                                                    std::string_view data) = 0;
  // Installs the staged snapshot once all `size` bytes arrived and their
  // checksum is `checksum` (DataLoss otherwise, and the staged bytes are
  // dropped; also for a stream that is malformed or of another (lsn, term)).
  // FailedPrecondition while bytes are missing (they stay staged) or if lsn
  // is not past applied_lsn(). Crash-atomic: after a crash at any point the
  // replica's state is either the old one or exactly the snapshot's, with the
  // original versions and sessions, and the log restarts after the
  // snapshot's (lsn, term). OK means the new state is durable.
  [[nodiscard]] virtual Status InstallSnapshot(Lsn lsn, Term term, uint64_t size,
                                               uint64_t checksum) = 0;

  // --- Background work (SyncPolicy::kInterval syncs, checkpoints,
  // compaction), for stores without background threads.
  [[nodiscard]] virtual Status RunBackgroundWork() = 0;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_REPLICA_STORE_H_
