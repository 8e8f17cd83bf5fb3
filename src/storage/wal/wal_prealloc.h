#ifndef TOYDB_STORAGE_WAL_WAL_PREALLOC_H_
#define TOYDB_STORAGE_WAL_WAL_PREALLOC_H_

// SegmentPreallocator: keeps the active WAL segment zero-filled and synced
// ahead of its write offset, so that a synced append overwrites blocks that
// are allocated, written and inside the file size: its fdatasync then flushes
// the data alone, with no file-size or extent change to journal. (fallocate
// alone would leave unwritten extents, whose conversion on the first write
// costs a journal commit too.)
//
// Owned by WalImpl. Thread-safe: Prepare() may run on any thread (the store's
// background step) while the Wal's owner appends. The owner's appends inside
// the prepared region take no lock; an append that reaches past it, and every
// change of the active file (Retarget, Detach), waits for a chunk in
// progress. Prepare() writes only at or past the prepared end, where no
// append is in progress, so the two never write the same bytes.

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "src/util/mutex.h"
#include "toydb/env.h"
#include "toydb/status.h"

namespace toydb::wal {

class SegmentPreallocator {
 public:
  // Keeps up to `ahead_bytes` zero-filled past the write offset, written in
  // chunks of at most `chunk_bytes`. `ahead_bytes` 0 disables it.
  SegmentPreallocator(Env* env, uint64_t ahead_bytes, uint64_t chunk_bytes);
  SegmentPreallocator(const SegmentPreallocator&) = delete;
  SegmentPreallocator& operator=(const SegmentPreallocator&) = delete;

  bool enabled() const { return ahead_bytes_ > 0; }

  // The active segment is now `path`; its first `size` bytes exist (records,
  // stale bytes of a recycled file or zeros) and its writes begin at
  // `write_offset`. Zero-filling stops at `limit` (the segment size bound).
  void Retarget(const std::string& path, uint64_t size, uint64_t write_offset, uint64_t limit)
      ABSL_LOCKS_EXCLUDED(mu_);
  // No active segment to prepare (before the owner truncates, seals or
  // removes it). Waits for a chunk in progress.
  void Detach() ABSL_LOCKS_EXCLUDED(mu_);

  // Runs `write`, which writes the active segment from its write offset up
  // to `end`. Inside the prepared region it runs at once; past it, it waits
  // for a chunk in progress and zero-filling then continues after `end`.
  Status Write(uint64_t end, absl::FunctionRef<Status()> write) ABSL_LOCKS_EXCLUDED(mu_);

  // True if the region ahead of the write offset is below half its target:
  // a cheap test for whether Prepare() has work.
  bool Wanted() const;
  // Zero-fills and syncs the active segment up to `ahead_bytes` past its
  // write offset. A failed write (disk full) only stops the preparation. A
  // failed sync is kept as sync_failure(): the owner must then treat the
  // segment's durability as unknown.
  Status Prepare() ABSL_LOCKS_EXCLUDED(mu_);

  // The first failed sync of Prepare(), or OK.
  Status sync_failure() const ABSL_LOCKS_EXCLUDED(mu_);
  bool has_sync_failure() const { return sync_failed_.load(std::memory_order_acquire); }
  // Bytes of zeros written (for tests and stats).
  uint64_t zero_bytes_written() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  Env* const env_;
  const uint64_t ahead_bytes_;
  const uint64_t chunk_bytes_;

  mutable Mutex mu_;
  std::string path_ ABSL_GUARDED_BY(mu_);  // Empty: detached.
  Status sync_failure_ ABSL_GUARDED_BY(mu_);
  uint64_t zero_bytes_written_ ABSL_GUARDED_BY(mu_) = 0;
  std::string zeros_ ABSL_GUARDED_BY(mu_);  // One piece of a chunk.
  // Read without mu_ by the owner's appends and by Wanted(); written under
  // mu_. prepared_end_ only grows while a segment is targeted; only the
  // owner lowers it (Retarget, Detach), and only the owner's appends rely on
  // it, so they never see it lowered under them.
  std::atomic<uint64_t> prepared_end_{0};
  std::atomic<uint64_t> write_offset_{0};
  std::atomic<uint64_t> limit_{0};  // 0: detached.
  std::atomic<bool> sync_failed_{false};
};

}  // namespace toydb::wal

#endif  // TOYDB_STORAGE_WAL_WAL_PREALLOC_H_
