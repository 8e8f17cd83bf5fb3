// StoreImpl: the write path. Writers queue up; the one at the front (the
// leader) commits the whole queue as one group: one WAL write and at most one
// fdatasync for all of them, then applies each record to the data log and
// the index in LSN order. A leader of synced writes first waits, briefly, for
// the previous group's writers to queue again, so that they share its sync.
// The queue itself (leading, gathering, hand-over) is GroupCommitQueue
// (group_commit.h); this file keeps the commit and apply logic.
#include <fmt/format.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "src/storage/store/store_impl.h"
#include "src/util/check.h"

namespace toydb {
namespace {
// Reused buffers that grew past this (a huge batch) are given back.
constexpr size_t kKeepBufferBytes = 1u << 20;
// Index slots prefetched per group (more would be evicted before use).
constexpr size_t kMaxPrefetchedKeys = 32;
}  // namespace

GroupCommitQueue::Options StoreImpl::GroupCommitOptions(const StoreOptions& options) {
  GroupCommitQueue::Options queue;
  // Waiting for the last group's writers to return is for writers that are
  // OS threads, in real time. A store without background threads is driven
  // by its owner, on one thread and simulated time in the simulator, and
  // must not read real time: there the queue never gathers.
  queue.gather = options.background_threads;
  queue.real_clock = Clock::Default();
  return queue;
}

Status StoreImpl::ValidateWriter(const Writer& writer) const {
  if (writer.ops.empty()) return absl::InvalidArgumentError("write batch is empty");
  if (writer.ops.size() > options_.batch_ops_max) {
    return absl::InvalidArgumentError(fmt::format("write batch has {} operations; the limit is {}",
                                                  writer.ops.size(), options_.batch_ops_max));
  }
  if (writer.bytes > options_.batch_bytes_max) {
    return absl::InvalidArgumentError(fmt::format("write batch has {} bytes; the limit is {}",
                                                  writer.bytes, options_.batch_bytes_max));
  }
  for (const BatchOpView& op : writer.ops) {
    if (op.key.empty()) return absl::InvalidArgumentError("key is empty");
    if (op.key.size() > options_.key_bytes_max) {
      return absl::InvalidArgumentError(
          fmt::format("key has {} bytes; the limit is {}", op.key.size(), options_.key_bytes_max));
    }
    if (op.value.size() > options_.value_bytes_max) {
      return absl::InvalidArgumentError(fmt::format("value has {} bytes; the limit is {}",
                                                    op.value.size(), options_.value_bytes_max));
    }
  }
  return absl::OkStatus();
}

StatusOr<uint64_t> StoreImpl::Put(const WriteOptions& options, std::string_view key,
                                  std::string_view value) {
  Writer writer;
  writer.ops.push_back(BatchOpView{WriteBatch::OpType::kPut, key, value});
  writer.bytes = key.size() + value.size();
  writer.sync = options.force_sync || options_.sync_policy == SyncPolicy::kEveryWrite;
  return Commit(&writer);
}

StatusOr<uint64_t> StoreImpl::Delete(const WriteOptions& options, std::string_view key) {
  Writer writer;
  writer.ops.push_back(BatchOpView{WriteBatch::OpType::kDelete, key, {}});
  writer.bytes = key.size();
  writer.sync = options.force_sync || options_.sync_policy == SyncPolicy::kEveryWrite;
  return Commit(&writer);
}

StatusOr<uint64_t> StoreImpl::Write(const WriteOptions& options, const WriteBatch& batch) {
  Writer writer;
  writer.ops.reserve(batch.size());
  for (const WriteBatch::Op& op : batch.ops()) {
    writer.ops.push_back(BatchOpView{op.type, op.key, op.value});
  }
  writer.bytes = batch.bytes();
  writer.sync = options.force_sync || options_.sync_policy == SyncPolicy::kEveryWrite;
  return Commit(&writer);
}

StatusOr<uint64_t> StoreImpl::CompareAndSet(const WriteOptions& options, std::string_view key,
                                            uint64_t expected_version, std::string_view value) {
  Writer writer;
  writer.ops.push_back(BatchOpView{WriteBatch::OpType::kPut, key, value});
  writer.bytes = key.size() + value.size();
  writer.expected_version = expected_version;
  writer.sync = options.force_sync || options_.sync_policy == SyncPolicy::kEveryWrite;
  return Commit(&writer);
}

StatusOr<uint64_t> StoreImpl::Commit(Writer* writer) {
  // A replica's state changes only by applying its log.
  if (replica_.has_value()) return RefuseReplicaWrite();
  if (Status s = ValidateWriter(*writer); !s.ok()) return s;
  mu_.Lock();
  if (!queue_.Join(writer)) {
    mu_.Unlock();
    if (writer->WaitWhileWaiting() == Writer::kDone) {
      writer->WakeNext();
      return Result(*writer);
    }
    mu_.Lock();  // kLead: the previous leader handed over the queue.
  }
  // This writer leads: it commits every writer queued behind it, up to a bound.
  if (writer->sync) queue_.AwaitReturningWriters(&mu_);
  group_ = queue_.TakeGroup();
  const Status status = CommitGroup();
  for (GroupCommitQueue::Writer* member : group_) {
    if (Member(member)->status.ok()) Member(member)->status = status;
  }
  const GroupCommitQueue::Handoff handoff = queue_.FinishGroup();
  group_ = {};
  mu_.Unlock();
  // Once a member is told it is done it may return and free itself: touch
  // nothing of it after this.
  handoff.Run();
  return Result(*writer);
}

size_t StoreImpl::QueuedWritersForTesting() {
  MutexLock lock(&mu_);
  return queue_.size();
}

uint64_t StoreImpl::GroupCommitRealTimeReadsForTesting() {
  MutexLock lock(&mu_);
  return queue_.real_time_reads();
}

StatusOr<uint64_t> StoreImpl::Result(const Writer& writer) {
  if (!writer.status.ok()) return writer.status;
  return writer.lsn;
}

// Writes the group's records to the WAL, then applies them in LSN order. A
// synced group writes and syncs without holding mu_ (one fdatasync for all
// its writers); a group without a sync keeps mu_ through its WAL append.
//
// Returns the status of the members that have none of their own. A failure
// after a record reached the WAL is the member's own, with its outcome
// (toydb/status.h): the record will be replayed by the next Open (kCommitted)
// or may be (kUnknown), so "failed, nothing changed" would be untrue.
Status StoreImpl::CommitGroup() {
  if (!read_only_cause_.ok()) return read_only_cause_;
  PrepareGroup();
  if (group_records_.empty()) return absl::OkStatus();
  // Start loading the index slots the apply will update, so that their cache
  // misses overlap the WAL write instead of following it.
  size_t prefetched = 0;
  for (GroupCommitQueue::Writer* member : group_) {
    for (const BatchOpView& op : Member(member)->ops) {
      if (prefetched++ == kMaxPrefetchedKeys) break;
      index_.Prefetch(op.key);
    }
  }
  bool sync = false;
  for (const GroupCommitQueue::Writer* member : group_) sync = sync || member->sync;
  bool reached_wal = false;
  const Status status = WriteGroupToWal(sync, &reached_wal);
  // Zero-filling the WAL ahead of the writes is the background thread's job;
  // wake it early when it falls behind. (Without the thread the owner's
  // RunBackgroundWork does it.)
  if (options_.background_threads && wal_preparer_->PrepareWanted()) background_cv_.Signal();
  if (!status.ok() && !reached_wal) {
    // Nothing of the group is in the log: give the LSNs back. A full disk or
    // an oversized record refuses cleanly and the store stays writable.
    last_lsn_ -= group_records_.size();
    if (absl::IsResourceExhausted(status) || absl::IsInvalidArgument(status)) return status;
    SetReadOnly(status);
    return read_only_cause_;
  }
  if (!status.ok()) {
    // The records were written, or some were, but are not known durable.
    SetReadOnly(status);
    FailUnappliedMembers(0, WriteOutcome::kUnknown);
    return read_only_cause_;
  }
  stats_.write_groups++;
  if (sync) stats_.wal_syncs++;
  Status applied;
  for (size_t i = 0; i < group_.size() && applied.ok(); ++i) {
    Writer* w = Member(group_[i]);
    if (w->lsn == 0) continue;  // A compare-and-set that failed.
    applied = ApplyOps(w->lsn, w->ops);
    if (!applied.ok()) {
      // The log has this record and the ones after it; the next Open
      // replays them. This store can no longer vouch for its data log.
      SetReadOnly(applied);
      FailUnappliedMembers(i, WriteOutcome::kCommitted);
    }
  }
  for (WalRecord& record : group_records_) {
    if (record.payload.capacity() > kKeepBufferBytes) std::string().swap(record.payload);
  }
  return applied.ok() ? absl::OkStatus() : read_only_cause_;
}

Status StoreImpl::WriteGroupToWal(bool sync, bool* reached_wal) {
  const uint64_t first_lsn = group_records_.front().lsn;
  Status status;
  if (sync) {
    queue_.WalWriteStarting();
    mu_.Unlock();
    {
      MutexLock wal_lock(&wal_mu_);
      CheckGroupContinuesWal();
      status = wal_->Append(group_records_);
      if (status.ok()) {
        status = wal_->Sync();
        last_wal_sync_micros_ = clock_->NowMicros();
      }
      // Never acknowledge a synced write that the WAL does not hold durably.
      TOYDB_CHECK(!status.ok() || wal_->synced_lsn() >= group_records_.back().lsn,
                  fmt::format("the WAL synced up to LSN {}, short of the group's last, {}",
                              wal_->synced_lsn(), group_records_.back().lsn));
      *reached_wal = wal_->last_lsn() >= first_lsn;
    }
    mu_.Lock();
    queue_.WalWriteFinished();
  } else {
    // Without a sync the append is mostly a copy into the WAL's buffer:
    // keeping mu_ costs readers little, and saves the writer a release and
    // a re-acquisition of it, and the timing of the write.
    MutexLock wal_lock(&wal_mu_);
    CheckGroupContinuesWal();
    status = wal_->Append(group_records_);
    *reached_wal = status.ok() || wal_->last_lsn() >= first_lsn;
  }
  return status;
}

void StoreImpl::CheckGroupContinuesWal() {
  // The WAL would refuse a gap as InvalidArgument, which the store takes for
  // a clean refusal: a store whose LSNs drifted from its log's must stop.
  TOYDB_CHECK(group_records_.front().lsn == wal_->last_lsn() + 1,
              fmt::format("the group starts at LSN {} but the WAL ends at {}",
                          group_records_.front().lsn, wal_->last_lsn()));
}

void StoreImpl::FailUnappliedMembers(size_t from, WriteOutcome outcome) {
  for (size_t i = from; i < group_.size(); ++i) {
    Writer* w = Member(group_[i]);
    if (w->lsn == 0) continue;  // Failed its compare-and-set: never logged.
    const std::string message =
        outcome == WriteOutcome::kCommitted
            ? fmt::format(
                  "write committed at LSN {} (it is in the WAL) but not applied; the "
                  "store applies it when reopened. {}",
                  w->lsn, std::string(read_only_cause_.message()))
            : fmt::format(
                  "write outcome unknown: its WAL record (LSN {}) may or may not be "
                  "durable; after a reopen the key's version tells. {}",
                  w->lsn, std::string(read_only_cause_.message()));
    w->status = WithWriteOutcome(StoreReadOnlyError(message), outcome, w->lsn);
  }
}

void StoreImpl::PrepareGroup() {
  // Versions written earlier in this group (0: deleted), for the
  // compare-and-set checks of the group: the index does not show them until
  // the group is applied. Every write of the group goes in, puts, deletes and
  // batches alike, so it is built only when the group has a compare-and-set.
  TOYDB_CHECK(last_lsn_ == applied_lsn_,
              fmt::format("a group starts with every LSN applied, but LSN {} is assigned and {} "
                          "applied",
                          last_lsn_, applied_lsn_));
  std::optional<absl::flat_hash_map<std::string_view, uint64_t>> group_versions;
  if (std::any_of(group_.begin(), group_.end(), [](GroupCommitQueue::Writer* member) {
        return Member(member)->expected_version.has_value();
      })) {
    group_versions.emplace();
  }
  size_t used = 0;
  for (GroupCommitQueue::Writer* member : group_) {
    Writer* w = Member(member);
    if (w->expected_version.has_value()) {
      const std::string_view key = w->ops.front().key;
      uint64_t current = 0;
      if (auto it = group_versions->find(key); it != group_versions->end()) {
        current = it->second;
      } else if (auto entry = index_.Find(key); entry.has_value()) {
        current = entry->lsn;
      }
      if (current != *w->expected_version) {
        w->status = absl::AbortedError(
            fmt::format("compare-and-set failed: expected version {}, current version {}",
                        *w->expected_version, current));
        continue;
      }
    }
    w->lsn = ++last_lsn_;
    if (group_versions.has_value()) {
      for (const BatchOpView& op : w->ops) {
        (*group_versions)[op.key] = op.type == WriteBatch::OpType::kPut ? w->lsn : 0;
      }
    }
    if (group_records_.size() <= used) group_records_.emplace_back();
    WalRecord& record = group_records_[used];
    // The WAL needs contiguous LSNs, and the group's order is their order.
    TOYDB_CHECK(w->lsn == (used == 0 ? applied_lsn_ : group_records_[used - 1].lsn) + 1,
                fmt::format("LSN {} breaks the group's sequence", w->lsn));
    ++used;
    record.term = 0;
    record.lsn = w->lsn;
    record.type = kWalRecordWriteBatch;
    record.payload.clear();
    EncodeBatchPayload(w->ops, &record.payload);
    stats_.writes++;
  }
  group_records_.resize(used);
}

Status StoreImpl::ApplyRecord(const WalRecord& record) {
  if (record.type != kWalRecordWriteBatch) {
    return absl::DataLossError(fmt::format("WAL record {} has unknown type {}", record.lsn,
                                           static_cast<int>(record.type)));
  }
  StatusOr<std::vector<BatchOpView>> ops = DecodeBatchPayload(record.payload);
  if (!ops.ok()) return ops.status();
  return ApplyOps(record.lsn, *ops);
}

Status StoreImpl::ApplyOps(uint64_t lsn, std::span<const BatchOpView> ops) {
  // Writes are applied once each, in LSN order, with none skipped.
  TOYDB_CHECK(lsn == applied_lsn_ + 1,
              fmt::format("applying LSN {} after LSN {}", lsn, applied_lsn_));
  // Later operations on a key win; write only the last one of each key.
  absl::InlinedVector<const BatchOpView*, 1> effective;
  if (ops.size() == 1) {
    effective.push_back(&ops.front());
  } else {
    absl::flat_hash_map<std::string_view, size_t> last;
    for (size_t i = 0; i < ops.size(); ++i) last[ops[i].key] = i;
    for (size_t i = 0; i < ops.size(); ++i) {
      if (last[ops[i].key] == i) effective.push_back(&ops[i]);
    }
  }
  // The write's records go to one segment, back to back.
  uint64_t bytes = 0;
  for (const BatchOpView* op : effective) {
    bytes += data_format::RecordBytes(op->key.size(), op->value.size());
  }
  if (active_->size() > 0 && active_->size() + bytes > options_.data_segment_bytes_max) {
    if (Status s = RollActiveSegment(); !s.ok()) return s;
  }
  absl::InlinedVector<uint64_t, 1> offsets;
  for (const BatchOpView* op : effective) {
    StatusOr<uint64_t> offset =
        active_->AppendRecord(lsn, op->type == WriteBatch::OpType::kDelete, op->key, op->value);
    if (!offset.ok()) return offset.status();
    offsets.push_back(*offset);
  }
  // A failed write leaves the index untouched: no part of the batch is seen.
  if (Status s = active_->FlushIfFull(); !s.ok()) return s;
  for (size_t i = 0; i < effective.size(); ++i) {
    const BatchOpView* op = effective[i];
    const bool tombstone = op->type == WriteBatch::OpType::kDelete;
    const auto length =
        static_cast<uint32_t>(data_format::RecordBytes(op->key.size(), op->value.size()));
    IndexEntry entry{active_->id(), static_cast<uint32_t>(offsets[i]), length, tombstone, lsn};
    // The index must point at the record just written, whole.
    TOYDB_CHECK(entry.offset == offsets[i] && offsets[i] + length <= active_->size(),
                fmt::format("record at offset {} ({} bytes) is outside segment {} of {} bytes",
                            offsets[i], length, active_->id(), active_->size()));
    std::optional<IndexEntry> previous =
        tombstone ? index_.Erase(op->key) : index_.Upsert(op->key, entry);
    if (previous.has_value()) ChargeGarbage(*previous);
    // A tombstone only shadows older records; compaction decides when it can go.
    if (tombstone) ChargeGarbage(entry);
    if (cache_.entries() > 0) cache_.Erase(op->key);
  }
  active_->min_lsn = std::min(active_->min_lsn, lsn);
  active_->max_lsn = std::max(active_->max_lsn, lsn);
  applied_lsn_ = lsn;
  return absl::OkStatus();
}

void StoreImpl::ChargeGarbage(const IndexEntry& entry) {
  auto it = segments_.find(entry.segment);
  if (it == segments_.end()) return;
  it->second->garbage_bytes += entry.length;
  it->second->MarkDead(entry.offset);
}

Status StoreImpl::RollActiveSegment() {
  if (Status s = active_->Seal(); !s.ok()) return s;
  segments_without_hint_.push_back(active_->id());
  StatusOr<std::shared_ptr<DataSegment>> next =
      DataSegment::Create(env_, options_.dir, next_segment_id_, file_pool_);
  if (!next.ok()) return next.status();
  next_segment_id_++;
  active_ = *next;
  if (background_writer_ != nullptr) active_->WriteFullBuffersOn(background_writer_.get());
  segments_[active_->id()] = active_;
  return absl::OkStatus();
}

void StoreImpl::SetReadOnly(const Status& cause) {
  if (!read_only_cause_.ok()) return;
  read_only_cause_ = StoreReadOnlyError(
      fmt::format("store is read-only after a failed write or sync (durability unknown): {}",
                  cause.ToString()));
  stats_.read_only = true;
  background_cv_.Signal();  // The background thread tells the listener.
}

}  // namespace toydb
