// StoreImpl: opening and recovery. The checkpoint names the data segments
// and how much of each is valid; their records (or hint files) rebuild the
// index; the WAL after the checkpoint's LSN is replayed on top.
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "src/storage/datalog/hint_file.h"
#include "src/storage/datalog/segment_file_pool.h"
#include "src/storage/replica/command_codec.h"
#include "src/storage/store/store_impl.h"
#include "src/storage/wal/wal_format.h"

namespace toydb {

StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  return StoreImpl::Open(options);
}

StatusOr<RepairReport> Store::Repair(const StoreOptions& options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  return StoreImpl::Repair(options);
}

StoreImpl::StoreImpl(const StoreOptions& options, std::optional<ReplicaMode> replica)
    : options_(options),
      env_(options.env != nullptr ? options.env : Env::Default()),
      clock_(options.clock != nullptr ? options.clock : Clock::Default()),
      wal_dir_(JoinPath(options.dir, "wal")),
      replica_(replica),
      queue_(GroupCommitOptions(options)),
      cache_(options.cache_bytes_max) {
  file_pool_ = std::make_shared<SegmentFilePool>(env_, options.dir);
}

StatusOr<std::unique_ptr<Store>> StoreImpl::Open(const StoreOptions& options) {
  StatusOr<std::unique_ptr<StoreImpl>> store = OpenImpl(options, std::nullopt);
  if (!store.ok()) return store.status();
  return std::unique_ptr<Store>(std::move(*store));
}

StatusOr<std::unique_ptr<StoreImpl>> StoreImpl::OpenImpl(const StoreOptions& options,
                                                         std::optional<ReplicaMode> replica) {
  if (Status s = options.Validate(); !s.ok()) return s;
  std::unique_ptr<StoreImpl> store(new StoreImpl(options, replica));
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
  return store;
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

namespace {

// Wraps an error that a lost, damaged or stale CHECKPOINT can cause so that
// it says what to do about it.
Status NeedsRepair(const Status& cause) {
  return absl::DataLossError(fmt::format(
      "{} (Open changed nothing on disk; put the right CHECKPOINT back, or run Store::Repair "
      "to rebuild it from the data segments and the WAL)",
      std::string(cause.message())));
}

}  // namespace

WalOptions StoreImpl::WalOptionsFor(const StoreOptions& options, bool replica) {
  WalOptions wal_options;
  wal_options.dir = JoinPath(options.dir, "wal");
  wal_options.segment_bytes_max = options.wal_segment_bytes_max;
  wal_options.retention_bytes = options.wal_retention_bytes;
  wal_options.record_bytes_max =
      MaxBatchPayloadBytes(options.batch_ops_max, options.batch_bytes_max) +
      (replica ? kCommandHeaderBytesMax : 0);
  wal_options.write_buffer_bytes =
      options.sync_policy == SyncPolicy::kEveryWrite ? 0 : options.wal_write_buffer_bytes;
  // Only a log synced per write gains from preallocation; without per-write
  // syncs the log outruns the zero-filling (which syncs each chunk), and
  // appends would wait for it.
  wal_options.preallocate_bytes =
      options.sync_policy == SyncPolicy::kEveryWrite ? options.wal_preallocate_bytes : 0;
  return wal_options;
}

// Recovery never removes or cuts a file before the WAL replay that makes it
// garbage has succeeded: everything up to the replay only reads, so an Open
// that fails there (a missing or stale CHECKPOINT, a WAL that no longer
// covers it, a damaged segment) leaves the directory as it found it. The one
// exception is the WAL's own recovery (a torn tail is cut), which depends on
// the WAL alone.
Status StoreImpl::Recover() {
  if (Status s = env_->CreateDir(wal_dir_); !s.ok()) return s;
  StatusOr<std::unique_ptr<FileLock>> lock = env_->LockFile(JoinPath(options_.dir, "LOCK"));
  if (!lock.ok()) return lock.status();
  dir_lock_ = std::move(*lock);

  const bool has_checkpoint = env_->FileExists(JoinPath(options_.dir, kCheckpointFileName));
  StatusOr<CheckpointState> state = ReadCheckpoint(env_, options_.dir);
  if (!state.ok()) return NeedsRepair(state.status());
  StatusOr<DataDirScan> scan = ScanDataDir(*state);
  if (!scan.ok()) return scan.status();
  if (Status s = OpenWal(*state, scan->holds_data, has_checkpoint); !s.ok()) return s;

  MutexLock l(&mu_);
  // New segments take ids above every file on disk: a file the checkpoint
  // does not name stays untouched until the replay is done.
  next_segment_id_ = std::max(state->next_segment_id, scan->max_segment_id + 1);
  const uint32_t first_new_id = next_segment_id_;
  applied_lsn_ = last_lsn_ = state->applied_lsn;
  for (size_t i = 0; i < state->segments.size(); ++i) {
    const bool active = i + 1 == state->segments.size() && !state->segments[i].sealed;
    if (Status s = LoadSegment(state->segments[i], active); !s.ok()) return s;
  }
  // Deletes are tombstone entries while loading, so that they shadow older
  // records in any segment; now they can go.
  index_.EraseIf([&](std::string_view, const IndexEntry& e) {
    mu_.AssertHeld();
    if (e.tombstone) ChargeGarbage(e);
    return e.tombstone;
  });
  last_checkpoint_ = *state;
  Status s = LoadSessions(*state);
  if (s.ok()) s = CreateActiveIfNone();
  if (s.ok()) s = ReplayWal();
  if (!s.ok()) {
    DiscardSegmentsFrom(first_new_id);
    return s;
  }
  return RemoveGarbageFiles(*state);
}

// Reads, and changes nothing: every segment the checkpoint names must exist
// and hold at least its recorded length.
StatusOr<StoreImpl::DataDirScan> StoreImpl::ScanDataDir(const CheckpointState& state) {
  StatusOr<std::vector<std::string>> names = env_->GetChildren(options_.dir);
  if (!names.ok()) return names.status();
  DataDirScan scan;
  for (const std::string& name : *names) {
    uint32_t id = 0;
    if (!ParseDataSegmentFileName(name, &id)) continue;
    scan.max_segment_id = std::max(scan.max_segment_id, id);
    StatusOr<uint64_t> size = env_->GetFileSize(JoinPath(options_.dir, name));
    if (!size.ok()) return size.status();
    scan.holds_data = scan.holds_data || *size > 0;
  }
  for (const CheckpointSegment& segment : state.segments) {
    const std::string path = JoinPath(options_.dir, DataSegmentFileName(segment.id));
    StatusOr<uint64_t> size = env_->GetFileSize(path);
    if (!size.ok()) {
      return NeedsRepair(absl::DataLossError(
          fmt::format("data segment {} named by the checkpoint is missing", path)));
    }
    if (*size < segment.length) {
      return NeedsRepair(absl::DataLossError(
          fmt::format("data segment {} has {} bytes, the checkpoint recorded {}", path, *size,
                      segment.length)));
    }
  }
  return scan;
}

Status StoreImpl::OpenWal(const CheckpointState& state, bool data_present, bool has_checkpoint) {
  WalOptions wal_options = WalOptionsFor(options_, replica_.has_value());
  // Recovery needs the log from the checkpoint on; older retained segments
  // are verified when they are first read.
  wal_options.verify_from_lsn = state.applied_lsn + 1;
  // Wal::Open may cut a torn tail; what can be refused from the headers
  // alone is refused first, so that such an Open leaves every file alone.
  StatusOr<Wal::Peek> peek = Wal::PeekAtHeaders(env_, wal_options);
  if (!peek.ok()) return peek.status();
  // A WAL directory without segments would be started afresh at LSN 0; with
  // data on disk that means the log was lost, not that the store is new.
  if (!peek->has_segments && (data_present || state.applied_lsn > 0)) {
    return NeedsRepair(absl::DataLossError(
        fmt::format("the WAL in {} holds no segment, but the store holds data", wal_dir_)));
  }
  if (peek->first_lsn.has_value() && *peek->first_lsn > state.applied_lsn + 1) {
    return WalGapError(state, has_checkpoint, *peek->first_lsn, std::nullopt);
  }
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(env_, wal_options);
  if (!wal.ok()) return wal.status();
  MutexLock wal_lock(&wal_mu_);
  wal_ = std::move(*wal);
  wal_preparer_ = wal_.get();
  last_wal_sync_micros_ = clock_->NowMicros();
  if (wal_->last_lsn() >= state.applied_lsn && wal_->first_lsn() <= state.applied_lsn + 1) {
    return absl::OkStatus();
  }
  return WalGapError(state, has_checkpoint, wal_->first_lsn(), wal_->last_lsn());
}

Status StoreImpl::WalGapError(const CheckpointState& state, bool has_checkpoint, uint64_t first_lsn,
                              std::optional<uint64_t> last_lsn) {
  const std::string holds = last_lsn.has_value()
                                ? fmt::format("holds LSNs {} to {}", first_lsn, *last_lsn)
                                : fmt::format("starts at LSN {}", first_lsn);
  if (!has_checkpoint) {
    return NeedsRepair(absl::DataLossError(fmt::format(
        "CHECKPOINT is missing and the WAL {}, not every write since the store was created",
        holds)));
  }
  return NeedsRepair(absl::DataLossError(fmt::format(
      "the WAL {} but the checkpoint needs every LSN after {}", holds, state.applied_lsn)));
}

Status StoreImpl::CreateActiveIfNone() {
  if (active_ != nullptr) return absl::OkStatus();
  auto segment = DataSegment::Create(env_, options_.dir, next_segment_id_++, file_pool_);
  if (!segment.ok()) return segment.status();
  active_ = *segment;
  segments_[active_->id()] = active_;
  return absl::OkStatus();
}

// A failed Open takes back the files it created, so that it leaves the
// directory as it was (best effort: they are unnamed, and the next Open
// would remove them anyway).
void StoreImpl::DiscardSegmentsFrom(uint32_t first_new_id) {
  std::vector<std::string> paths;
  for (auto it = segments_.lower_bound(first_new_id); it != segments_.end();) {
    paths.push_back(it->second->path());
    it = segments_.erase(it);
  }
  if (active_ != nullptr && active_->id() >= first_new_id) active_ = nullptr;
  for (const std::string& path : paths) env_->RemoveFile(path).IgnoreError();
}

// After a successful replay, every file the store does not use is garbage:
// segments the checkpoint does not name were written after it (their records
// were just replayed) or replaced by a compaction; a named segment's bytes
// past its recorded length hold records after the applied LSN (replayed) or
// stale bytes of a reused file.
Status StoreImpl::RemoveGarbageFiles(const CheckpointState& state) {
  StatusOr<std::vector<std::string>> names = env_->GetChildren(options_.dir);
  if (!names.ok()) return names.status();
  std::set<uint32_t> sealed_in_checkpoint;
  for (const CheckpointSegment& s : state.segments) {
    if (s.sealed) sealed_in_checkpoint.insert(s.id);
  }
  bool stale_hint_removed = false;
  for (const std::string& name : *names) {
    const std::string path = JoinPath(options_.dir, name);
    uint32_t id = 0;
    // Pooled files of compacted segments are not kept across an Open.
    bool garbage = name.ends_with(".tmp") || SegmentFilePool::IsPoolFileName(name);
    if (ParseDataSegmentFileName(name, &id)) {
      auto it = segments_.find(id);
      garbage = it == segments_.end();
      if (!garbage) {
        if (Status s = CutToLength(path, it->second->size()); !s.ok()) return s;
      }
    }
    // A hint of a segment the checkpoint names unsealed was built after a
    // roll the checkpoint did not see: it describes bytes past the recorded
    // length, which recovery left out.
    if (name.ends_with(".hint")) {
      garbage = !ParseDataSegmentFileName(name.substr(0, name.size() - 5) + ".seg", &id) ||
                !sealed_in_checkpoint.contains(id);
      stale_hint_removed = stale_hint_removed || (garbage && segments_.contains(id));
    }
    if (garbage) {
      if (Status s = env_->RemoveFile(path); !s.ok()) return s;
    }
  }
  // Unlike the other garbage, a stale hint must not come back after a crash:
  // the segment's next hint goes under the same name.
  if (stale_hint_removed) return env_->SyncDir(options_.dir);
  return absl::OkStatus();
}

Status StoreImpl::CutToLength(const std::string& path, uint64_t length) {
  StatusOr<uint64_t> size = env_->GetFileSize(path);
  if (!size.ok()) return size.status();
  if (*size <= length) return absl::OkStatus();
  return env_->TruncateFile(path, length);
}

Status StoreImpl::LoadSegment(const CheckpointSegment& meta, bool active) {
  if (active) {
    // Appends may continue in the segment the checkpoint names unsealed
    // only if nothing follows its recorded length. Bytes there are writes
    // after the checkpoint, which the replay writes again; they stay in the
    // file until it succeeds, so the segment is sealed at its length and
    // the replay goes to a new one.
    StatusOr<uint64_t> size =
        env_->GetFileSize(JoinPath(options_.dir, DataSegmentFileName(meta.id)));
    if (!size.ok()) return size.status();
    active = *size == meta.length;
  }
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
      mu_.AssertHeld();
      LoadRecord(meta.id, h.key, IndexEntry{meta.id, h.offset, h.length, h.tombstone, h.lsn});
    });
    if (s.ok()) return s;
    // A damaged hint is only a lost shortcut: fall back to the segment.
  }
  if (!active) segments_without_hint_.push_back(meta.id);
  return seg->Scan([&](uint64_t offset, uint64_t length, const data_format::Record& r) {
    mu_.AssertHeld();
    LoadRecord(meta.id, r.key,
               IndexEntry{meta.id, static_cast<uint32_t>(offset), static_cast<uint32_t>(length),
                          r.tombstone, r.lsn});
  });
}

void StoreImpl::LoadRecord(uint32_t segment, std::string_view key, const IndexEntry& entry) {
  // A segment holds no record after the checkpoint's LSN, except after a
  // Repair, whose checkpoint starts where the WAL does: the replay writes
  // those again, in LSN order.
  if (entry.lsn > applied_lsn_) {
    ChargeGarbage(entry);
    return;
  }
  // The newest write of a key wins, whatever segment it is in. Within one
  // LSN (a batch) the later record in the file wins.
  std::optional<IndexEntry> loser = index_.UpsertIf(key, entry, [&](const IndexEntry& existing) {
    return entry.lsn > existing.lsn || (entry.lsn == existing.lsn && segment == existing.segment &&
                                        entry.offset > existing.offset);
  });
  if (loser.has_value()) ChargeGarbage(*loser);
}

Status StoreImpl::ReplayWal() {
  MutexLock wal_lock(&wal_mu_);
  constexpr uint64_t kReplayChunkBytes = 8u << 20;
  std::vector<WalRecord> records;
  const uint64_t limit = ReplayLimit();
  while (applied_lsn_ < limit) {
    records.clear();
    if (Status s = wal_->Read(applied_lsn_ + 1, kReplayChunkBytes, &records); !s.ok()) return s;
    if (records.empty()) break;
    for (const WalRecord& record : records) {
      if (record.lsn > limit) break;
      if (record.lsn != applied_lsn_ + 1) {
        return absl::DataLossError(
            fmt::format("WAL replay expected LSN {} and read {}", applied_lsn_ + 1, record.lsn));
      }
      Status s = replica_.has_value() ? ApplyReplicated(record, nullptr) : ApplyRecord(record);
      if (!s.ok()) return s;
    }
  }
  last_lsn_ = applied_lsn_;
  wal_bytes_at_checkpoint_ = wal_->bytes_written();
  return absl::OkStatus();
}

}  // namespace toydb
