#include "src/replication/progress.h"

#include <algorithm>

#include "src/util/check.h"

namespace toydb::replication {

PeerProgress::PeerProgress(Lsn next_lsn, uint32_t max_inflight_appends, uint64_t max_inflight_bytes)
    : next_lsn_(next_lsn),
      max_inflight_appends_(max_inflight_appends),
      max_inflight_bytes_(max_inflight_bytes) {
  TOYDB_CHECK(next_lsn >= 1, "the next LSN of a peer starts at 1");
}

void PeerProgress::AckContext(uint64_t context) {
  acked_context_ = std::max(acked_context_, context);
}

bool PeerProgress::Paused() const {
  if (mode_ == Mode::kSnapshot) return true;
  if (mode_ == Mode::kProbe) return probe_sent_;
  bool full = in_flight_.size() >= max_inflight_appends_ || in_flight_bytes_ >= max_inflight_bytes_;
  return full && !one_past_window_;
}

void PeerProgress::OnAppendSent(size_t count, uint64_t bytes, Lsn last_lsn) {
  TOYDB_CHECK(mode_ != Mode::kSnapshot, "no appends to a peer waiting for a snapshot");
  if (mode_ == Mode::kProbe) {
    probe_sent_ = true;
    return;
  }
  one_past_window_ = false;
  if (count == 0) return;
  TOYDB_CHECK(last_lsn >= next_lsn_, "appends to a replicating peer go forward");
  next_lsn_ = last_lsn + 1;
  in_flight_.push_back({last_lsn, bytes});
  in_flight_bytes_ += bytes;
}

bool PeerProgress::OnAppendAccepted(Lsn match, Lsn accepted) {
  probe_sent_ = false;
  bool grew = match > match_lsn_;
  match_lsn_ = std::max(match_lsn_, match);
  Lsn known = std::max(match_lsn_, accepted);
  if (mode_ == Mode::kSnapshot) {
    // Answers that predate the snapshot's arrival show less; they change
    // nothing but the match.
    if (known < pending_snapshot_lsn_) return grew;
    mode_ = Mode::kReplicate;
    pending_snapshot_lsn_ = 0;
    next_lsn_ = known + 1;
  } else if (mode_ == Mode::kProbe) {
    // Every success is true for the whole term: the follower's log matches up
    // to `accepted`, so pipelining can start right after it.
    mode_ = Mode::kReplicate;
    next_lsn_ = known + 1;
  } else {
    next_lsn_ = std::max(next_lsn_, known + 1);
  }
  FreeInFlightUpTo(known);
  return grew;
}

bool PeerProgress::OnAppendRejected(Lsn rejected_prev, Lsn retry_next) {
  // Rejections in kSnapshot mode answer appends sent before it began.
  if (mode_ == Mode::kSnapshot) return false;
  if (mode_ == Mode::kReplicate) {
    // A rejection at or below the match point answers an append sent before
    // the follower caught up: the follower has since matched past it.
    if (rejected_prev <= match_lsn_) return false;
  } else if (rejected_prev + 1 != next_lsn_ || rejected_prev <= match_lsn_) {
    // A probe is one append at a time: only the answer to the last one counts.
    // A refusal at or below the match point would mean the follower lost what
    // it acknowledged as durable; probing lower cannot help, so it is ignored
    // rather than answered by resending the same append forever.
    return false;
  }
  BecomeProbe(std::clamp(retry_next, match_lsn_ + 1, std::max(rejected_prev, match_lsn_ + 1)));
  return true;
}

void PeerProgress::BecomeSnapshot(Lsn lsn) {
  TOYDB_CHECK(lsn > match_lsn_, "a snapshot only for a peer behind it");
  BecomeProbe(match_lsn_ + 1);
  mode_ = Mode::kSnapshot;
  pending_snapshot_lsn_ = lsn;
}

bool PeerProgress::OnSnapshotReported(bool delivered) {
  if (mode_ != Mode::kSnapshot) return false;
  Lsn pending = pending_snapshot_lsn_;
  pending_snapshot_lsn_ = 0;
  if (delivered) {
    BecomeProbe(pending + 1);
  } else {
    BecomeProbe(match_lsn_ + 1);
    probe_sent_ = true;  // wait for a heartbeat answer before asking again
  }
  return true;
}

void PeerProgress::FreeInFlightUpTo(Lsn lsn) {
  while (!in_flight_.empty() && in_flight_.front().last_lsn <= lsn) {
    in_flight_bytes_ -= in_flight_.front().bytes;
    in_flight_.pop_front();
  }
}

void PeerProgress::BecomeProbe(Lsn next) {
  mode_ = Mode::kProbe;
  next_lsn_ = next;
  probe_sent_ = false;
  in_flight_.clear();
  in_flight_bytes_ = 0;
}

}  // namespace toydb::replication
