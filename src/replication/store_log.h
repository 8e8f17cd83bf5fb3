#ifndef TOYDB_REPLICATION_STORE_LOG_H_
#define TOYDB_REPLICATION_STORE_LOG_H_

// StoreLog: a replica's log as the protocol core reads it (ReplicaLog), kept
// in the replica's ReplicaStore, plus the host's side of it: performing the
// core's LogWrites and syncing them. The newest entries are also kept in
// memory (up to a byte budget), so that a primary streaming them to its
// followers reads the WAL only for a follower that fell behind.
//
// Owned by a Replica, beside the ReplicaStore it wraps (which must outlive
// it). Not thread-safe; driven by the replica's thread.

#include <cstdint>
#include <deque>
#include <vector>

#include "src/replication/replica_log.h"
#include "src/storage/replica/replica_store.h"

namespace toydb::replication {

class StoreLog final : public ReplicaLog {
 public:
  StoreLog(ReplicaStore* store, uint64_t cache_bytes_max);

  Lsn FirstLsn() const override;
  Lsn LastLsn() const override;
  StatusOr<Term> TermAt(Lsn lsn) const override;
  Status Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const override;

  // Performs `write` (a truncation, then appends), not yet synced. Its
  // entries move into the cache.
  [[nodiscard]] Status Write(LogWrite write);
  // Syncs what was written; returns the id of the last write now durable
  // (0 if none was written since the store was opened).
  [[nodiscard]] StatusOr<uint64_t> Sync();
  bool HasUnsynced() const { return last_write_id_ != synced_write_id_; }
  // Forgets the cached entries (after the store's log was reset by a
  // snapshot).
  void DropCache();

 private:
  void CacheAppend(std::vector<Entry> entries);
  void CacheTruncateAfter(Lsn lsn);

  ReplicaStore* const store_;
  const uint64_t cache_bytes_max_;
  // Entries with consecutive LSNs ending at the log's last, newest last.
  std::deque<Entry> cache_;
  uint64_t cache_bytes_ = 0;
  uint64_t last_write_id_ = 0;
  uint64_t synced_write_id_ = 0;
};

// The log record of an entry, and back. An entry type the core does not
// know, or a record type the store does not write, is DataLoss.
WalRecord ToRecord(const Entry& entry);
StatusOr<Entry> FromRecord(WalRecord record);

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_STORE_LOG_H_
