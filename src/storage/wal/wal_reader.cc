// SegmentReader (wal_reader.h): buffered, verifying reads of a WAL segment.
#include "src/storage/wal/wal_reader.h"

#include <algorithm>
#include <cassert>

namespace toydb::wal {

const char* RecordDefectName(RecordDefect defect) {
  switch (defect) {
    case RecordDefect::kNone:
      return "no defect";
    case RecordDefect::kTruncated:
      return "record cut short by the end of the file";
    case RecordDefect::kChecksum:
      return "record checksum mismatch";
    case RecordDefect::kLsnMismatch:
      return "record breaks the LSN sequence";
    case RecordDefect::kTermBackwards:
      return "record term goes backwards";
  }
  return "unknown defect";
}

SegmentReader::SegmentReader(const RandomAccessFile* file, uint64_t seq, uint64_t file_size)
    : file_(file), seq_(seq), file_size_(file_size) {}

StatusOr<std::string_view> SegmentReader::Peek(uint64_t offset, size_t n) {
  if (offset >= file_size_) return std::string_view();
  n = static_cast<size_t>(std::min<uint64_t>(n, file_size_ - offset));
  const bool cached = offset >= window_offset_ && offset + n <= window_offset_ + window_.size();
  if (!cached) {
    window_offset_ = offset;
    if (Status s = file_->Read(offset, std::max(n, kWindowBytes), &window_); !s.ok()) {
      window_.clear();
      return s;
    }
  }
  std::string_view view(window_);
  view.remove_prefix(offset - window_offset_);
  return view.substr(0, n);
}

StatusOr<bool> SegmentReader::VerifiesAt(uint64_t offset, const RecordHeader& header) {
  const uint64_t size = kRecordHeaderBytes + uint64_t{header.length};
  if (header.length > kRecordPayloadMax || offset + size > file_size_) return false;
  StatusOr<std::string_view> bytes = Peek(offset, size);
  if (!bytes.ok()) return bytes.status();
  return bytes->size() == size && VerifyRecord(seq_, *bytes);
}

Status SegmentReader::ReadRecord(uint64_t offset, uint64_t expected_lsn, uint64_t min_term,
                                 WalRecord* record, uint64_t* next_offset, RecordDefect* defect) {
  StatusOr<std::string_view> head = Peek(offset, kRecordHeaderBytes);
  if (!head.ok()) return head.status();
  *defect = RecordDefect::kTruncated;
  if (head->size() < kRecordHeaderBytes) return absl::OkStatus();
  const RecordHeader h = DecodeRecordHeader(*head);
  if (offset + kRecordHeaderBytes + h.length > file_size_) return absl::OkStatus();
  StatusOr<bool> ok = VerifiesAt(offset, h);
  if (!ok.ok()) return ok.status();
  if (!*ok) {
    *defect = RecordDefect::kChecksum;
  } else if (h.lsn != expected_lsn) {
    *defect = RecordDefect::kLsnMismatch;
  } else if (h.term < min_term) {
    *defect = RecordDefect::kTermBackwards;
  } else {
    *defect = RecordDefect::kNone;
    // VerifiesAt left the whole record in the window.
    StatusOr<std::string_view> bytes = Peek(offset, kRecordHeaderBytes + h.length);
    if (!bytes.ok()) return bytes.status();
    record->term = h.term;
    record->lsn = h.lsn;
    record->type = h.type;
    record->payload.assign(bytes->substr(kRecordHeaderBytes));
    *next_offset = offset + kRecordHeaderBytes + h.length;
  }
  return absl::OkStatus();
}

StatusOr<WalkEnd> SegmentReader::Walk(uint64_t offset, uint64_t lsn, uint64_t min_term,
                                      RecordVisitor visit) {
  WalRecord record;
  while (offset < file_size_) {
    RecordDefect defect = RecordDefect::kNone;
    uint64_t next = offset;
    if (Status s = ReadRecord(offset, lsn, min_term, &record, &next, &defect); !s.ok()) return s;
    if (defect != RecordDefect::kNone) return WalkEnd{.offset = offset, .defect = defect};
    min_term = record.term;
    ++lsn;
    const bool more = visit(record, offset);
    offset = next;
    if (!more) break;
  }
  return WalkEnd{.offset = offset};
}

StatusOr<uint64_t> SegmentReader::NextNonZero(uint64_t offset) {
  while (offset < file_size_) {
    StatusOr<std::string_view> bytes = Peek(offset, kWindowBytes);
    if (!bytes.ok()) return bytes.status();
    const size_t at = bytes->find_first_not_of('\0');
    if (at != std::string_view::npos) return offset + at;
    offset += bytes->size();
  }
  return file_size_;
}

StatusOr<std::optional<uint64_t>> SegmentReader::FindLaterRecord(uint64_t from,
                                                                 uint64_t expected_lsn,
                                                                 bool bounded) {
  for (uint64_t q = from + 1; q + kRecordHeaderBytes <= file_size_; ++q) {
    StatusOr<std::string_view> head = Peek(q, kRecordHeaderBytes);
    if (!head.ok()) return head.status();
    const RecordHeader h = DecodeRecordHeader(*head);
    if (h.lsn == 0) {
      // LSN 0 never continues a log. Every candidate whose LSN field lies
      // in the same run of zeros has LSN 0 too: go to the first one whose
      // field reaches the next non-zero byte.
      StatusOr<uint64_t> nonzero = NextNonZero(q + kRecordLsnOffset + 8);
      if (!nonzero.ok()) return nonzero.status();
      q = *nonzero - kRecordLsnOffset - 8;
      continue;
    }
    // Between `from` and q fit at most (q - from) / kRecordHeaderBytes records.
    const uint64_t lsn_max = expected_lsn + (q - from) / kRecordHeaderBytes;
    if (h.lsn < expected_lsn || (bounded && h.lsn > lsn_max)) continue;
    StatusOr<bool> ok = VerifiesAt(q, h);
    if (!ok.ok()) return ok.status();
    if (*ok) return std::optional<uint64_t>(q);
  }
  return std::optional<uint64_t>();
}

}  // namespace toydb::wal
