// StoreImpl: the write path. Writers queue up; the one at the front (the
// leader) commits the whole queue as one group: one WAL write and at most one
// fdatasync for all of them, then applies each record to the data log and
// the index in LSN order. A leader of synced writes first waits, briefly, for
// the previous group's writers to queue again, so that they share its sync.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "src/storage/store_impl.h"

namespace toydb {
namespace {
// A group stops growing at this many payload bytes, so one slow write does
// not hold an unbounded number of followers.
constexpr uint64_t kMaxGroupBytes = 4u << 20;
// Reused buffers that grew past this (a huge batch) are given back.
constexpr size_t kKeepBufferBytes = 1u << 20;
// Index slots prefetched per group (more would be evicted before use).
constexpr size_t kMaxPrefetchedKeys = 32;
// The longest a leader waits for the previous group's writers to return.
constexpr std::chrono::microseconds kMaxGatherWait{200};
// A leader whose last WAL write and sync took less than this does not wait:
// falling asleep and being woken again costs about as much.
constexpr std::chrono::microseconds kMinGatherWait{30};
}  // namespace

Status StoreImpl::ValidateWriter(const Writer& writer) const {
  if (writer.ops.empty()) return absl::InvalidArgumentError("write batch is empty");
  if (writer.ops.size() > options_.max_batch_ops) {
    return absl::InvalidArgumentError(fmt::format("write batch has {} operations; the limit is {}",
                                                  writer.ops.size(), options_.max_batch_ops));
  }
  if (writer.bytes > options_.max_batch_bytes) {
    return absl::InvalidArgumentError(fmt::format("write batch has {} bytes; the limit is {}",
                                                  writer.bytes, options_.max_batch_bytes));
  }
  for (const BatchOpView& op : writer.ops) {
    if (op.key.empty()) return absl::InvalidArgumentError("key is empty");
    if (op.key.size() > options_.max_key_bytes) {
      return absl::InvalidArgumentError(
          fmt::format("key has {} bytes; the limit is {}", op.key.size(), options_.max_key_bytes));
    }
    if (op.value.size() > options_.max_value_bytes) {
      return absl::InvalidArgumentError(fmt::format("value has {} bytes; the limit is {}",
                                                    op.value.size(), options_.max_value_bytes));
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
  if (Status s = ValidateWriter(*writer); !s.ok()) return s;
  mu_.Lock();
  writers_.push_back(writer);
  if (gathering_ && writers_.size() >= gather_target_) gather_cv_.Signal();
  if (writer != writers_.front()) {
    mu_.Unlock();
    if (writer->WaitWhileWaiting() == Writer::kDone) {
      writer->WakeNext();
      return Result(*writer);
    }
    mu_.Lock();  // kLead: the previous leader handed over the queue.
  }
  // This writer leads: it commits every writer queued behind it, up to a bound.
  if (writer->sync) AwaitReturningWriters();
  TakeGroup();
  Status status = CommitGroup();
  // Those queued now, this group included, are the writers likely to be back
  // for the next group.
  expected_writers_ = writers_.size();
  for (Writer* member : group_) {
    writers_.pop_front();
    if (member->status.ok()) member->status = status;
  }
  Writer* next_leader = writers_.empty() ? nullptr : writers_.front();
  // The members (group_ less this writer, its first) are woken as a binary
  // tree: this writer wakes the first two, and member i wakes members 2i + 2
  // and 2i + 3 (Writer::WakeNext). group_ belongs to whoever leads next once
  // mu_ is released, so the two roots are copied out first.
  Writer* roots[2] = {nullptr, nullptr};
  const size_t member_count = group_.size() - 1;
  for (size_t i = 0; i < member_count; ++i) {
    Writer* member = group_[i + 1];
    member->wakes_next[0] = 2 * i + 2 < member_count ? group_[2 * i + 3] : nullptr;
    member->wakes_next[1] = 2 * i + 3 < member_count ? group_[2 * i + 4] : nullptr;
    if (i < 2) roots[i] = member;
  }
  mu_.Unlock();
  // The next leader goes first, so that its WAL write and sync overlap the
  // wake-ups of this group's members. Once a member is told it is done it may
  // return and free itself: touch nothing of it after Wake.
  if (next_leader != nullptr) next_leader->Wake(Writer::kLead);
  for (Writer* root : roots) {
    if (root != nullptr) root->Wake(Writer::kDone);
  }
  return Result(*writer);
}

StatusOr<uint64_t> StoreImpl::Result(const Writer& writer) {
  if (!writer.status.ok()) return writer.status;
  return writer.lsn;
}

void StoreImpl::AwaitReturningWriters() {
  if (writers_.size() >= expected_writers_ || last_group_wal_time_ < kMinGatherWait) return;
  // Waiting longer than a WAL write and sync would cost more than splitting
  // the writers into two groups does.
  const auto bound = std::min(last_group_wal_time_, kMaxGatherWait);
  const auto deadline = std::chrono::steady_clock::now() + bound;
  gathering_ = true;
  gather_target_ = expected_writers_;
  while (writers_.size() < gather_target_) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    gather_cv_.WaitFor(&mu_, std::chrono::duration_cast<std::chrono::microseconds>(deadline - now));
  }
  gathering_ = false;
}

void StoreImpl::TakeGroup() {
  group_.clear();
  uint64_t bytes = 0;
  for (Writer* w : writers_) {
    if (!group_.empty() && bytes + w->bytes > kMaxGroupBytes) break;
    bytes += w->bytes;
    group_.push_back(w);
  }
}

// Writes the group's records to the WAL, then applies them in LSN order. A
// synced group writes and syncs without holding mu_ (one fdatasync for all
// its writers); a group without a sync keeps mu_ through its WAL append.
Status StoreImpl::CommitGroup() {
  if (!read_only_cause_.ok()) return read_only_cause_;
  PrepareGroup();
  if (group_records_.empty()) return absl::OkStatus();
  // Start loading the index slots the apply will update, so that their cache
  // misses overlap the WAL write instead of following it.
  size_t prefetched = 0;
  for (const Writer* w : group_) {
    for (const BatchOpView& op : w->ops) {
      if (prefetched++ == kMaxPrefetchedKeys) break;
      index_.Prefetch(op.key);
    }
  }
  bool sync = false;
  for (const Writer* w : group_) sync = sync || w->sync;
  Status status;
  if (sync) {
    mu_.Unlock();
    const auto wal_start = std::chrono::steady_clock::now();
    {
      MutexLock wal_lock(&wal_mu_);
      status = wal_->Append(group_records_);
      if (status.ok()) {
        status = wal_->Sync();
        last_wal_sync_micros_ = clock_->NowMicros();
      }
    }
    const auto wal_time = std::chrono::steady_clock::now() - wal_start;
    mu_.Lock();
    last_group_wal_time_ = std::chrono::duration_cast<std::chrono::microseconds>(wal_time);
  } else {
    // Without a sync the append is mostly a copy into the WAL's buffer:
    // keeping mu_ costs readers little, and saves the writer a release and
    // a re-acquisition of it, and two clock reads.
    MutexLock wal_lock(&wal_mu_);
    status = wal_->Append(group_records_);
  }
  // Zero-filling the WAL ahead of the writes is the background thread's job;
  // wake it early when it falls behind. (Without the thread the owner's
  // RunBackgroundWork does it.)
  if (options_.background_threads && wal_preparer_->PrepareWanted()) background_cv_.Signal();
  if (absl::IsResourceExhausted(status) || absl::IsInvalidArgument(status)) {
    // Nothing was appended: give the LSNs back; the store stays writable.
    last_lsn_ -= group_records_.size();
    return status;
  }
  if (status.ok()) {
    stats_.write_groups++;
    if (sync) stats_.wal_syncs++;
    for (Writer* w : group_) {
      if (w->lsn == 0) continue;  // A compare-and-set that failed.
      status = ApplyOps(w->lsn, w->ops);
      if (!status.ok()) break;
    }
  }
  for (WalRecord& record : group_records_) {
    if (record.payload.capacity() > kKeepBufferBytes) std::string().swap(record.payload);
  }
  if (!status.ok()) {
    SetReadOnly(status);
    return read_only_cause_;
  }
  return absl::OkStatus();
}

void StoreImpl::PrepareGroup() {
  // Versions written earlier in this group, for compare-and-set checks later
  // in the same group (0: deleted). Built only when the group has a CAS.
  std::optional<absl::flat_hash_map<std::string_view, uint64_t>> group_versions;
  size_t used = 0;
  for (Writer* w : group_) {
    if (w->expected_version.has_value()) {
      if (!group_versions.has_value()) group_versions.emplace();
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
    WalRecord& record = group_records_[used++];
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
