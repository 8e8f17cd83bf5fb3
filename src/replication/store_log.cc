#include "src/replication/store_log.h"

#include <fmt/format.h>

#include "src/util/check.h"

namespace toydb::replication {

WalRecord ToRecord(const Entry& entry) {
  WalRecord record;
  record.term = entry.term;
  record.lsn = entry.lsn;
  record.type = entry.type == EntryType::kNoop ? kWalRecordNoop : kWalRecordCommand;
  record.payload = entry.payload;
  return record;
}

StatusOr<Entry> FromRecord(WalRecord record) {
  Entry entry;
  entry.term = record.term;
  entry.lsn = record.lsn;
  if (record.type == kWalRecordNoop) {
    entry.type = EntryType::kNoop;
  } else if (record.type == kWalRecordCommand) {
    entry.type = EntryType::kNormal;
  } else {
    return absl::DataLossError(fmt::format("log record {} has type {}, not a replica's", record.lsn,
                                           static_cast<int>(record.type)));
  }
  entry.payload = std::move(record.payload);
  return entry;
}

StoreLog::StoreLog(ReplicaStore* store, uint64_t cache_bytes_max)
    : store_(store), cache_bytes_max_(cache_bytes_max) {}

Lsn StoreLog::FirstLsn() const { return store_->first_lsn(); }

Lsn StoreLog::LastLsn() const { return store_->last_lsn(); }

StatusOr<Term> StoreLog::TermAt(Lsn lsn) const {
  if (!cache_.empty() && lsn >= cache_.front().lsn && lsn <= cache_.back().lsn) {
    return cache_[lsn - cache_.front().lsn].term;
  }
  if (lsn == store_->last_lsn()) return store_->last_term();
  if (lsn + 1 < store_->first_lsn() || lsn > store_->last_lsn()) {
    return absl::OutOfRangeError(fmt::format("no entry at LSN {} (log holds [{}, {}])", lsn,
                                             store_->first_lsn(), store_->last_lsn()));
  }
  return store_->TermAt(lsn);
}

Status StoreLog::Entries(Lsn from, Lsn to, uint64_t max_bytes, std::vector<Entry>* out) const {
  if (from < FirstLsn() || to > LastLsn()) {
    return absl::OutOfRangeError(
        fmt::format("entries [{}, {}] outside the log [{}, {}]", from, to, FirstLsn(), LastLsn()));
  }
  if (from > to) return absl::OkStatus();
  if (!cache_.empty() && from >= cache_.front().lsn) {
    uint64_t bytes = 0;
    for (Lsn lsn = from; lsn <= to; ++lsn) {
      const Entry& entry = cache_[lsn - cache_.front().lsn];
      if (lsn > from && bytes + EntryBytes(entry) > max_bytes) break;
      bytes += EntryBytes(entry);
      out->push_back(entry);
    }
    return absl::OkStatus();
  }
  std::vector<WalRecord> records;
  if (Status s = store_->ReadLog(from, to, max_bytes, &records); !s.ok()) return s;
  for (WalRecord& record : records) {
    StatusOr<Entry> entry = FromRecord(std::move(record));
    if (!entry.ok()) return entry.status();
    out->push_back(std::move(*entry));
  }
  return absl::OkStatus();
}

Status StoreLog::Write(LogWrite write) {
  if (write.truncate) {
    if (Status s = store_->TruncateLogAfter(write.truncate_after); !s.ok()) return s;
    CacheTruncateAfter(write.truncate_after);
  }
  if (!write.entries.empty()) {
    std::vector<WalRecord> records;
    records.reserve(write.entries.size());
    for (const Entry& entry : write.entries) records.push_back(ToRecord(entry));
    if (Status s = store_->AppendLog(records); !s.ok()) return s;
    CacheAppend(std::move(write.entries));
  }
  last_write_id_ = write.write_id;
  return absl::OkStatus();
}

StatusOr<uint64_t> StoreLog::Sync() {
  if (Status s = store_->SyncLog(); !s.ok()) return s;
  synced_write_id_ = last_write_id_;
  return synced_write_id_;
}

void StoreLog::DropCache() {
  cache_.clear();
  cache_bytes_ = 0;
}

void StoreLog::CacheAppend(std::vector<Entry> entries) {
  // The cache must end at the log's last entry: start over if it does not
  // lead straight into these.
  if (!cache_.empty() && cache_.back().lsn + 1 != entries.front().lsn) DropCache();
  for (Entry& entry : entries) {
    cache_bytes_ += EntryBytes(entry);
    cache_.push_back(std::move(entry));
  }
  while (!cache_.empty() && cache_bytes_ > cache_bytes_max_) {
    cache_bytes_ -= EntryBytes(cache_.front());
    cache_.pop_front();
  }
  TOYDB_CHECK(cache_.empty() || cache_.back().lsn == store_->last_lsn(),
              fmt::format("the log cache ends at LSN {} but the log at {}", cache_.back().lsn,
                          store_->last_lsn()));
}

void StoreLog::CacheTruncateAfter(Lsn lsn) {
  while (!cache_.empty() && cache_.back().lsn > lsn) {
    cache_bytes_ -= EntryBytes(cache_.back());
    cache_.pop_back();
  }
}

}  // namespace toydb::replication
