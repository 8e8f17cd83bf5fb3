#ifndef TOYDB_STORAGE_WAL_WAL_IMPL_H_
#define TOYDB_STORAGE_WAL_WAL_IMPL_H_

// WalImpl: the segmented-file implementation of Wal (wal.h). Recovery lives in
// wal_recovery.cc, TruncateAfter/ReleaseUpTo/Reset in wal_trim.cc, the rest
// in wal.cc. Owned through Wal by the Store; not thread-safe, like Wal,
// except PrepareAhead/PrepareWanted, which only touch the thread-safe
// SegmentPreallocator.
//
// Failure policy: a failed Append (write error, disk full) truncates the
// active segment back to where the batch began and leaves the log as it was;
// only if that cleanup fails does the Wal turn failed. A failed Sync, or a
// failure in the middle of a multi-step change (roll-over seal,
// TruncateAfter, ReleaseUpTo, Reset), turns it failed: every later mutation
// returns FailedPrecondition (reads still work) until the log is reopened,
// because what reached the disk is no longer known.

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "src/storage/wal/wal.h"
#include "src/storage/wal/wal_format.h"
#include "src/storage/wal/wal_prealloc.h"
#include "src/storage/wal/wal_reader.h"

namespace toydb::wal {

// A sparse index entry: the record `lsn` starts at `offset` of its segment.
struct IndexEntry {
  uint64_t lsn = 0;
  uint64_t offset = 0;
};

// Records from `lsn` on (until the next run) have `term`.
struct TermRun {
  uint64_t lsn = 0;
  uint64_t term = 0;
};

// One live segment file, in memory.
struct Segment {
  uint64_t seq = 0;
  uint64_t base_lsn = 0;
  uint64_t base_term = 0;
  uint64_t last_lsn = 0;  // == base_lsn while the segment holds no record.
  uint64_t last_term = 0;
  uint64_t end = 0;  // Bytes of header and valid records.
  // At least one entry per kIndexIntervalBytes of records; the first record
  // always has one.
  std::vector<IndexEntry> index;
  std::unique_ptr<RandomAccessFile> file;  // Opened by the first Read.
  // False for a sealed segment below WalOptions::verify_from_lsn until its
  // records are first read: Open checked only its header and took its last
  // (lsn, term) from the next segment's header; `index` is empty and terms_
  // may lack the term changes inside it.
  bool verified = true;

  bool empty() const { return last_lsn == base_lsn; }
};

class WalImpl final : public Wal {
 public:
  WalImpl(Env* env, const WalOptions& options);
  WalImpl(const WalImpl&) = delete;
  WalImpl& operator=(const WalImpl&) = delete;
  ~WalImpl() override;

  Status Recover(WalRecoveryReport* report);

  uint64_t first_lsn() const override { return segments_.front().base_lsn + 1; }
  uint64_t last_lsn() const override { return segments_.back().last_lsn; }
  uint64_t last_term() const override { return segments_.back().last_term; }
  uint64_t synced_lsn() const override { return synced_lsn_; }
  Status Append(std::span<const WalRecord> records) override;
  Status Sync() override;
  Status Read(uint64_t from_lsn, uint64_t max_bytes, std::vector<WalRecord>* out) override;
  StatusOr<uint64_t> TermAt(uint64_t lsn) override;
  Status TruncateAfter(uint64_t lsn) override;
  Status ReleaseUpTo(uint64_t lsn) override;
  Status Reset(uint64_t lsn, uint64_t term) override;
  uint64_t bytes_written() const override { return bytes_written_; }
  Status PrepareAhead() override { return prealloc_.Prepare(); }
  bool PrepareWanted() const override { return prealloc_.Wanted(); }

  // A sparse index entry is added once this many bytes follow the last one.
  static constexpr uint64_t kIndexIntervalBytes = 32 << 10;

 private:
  std::string SegmentPath(uint64_t seq) const;
  std::string RecyclePath(uint64_t seq) const;
  // OK unless the Wal is failed; a failed sync of the preallocator (on the
  // active file) fails it too.
  Status CheckWritable();
  // Records `s` as the reason every later mutation fails; returns it.
  Status Fail(Status s);

  // --- Recovery (wal_recovery.cc) ---
  struct DirListing;
  StatusOr<DirListing> ListDir();
  StatusOr<bool> DropTornLastSegment(uint64_t seq, WalRecoveryReport* report);
  Status DropBeforeLogStart(std::vector<uint64_t>* seqs);
  Status LoadSegment(uint64_t seq, bool last, WalRecoveryReport* report);
  // Loads sealed segment `seq` from its header alone, ending where `next`
  // (the following segment's header) starts. False if `next` is not below
  // verify_from_lsn, so the segment must be read.
  StatusOr<bool> LoadSegmentUnverified(uint64_t seq, uint64_t next_seq);
  // The header of segment `seq`, checked against its name and against the
  // end of the segment before it.
  StatusOr<SegmentHeader> ReadContinuingHeader(uint64_t seq, uint64_t* file_size);
  Status ScanRecords(Segment* segment, SegmentReader* reader, bool last, WalRecoveryReport* report);
  Status CutTail(Segment* segment, uint64_t file_size, WalRecoveryReport* report);
  Status TrimRecyclePool();
  // Zeros written with the header of a new log's first segment.
  uint64_t FirstChunkBytes() const;

  // --- Truncation, release, reset (wal_trim.cc) ---
  void TrimTermsAbove(uint64_t lsn);
  void TrimTermsBelow(uint64_t base_lsn);

  // --- Writing (wal.cc) ---
  Status CheckBatch(std::span<const WalRecord> records) const;
  uint64_t EncodedBytes(std::span<const WalRecord> records) const;
  void NoteAppended(const WalRecord& record, uint64_t offset);
  Status UndoPartialWrite(Status cause);
  // Writes `data` at the active segment's write position, through the
  // preallocator (which must not zero-fill where it writes).
  Status WriteToActive(std::string_view data);
  // Writes pending_ to the active segment's file. Its records were already
  // acknowledged as appended, so a failure turns the Wal failed.
  Status FlushPending();
  Status Roll();
  Status Seal();
  // Creates segment `next_seq_` (from a recycled file if one is kept) with a
  // synced header, followed by `zero_bytes` zeros, and a synced directory
  // entry, and opens it for writing after the zeros.
  StatusOr<std::unique_ptr<WritableFile>> CreateSegmentFile(const wal::SegmentHeader& header,
                                                            uint64_t zero_bytes = 0);
  // Opens the writer at the active segment's end (the file may extend past
  // it: preallocated zeros) and points the preallocator at it.
  Status OpenWriterAtEnd();
  // Points the preallocator at the active segment, written up to its end.
  void TargetPreallocation();
  // CompactionMoves a live segment file to the recycle pool, or deletes it when full.
  Status Retire(uint64_t seq);

  // --- Reading (wal.cc) ---
  size_t SegmentIndexFor(uint64_t lsn) const;
  uint64_t OffsetOf(const Segment& segment, uint64_t lsn, uint64_t* start_lsn) const;
  Status OpenReader(Segment* segment);
  StatusOr<bool> ReadFrom(Segment* segment, uint64_t from_lsn, uint64_t max_bytes,
                          std::vector<WalRecord>* out, uint64_t* payload_bytes);
  StatusOr<uint64_t> EndOfRecord(Segment* segment, uint64_t lsn);
  Status VerifySegment(Segment* segment);
  // DataLoss naming the file and offset if the walk stopped at a defect.
  Status DefectError(const Segment& segment, const StatusOr<WalkEnd>& end) const;

  Env* const env_;
  const WalOptions options_;
  // Live segments in seq order; never empty once recovered. back() is the
  // active one, the only one written to; the others are sealed (synced and
  // cut to their exact end).
  std::deque<Segment> segments_;
  std::vector<TermRun> terms_;            // Starts at first_lsn() - 1.
  std::deque<uint64_t> recycled_;         // Seqs of recycle files, oldest first.
  uint64_t next_seq_ = 1;                 // Above every seq any file was written with.
  std::unique_ptr<WritableFile> writer_;  // The active segment.
  uint64_t synced_lsn_ = 0;
  uint64_t bytes_written_ = 0;
  Status failed_;      // Not OK once the Wal refuses mutations.
  std::string batch_;  // Reused buffer of encoded records.
  // Encoded records of the active segment not yet written to its file
  // (options_.write_buffer_bytes). They are already in the in-memory state.
  std::string pending_;
  SegmentPreallocator prealloc_;
};

}  // namespace toydb::wal

#endif  // TOYDB_STORAGE_WAL_WAL_IMPL_H_
