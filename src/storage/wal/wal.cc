// WalImpl (wal_impl.h): appending, syncing, reading, truncating, releasing
// and resetting the segmented log. Recovery is in wal_recovery.cc.
#include "src/storage/wal/wal.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

#include "src/storage/wal/wal_impl.h"

namespace toydb {

StatusOr<std::unique_ptr<Wal>> Wal::Open(Env* env, const WalOptions& options,
                                         WalRecoveryReport* report) {
  WalRecoveryReport local;
  auto wal = std::make_unique<wal::WalImpl>(env, options);
  if (Status s = wal->Recover(report != nullptr ? report : &local); !s.ok()) return s;
  return std::unique_ptr<Wal>(std::move(wal));
}

namespace wal {
namespace {

uint64_t RecordBytes(const WalRecord& record) { return kRecordHeaderBytes + record.payload.size(); }

// The batch buffer is kept between appends, but not after a huge batch.
constexpr size_t kBatchBufferKeepBytes = 4 << 20;

}  // namespace

WalImpl::WalImpl(Env* env, const WalOptions& options)
    : env_(env),
      options_(options),
      prealloc_(env, options.preallocate_bytes, options.preallocate_chunk_bytes) {}

WalImpl::~WalImpl() {
  // Closing does not sync: what was not synced was never promised durable.
  // Pending records are written, so a clean close loses nothing to a crash
  // of the process alone.
  if (writer_ != nullptr) {
    FlushPending().IgnoreError();
    writer_->Close().IgnoreError();
  }
  prealloc_.Detach();
}

std::string WalImpl::SegmentPath(uint64_t seq) const {
  return JoinPath(options_.dir, SegmentFileName(seq));
}
std::string WalImpl::RecyclePath(uint64_t seq) const {
  return JoinPath(options_.dir, RecycleFileName(seq));
}

Status WalImpl::CheckWritable() {
  if (failed_.ok() && prealloc_.has_sync_failure()) failed_ = prealloc_.sync_failure();
  if (failed_.ok()) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format("wal {} is read-only after an I/O failure: {}",
                                                   options_.dir, failed_.ToString()));
}

Status WalImpl::Fail(Status s) {
  assert(!s.ok());
  if (failed_.ok()) failed_ = s;
  return s;
}

// --- Append and Sync ---

Status WalImpl::CheckBatch(std::span<const WalRecord> records) const {
  uint64_t lsn = last_lsn();
  uint64_t term = last_term();
  for (const WalRecord& r : records) {
    if (r.payload.size() > options_.record_bytes_max) {
      return absl::InvalidArgumentError(
          fmt::format("wal record {} has {} payload bytes; the limit is {}", r.lsn,
                      r.payload.size(), options_.record_bytes_max));
    }
    if (r.lsn != lsn + 1) {
      return absl::InvalidArgumentError(
          fmt::format("wal record has lsn {}; the next lsn is {}", r.lsn, lsn + 1));
    }
    if (r.term < term) {
      return absl::InvalidArgumentError(fmt::format(
          "wal record {} has term {}, below the previous term {}", r.lsn, r.term, term));
    }
    lsn = r.lsn;
    term = r.term;
  }
  return absl::OkStatus();
}

uint64_t WalImpl::EncodedBytes(std::span<const WalRecord> records) const {
  uint64_t bytes = 0;
  for (const WalRecord& r : records) bytes += RecordBytes(r);
  return bytes;
}

Status WalImpl::Append(std::span<const WalRecord> records) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (Status s = CheckBatch(records); !s.ok()) return s;
  if (records.empty()) return absl::OkStatus();
  const uint64_t bytes = EncodedBytes(records);
  // A batch is never split: one write per batch. A segment therefore
  // exceeds segment_bytes_max by at most one batch.
  if (!segments_.back().empty() && segments_.back().end + bytes > options_.segment_bytes_max) {
    if (Status s = Roll(); !s.ok()) return s;
  }
  Segment& active = segments_.back();
  const bool buffered = options_.write_buffer_bytes > 0;
  std::string& out = buffered ? pending_ : batch_;
  if (!buffered) batch_.clear();
  out.reserve(out.size() + bytes);
  for (const WalRecord& r : records) EncodeRecord(active.seq, r, &out);
  if (!buffered) {
    assert(batch_.size() == bytes);
    if (Status s = WriteToActive(batch_); !s.ok()) return UndoPartialWrite(std::move(s));
  }
  uint64_t offset = active.end;
  for (const WalRecord& r : records) {
    NoteAppended(r, offset);
    offset += RecordBytes(r);
  }
  bytes_written_ += bytes;
  if (batch_.capacity() > kBatchBufferKeepBytes) batch_ = std::string();
  if (buffered && pending_.size() >= options_.write_buffer_bytes) return FlushPending();
  return absl::OkStatus();
}

Status WalImpl::FlushPending() {
  if (pending_.empty()) return absl::OkStatus();
  if (Status s = CheckWritable(); !s.ok()) return s;
  assert(writer_->Position() + pending_.size() == segments_.back().end);
  if (Status s = WriteToActive(pending_); !s.ok()) return Fail(std::move(s));
  // Unsynced records are sent on their way to the device now, so that the
  // next Sync (a checkpoint's, or the seal's at a roll, on a writer's path)
  // finds little left to write.
  writer_->StartWriteback();
  pending_.clear();
  if (pending_.capacity() > kBatchBufferKeepBytes) pending_ = std::string();
  return absl::OkStatus();
}

Status WalImpl::WriteToActive(std::string_view data) {
  return prealloc_.Write(writer_->Position() + data.size(),
                         [&]() -> Status { return writer_->Append(data); });
}

// Updates the in-memory state for a record stored at `offset` of the
// active segment (on append and on recovery).
void WalImpl::NoteAppended(const WalRecord& record, uint64_t offset) {
  Segment& segment = segments_.back();
  assert(record.lsn == segment.last_lsn + 1 && record.term >= segment.last_term);
  if (segment.index.empty() || offset - segment.index.back().offset >= kIndexIntervalBytes) {
    segment.index.push_back(IndexEntry{record.lsn, offset});
  }
  if (terms_.back().term != record.term) terms_.push_back(TermRun{record.lsn, record.term});
  segment.last_lsn = record.lsn;
  segment.last_term = record.term;
  segment.end = offset + RecordBytes(record);
}

// A failed write may have left part of the batch in the file; cut it off so
// the log is as before the call. If that fails too, the Wal turns failed.
Status WalImpl::UndoPartialWrite(Status cause) {
  const Segment& active = segments_.back();
  if (writer_->Position() == active.end) return cause;
  const std::string path = SegmentPath(active.seq);
  writer_.reset();
  // The batch's records may verify: they must not stay in the file, even
  // inside a preallocated region, or recovery would read them as the log.
  prealloc_.Detach();
  if (Status s = env_->TruncateFile(path, active.end); !s.ok()) return Fail(std::move(s));
  if (Status s = OpenWriterAtEnd(); !s.ok()) return Fail(std::move(s));
  return cause;
}

Status WalImpl::Sync() {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (synced_lsn_ == last_lsn()) return absl::OkStatus();
  if (Status s = FlushPending(); !s.ok()) return s;
  // After a failed fdatasync the kernel may have dropped the dirty pages and
  // a retry could report success for bytes that are gone: never retry.
  if (Status s = writer_->Sync(); !s.ok()) return Fail(std::move(s));
  // A failed fdatasync of the preallocator on this file leaves the records'
  // durability unknown as well.
  if (prealloc_.has_sync_failure()) return Fail(prealloc_.sync_failure());
  synced_lsn_ = last_lsn();
  return absl::OkStatus();
}

// --- Segments ---

Status WalImpl::Roll() {
  if (Status s = Seal(); !s.ok()) return s;
  const Segment& old = segments_.back();
  SegmentHeader header{
      .flags = 0, .seq = next_seq_, .base_lsn = old.last_lsn, .base_term = old.last_term};
  StatusOr<std::unique_ptr<WritableFile>> file = CreateSegmentFile(header);
  if (!file.ok()) {
    // The sealed segment stays the active one; nothing was lost.
    if (Status s = OpenWriterAtEnd(); !s.ok()) return Fail(std::move(s));
    return file.status();
  }
  writer_ = std::move(*file);
  segments_.push_back(Segment{.seq = header.seq,
                              .base_lsn = header.base_lsn,
                              .base_term = header.base_term,
                              .last_lsn = header.base_lsn,
                              .last_term = header.base_term,
                              .end = kSegmentHeaderBytes});
  TargetPreallocation();
  return absl::OkStatus();
}

// Makes the active segment exact and durable: cuts the stale bytes a
// recycled file holds past its end (recovery requires sealed segments to
// hold nothing but valid records) and syncs.
Status WalImpl::Seal() {
  if (Status s = FlushPending(); !s.ok()) return s;
  const Segment& active = segments_.back();
  const std::string path = SegmentPath(active.seq);
  // No zeros may be written past the end once it is cut.
  prealloc_.Detach();
  StatusOr<uint64_t> size = env_->GetFileSize(path);
  if (!size.ok()) return size.status();
  if (*size > active.end) {
    if (Status s = env_->TruncateFile(path, active.end); !s.ok()) return s;
  }
  if (Status s = writer_->Sync(); !s.ok()) return Fail(std::move(s));
  synced_lsn_ = active.last_lsn;
  Status closed = writer_->Close();
  writer_.reset();
  if (!closed.ok()) return Fail(std::move(closed));
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<WritableFile>> WalImpl::CreateSegmentFile(const SegmentHeader& header,
                                                                   uint64_t zero_bytes) {
  assert(header.seq == next_seq_);
  next_seq_ = header.seq + 1;
  const std::string path = SegmentPath(header.seq);
  StatusOr<std::unique_ptr<WritableFile>> file;
  if (!recycled_.empty()) {
    if (Status s = env_->RenameFile(RecyclePath(recycled_.front()), path); !s.ok()) return s;
    recycled_.pop_front();
    file = env_->ReuseWritableFile(path, 0);
  } else {
    file = env_->NewWritableFile(path);
  }
  Status s = file.status();
  if (s.ok()) s = (*file)->Append(EncodeSegmentHeader(header));
  if (s.ok() && zero_bytes > 0) s = (*file)->Append(std::string(zero_bytes, '\0'));
  if (s.ok()) s = (*file)->Sync();
  // Records in the segment are acknowledged only once its name is durable.
  if (s.ok()) s = env_->SyncDir(options_.dir);
  if (s.ok()) return file;
  // A stray segment with a valid header would break the LSN continuity of
  // the log on recovery, so its removal must succeed and be durable.
  file = nullptr;
  Status removed = env_->RemoveFile(path);
  if (removed.ok() || absl::IsNotFound(removed)) removed = env_->SyncDir(options_.dir);
  if (!removed.ok()) Fail(std::move(removed)).IgnoreError();
  return s;
}

Status WalImpl::OpenWriterAtEnd() {
  const Segment& active = segments_.back();
  const std::string path = SegmentPath(active.seq);
  StatusOr<uint64_t> size = env_->GetFileSize(path);
  if (!size.ok()) return size.status();
  if (*size < active.end) {
    return absl::InternalError(
        fmt::format("{}: size {} but the log ends at {}", path, *size, active.end));
  }
  StatusOr<std::unique_ptr<WritableFile>> file = env_->ReuseWritableFile(path, active.end);
  if (!file.ok()) return file.status();
  writer_ = std::move(*file);
  prealloc_.Retarget(path, *size, active.end, options_.segment_bytes_max);
  return absl::OkStatus();
}

void WalImpl::TargetPreallocation() {
  const Segment& active = segments_.back();
  const std::string path = SegmentPath(active.seq);
  StatusOr<uint64_t> size = env_->GetFileSize(path);
  // Without the size, leave the segment unprepared: appends grow it.
  if (!size.ok()) return prealloc_.Detach();
  prealloc_.Retarget(path, std::max(*size, active.end), active.end, options_.segment_bytes_max);
}

Status WalImpl::Retire(uint64_t seq) {
  if (recycled_.size() < options_.recycled_segments_max) {
    if (Status s = env_->RenameFile(SegmentPath(seq), RecyclePath(seq)); !s.ok()) return s;
    recycled_.push_back(seq);
    return absl::OkStatus();
  }
  return env_->RemoveFile(SegmentPath(seq));
}

// --- Reading ---

size_t WalImpl::SegmentIndexFor(uint64_t lsn) const {
  auto it = std::partition_point(segments_.begin(), segments_.end(),
                                 [lsn](const Segment& s) { return s.last_lsn < lsn; });
  assert(it != segments_.end());
  return static_cast<size_t>(it - segments_.begin());
}

// The offset of an indexed record at or before `lsn` (> base_lsn) in
// `segment`; `*start_lsn` is that record's lsn.
uint64_t WalImpl::OffsetOf(const Segment& segment, uint64_t lsn, uint64_t* start_lsn) const {
  auto it = std::upper_bound(segment.index.begin(), segment.index.end(), lsn,
                             [](uint64_t l, const IndexEntry& e) { return l < e.lsn; });
  assert(it != segment.index.begin());
  --it;
  *start_lsn = it->lsn;
  return it->offset;
}

Status WalImpl::OpenReader(Segment* segment) {
  if (segment->file != nullptr) return absl::OkStatus();
  StatusOr<std::unique_ptr<RandomAccessFile>> file =
      env_->NewRandomAccessFile(SegmentPath(segment->seq));
  if (!file.ok()) return file.status();
  segment->file = std::move(*file);
  return absl::OkStatus();
}

Status WalImpl::Read(uint64_t from_lsn, uint64_t max_bytes, std::vector<WalRecord>* out) {
  out->clear();
  if (from_lsn < first_lsn()) {
    return absl::NotFoundError(
        fmt::format("wal lsn {} was released; the log starts at {}", from_lsn, first_lsn()));
  }
  if (from_lsn > last_lsn()) return absl::OkStatus();
  if (Status s = FlushPending(); !s.ok()) return s;
  uint64_t payload_bytes = 0;
  for (size_t i = SegmentIndexFor(from_lsn); i < segments_.size(); ++i) {
    Segment* segment = &segments_[i];
    if (segment->empty()) continue;
    StatusOr<bool> full = ReadFrom(segment, std::max(from_lsn, segment->base_lsn + 1), max_bytes,
                                   out, &payload_bytes);
    if (!full.ok()) return full.status();
    if (*full) break;
  }
  return absl::OkStatus();
}

// Appends the records of `segment` from `from_lsn` on to `out` while their
// payload fits in `max_bytes` (the first record always). True once full.
StatusOr<bool> WalImpl::ReadFrom(Segment* segment, uint64_t from_lsn, uint64_t max_bytes,
                                 std::vector<WalRecord>* out, uint64_t* payload_bytes) {
  if (Status s = VerifySegment(segment); !s.ok()) return s;
  if (Status s = OpenReader(segment); !s.ok()) return s;
  uint64_t lsn = 0;
  const uint64_t offset = OffsetOf(*segment, from_lsn, &lsn);
  SegmentReader reader(segment->file.get(), segment->seq, segment->end);
  bool full = false;
  StatusOr<WalkEnd> end = reader.Walk(offset, lsn, 0, [&](WalRecord& record, uint64_t) {
    if (record.lsn < from_lsn) return true;
    if (!out->empty() && *payload_bytes + record.payload.size() > max_bytes) {
      full = true;
      return false;
    }
    *payload_bytes += record.payload.size();
    out->push_back(std::move(record));
    return true;
  });
  if (Status s = DefectError(*segment, end); !s.ok()) return s;
  return full || *payload_bytes >= max_bytes;
}

Status WalImpl::DefectError(const Segment& segment, const StatusOr<WalkEnd>& end) const {
  if (!end.ok()) return end.status();
  if (end->defect == RecordDefect::kNone) return absl::OkStatus();
  return absl::DataLossError(fmt::format("{}: offset {}: {}", SegmentPath(segment.seq), end->offset,
                                         RecordDefectName(end->defect)));
}

StatusOr<uint64_t> WalImpl::TermAt(uint64_t lsn) {
  if (lsn + 1 < first_lsn() || lsn > last_lsn()) {
    return absl::NotFoundError(fmt::format("wal holds no term for lsn {}: it holds {}..{}", lsn,
                                           first_lsn() - 1, last_lsn()));
  }
  if (lsn >= first_lsn()) {
    if (Status s = VerifySegment(&segments_[SegmentIndexFor(lsn)]); !s.ok()) return s;
  }
  auto it = std::upper_bound(terms_.begin(), terms_.end(), lsn,
                             [](uint64_t l, const TermRun& r) { return l < r.lsn; });
  assert(it != terms_.begin());
  return std::prev(it)->term;
}

// The offset just past record `lsn` of `segment` (the header's end for its
// base lsn).
StatusOr<uint64_t> WalImpl::EndOfRecord(Segment* segment, uint64_t lsn) {
  if (lsn == segment->base_lsn) return kSegmentHeaderBytes;
  if (Status s = FlushPending(); !s.ok()) return s;
  if (Status s = VerifySegment(segment); !s.ok()) return s;
  if (Status s = OpenReader(segment); !s.ok()) return s;
  uint64_t at = 0;
  const uint64_t offset = OffsetOf(*segment, lsn, &at);
  SegmentReader reader(segment->file.get(), segment->seq, segment->end);
  StatusOr<WalkEnd> end =
      reader.Walk(offset, at, 0, [&](WalRecord& record, uint64_t) { return record.lsn < lsn; });
  if (Status s = DefectError(*segment, end); !s.ok()) return s;
  return end->offset;
}

// Verifies the records of a segment that Open only checked for its header
// and continuity, and builds its sparse index and term runs. Damage is
// DataLoss, and the segment stays unverified, so every read of it says so.
Status WalImpl::VerifySegment(Segment* segment) {
  if (segment->verified) return absl::OkStatus();
  if (Status s = OpenReader(segment); !s.ok()) return s;
  SegmentReader reader(segment->file.get(), segment->seq, segment->end);
  std::vector<IndexEntry> index;
  std::vector<TermRun> runs;
  uint64_t last_lsn = segment->base_lsn, last_term = segment->base_term;
  StatusOr<WalkEnd> end =
      reader.Walk(kSegmentHeaderBytes, segment->base_lsn + 1, segment->base_term,
                  [&](WalRecord& record, uint64_t offset) {
                    if (index.empty() || offset - index.back().offset >= kIndexIntervalBytes) {
                      index.push_back(IndexEntry{record.lsn, offset});
                    }
                    if (record.term != last_term) runs.push_back(TermRun{record.lsn, record.term});
                    last_lsn = record.lsn;
                    last_term = record.term;
                    return true;
                  });
  if (Status s = DefectError(*segment, end); !s.ok()) return s;
  if (end->offset != segment->end || last_lsn != segment->last_lsn ||
      last_term != segment->last_term) {
    return absl::DataLossError(fmt::format(
        "{}: offset {}: records end at (lsn {}, term {}) but the next segment starts after "
        "(lsn {}, term {})",
        SegmentPath(segment->seq), end->offset, last_lsn, last_term, segment->last_lsn,
        segment->last_term));
  }
  // Replace the runs Open guessed from the headers for this segment's LSNs.
  std::erase_if(terms_, [&](const TermRun& r) {
    return r.lsn > segment->base_lsn && r.lsn <= segment->last_lsn;
  });
  auto at = std::upper_bound(terms_.begin(), terms_.end(), segment->base_lsn,
                             [](uint64_t l, const TermRun& r) { return l < r.lsn; });
  terms_.insert(at, runs.begin(), runs.end());
  segment->index = std::move(index);
  segment->verified = true;
  return absl::OkStatus();
}

}  // namespace wal
}  // namespace toydb
