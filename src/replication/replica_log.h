#ifndef TOYDB_REPLICATION_REPLICA_LOG_H_
#define TOYDB_REPLICATION_REPLICA_LOG_H_

// ReplicaLog: the read side of a replica's log, as the protocol core sees it.
// The host owns the log and performs the writes the core asks for
// (Ready::log_write); the core only reads through this interface. Later the
// store's WAL backs it; MemReplicaLog is the in-memory version for tests and
// the simulator.
//
// Thread-safety: not thread-safe; driven by one thread (the replica's).

#include <cstdint>
#include <vector>

#include "src/replication/replica_types.h"

namespace toydb::replication {

class ReplicaLog {
 public:
  virtual ~ReplicaLog() = default;

  // The first LSN whose entry is still held; entries below it were compacted
  // away. 1 for a log that was never compacted.
  virtual Lsn FirstLsn() const = 0;
  // The last LSN held; FirstLsn() - 1 when the log is empty.
  virtual Lsn LastLsn() const = 0;
  // The term of the entry at `lsn`, for FirstLsn() - 1 <= lsn <= LastLsn()
  // (the term just below the first entry is kept for log matching; LSN 0 has
  // term 0). OutOfRange outside.
  virtual StatusOr<Term> TermAt(Lsn lsn) const = 0;
  // Appends to `out` the entries from `from` to `to` inclusive, stopping early
  // once `max_bytes` is reached (at least one entry is returned if any is in
  // range). OutOfRange if `from` is below FirstLsn() or `to` above LastLsn().
  virtual Status Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const = 0;
};

// MemReplicaLog: a ReplicaLog in memory that models durability. Write()
// applies a LogWrite at once; Sync() makes everything written so far durable;
// Crash() throws away what was not synced, as a power cut would, and keeps the
// log exactly as it was at the last sync. Compact() and InstallSnapshot()
// change the log's base (FirstLsn() - 1 and its term) and are durable when
// they return, as the store's checkpoint and snapshot installation are.
// Owned by the test or simulated node. Not thread-safe; driven by one thread.
class MemReplicaLog final : public ReplicaLog {
 public:
  MemReplicaLog() = default;

  Lsn FirstLsn() const override { return live_.base_lsn + 1; }
  Lsn LastLsn() const override { return live_.LastLsn(); }
  StatusOr<Term> TermAt(Lsn lsn) const override;
  Status Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const override;

  // Applies `write`. InvalidArgument, and nothing changes, if it does not fit
  // the log (a truncation past the end or below the base, or entries that do
  // not follow on).
  Status Write(const LogWrite& write);
  // Makes every write so far durable; returns the id of the last one (the
  // value to pass to ReplicaCore::OnLogDurable), 0 if none was ever written.
  uint64_t Sync();
  // Drops everything written since the last Sync(), and forgets write ids:
  // the core restarted on this log numbers its writes from 1 again.
  void Crash();
  // Drops the entries up to `lsn`, durably; `lsn` becomes the base and keeps
  // its term for log matching. The host compacts only what it has applied
  // (so never what a truncation could still cut). No-op at or below the base;
  // InvalidArgument, and nothing changes, past the last synced entry.
  Status Compact(Lsn lsn);
  // Replaces the whole log, durably, by an empty one after (lsn, term): what
  // the host does once it installed a snapshot at (lsn, term). Writes not yet
  // synced are lost, as the snapshot's installation replaces them.
  void InstallSnapshot(Lsn lsn, Term term);

  // The id of the last write applied (synced or not).
  uint64_t last_write_id() const { return last_write_id_; }
  uint64_t synced_write_id() const { return synced_write_id_; }
  // The entries held, from FirstLsn().
  const std::vector<Entry>& entries() const { return live_.entries; }

 private:
  struct State {
    Lsn base_lsn = 0;  // entries up to here were compacted or came in a snapshot
    Term base_term = 0;
    std::vector<Entry> entries;  // entries[i] has LSN base_lsn + 1 + i
    Lsn LastLsn() const { return base_lsn + entries.size(); }
    void DropUpTo(Lsn lsn);
  };

  State live_;
  State synced_;  // live_ as of the last Sync(), Compact() or InstallSnapshot()
  uint64_t last_write_id_ = 0;
  uint64_t synced_write_id_ = 0;
};

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_REPLICA_LOG_H_
