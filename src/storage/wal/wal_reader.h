#ifndef TOYDB_STORAGE_WAL_WAL_READER_H_
#define TOYDB_STORAGE_WAL_WAL_READER_H_

// SegmentReader: reads and verifies records of one WAL segment file through a
// RandomAccessFile, for recovery and for Wal::Read. It buffers a window of the
// file so that sequential reads and the byte-by-byte forward scan of recovery
// cost one file read per window, not one per record.
//
// Owned by its caller; borrows the file, which must outlive it. Not
// thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "src/storage/wal/wal_format.h"
#include "toydb/env.h"

namespace toydb::wal {

// Why the bytes at an offset are not the record that was expected there.
enum class RecordDefect {
  kNone = 0,
  kTruncated,    // The file ends inside the record header or payload.
  kChecksum,     // The record does not verify under the segment's seq.
  kLsnMismatch,  // It verifies but does not continue the LSN sequence.
  kTermBackwards,
};
const char* RecordDefectName(RecordDefect defect);

// Where SegmentReader::Walk stopped.
struct WalkEnd {
  // Just past the last record visited: where the next record would start.
  uint64_t offset = 0;
  // kNone if the walk reached the end of the file or the visitor stopped
  // it; else what is wrong with the record at `offset`.
  RecordDefect defect = RecordDefect::kNone;
};

class SegmentReader {
 public:
  // Reads `file` of `file_size` bytes, written as segment `seq`.
  SegmentReader(const RandomAccessFile* file, uint64_t seq, uint64_t file_size);

  // Reads the record at `offset` and checks it is `expected_lsn` with a term
  // of at least `min_term`. On success `*defect` is kNone, `*record` holds it
  // and `*next_offset` is where the next one starts; otherwise `*defect` says
  // what is wrong. The Status reports only I/O errors.
  [[nodiscard]] Status ReadRecord(uint64_t offset, uint64_t expected_lsn, uint64_t min_term,
                                  WalRecord* record, uint64_t* next_offset, RecordDefect* defect);

  // The one loop over consecutive records that recovery, reads and the
  // search for a record's end share: reads the record at `offset`, which
  // must be `lsn` with a term of at least `min_term`, calls `visit` with it
  // (which may move from it) and its offset, and goes on with the next LSN
  // and the record's term, until `visit` returns false, the file ends, or a
  // record is defective. The Status reports only I/O errors.
  using RecordVisitor = absl::FunctionRef<bool(WalRecord& record, uint64_t offset)>;
  StatusOr<WalkEnd> Walk(uint64_t offset, uint64_t lsn, uint64_t min_term, RecordVisitor visit);

  // Recovery's test for mid-log damage: looks for a record that verifies and
  // continues the sequence (lsn >= `expected_lsn`, at most one record per
  // kRecordHeaderBytes past `from` unless not `bounded`) at any offset in
  // (from, file_size). Cost: one header decode per byte, a checksum only
  // where the LSN is plausible; runs of zeros are skipped at memory speed.
  StatusOr<std::optional<uint64_t>> FindLaterRecord(uint64_t from, uint64_t expected_lsn,
                                                    bool bounded = true);

  // The offset of the first non-zero byte at or after `offset`, or
  // file_size() if there is none (a preallocated, zero-filled tail).
  StatusOr<uint64_t> NextNonZero(uint64_t offset);

  uint64_t file_size() const { return file_size_; }

 private:
  // The bytes [offset, offset + n) or fewer where the file ends. The view is
  // valid until the next call.
  StatusOr<std::string_view> Peek(uint64_t offset, size_t n);
  StatusOr<bool> VerifiesAt(uint64_t offset, const RecordHeader& header);

  // Bytes read per file read, unless a record needs more.
  static constexpr size_t kWindowBytes = 256 << 10;

  const RandomAccessFile* file_;
  const uint64_t seq_;
  const uint64_t file_size_;
  std::string window_;
  uint64_t window_offset_ = 0;
};

}  // namespace toydb::wal

#endif  // TOYDB_STORAGE_WAL_WAL_READER_H_
