// SegmentPreallocator (wal_prealloc.h): zero-fills the active WAL segment
// ahead of its write offset.
#include "src/storage/wal/wal_prealloc.h"

#include <algorithm>

namespace toydb::wal {
namespace {
// Zeros are written in pieces of this size (a chunk is one or more pieces).
constexpr uint64_t kPieceBytes = 256 << 10;
}  // namespace

SegmentPreallocator::SegmentPreallocator(Env* env, uint64_t ahead_bytes, uint64_t chunk_bytes)
    : env_(env), ahead_bytes_(ahead_bytes), chunk_bytes_(std::max<uint64_t>(chunk_bytes, 1)) {}

void SegmentPreallocator::Retarget(const std::string& path, uint64_t size, uint64_t write_offset,
                                   uint64_t limit) {
  MutexLock lock(&mu_);
  if (!enabled()) return;
  path_ = path;
  prepared_end_.store(size, std::memory_order_release);
  write_offset_.store(write_offset, std::memory_order_relaxed);
  limit_.store(std::max<uint64_t>(limit, 1), std::memory_order_relaxed);
}

void SegmentPreallocator::Detach() {
  MutexLock lock(&mu_);
  path_.clear();
  prepared_end_.store(0, std::memory_order_release);
  limit_.store(0, std::memory_order_relaxed);
}

Status SegmentPreallocator::Write(uint64_t end, absl::FunctionRef<Status()> write) {
  if (end <= prepared_end_.load(std::memory_order_acquire)) {
    Status s = write();
    write_offset_.store(end, std::memory_order_relaxed);
    return s;
  }
  // Past the prepared region: no chunk may be in progress where this writes.
  MutexLock lock(&mu_);
  Status s = write();
  if (!path_.empty() && end > prepared_end_.load(std::memory_order_relaxed)) {
    prepared_end_.store(end, std::memory_order_release);
  }
  write_offset_.store(end, std::memory_order_relaxed);
  return s;
}

bool SegmentPreallocator::Wanted() const {
  const uint64_t limit = limit_.load(std::memory_order_relaxed);
  if (limit == 0 || sync_failed_.load(std::memory_order_relaxed)) return false;
  const uint64_t target =
      std::min(limit, write_offset_.load(std::memory_order_relaxed) + ahead_bytes_ / 2);
  return prepared_end_.load(std::memory_order_relaxed) < target;
}

Status SegmentPreallocator::Prepare() {
  MutexLock lock(&mu_);
  if (path_.empty() || !sync_failure_.ok()) return absl::OkStatus();
  const uint64_t limit = limit_.load(std::memory_order_relaxed);
  const uint64_t target =
      std::min(limit, write_offset_.load(std::memory_order_relaxed) + ahead_bytes_);
  uint64_t end = prepared_end_.load(std::memory_order_relaxed);
  if (end >= target) return absl::OkStatus();
  StatusOr<std::unique_ptr<WritableFile>> file = env_->ReuseWritableFile(path_, end);
  if (!file.ok()) return file.status();
  if (zeros_.empty()) zeros_.assign(std::min(kPieceBytes, chunk_bytes_), '\0');
  while (end < target) {
    const uint64_t chunk_end = std::min(limit, end + chunk_bytes_);
    for (uint64_t at = end; at < chunk_end;) {
      const uint64_t n = std::min<uint64_t>(zeros_.size(), chunk_end - at);
      // Disk full or an I/O error here costs no durability: the region past
      // prepared_end_ was never promised to anyone. Stop preparing.
      if (Status s = (*file)->Append(std::string_view(zeros_).substr(0, n)); !s.ok()) return s;
      at += n;
    }
    // A failed fdatasync of this file may also have lost the owner's records
    // written to it: the owner must learn of it.
    if (Status s = (*file)->Sync(); !s.ok()) {
      sync_failure_ = s;
      sync_failed_.store(true, std::memory_order_release);
      return s;
    }
    zero_bytes_written_ += chunk_end - end;
    end = chunk_end;
    prepared_end_.store(end, std::memory_order_release);
  }
  return (*file)->Close();
}

Status SegmentPreallocator::sync_failure() const {
  MutexLock lock(&mu_);
  return sync_failure_;
}

uint64_t SegmentPreallocator::zero_bytes_written() const {
  MutexLock lock(&mu_);
  return zero_bytes_written_;
}

}  // namespace toydb::wal
