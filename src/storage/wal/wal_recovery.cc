// WalImpl recovery (Wal::Open): lists the segment files, drops leftovers of an
// interrupted Reset and a torn segment creation, verifies every record and the
// LSN continuity across segments, and cuts a torn tail off the last segment.
// The rules are in docs/wal_format.md, "Recovery".
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "src/storage/wal/wal_impl.h"

namespace toydb::wal {
namespace {

struct HeaderRead {
  std::optional<SegmentHeader> header;
  uint64_t file_size = 0;
};

StatusOr<HeaderRead> ReadHeader(Env* env, const std::string& path) {
  StatusOr<uint64_t> size = env->GetFileSize(path);
  if (!size.ok()) return size.status();
  StatusOr<std::unique_ptr<RandomAccessFile>> file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  std::string bytes;
  if (Status s = (*file)->Read(0, kSegmentHeaderBytes, &bytes); !s.ok()) return s;
  return HeaderRead{.header = DecodeSegmentHeader(bytes), .file_size = *size};
}

}  // namespace

}  // namespace toydb::wal

namespace toydb {

StatusOr<Wal::Peek> Wal::PeekAtHeaders(Env* env, const WalOptions& options) {
  Peek peek;
  if (!env->FileExists(options.dir)) return peek;
  StatusOr<std::vector<std::string>> names = env->GetChildren(options.dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> seqs;
  for (const std::string& name : *names) {
    if (std::optional<uint64_t> seq = wal::ParseSegmentFileName(name)) seqs.push_back(*seq);
  }
  std::sort(seqs.begin(), seqs.end());
  peek.has_segments = !seqs.empty();
  // As recovery does: the log starts at the newest segment marked LOG_START.
  std::optional<wal::SegmentHeader> first;
  for (uint64_t seq : seqs) {
    StatusOr<wal::HeaderRead> read =
        wal::ReadHeader(env, JoinPath(options.dir, wal::SegmentFileName(seq)));
    if (!read.ok()) return read.status();
    const std::optional<wal::SegmentHeader>& h = read->header;
    const bool valid = h && h->seq == seq;
    if (seq == seqs.front()) first = valid ? h : std::nullopt;
    if (valid && (h->flags & wal::kFlagLogStart)) first = h;
  }
  if (first) peek.first_lsn = first->base_lsn + 1;
  return peek;
}

}  // namespace toydb

namespace toydb::wal {

struct WalImpl::DirListing {
  std::vector<uint64_t> segments;  // Sorted.
  std::vector<uint64_t> recycled;  // Sorted.
};

StatusOr<WalImpl::DirListing> WalImpl::ListDir() {
  StatusOr<std::vector<std::string>> names = env_->GetChildren(options_.dir);
  if (!names.ok()) return names.status();
  DirListing listing;
  for (const std::string& name : *names) {
    if (std::optional<uint64_t> seq = ParseSegmentFileName(name)) {
      listing.segments.push_back(*seq);
    } else if (std::optional<uint64_t> old = ParseRecycleFileName(name)) {
      listing.recycled.push_back(*old);
    }
  }
  std::sort(listing.segments.begin(), listing.segments.end());
  std::sort(listing.recycled.begin(), listing.recycled.end());
  for (uint64_t seq : listing.segments) next_seq_ = std::max(next_seq_, seq + 1);
  for (uint64_t seq : listing.recycled) next_seq_ = std::max(next_seq_, seq + 1);
  return listing;
}

namespace {

Status ValidateOptions(const WalOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("WalOptions.dir is empty");
  if (options.record_bytes_max > kRecordPayloadMax) {
    return absl::InvalidArgumentError(
        fmt::format("WalOptions.record_bytes_max {} exceeds the format's {}",
                    options.record_bytes_max, kRecordPayloadMax));
  }
  if (options.segment_bytes_max < kSegmentHeaderBytes + kRecordHeaderBytes) {
    return absl::InvalidArgumentError(
        fmt::format("WalOptions.segment_bytes_max {} cannot hold a header and a record",
                    options.segment_bytes_max));
  }
  return absl::OkStatus();
}

}  // namespace

Status WalImpl::Recover(WalRecoveryReport* report) {
  *report = WalRecoveryReport();
  if (Status s = ValidateOptions(options_); !s.ok()) return s;
  if (Status s = env_->CreateDir(options_.dir); !s.ok()) return s;
  StatusOr<DirListing> listing = ListDir();
  if (!listing.ok()) return listing.status();
  recycled_.assign(listing->recycled.begin(), listing->recycled.end());
  std::vector<uint64_t> seqs = std::move(listing->segments);
  if (Status s = DropBeforeLogStart(&seqs); !s.ok()) return s;
  for (size_t i = 0; i < seqs.size(); ++i) {
    const bool last = i + 1 == seqs.size();
    if (last) {
      StatusOr<bool> dropped = DropTornLastSegment(seqs[i], report);
      if (!dropped.ok()) return dropped.status();
      if (*dropped) break;
    } else if (options_.verify_from_lsn > 0) {
      StatusOr<bool> skipped = LoadSegmentUnverified(seqs[i], seqs[i + 1]);
      if (!skipped.ok()) return skipped.status();
      if (*skipped) {
        report->segments_not_verified++;
        continue;
      }
    }
    if (Status s = LoadSegment(seqs[i], last, report); !s.ok()) return s;
  }
  if (segments_.empty()) {
    // A new log (or every segment was a torn creation): start at (0, 0).
    // Its first chunk of zeros is written with the header, so the first
    // appends already overwrite prepared blocks.
    SegmentHeader header{.flags = kFlagLogStart, .seq = next_seq_, .base_lsn = 0, .base_term = 0};
    StatusOr<std::unique_ptr<WritableFile>> file = CreateSegmentFile(header, FirstChunkBytes());
    if (!file.ok()) return file.status();
    if (Status s = (*file)->Close(); !s.ok()) return s;
    segments_.push_back(Segment{.seq = header.seq, .end = kSegmentHeaderBytes});
    terms_ = {TermRun{0, 0}};
    if (Status s = OpenWriterAtEnd(); !s.ok()) return s;
  } else if (writer_ == nullptr) {
    if (Status s = OpenWriterAtEnd(); !s.ok()) return s;
  }
  synced_lsn_ = last_lsn();
  report->segments = segments_.size();
  return TrimRecyclePool();
}

// Segments older than the newest one marked kFlagLogStart are what an
// interrupted Reset had not yet removed.
Status WalImpl::DropBeforeLogStart(std::vector<uint64_t>* seqs) {
  size_t start = 0;
  for (size_t i = 0; i < seqs->size(); ++i) {
    StatusOr<HeaderRead> read = ReadHeader(env_, SegmentPath((*seqs)[i]));
    if (!read.ok()) return read.status();
    const std::optional<SegmentHeader>& h = read->header;
    if (h && h->seq == (*seqs)[i] && (h->flags & kFlagLogStart)) start = i;
  }
  if (start == 0) return absl::OkStatus();
  for (size_t i = 0; i < start; ++i) {
    if (Status s = Retire((*seqs)[i]); !s.ok()) return s;
  }
  seqs->erase(seqs->begin(), seqs->begin() + static_cast<ptrdiff_t>(start));
  return env_->SyncDir(options_.dir);
}

// A last segment whose header never became durable was being created when
// the power went: no record in it was acknowledged (records follow the synced
// header and directory entry), so it is dropped. A header that is damaged
// although records follow it is mid-log damage.
StatusOr<bool> WalImpl::DropTornLastSegment(uint64_t seq, WalRecoveryReport* report) {
  const std::string path = SegmentPath(seq);
  StatusOr<HeaderRead> read = ReadHeader(env_, path);
  if (!read.ok()) return read.status();
  if (read->header && read->header->seq == seq) return false;
  StatusOr<std::unique_ptr<RandomAccessFile>> file = env_->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  // A record verifying under this seq and continuing the log proves the
  // header was once durable. With no segment before it, any LSN continues.
  SegmentReader reader(file->get(), seq, read->file_size);
  const bool first = segments_.empty();
  StatusOr<std::optional<uint64_t>> later =
      reader.FindLaterRecord(0, first ? 1 : segments_.back().last_lsn + 1, /*bounded=*/!first);
  if (!later.ok()) return later.status();
  if (later->has_value()) {
    return absl::DataLossError(fmt::format(
        "{}: offset 0: damaged segment header before a valid record at offset {}", path, **later));
  }
  if (Status s = env_->RemoveFile(path); !s.ok()) return s;
  report->truncated_tail_bytes += read->file_size;
  if (Status s = env_->SyncDir(options_.dir); !s.ok()) return s;
  return true;
}

StatusOr<SegmentHeader> WalImpl::ReadContinuingHeader(uint64_t seq, uint64_t* file_size) {
  const std::string path = SegmentPath(seq);
  StatusOr<HeaderRead> read = ReadHeader(env_, path);
  if (!read.ok()) return read.status();
  const std::optional<SegmentHeader>& h = read->header;
  if (!h || h->seq != seq) {
    return absl::DataLossError(fmt::format("{}: offset 0: bad segment header", path));
  }
  if (!segments_.empty() &&
      (h->base_lsn != segments_.back().last_lsn || h->base_term != segments_.back().last_term)) {
    return absl::DataLossError(fmt::format(
        "{}: offset 0: segment starts after (lsn {}, term {}) but the previous one ends at "
        "(lsn {}, term {})",
        path, h->base_lsn, h->base_term, segments_.back().last_lsn, segments_.back().last_term));
  }
  *file_size = read->file_size;
  return *h;
}

Status WalImpl::LoadSegment(uint64_t seq, bool last, WalRecoveryReport* report) {
  uint64_t file_size = 0;
  StatusOr<SegmentHeader> h = ReadContinuingHeader(seq, &file_size);
  if (!h.ok()) return h.status();
  if (segments_.empty()) terms_ = {TermRun{h->base_lsn, h->base_term}};
  StatusOr<std::unique_ptr<RandomAccessFile>> file = env_->NewRandomAccessFile(SegmentPath(seq));
  if (!file.ok()) return file.status();
  segments_.push_back(Segment{.seq = seq,
                              .base_lsn = h->base_lsn,
                              .base_term = h->base_term,
                              .last_lsn = h->base_lsn,
                              .last_term = h->base_term,
                              .end = kSegmentHeaderBytes,
                              .file = std::move(*file)});
  Segment* segment = &segments_.back();
  SegmentReader reader(segment->file.get(), seq, file_size);
  return ScanRecords(segment, &reader, last, report);
}

// Recovery needs the records from verify_from_lsn on; a sealed segment
// wholly before it is checked for its header and continuity only, which
// costs two small reads instead of reading the whole file. Its records are
// verified when first read (VerifySegment).
StatusOr<bool> WalImpl::LoadSegmentUnverified(uint64_t seq, uint64_t next_seq) {
  StatusOr<HeaderRead> next = ReadHeader(env_, SegmentPath(next_seq));
  if (!next.ok()) return next.status();
  const std::optional<SegmentHeader>& n = next->header;
  // A damaged next header is reported when that segment is loaded; this
  // one is then read in full, as without verify_from_lsn.
  if (!n || n->seq != next_seq || n->base_lsn >= options_.verify_from_lsn) return false;
  uint64_t file_size = 0;
  StatusOr<SegmentHeader> h = ReadContinuingHeader(seq, &file_size);
  if (!h.ok()) return h.status();
  if (n->base_lsn < h->base_lsn || n->base_term < h->base_term) {
    return absl::DataLossError(fmt::format(
        "{}: offset 0: segment starts after (lsn {}, term {}) but the next one starts after "
        "(lsn {}, term {})",
        SegmentPath(seq), h->base_lsn, h->base_term, n->base_lsn, n->base_term));
  }
  if (segments_.empty()) terms_ = {TermRun{h->base_lsn, h->base_term}};
  // The term of the segment's last record is known; where it began inside
  // the segment is not until VerifySegment reads it.
  if (terms_.back().term != n->base_term && n->base_lsn > h->base_lsn) {
    terms_.push_back(TermRun{n->base_lsn, n->base_term});
  }
  segments_.push_back(Segment{.seq = seq,
                              .base_lsn = h->base_lsn,
                              .base_term = h->base_term,
                              .last_lsn = n->base_lsn,
                              .last_term = n->base_term,
                              .end = file_size,
                              .verified = false});
  return true;
}

// Verifies the records of `segment`. In a sealed segment every byte must
// belong to a valid record. In the last one, the first invalid record ends
// the log unless a valid record continuing the sequence follows it.
Status WalImpl::ScanRecords(Segment* segment, SegmentReader* reader, bool last,
                            WalRecoveryReport* report) {
  StatusOr<WalkEnd> end = reader->Walk(kSegmentHeaderBytes, segment->last_lsn + 1,
                                       segment->last_term, [&](WalRecord& record, uint64_t offset) {
                                         NoteAppended(record, offset);
                                         report->records++;
                                         return true;
                                       });
  if (!end.ok()) return end.status();
  if (end->defect == RecordDefect::kNone) return absl::OkStatus();
  if (!last) return DefectError(*segment, end);
  const uint64_t offset = end->offset;
  // Zeros to the end of the file: the preallocated rest of the active
  // segment. The log ends cleanly here and the zeros stay.
  StatusOr<uint64_t> nonzero = reader->NextNonZero(offset);
  if (!nonzero.ok()) return nonzero.status();
  if (*nonzero == reader->file_size()) return absl::OkStatus();
  StatusOr<std::optional<uint64_t>> later = reader->FindLaterRecord(offset, segment->last_lsn + 1);
  if (!later.ok()) return later.status();
  if (later->has_value()) {
    return absl::DataLossError(
        fmt::format("{}: offset {}: {}, but a valid record follows at offset {}",
                    SegmentPath(segment->seq), offset, RecordDefectName(end->defect), **later));
  }
  return CutTail(segment, reader->file_size(), report);
}

// Cuts the torn tail (or the stale bytes of a recycled file) durably, and
// leaves the writer at the new end.
Status WalImpl::CutTail(Segment* segment, uint64_t file_size, WalRecoveryReport* report) {
  const std::string path = SegmentPath(segment->seq);
  if (Status s = env_->TruncateFile(path, segment->end); !s.ok()) return s;
  if (Status s = OpenWriterAtEnd(); !s.ok()) return s;
  if (Status s = writer_->Sync(); !s.ok()) return s;
  report->truncated_tail_bytes += file_size - segment->end;
  return absl::OkStatus();
}

uint64_t WalImpl::FirstChunkBytes() const {
  if (options_.preallocate_bytes == 0) return 0;
  const uint64_t chunk = std::min(options_.preallocate_bytes, options_.preallocate_chunk_bytes);
  return std::min(chunk, options_.segment_bytes_max - kSegmentHeaderBytes);
}

Status WalImpl::TrimRecyclePool() {
  while (recycled_.size() > options_.recycled_segments_max) {
    if (Status s = env_->RemoveFile(RecyclePath(recycled_.front())); !s.ok()) return s;
    recycled_.pop_front();
  }
  return absl::OkStatus();
}

}  // namespace toydb::wal
