#ifndef TOYDB_STORAGE_DATALOG_DATA_SEGMENT_H_
#define TOYDB_STORAGE_DATALOG_DATA_SEGMENT_H_

// DataSegment: one append-only data-log file (records in data_format.h).
// Shared by the store's segment table, readers in flight and snapshots through
// shared_ptr; a segment that compaction replaced is marked obsolete and its
// file is removed when the last holder lets go. Reads of flushed bytes are
// thread-safe; those of a sealed segment read a read-only mapping of its file
// where the Env maps files (no system call per read), others use pread; appends, flushes, syncs and
// the garbage counters are serialized by the store's mutex. A full write buffer may be written by a
// BackgroundWriter (see WriteFullBuffersOn) while appends go on.

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "src/storage/datalog/background_writer.h"
#include "src/storage/datalog/data_format.h"
#include "src/storage/datalog/segment_file_pool.h"
#include "src/util/mutex.h"
#include "toydb/env.h"
#include "toydb/status.h"

namespace toydb {

std::string DataSegmentFileName(uint32_t id);
std::string HintFileName(uint32_t id);
// Parses "data-<id>.seg"; false for other names.
bool ParseDataSegmentFileName(std::string_view name, uint32_t* id);

class DataSegment {
 public:
  // Creates a new, empty segment open for appends: a pooled file
  // overwritten from its start if `pool` has one, else a new file. An
  // obsolete segment's file goes back to `pool` (if set) when released.
  static StatusOr<std::shared_ptr<DataSegment>> Create(
      Env* env, const std::string& dir, uint32_t id,
      std::shared_ptr<SegmentFilePool> pool = nullptr);
  // Opens an existing segment whose first `length` bytes are valid; anything
  // beyond them (unsynced writes from before a crash, stale bytes of a
  // reused file) is never read, and left in place. `writable` reopens it for
  // appends (the active segment); the file must then end at `length`.
  static StatusOr<std::shared_ptr<DataSegment>> OpenExisting(
      Env* env, const std::string& dir, uint32_t id, uint64_t length, bool writable,
      std::shared_ptr<SegmentFilePool> pool = nullptr);
  ~DataSegment();
  DataSegment(const DataSegment&) = delete;
  DataSegment& operator=(const DataSegment&) = delete;

  uint32_t id() const { return id_; }
  const std::string& path() const { return path_; }
  // Bytes appended, including those still in the write buffer.
  uint64_t size() const { return size_; }
  // Bytes in the file; ReadRecord and Scan see only these. Thread-safe.
  uint64_t flushed_size() const { return written_.load(std::memory_order_acquire); }
  bool writable() const { return !sealed_; }
  // Bytes known durable: the length it was opened with, raised by each
  // successful SyncWritten to what had been written before it. Thread-safe.
  uint64_t synced_size() const { return synced_.load(std::memory_order_acquire); }

  // Appends encoded records; returns the offset where they start. Records
  // collect in a write buffer (the WAL, not the data log, makes writes
  // durable, so there is no reason to pay a write() per record); Flush()
  // writes them to the file and starts their write-back to the device, so
  // that the sync at a seal or checkpoint finds little left to write (a
  // segment is 64 MiB: synced all at once, that is a long stall).
  StatusOr<uint64_t> Append(std::string_view encoded_records);
  // Encodes one record straight into the write buffer and returns its
  // offset; never writes to the file (FlushIfFull does).
  StatusOr<uint64_t> AppendRecord(uint64_t lsn, bool tombstone, std::string_view key,
                                  std::string_view value);
  // Has FlushIfFull hand a full buffer to `writer` (which must outlive the
  // segment's appends) instead of writing it on the caller's thread; the
  // next buffer fills meanwhile. Without it (the simulator runs no threads)
  // buffers are written inline.
  void WriteFullBuffersOn(BackgroundWriter* writer) { background_ = writer; }
  // Writes the buffer out once it has reached its size: on the background
  // writer if there is one (first waiting for its previous write, whose
  // failure it returns), else at once.
  [[nodiscard]] Status FlushIfFull();
  [[nodiscard]] Status Flush();
  // Flushes, then makes the file durable.
  [[nodiscard]] Status Sync();
  // Makes the bytes already written to the file durable (not the buffer's);
  // once a sealed segment is synced its file is closed for writing and later
  // calls return at once. Unlike the rest of the write side it needs no
  // store mutex: a checkpoint calls it while appends go on, so that a long
  // fdatasync stalls no one.
  [[nodiscard]] Status SyncWritten();
  // Flushes the buffer and ends appends: the segment is immutable from now
  // on. It does not sync: a seal happens on a writer's path (a roll) or at
  // the end of a compaction output, and a 64 MiB fdatasync there would stall
  // writes; the checkpoint that first names the sealed segment calls
  // SyncWritten first (the WAL, not the data log, makes writes durable).
  [[nodiscard]] Status Seal();

  // Reads and verifies the record at [offset, offset + length). The views in
  // `record` point into the segment's mapping if it has one (valid while the
  // segment is held), else into `scratch`. REQUIRES: offset + length <=
  // flushed_size().
  [[nodiscard]] Status ReadRecord(uint64_t offset, uint64_t length, std::string* scratch,
                                  data_format::Record* record) const;

  // Asks the CPU to start loading the record's bytes if the segment is
  // mapped (a hint: it neither faults nor fails).
  void PrefetchRecord(uint64_t offset, uint64_t length) const {
    if (const MappedFile* mapped = mapped_.load(std::memory_order_acquire); mapped != nullptr) {
      const std::string_view bytes = mapped->bytes();
      if (offset >= bytes.size() || length == 0) return;
      // The header and the start of the key and value: at most 4 lines
      // (a small record's whole), since a large value's copy dwarfs a miss.
      const uint64_t end = std::min<uint64_t>({offset + length, bytes.size(), offset + 256});
      for (uint64_t at = offset; at < end; at += 64) __builtin_prefetch(bytes.data() + at);
      __builtin_prefetch(bytes.data() + end - 1);
    }
  }

  // Reads and verifies a record that is not yet in the file: in the write
  // buffer, or in the buffer a background write is writing (or failed to).
  // REQUIRES: the store's mutex (which guards the buffers) held.
  [[nodiscard]] Status ReadBufferedRecord(uint64_t offset, uint64_t length, std::string* scratch,
                                          data_format::Record* record) const;

  // Visits every record in [0, size()) in file order. Any damage is DataLoss:
  // these bytes were synced before a checkpoint recorded them.
  using ScanVisitor =
      std::function<void(uint64_t offset, uint64_t length, const data_format::Record& record)>;
  [[nodiscard]] Status Scan(const ScanVisitor& visit) const;

  // Removes the file (or gives it to the pool) once no one holds this segment.
  void MarkObsolete() { obsolete_ = true; }

  // Notes that the record at `offset` is garbage (a later write or a delete
  // replaced it, or compaction's copy of it lost to a newer write), so that
  // compaction drops it without looking its key up in the index. A list, not
  // a bitmap: appending is a sequential write, where setting a bit at a
  // random place cost every put a cache miss. A record not noted may still
  // be garbage (one superseded before its segment was loaded); compaction
  // then copies it and finds out when it swaps the copy in. Guarded by the
  // store's mutex, as is the copy dead_offsets() returns.
  void MarkDead(uint32_t offset) { dead_offsets_.push_back(offset); }
  std::vector<uint32_t> dead_offsets() const { return dead_offsets_; }

  // Bookkeeping of the store (guarded by the store's mutex).
  uint64_t garbage_bytes = 0;
  uint64_t min_lsn = UINT64_MAX;
  uint64_t max_lsn = 0;

 private:
  DataSegment(Env* env, std::string path, uint32_t id, uint64_t size);
  // DataLoss unless `bytes` is exactly one valid record.
  Status DecodeWhole(uint64_t offset, uint64_t length, std::string_view bytes,
                     data_format::Record* record) const;

  // Maps the file's bytes, if the Env can, once they are immutable (sealed,
  // all flushed). A failure is no error: reads then use pread.
  void MapImmutableBytes();

  // Waits until no background write is in flight; returns the first failure
  // of one.
  Status AwaitBackgroundWrite();
  // The background writer's job: writes flight_ at flight_start_.
  void WriteFlight();

  Env* const env_;
  const std::string path_;
  const uint32_t id_;
  uint64_t size_;
  std::string buffer_;             // Appended, not yet written to the file.
  std::atomic<uint64_t> written_;  // Bytes in the file.
  std::atomic<uint64_t> synced_;   // Bytes known durable (see synced_size).
  BackgroundWriter* background_ = nullptr;
  // A full buffer handed to the background writer, and where it goes in the
  // file. Set by FlushIfFull under the store's mutex once the previous write
  // is done; read by the background writer and by readers under the mutex.
  // Kept after the write (until the next hand-over) and after a failure.
  std::string flight_;
  uint64_t flight_start_ = 0;
  Mutex flight_mu_;
  CondVar flight_cv_;
  bool in_flight_ ABSL_GUARDED_BY(flight_mu_) = false;
  Status flight_failure_ ABSL_GUARDED_BY(flight_mu_);
  // Guards writer_'s closing and sealed_'s setting against SyncWritten;
  // everything else on the write side is serialized by the store's mutex.
  Mutex file_mu_;
  // Open until the segment is sealed and synced.
  std::unique_ptr<WritableFile> writer_;
  bool sealed_ = false;
  std::unique_ptr<RandomAccessFile> reader_;
  // The sealed file's bytes [0, size()) in memory, once MapImmutableBytes has
  // run (under the store's mutex); mapped_ publishes it to readers without
  // that mutex. Unmapped by the destructor before the file is removed or
  // recycled, that is when no reader or snapshot holds the segment any more:
  // a recycled file is overwritten from its start, which a live mapping
  // would show to its readers.
  std::unique_ptr<MappedFile> mapping_;
  std::atomic<const MappedFile*> mapped_{nullptr};
  bool obsolete_ = false;
  std::shared_ptr<SegmentFilePool> pool_;  // Where an obsolete file goes; may be null.
  std::vector<uint32_t> dead_offsets_;     // In the order MarkDead saw them.
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_DATALOG_DATA_SEGMENT_H_
