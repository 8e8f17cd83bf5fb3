#include "src/replication/replica_log.h"

#include <fmt/format.h>

namespace toydb::replication {

StatusOr<Term> MemReplicaLog::TermAt(Lsn lsn) const {
  if (lsn < live_.base_lsn || lsn > LastLsn()) {
    return absl::OutOfRangeError(
        fmt::format("no term at LSN {} (log base {}, last {})", lsn, live_.base_lsn, LastLsn()));
  }
  if (lsn == live_.base_lsn) return live_.base_term;
  return live_.entries[lsn - live_.base_lsn - 1].term;
}

Status MemReplicaLog::Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const {
  if (from < FirstLsn() || to > LastLsn()) {
    return absl::OutOfRangeError(
        fmt::format("entries [{}, {}] outside the log [{}, {}]", from, to, FirstLsn(), LastLsn()));
  }
  uint64_t bytes = 0;
  for (Lsn lsn = from; lsn <= to; ++lsn) {
    const Entry& entry = live_.entries[lsn - FirstLsn()];
    if (lsn > from && bytes + EntryBytes(entry) > max_bytes) break;
    bytes += EntryBytes(entry);
    out->push_back(entry);
  }
  return absl::OkStatus();
}

Status MemReplicaLog::Write(const LogWrite& write) {
  Lsn after = write.truncate ? write.truncate_after : LastLsn();
  if (after > LastLsn() || after < live_.base_lsn) {
    return absl::InvalidArgumentError(fmt::format(
        "truncation after LSN {} outside the log [{}, {}]", after, live_.base_lsn, LastLsn()));
  }
  for (size_t i = 0; i < write.entries.size(); ++i) {
    if (write.entries[i].lsn != after + 1 + i) {
      return absl::InvalidArgumentError(fmt::format("entry with LSN {} where LSN {} belongs",
                                                    write.entries[i].lsn, after + 1 + i));
    }
  }
  live_.entries.resize(after - live_.base_lsn);
  live_.entries.insert(live_.entries.end(), write.entries.begin(), write.entries.end());
  last_write_id_ = write.write_id;
  return absl::OkStatus();
}

uint64_t MemReplicaLog::Sync() {
  synced_ = live_;
  synced_write_id_ = last_write_id_;
  return synced_write_id_;
}

void MemReplicaLog::Crash() {
  live_ = synced_;
  // Write ids belong to one incarnation of the core; the next starts at 1.
  last_write_id_ = 0;
  synced_write_id_ = 0;
}

void MemReplicaLog::State::DropUpTo(Lsn lsn) {
  if (lsn <= base_lsn) return;
  base_term = entries[lsn - base_lsn - 1].term;
  entries.erase(entries.begin(), entries.begin() + static_cast<ptrdiff_t>(lsn - base_lsn));
  base_lsn = lsn;
}

Status MemReplicaLog::Compact(Lsn lsn) {
  // Both copies hold the same entries up to `lsn`: only a truncation could
  // make them differ, and the host never compacts what a truncation may cut.
  if (lsn > synced_.LastLsn() || lsn > live_.LastLsn()) {
    return absl::InvalidArgumentError(
        fmt::format("compaction up to LSN {} past the last synced LSN {}", lsn, synced_.LastLsn()));
  }
  live_.DropUpTo(lsn);
  synced_.DropUpTo(lsn);
  return absl::OkStatus();
}

void MemReplicaLog::InstallSnapshot(Lsn lsn, Term term) {
  live_ = State{lsn, term, {}};
  synced_ = live_;
  synced_write_id_ = last_write_id_;
}

}  // namespace toydb::replication
