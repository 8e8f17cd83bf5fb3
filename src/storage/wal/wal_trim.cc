// WalImpl (wal_impl.h): TruncateAfter, ReleaseUpTo and Reset, the operations
// that remove records. Each orders its file operations so that a crash at any
// point recovers either the log before the call or the log after it.
#include <fmt/format.h>

#include <algorithm>
#include <cassert>

#include "src/storage/wal/wal_impl.h"

namespace toydb::wal {

void WalImpl::TrimTermsAbove(uint64_t lsn) {
  while (terms_.size() > 1 && terms_.back().lsn > lsn) terms_.pop_back();
}

// Drops the term runs that end before `base_lsn`; the first run then holds
// the base term.
void WalImpl::TrimTermsBelow(uint64_t base_lsn) {
  auto first_kept = std::upper_bound(terms_.begin(), terms_.end(), base_lsn,
                                     [](uint64_t l, const TermRun& r) { return l < r.lsn; });
  assert(first_kept != terms_.begin());
  terms_.erase(terms_.begin(), std::prev(first_kept));
  terms_.front().lsn = base_lsn;
}

// Later segments go first, durably, and only then is the segment holding
// `lsn` cut: a crash in between leaves a shorter but contiguous log.
Status WalImpl::TruncateAfter(uint64_t lsn) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  if (lsn + 1 < first_lsn() || lsn > last_lsn()) {
    return absl::InvalidArgumentError(fmt::format(
        "wal cannot truncate after lsn {}: it holds {}..{}", lsn, first_lsn() - 1, last_lsn()));
  }
  if (lsn == last_lsn()) return absl::OkStatus();
  if (Status s = FlushPending(); !s.ok()) return s;
  const size_t k = SegmentIndexFor(lsn);
  StatusOr<uint64_t> end = EndOfRecord(&segments_[k], lsn);
  if (!end.ok()) return end.status();
  StatusOr<uint64_t> term = TermAt(lsn);
  if (!term.ok()) return term.status();
  writer_.reset();
  prealloc_.Detach();
  while (segments_.size() > k + 1) {
    if (Status s = Retire(segments_.back().seq); !s.ok()) return Fail(std::move(s));
    segments_.pop_back();
  }
  if (Status s = env_->SyncDir(options_.dir); !s.ok()) return Fail(std::move(s));
  Segment& segment = segments_.back();
  if (Status s = env_->TruncateFile(SegmentPath(segment.seq), *end); !s.ok()) {
    return Fail(std::move(s));
  }
  segment.end = *end;
  segment.last_lsn = lsn;
  segment.last_term = *term;
  std::erase_if(segment.index, [lsn](const IndexEntry& e) { return e.lsn > lsn; });
  TrimTermsAbove(lsn);
  if (Status s = OpenWriterAtEnd(); !s.ok()) return Fail(std::move(s));
  if (Status s = writer_->Sync(); !s.ok()) return Fail(std::move(s));
  synced_lsn_ = lsn;
  return absl::OkStatus();
}

// Sealed segments wholly at or below `lsn` are released oldest first, except
// the newest of them that fit in retention_bytes.
Status WalImpl::ReleaseUpTo(uint64_t lsn) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  size_t eligible = 0;
  while (eligible + 1 < segments_.size() && segments_[eligible].last_lsn <= lsn) ++eligible;
  size_t release = eligible;
  uint64_t kept_bytes = 0;
  while (release > 0 && kept_bytes + segments_[release - 1].end <= options_.retention_bytes) {
    kept_bytes += segments_[release - 1].end;
    --release;
  }
  if (release == 0) return absl::OkStatus();
  for (size_t i = 0; i < release; ++i) {
    if (Status s = Retire(segments_.front().seq); !s.ok()) return Fail(std::move(s));
    segments_.pop_front();
  }
  TrimTermsBelow(segments_.front().base_lsn);
  // A recycled file is overwritten later: its new name must be durable first.
  if (Status s = env_->SyncDir(options_.dir); !s.ok()) return Fail(std::move(s));
  return absl::OkStatus();
}

// The new segment, marked as the start of the log, is the commit point: once
// its name is durable, recovery ignores every older segment, so removing them
// afterwards may be interrupted.
Status WalImpl::Reset(uint64_t lsn, uint64_t term) {
  if (Status s = CheckWritable(); !s.ok()) return s;
  SegmentHeader header{
      .flags = kFlagLogStart, .seq = next_seq_, .base_lsn = lsn, .base_term = term};
  // The old active segment is about to be retired: stop zero-filling it.
  prealloc_.Detach();
  StatusOr<std::unique_ptr<WritableFile>> file = CreateSegmentFile(header);
  if (!file.ok()) {
    TargetPreallocation();
    return file.status();
  }
  writer_ = std::move(*file);
  pending_.clear();  // Records of the discarded log.
  std::deque<Segment> old = std::move(segments_);
  segments_.clear();
  segments_.push_back(Segment{.seq = header.seq,
                              .base_lsn = lsn,
                              .base_term = term,
                              .last_lsn = lsn,
                              .last_term = term,
                              .end = kSegmentHeaderBytes});
  terms_ = {TermRun{lsn, term}};
  synced_lsn_ = lsn;
  TargetPreallocation();
  for (const Segment& segment : old) {
    if (Status s = Retire(segment.seq); !s.ok()) return Fail(std::move(s));
  }
  if (Status s = env_->SyncDir(options_.dir); !s.ok()) return Fail(std::move(s));
  return absl::OkStatus();
}

}  // namespace toydb::wal
