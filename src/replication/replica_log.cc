#include "src/replication/replica_log.h"

#include <fmt/format.h>

namespace toydb::replication {

StatusOr<Term> MemReplicaLog::TermAt(Lsn lsn) const {
  if (lsn == 0) return Term{0};
  if (lsn > LastLsn()) {
    return absl::OutOfRangeError(fmt::format("no entry at LSN {} (last {})", lsn, LastLsn()));
  }
  return entries_[lsn - 1].term;
}

Status MemReplicaLog::Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const {
  if (from < FirstLsn() || to > LastLsn()) {
    return absl::OutOfRangeError(
        fmt::format("entries [{}, {}] outside the log [{}, {}]", from, to, FirstLsn(), LastLsn()));
  }
  uint64_t bytes = 0;
  for (Lsn lsn = from; lsn <= to; ++lsn) {
    const Entry& entry = entries_[lsn - 1];
    if (lsn > from && bytes + EntryBytes(entry) > max_bytes) break;
    bytes += EntryBytes(entry);
    out->push_back(entry);
  }
  return absl::OkStatus();
}

Status MemReplicaLog::Write(const LogWrite& write) {
  Lsn base = write.truncate ? write.truncate_after : LastLsn();
  if (base > LastLsn()) {
    return absl::InvalidArgumentError(
        fmt::format("truncation after LSN {} past the last LSN {}", base, LastLsn()));
  }
  for (size_t i = 0; i < write.entries.size(); ++i) {
    if (write.entries[i].lsn != base + 1 + i) {
      return absl::InvalidArgumentError(fmt::format("entry with LSN {} where LSN {} belongs",
                                                    write.entries[i].lsn, base + 1 + i));
    }
  }
  entries_.resize(base);
  entries_.insert(entries_.end(), write.entries.begin(), write.entries.end());
  last_write_id_ = write.write_id;
  return absl::OkStatus();
}

uint64_t MemReplicaLog::Sync() {
  synced_ = entries_;
  synced_write_id_ = last_write_id_;
  return synced_write_id_;
}

void MemReplicaLog::Crash() {
  entries_ = synced_;
  // Write ids belong to one incarnation of the core; the next starts at 1.
  last_write_id_ = 0;
  synced_write_id_ = 0;
}

}  // namespace toydb::replication
