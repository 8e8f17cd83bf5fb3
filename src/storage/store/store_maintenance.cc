// StoreImpl: background work. Checkpoints, compaction, hint files and
// interval syncs; run by the background thread, or step by step through
// RunBackgroundWork() when the owner drives time (simulation).
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "src/storage/datalog/hint_file.h"
#include "src/storage/replica/session_table.h"
#include "src/storage/store/store_impl.h"
#include "src/util/check.h"

namespace toydb {
namespace {
// How often the background thread looks for work when nothing wakes it.
constexpr int64_t kBackgroundPollMs = 50;
// Index lookups in a loop prefetch this many keys ahead.
constexpr size_t kPrefetchAhead = 8;
// Index updates of a compaction's swap done per hold of the store mutex.
constexpr size_t kMovesPerLockHold = 256;
}  // namespace

CheckpointState StoreImpl::CurrentCheckpointState() {
  CheckpointState state;
  state.applied_lsn = applied_lsn_;
  state.next_segment_id = next_segment_id_;
  // The sessions as of applied_lsn, captured under the same hold of mu_.
  if (sessions_ != nullptr) state.replica_state = sessions_->Encode();
  for (const auto& [id, segment] : segments_) {
    state.segments.push_back(CheckpointSegment{id, segment->size(), segment->min_lsn,
                                               segment->max_lsn, !segment->writable()});
  }
  // The active segment is the only unsealed one; keep it last.
  std::stable_partition(state.segments.begin(), state.segments.end(),
                        [](const CheckpointSegment& s) { return s.sealed; });
  return state;
}

// The structure recovery relies on: ids below next_segment_id (new segments
// never reuse a named id), each named once, lengths within the segment, and
// only the last one unsealed (the one appends continue in).
void StoreImpl::CheckCheckpointShape(const CheckpointState& state) {
  std::set<uint32_t> ids;
  for (size_t i = 0; i < state.segments.size(); ++i) {
    const CheckpointSegment& s = state.segments[i];
    TOYDB_CHECK(s.id < state.next_segment_id,
                fmt::format("checkpoint names segment {} at or above its next id {}", s.id,
                            state.next_segment_id));
    TOYDB_CHECK(ids.insert(s.id).second, fmt::format("checkpoint names segment {} twice", s.id));
    TOYDB_CHECK(s.sealed || i + 1 == state.segments.size(),
                fmt::format("checkpoint names unsealed segment {} before others", s.id));
    TOYDB_CHECK(s.length == 0 || s.max_lsn <= state.applied_lsn,
                fmt::format("checkpoint names segment {} holding LSN {} above its applied LSN {}",
                            s.id, s.max_lsn, state.applied_lsn));
  }
}

Status StoreImpl::Checkpoint() {
  Status s;
  {
    MutexLock lock(&maintenance_mu_);
    s = CheckpointLocked();
  }
  QueueReadOnlyEvent();
  DeliverEvents();
  return s;
}

Status StoreImpl::CheckpointLocked() {
  // The data log must hold everything the checkpoint claims, and the WAL at
  // least as much, so that replay never finds a gap. Only the capture of the
  // state takes mu_; the syncs (a 64 MiB segment can take long) and the
  // checkpoint file are written while reads and writes go on.
  //
  // A roll of the active segment after the capture does no harm: the state
  // names the old active segment as unsealed with its captured length, so
  // recovery cuts it there and appends to it again, removes the newer segment
  // as a file no checkpoint names, and replays the writes after applied_lsn
  // from the WAL, which keeps them until a checkpoint covers them.
  CheckpointState state;
  std::vector<std::shared_ptr<DataSegment>> named;  // Every segment the state names.
  uint64_t wal_bytes = 0;
  {
    MutexLock lock(&mu_);
    if (!read_only_cause_.ok()) return read_only_cause_;
    if (Status s = active_->Flush(); !s.ok()) {
      SetReadOnly(s);
      return read_only_cause_;
    }
    state = CurrentCheckpointState();
    CheckCheckpointShape(state);
    // Recovery replays the WAL after applied_lsn: a checkpoint that went
    // back would replay writes over newer data; one that skipped ahead
    // would lose them.
    TOYDB_CHECK(state.applied_lsn >= last_checkpoint_.applied_lsn,
                fmt::format("checkpoint applied LSN {} is below the last one, {}",
                            state.applied_lsn, last_checkpoint_.applied_lsn));
    named.reserve(segments_.size());
    // In the state's order (sealed first), so named[i] is segments[i].
    for (const CheckpointSegment& meta : state.segments) named.push_back(segments_.at(meta.id));
  }
  Status s;
  // A sealed segment synced before returns at once.
  for (const auto& segment : named) {
    s = segment->SyncWritten();
    if (!s.ok()) break;
  }
  if (s.ok()) {
    // A checkpoint names only durable bytes: after a crash recovery trusts
    // them without replaying their writes.
    for (size_t i = 0; i < named.size(); ++i) {
      TOYDB_CHECK(named[i]->synced_size() >= state.segments[i].length,
                  fmt::format("checkpoint names {} bytes of data segment {}, of which only {} "
                              "are durable",
                              state.segments[i].length, named[i]->id(), named[i]->synced_size()));
    }
    // Short: the WAL starts the write-back of its pages as it writes them.
    MutexLock wal_lock(&wal_mu_);
    s = wal_->Sync();
    wal_bytes = wal_->bytes_written();
    // The WAL must reach the checkpoint, or recovery would find a gap.
    TOYDB_CHECK(!s.ok() || wal_->synced_lsn() >= state.applied_lsn,
                fmt::format("checkpoint at LSN {} but the WAL is durable only to {}",
                            state.applied_lsn, wal_->synced_lsn()));
  }
  if (!s.ok()) {
    MutexLock lock(&mu_);
    SetReadOnly(s);
    return read_only_cause_;
  }
  // maintenance_mu_ keeps compaction and other checkpoints out meanwhile.
  s = WriteCheckpoint(env_, options_.dir, state);
  {
    MutexLock lock(&mu_);
    stats_.wal_syncs++;
    if (!s.ok()) return s;
    last_checkpoint_ = state;
    stats_.checkpoints++;
    wal_bytes_at_checkpoint_ = wal_bytes;
  }
  QueueEvent(CheckpointInfo{state.applied_lsn, state.segments.size()});
  MutexLock wal_lock(&wal_mu_);
  // A replica keeps the log a lagging follower still needs.
  uint64_t release = state.applied_lsn;
  if (wal_retention_floor_ > 0) release = std::min(release, wal_retention_floor_ - 1);
  return wal_->ReleaseUpTo(release);
}

Status StoreImpl::Compact(bool force) {
  Status s;
  {
    MutexLock lock(&maintenance_mu_);
    s = CompactLocked(force);
  }
  QueueReadOnlyEvent();
  DeliverEvents();
  return s;
}

Status StoreImpl::CompactLocked(bool force) {
  std::vector<std::shared_ptr<DataSegment>> inputs;
  uint64_t tombstone_floor_lsn = UINT64_MAX;
  {
    MutexLock lock(&mu_);
    if (!read_only_cause_.ok()) return read_only_cause_;
    for (const auto& [id, segment] : segments_) {
      if (segment == active_ || segment->size() == 0) continue;
      const double ratio = static_cast<double>(segment->garbage_bytes) / segment->size();
      if (force ? segment->garbage_bytes > 0 : ratio >= options_.compaction_garbage_ratio) {
        inputs.push_back(segment);
      }
    }
    // A tombstone may be dropped only if no segment left out of this
    // compaction could hold an older record of its key.
    for (const auto& [id, segment] : segments_) {
      if (std::find(inputs.begin(), inputs.end(), segment) == inputs.end()) {
        tombstone_floor_lsn = std::min(tombstone_floor_lsn, segment->min_lsn);
      }
    }
  }
  if (inputs.empty()) return absl::OkStatus();

  std::vector<std::shared_ptr<DataSegment>> outputs;
  CompactionMoves moves;
  // Room for one move per 64 input bytes up front: growing the list by
  // doubling copied it again and again. Unused room is never touched, so it
  // costs address space, not memory.
  uint64_t input_bytes = 0;
  for (const auto& in : inputs) input_bytes += in->size();
  moves.list.reserve(std::min<uint64_t>(input_bytes / 64, uint64_t{1} << 26));
  if (Status s = CopyLiveRecords(inputs, tombstone_floor_lsn, &outputs, &moves); !s.ok()) {
    for (auto& out : outputs) out->MarkObsolete();
    return s;
  }
  SwapInCompacted(inputs, outputs, moves);
  CompactionInfo info{inputs.size(), outputs.size(), input_bytes, 0};
  for (const auto& out : outputs) info.output_bytes += out->size();
  QueueEvent(info);
  Status s = CheckpointLocked();
  // The old files may go only once a checkpoint no longer names them; if it
  // failed, the next Open finds them unnamed by a later checkpoint, or needed.
  if (s.ok()) {
    for (auto& in : inputs) in->MarkObsolete();
  }
  return s;
}

// Copies the live records of `inputs` into new segments (with hint files).
// Put records are judged by the input's list of dead records, copied once;
// only tombstones are checked against the index, under mu_, a batch at a time.
Status StoreImpl::CopyLiveRecords(const std::vector<std::shared_ptr<DataSegment>>& inputs,
                                  uint64_t tombstone_floor_lsn,
                                  std::vector<std::shared_ptr<DataSegment>>* outputs,
                                  CompactionMoves* moves) {
  CompactionOutput output{this, outputs, moves};
  CompactionBatch batch;
  for (const auto& input : inputs) {
    std::vector<uint32_t> dead_offsets;
    {
      MutexLock lock(&mu_);
      dead_offsets = input->dead_offsets();
    }
    // Records that die after this are copied, and found out at the swap.
    const DeadRecordSet dead(dead_offsets);
    Status failure;
    Status scan = input->Scan([&](uint64_t offset, uint64_t length, const data_format::Record& r) {
      maintenance_mu_.AssertHeld();
      if (!failure.ok()) return;
      batch.Add(offset, length, r);
      if (batch.Full()) failure = CopyBatch(*input, tombstone_floor_lsn, dead, &batch, &output);
    });
    if (scan.ok() && failure.ok())
      failure = CopyBatch(*input, tombstone_floor_lsn, dead, &batch, &output);
    if (!scan.ok()) return scan;
    if (!failure.ok()) return failure;
  }
  return output.Finish();
}

Status StoreImpl::CopyBatch(const DataSegment& input, uint64_t tombstone_floor_lsn,
                            const DeadRecordSet& dead, CompactionBatch* batch,
                            CompactionOutput* output) {
  // A put record is live unless it was known dead: no index probe (a cache
  // miss each, which writers used to wait for on the store's lock). A
  // tombstone is kept while it may shadow an older record of its key.
  std::vector<bool> live(batch->records.size());
  bool tombstones = false;
  for (size_t i = 0; i < batch->records.size(); ++i) {
    const CompactionBatch::Record& r = batch->records[i];
    tombstones = tombstones || r.tombstone;
    live[i] = !r.tombstone && !dead.Contains(r.offset);
  }
  if (tombstones) {
    MutexLock lock(&mu_);
    for (size_t i = 0; i < batch->records.size(); ++i) {
      const CompactionBatch::Record& r = batch->records[i];
      if (r.tombstone) {
        live[i] = r.lsn > tombstone_floor_lsn && !index_.Find(batch->Key(r)).has_value();
      }
    }
  }
  Status s;
  for (size_t i = 0; i < batch->records.size() && s.ok(); ++i) {
    if (live[i]) s = output->Add(input.id(), *batch, batch->records[i]);
  }
  batch->Clear();
  return s;
}

Status StoreImpl::CompactionOutput::Add(uint32_t input_id, const CompactionBatch& batch,
                                        const CompactionBatch::Record& r) {
  if (segment != nullptr && segment->size() + r.length > store->options_.data_segment_bytes_max) {
    if (Status s = Finish(); !s.ok()) return s;
  }
  if (segment == nullptr) {
    uint32_t id;
    {
      MutexLock lock(&store->mu_);
      id = store->next_segment_id_++;
    }
    auto created = DataSegment::Create(store->env_, store->options_.dir, id, store->file_pool_);
    if (!created.ok()) return created.status();
    segment = *created;
    outputs->push_back(segment);
  }
  // The record was verified by the scan; its bytes move unchanged.
  StatusOr<uint64_t> at = segment->Append(batch.Raw(r));
  if (!at.ok()) return at.status();
  segment->min_lsn = std::min(segment->min_lsn, r.lsn);
  segment->max_lsn = std::max(segment->max_lsn, r.lsn);
  const std::string_view key = batch.Key(r);
  hint.Add(HintEntry{r.lsn, static_cast<uint32_t>(*at), r.length, r.tombstone, key});
  moves->Add(key,
             IndexEntry{input_id, static_cast<uint32_t>(r.offset), r.length, r.tombstone, r.lsn},
             IndexEntry{segment->id(), static_cast<uint32_t>(*at), r.length, r.tombstone, r.lsn});
  return absl::OkStatus();
}

Status StoreImpl::CompactionOutput::Finish() {
  if (segment == nullptr) return absl::OkStatus();
  Status s = segment->Seal();
  if (s.ok())
    s = hint.Finish(store->env_, JoinPath(store->options_.dir, HintFileName(segment->id())));
  hint = HintFileBuilder();
  segment = nullptr;
  return s;
}

void StoreImpl::SwapInCompacted(const std::vector<std::shared_ptr<DataSegment>>& inputs,
                                const std::vector<std::shared_ptr<DataSegment>>& outputs,
                                const CompactionMoves& moves) {
  // The index is pointed at the copies a chunk at a time, each chunk under
  // its own hold of mu_: one hold for all the moves of a 64 MiB segment
  // (hundreds of thousands of index updates) stalled writers for tens of
  // milliseconds. Between chunks a key points at its input record or at its
  // copy; both segments are in the table and hold the same bytes.
  {
    MutexLock lock(&mu_);
    for (const auto& out : outputs) segments_[out->id()] = out;
  }
  const size_t n = moves.list.size();
  for (size_t begin = 0; begin < n; begin += kMovesPerLockHold) {
    const size_t end = std::min(n, begin + kMovesPerLockHold);
    MutexLock lock(&mu_);
    for (size_t i = begin; i < std::min(end, begin + kPrefetchAhead); ++i) {
      index_.Prefetch(moves.Key(moves.list[i]));
    }
    for (size_t i = begin; i < end; ++i) {
      if (i + kPrefetchAhead < end) index_.Prefetch(moves.Key(moves.list[i + kPrefetchAhead]));
      const CompactionMoves::Move& move = moves.list[i];
      // A copy is the same record elsewhere; pointing the index at anything
      // else would serve another value, or lose the key at the next Open.
      TOYDB_CHECK(move.to.lsn == move.from.lsn && move.to.length == move.from.length &&
                      move.to.tombstone == move.from.tombstone,
                  fmt::format("compaction copy of LSN {} in segment {} does not match it",
                              move.from.lsn, move.from.segment));
      if (move.from.tombstone) continue;  // Not in the index; kept only to shadow.
      if (!index_.ReplaceIfAt(moves.Key(move), move.from.segment, move.from.offset, move.to)) {
        // Overwritten or deleted while being copied: the copy is garbage.
        ChargeGarbage(move.to);  // Outputs are in segments_ already.
      }
    }
  }
  MutexLock lock(&mu_);
  for (const auto& in : inputs) {
    // Only sealed segments are compacted: the active one takes new writes.
    TOYDB_CHECK(in != active_, fmt::format("compaction input {} is the active segment", in->id()));
    segments_.erase(in->id());
    std::erase(segments_without_hint_, in->id());
  }
  stats_.compactions++;
  for (const auto& in : inputs) stats_.compaction_input_bytes += in->size();
  for (const auto& out : outputs) stats_.compaction_output_bytes += out->size();
}

Status StoreImpl::BuildMissingHints() {
  std::shared_ptr<DataSegment> segment;
  {
    MutexLock lock(&mu_);
    while (!segments_without_hint_.empty() && segment == nullptr) {
      auto it = segments_.find(segments_without_hint_.back());
      segments_without_hint_.pop_back();
      if (it != segments_.end()) segment = it->second;
    }
  }
  if (segment == nullptr) return absl::OkStatus();
  // A roll seals a segment without syncing it (that would stall the writer
  // that rolled); sync it here, off the write path, so that the next
  // checkpoint finds it durable already.
  if (Status s = segment->SyncWritten(); !s.ok()) {
    MutexLock lock(&mu_);
    SetReadOnly(s);
    return s;
  }
  HintFileBuilder hint;
  Status s = segment->Scan([&](uint64_t offset, uint64_t length, const data_format::Record& r) {
    hint.Add(HintEntry{r.lsn, static_cast<uint32_t>(offset), static_cast<uint32_t>(length),
                       r.tombstone, r.key});
  });
  if (!s.ok()) return s;
  return hint.Finish(env_, JoinPath(options_.dir, HintFileName(segment->id())));
}

Status StoreImpl::SyncWalIfDue() {
  if (options_.sync_policy != SyncPolicy::kInterval) return absl::OkStatus();
  Status s;
  {
    MutexLock wal_lock(&wal_mu_);
    const int64_t now = clock_->NowMicros();
    if (now - last_wal_sync_micros_ < int64_t{options_.sync_interval_ms} * 1000) return s;
    if (wal_->synced_lsn() == wal_->last_lsn()) {
      last_wal_sync_micros_ = now;
      return s;
    }
    s = wal_->Sync();
    last_wal_sync_micros_ = now;
  }
  MutexLock lock(&mu_);
  if (!s.ok()) SetReadOnly(s);
  stats_.wal_syncs++;
  return s;
}

Status StoreImpl::RunBackgroundWork() {
  Status s = RunBackgroundSteps();
  QueueReadOnlyEvent();
  DeliverEvents();
  return s;
}

Status StoreImpl::RunBackgroundSteps() {
  {
    // Nothing can be made durable any more; the cause was reported once.
    MutexLock lock(&mu_);
    if (!read_only_cause_.ok()) return read_only_cause_;
  }
  // First, so that writers find prepared WAL blocks; it takes no store lock.
  // A failure only stops the preparation (a failed sync reaches writers
  // through the WAL's next Sync), so the round goes on.
  NoteBackgroundResult(BackgroundJob::kWalPreparation, wal_preparer_->PrepareAhead()).IgnoreError();
  if (Status s = NoteBackgroundResult(BackgroundJob::kIntervalSync, SyncWalIfDue()); !s.ok()) {
    return s;
  }
  MutexLock lock(&maintenance_mu_);
  if (Status s = NoteBackgroundResult(BackgroundJob::kHintFile, BuildMissingHints()); !s.ok()) {
    return s;
  }
  if (CheckpointDue()) {
    if (Status s = NoteBackgroundResult(BackgroundJob::kCheckpoint, CheckpointLocked()); !s.ok()) {
      return s;
    }
  }
  return NoteBackgroundResult(BackgroundJob::kCompaction, CompactLocked(/*force=*/false));
}

bool StoreImpl::CheckpointDue() {
  MutexLock lock(&mu_);
  MutexLock wal_lock(&wal_mu_);
  return wal_->bytes_written() - wal_bytes_at_checkpoint_ >= options_.checkpoint_wal_bytes;
}

void StoreImpl::CloseMaintenance(bool checkpoint) {
  if (checkpoint) {
    Status s;
    {
      MutexLock lock(&maintenance_mu_);
      s = CheckpointLocked();
    }
    // Failing it loses nothing (the next Open replays the WAL), but the
    // host should know why that Open is slow.
    NoteBackgroundResult(BackgroundJob::kCheckpointOnClose, s).IgnoreError();
  }
  QueueReadOnlyEvent();
  DeliverEvents();
}

void StoreImpl::BackgroundLoop() {
  const int64_t poll_ms = options_.sync_policy == SyncPolicy::kInterval
                              ? std::min<int64_t>(kBackgroundPollMs, options_.sync_interval_ms)
                              : kBackgroundPollMs;
  MutexLock lock(&background_mu_);
  while (!stopping_) {
    background_cv_.WaitFor(&background_mu_, std::chrono::milliseconds(poll_ms));
    if (stopping_) break;
    background_mu_.Unlock();
    // RunBackgroundWork has counted a failure in the stats and told the
    // listener of it; a failed step is retried on the next round.
    RunBackgroundWork().IgnoreError();
    background_mu_.Lock();
  }
}

}  // namespace toydb
