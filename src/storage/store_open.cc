// StoreImpl: opening and recovery. The checkpoint names the data segments
// and how much of each is valid; their records (or hint files) rebuild the
// index; the WAL after the checkpoint's LSN is replayed on top.
#include <fmt/format.h>

#include "src/storage/hint_file.h"
#include "src/storage/store_impl.h"

namespace toydb {

StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  return StoreImpl::Open(options);
}

StoreImpl::StoreImpl(const StoreOptions& options)
    : options_(options),
      env_(options.env != nullptr ? options.env : Env::Default()),
      clock_(options.clock != nullptr ? options.clock : Clock::Default()),
      wal_dir_(JoinPath(options.dir, "wal")),
      cache_(options.cache_bytes_max) {
  file_pool_ = std::make_shared<SegmentFilePool>(env_, options.dir);
}

StatusOr<std::unique_ptr<Store>> StoreImpl::Open(const StoreOptions& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  std::unique_ptr<StoreImpl> store(new StoreImpl(options));
  if (Status s = store->Recover(); !s.ok()) return s;
  store->recovered_ = true;
  if (options.background_threads) {
    store->background_writer_ = std::make_unique<BackgroundWriter>();
    {
      MutexLock lock(&store->mu_);
      store->active_->WriteFullBuffersOn(store->background_writer_.get());
    }
    store->background_ = std::thread([s = store.get()] { s->BackgroundLoop(); });
  }
  return std::unique_ptr<Store>(std::move(store));
}

StoreImpl::~StoreImpl() {
  if (background_.joinable()) {
    {
      MutexLock lock(&background_mu_);
      stopping_ = true;
    }
    background_cv_.Signal();
    background_.join();
  }
  bool healthy = false;
  {
    MutexLock lock(&mu_);
    healthy = recovered_ && read_only_cause_.ok();
  }
  // A checkpoint on close makes the next Open fast; failing it loses nothing
  // (it is reported, as are the events not yet delivered).
  if (recovered_) CloseMaintenance(/*checkpoint=*/healthy);
}

Status StoreImpl::Recover() {
  if (Status s = env_->CreateDir(wal_dir_); !s.ok()) return s;
  StatusOr<std::unique_ptr<FileLock>> lock = env_->LockFile(JoinPath(options_.dir, "LOCK"));
  if (!lock.ok()) return lock.status();
  dir_lock_ = std::move(*lock);

  StatusOr<CheckpointState> state = ReadCheckpoint(env_, options_.dir);
  if (!state.ok()) return state.status();
  if (Status s = RemoveOrphanFiles(*state); !s.ok()) return s;

  MutexLock l(&mu_);
  next_segment_id_ = state->next_segment_id;
  applied_lsn_ = last_lsn_ = state->applied_lsn;
  for (size_t i = 0; i < state->segments.size(); ++i) {
    const bool active = i + 1 == state->segments.size() && !state->segments[i].sealed;
    if (Status s = LoadSegment(state->segments[i], active); !s.ok()) return s;
  }
  // Deletes are tombstone entries while loading, so that they shadow older
  // records in any segment; now they can go.
  index_.EraseIf([&](std::string_view, const IndexEntry& e) {
    if (e.tombstone) ChargeGarbage(e);
    return e.tombstone;
  });
  if (active_ == nullptr) {
    auto segment = DataSegment::Create(env_, options_.dir, next_segment_id_++, file_pool_);
    if (!segment.ok()) return segment.status();
    active_ = *segment;
    segments_[active_->id()] = active_;
  }
  last_checkpoint_ = *state;
  return ReplayWal();
}

Status StoreImpl::RemoveOrphanFiles(const CheckpointState& state) {
  StatusOr<std::vector<std::string>> names = env_->GetChildren(options_.dir);
  if (!names.ok()) return names.status();
  std::set<uint32_t> live, sealed;
  for (const CheckpointSegment& s : state.segments) {
    live.insert(s.id);
    if (s.sealed) sealed.insert(s.id);
  }
  bool stale_hint_removed = false;
  for (const std::string& name : *names) {
    uint32_t id = 0;
    // Pooled files of compacted segments are not kept across an Open.
    bool orphan = name.ends_with(".tmp") || SegmentFilePool::IsPoolFileName(name);
    if (ParseDataSegmentFileName(name, &id)) orphan = !live.contains(id);
    // A hint of a segment the checkpoint names unsealed was built after a
    // roll the checkpoint did not see. Recovery cuts the segment at its
    // checkpointed length and appends other records after that, so the hint
    // would mislead the Open that follows the segment's next seal.
    bool stale_hint = false;
    if (name.ends_with(".hint")) {
      orphan = !ParseDataSegmentFileName(name.substr(0, name.size() - 5) + ".seg", &id) ||
               !sealed.contains(id);
      stale_hint = orphan && live.contains(id);
    }
    // Files a checkpoint does not name were written after it (their records
    // are replayed from the WAL) or replaced by a compaction.
    if (orphan) {
      if (Status s = env_->RemoveFile(JoinPath(options_.dir, name)); !s.ok()) return s;
      stale_hint_removed = stale_hint_removed || stale_hint;
    }
  }
  // Unlike the other orphans, a stale hint must not come back after a crash.
  if (stale_hint_removed) return env_->SyncDir(options_.dir);
  return absl::OkStatus();
}

Status StoreImpl::LoadSegment(const CheckpointSegment& meta, bool active) {
  auto segment =
      DataSegment::OpenExisting(env_, options_.dir, meta.id, meta.length, active, file_pool_);
  if (!segment.ok()) return segment.status();
  std::shared_ptr<DataSegment> seg = *segment;
  seg->min_lsn = meta.min_lsn;
  seg->max_lsn = meta.max_lsn;
  segments_[seg->id()] = seg;
  if (active) active_ = seg;

  const std::string hint_path = JoinPath(options_.dir, HintFileName(meta.id));
  if (meta.sealed && env_->FileExists(hint_path)) {
    Status s = ReadHintFile(env_, hint_path, [&](const HintEntry& h) {
      LoadRecord(meta.id, h.key, IndexEntry{meta.id, h.offset, h.length, h.tombstone, h.lsn});
    });
    if (s.ok()) return s;
    // A damaged hint is only a lost shortcut: fall back to the segment.
  }
  if (meta.sealed) segments_without_hint_.push_back(meta.id);
  return seg->Scan([&](uint64_t offset, uint64_t length, const data_format::Record& r) {
    LoadRecord(meta.id, r.key,
               IndexEntry{meta.id, static_cast<uint32_t>(offset), static_cast<uint32_t>(length),
                          r.tombstone, r.lsn});
  });
}

void StoreImpl::LoadRecord(uint32_t segment, std::string_view key, const IndexEntry& entry) {
  // The newest write of a key wins, whatever segment it is in. Within one
  // LSN (a batch) the later record in the file wins.
  std::optional<IndexEntry> loser = index_.UpsertIf(key, entry, [&](const IndexEntry& existing) {
    return entry.lsn > existing.lsn || (entry.lsn == existing.lsn && segment == existing.segment &&
                                        entry.offset > existing.offset);
  });
  if (loser.has_value()) ChargeGarbage(*loser);
}

Status StoreImpl::ReplayWal() {
  WalOptions wal_options;
  wal_options.dir = wal_dir_;
  wal_options.segment_bytes_max = options_.wal_segment_bytes_max;
  wal_options.retention_bytes = options_.wal_retention_bytes;
  wal_options.record_bytes_max =
      MaxBatchPayloadBytes(options_.max_batch_ops, options_.max_batch_bytes);
  wal_options.write_buffer_bytes =
      options_.sync_policy == SyncPolicy::kEveryWrite ? 0 : options_.wal_write_buffer_bytes;
  // Only a log synced per write gains from preallocation; without per-write
  // syncs the log outruns the zero-filling (which syncs each chunk), and
  // appends would wait for it.
  wal_options.preallocate_bytes =
      options_.sync_policy == SyncPolicy::kEveryWrite ? options_.wal_preallocate_bytes : 0;
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(env_, wal_options);
  if (!wal.ok()) return wal.status();
  MutexLock wal_lock(&wal_mu_);
  wal_ = std::move(*wal);
  wal_preparer_ = wal_.get();
  last_wal_sync_micros_ = clock_->NowMicros();
  if (wal_->last_lsn() < applied_lsn_ || wal_->first_lsn() > applied_lsn_ + 1) {
    return absl::DataLossError(
        fmt::format("the WAL holds LSNs {} to {} but the checkpoint needs every LSN after {}",
                    wal_->first_lsn(), wal_->last_lsn(), applied_lsn_));
  }
  constexpr uint64_t kReplayChunkBytes = 8u << 20;
  std::vector<WalRecord> records;
  while (applied_lsn_ < wal_->last_lsn()) {
    records.clear();
    if (Status s = wal_->Read(applied_lsn_ + 1, kReplayChunkBytes, &records); !s.ok()) return s;
    if (records.empty()) break;
    for (const WalRecord& record : records) {
      if (record.lsn != applied_lsn_ + 1) {
        return absl::DataLossError(
            fmt::format("WAL replay expected LSN {} and read {}", applied_lsn_ + 1, record.lsn));
      }
      if (Status s = ApplyRecord(record); !s.ok()) return s;
    }
  }
  last_lsn_ = applied_lsn_;
  wal_bytes_at_checkpoint_ = wal_->bytes_written();
  return absl::OkStatus();
}

}  // namespace toydb
