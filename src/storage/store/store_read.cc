// StoreImpl: the read path, snapshots and statistics. A read finds the key's
// location under the lock, then reads and verifies the record without it.
#include <fmt/format.h>

#include <algorithm>

#include "src/storage/store/store_impl.h"

namespace toydb {

StatusOr<std::string> StoreImpl::Get(std::string_view key) {
  std::string value;
  if (Status s = ReadValue(key, &value, nullptr); !s.ok()) return s;
  return value;
}

Status StoreImpl::Get(std::string_view key, std::string* value) {
  return ReadValue(key, value, nullptr);
}

StatusOr<VersionedValue> StoreImpl::GetVersioned(std::string_view key) {
  VersionedValue result;
  if (Status s = ReadValue(key, &result.value, &result.version); !s.ok()) return s;
  return result;
}

// `key` may point into *value (a caller following a chain of keys reads each
// value into the string that held its key), so *value is written only once
// `key` is no longer used: last, or on a cache hit, where nothing follows.
Status StoreImpl::ReadValue(std::string_view key, std::string* value, uint64_t* version) {
  if (key.empty() || key.size() > options_.key_bytes_max) {
    return absl::InvalidArgumentError(
        fmt::format("key has {} bytes; it must have 1 to {}", key.size(), options_.key_bytes_max));
  }
  IndexEntry entry;
  std::shared_ptr<DataSegment> segment;
  std::string scratch;
  data_format::Record record;
  uint64_t applied_lsn;
  // A plain read first trusts the index's hash-bit match (FindCandidate,
  // which skips reading the key's bytes) and confirms the key from the
  // record, as every read does anyway. If anything fails on that path (the
  // slot was another key's, about one read in a hundred, or that key's record
  // is unreadable) it starts over with an exact lookup, whose errors are the
  // read's. A versioned read looks up exactly at once: it reports the LSN
  // before reading the record.
  for (bool first = true;; first = false) {
    const bool exact = !first || version != nullptr;
    if (Status s = LocateAndReadRecord(key, first, version, value, &entry, &segment, &scratch,
                                       &record, &applied_lsn);
        !s.ok()) {
      if (!exact && !absl::IsNotFound(s)) continue;
      return s;
    }
    if (segment == nullptr) return absl::OkStatus();  // Served from the cache.
    if (record.key == key) break;
    if (!exact) continue;
    return absl::DataLossError(fmt::format("data segment {} offset {}: record is for another key",
                                           segment->path(), entry.offset));
  }
  if (record.lsn != entry.lsn) {
    return absl::DataLossError(fmt::format("data segment {} offset {}: record is for another key",
                                           segment->path(), entry.offset));
  }
  // A cache too small for its smallest table keeps nothing (0 turns it off).
  if (options_.cache_bytes_max >= ValueCache::kMinSlots * ValueCache::kSlotBytes) {
    MutexLock lock(&mu_);
    // Cache only if no write replaced the value while it was being read
    // (none did if nothing was applied meanwhile).
    bool current = applied_lsn_ == applied_lsn;
    if (!current) {
      std::optional<IndexEntry> now = index_.Find(key);
      current = now.has_value() && now->lsn == entry.lsn;
    }
    if (current) cache_.Insert(key, record.value);
  }
  value->assign(record.value);
  return absl::OkStatus();
}

// The lookup and the record read of ReadValue. A cache hit assigns *value and
// leaves *segment null. A plain read's first attempt looks up with
// KeyIndex::FindCandidate, whose record may be another key's (the caller
// checks); a versioned read, and a plain read's second attempt, with Find.
Status StoreImpl::LocateAndReadRecord(std::string_view key, bool first, uint64_t* version,
                                      std::string* value, IndexEntry* entry,
                                      std::shared_ptr<DataSegment>* segment, std::string* scratch,
                                      data_format::Record* record, uint64_t* applied_lsn) {
  segment->reset();
  const bool exact = !first || version != nullptr;
  bool in_buffer = false;
  {
    MutexLock lock(&mu_);
    // Without a version to report, a cache hit needs no index lookup.
    if (version == nullptr && first) {
      if (std::optional<std::string_view> cached = cache_.Lookup(key)) {
        stats_.cache_hits++;
        value->assign(*cached);
        return absl::OkStatus();
      }
    }
    // A key in the index always matches its own control byte, so an empty
    // candidate means the key is absent.
    std::optional<IndexEntry> found = exact ? index_.Find(key) : index_.FindCandidate(key);
    // A second attempt's cache miss is the first one's, counted already.
    if (!first) stats_.cache_misses--;
    if (!found.has_value()) return absl::NotFoundError("key not found");
    *entry = *found;
    if (version != nullptr) {
      *version = entry->lsn;
      if (std::optional<std::string_view> cached = cache_.Lookup(key)) {
        stats_.cache_hits++;
        value->assign(*cached);
        return absl::OkStatus();
      }
    }
    stats_.cache_misses++;
    *applied_lsn = applied_lsn_;
    auto it = segments_.find(entry->segment);
    if (it == segments_.end()) {
      return absl::InternalError(fmt::format(
          "index points at data segment {}, which the store does not have", entry->segment));
    }
    // The record is the read's last memory miss: start it now, so that it
    // overlaps the rest of this section and the unlock.
    it->second->PrefetchRecord(entry->offset, entry->length);
    // A record written moments ago may still be in the write buffer: read
    // it from there (the buffer needs the lock, and must not be flushed for
    // a read: a store made read-only by a full disk still serves it).
    if (entry->offset + entry->length > it->second->flushed_size()) {
      in_buffer = true;
      if (Status s = it->second->ReadBufferedRecord(entry->offset, entry->length, scratch, record);
          !s.ok()) {
        return s;
      }
    }
    *segment = it->second;
  }
  if (!in_buffer) return (*segment)->ReadRecord(entry->offset, entry->length, scratch, record);
  return absl::OkStatus();
}

namespace {

// A snapshot holds the locations of every live record at its LSN, and the
// segments they are in, which stay on disk while it lives.
class StoreSnapshot final : public Snapshot {
 public:
  struct Location {
    uint32_t segment;
    uint32_t offset;
    uint32_t length;
    friend bool operator<(const Location& a, const Location& b) {
      return std::tie(a.segment, a.offset) < std::tie(b.segment, b.offset);
    }
  };

  StoreSnapshot(uint64_t lsn, std::vector<Location> locations,
                std::map<uint32_t, std::shared_ptr<DataSegment>> segments)
      : lsn_(lsn), locations_(std::move(locations)), segments_(std::move(segments)) {
    // File order turns the scan into mostly sequential reads.
    std::sort(locations_.begin(), locations_.end());
  }

  uint64_t lsn() const override { return lsn_; }

  Status ForEach(const Visitor& visit) override {
    std::string scratch;
    for (const Location& loc : locations_) {
      data_format::Record record;
      // The snapshot holds every segment its locations name.
      Status s = segments_.find(loc.segment)
                     ->second->ReadRecord(loc.offset, loc.length, &scratch, &record);
      if (s.ok()) s = visit(record.key, record.value, record.lsn);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

 private:
  const uint64_t lsn_;
  std::vector<Location> locations_;
  const std::map<uint32_t, std::shared_ptr<DataSegment>> segments_;
};

}  // namespace

StatusOr<std::unique_ptr<Snapshot>> StoreImpl::GetSnapshot() {
  MutexLock lock(&mu_);
  return GetSnapshotLocked();
}

StatusOr<std::unique_ptr<Snapshot>> StoreImpl::GetSnapshotLocked() {
  // The snapshot reads without the lock, so everything must be in the files.
  if (Status s = active_->Flush(); !s.ok()) {
    SetReadOnly(s);
    return s;
  }
  std::vector<StoreSnapshot::Location> locations;
  locations.reserve(index_.size());
  index_.ForEach([&](std::string_view, const IndexEntry& e) {
    locations.push_back({e.segment, e.offset, e.length});
  });
  return std::unique_ptr<Snapshot>(
      new StoreSnapshot(applied_lsn_, std::move(locations), segments_));
}

StoreStats StoreImpl::GetStats() {
  MutexLock lock(&mu_);
  StoreStats stats = stats_;
  stats.keys = index_.size();
  stats.last_lsn = last_lsn_;
  stats.checkpoint_lsn = last_checkpoint_.applied_lsn;
  stats.data_segments = segments_.size();
  stats.data_bytes = 0;
  stats.garbage_bytes = 0;
  for (const auto& [id, segment] : segments_) {
    stats.data_bytes += segment->size();
    stats.garbage_bytes += segment->garbage_bytes;
  }
  stats.index_memory_bytes = index_.MemoryBytes();
  stats.cache_bytes = cache_.bytes();
  return stats;
}

ValueCache::ProbeStats StoreImpl::CacheProbeStatsForTesting() {
  MutexLock lock(&mu_);
  return cache_.ProbeStatsForTesting();
}

}  // namespace toydb
