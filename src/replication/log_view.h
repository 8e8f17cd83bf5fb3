#ifndef TOYDB_REPLICATION_LOG_VIEW_H_
#define TOYDB_REPLICATION_LOG_VIEW_H_

// LogView: the log as the core reasons about it: what the host's ReplicaLog
// holds, overlaid with the write the core has decided on but not yet handed to
// the host (a truncation point and entries). Owned by ReplicaCore. Not
// thread-safe; driven by one thread.

#include <vector>

#include "src/replication/replica_log.h"

namespace toydb::replication {

class LogView {
 public:
  explicit LogView(const ReplicaLog* stored) : stored_(stored) {}

  // The host's log's first entry: the overlay never reaches below it, since
  // the core truncates only after its commit LSN.
  Lsn FirstLsn() const { return stored_->FirstLsn(); }
  Lsn LastLsn() const;
  Term LastTerm() const;
  StatusOr<Term> TermAt(Lsn lsn) const;
  // As ReplicaLog::Entries, over the overlaid log.
  Status Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const;

  // Replaces every entry after `after` by `entries` (which follow on).
  void AppendAfter(Lsn after, std::vector<Entry> entries);
  bool HasPendingWrite() const { return pending_.truncate || !pending_.entries.empty(); }
  const ReplicaLog& stored() const { return *stored_; }
  // Forgets the pending write: the host's log was replaced (a snapshot was
  // installed) and is the whole truth again.
  void DiscardPendingWrite() { pending_ = LogWrite{}; }
  // Hands the pending write to the host under `write_id`; from then on the
  // host's log is expected to hold it.
  LogWrite TakePendingWrite(uint64_t write_id);

 private:
  // The last LSN of the host's log that the overlay keeps.
  Lsn Base() const { return pending_.truncate ? pending_.truncate_after : stored_->LastLsn(); }

  const ReplicaLog* stored_;
  LogWrite pending_;
};

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_LOG_VIEW_H_
