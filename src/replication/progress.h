#ifndef TOYDB_REPLICATION_PROGRESS_H_
#define TOYDB_REPLICATION_PROGRESS_H_

// PeerProgress: what a primary knows of one follower's log, and how it may
// send to it. Owned by the primary's ReplicaCore, one per peer, rebuilt at
// each election. Not thread-safe; driven by one thread.
//
// Three sending modes:
//   kProbe      the match point is unknown: one append at a time, each
//               answered (or a heartbeat answer) before the next;
//   kReplicate  the follower matched: appends are pipelined, bounded by a
//               window of in-flight appends and bytes (flow control);
//   kSnapshot   the follower needs entries the primary's log no longer holds:
//               no appends (heartbeats only) while the host sends it a
//               snapshot at or after `pending_snapshot_lsn`. Left when an
//               answer shows the follower matches up to that LSN, or when the
//               host reports the transfer's end.
// `match_lsn` only grows within a term: it is what the follower reported
// durable, and a late or duplicated answer can only repeat an older value.

#include <cstdint>
#include <deque>

#include "src/replication/replica_types.h"

namespace toydb::replication {

class PeerProgress {
 public:
  enum class Mode : uint8_t { kProbe, kReplicate, kSnapshot };

  PeerProgress(Lsn next_lsn, uint32_t max_inflight_appends, uint64_t max_inflight_bytes);

  Mode mode() const { return mode_; }
  Lsn match_lsn() const { return match_lsn_; }
  Lsn next_lsn() const { return next_lsn_; }
  bool recent_active() const { return recent_active_; }
  void set_recent_active(bool active) { recent_active_ = active; }
  uint64_t acked_context() const { return acked_context_; }
  void AckContext(uint64_t context);

  // Only in kSnapshot mode: the oldest snapshot LSN that will do.
  Lsn pending_snapshot_lsn() const { return pending_snapshot_lsn_; }

  // True if no append may be sent now (a probe is out, the window is full, or
  // a snapshot is due).
  bool Paused() const;
  // Records an append of `count` entries (`bytes` of them) ending at `last_lsn`.
  void OnAppendSent(size_t count, uint64_t bytes, Lsn last_lsn);
  // A successful answer: `match` durable, `accepted` matching. Returns true if
  // the match LSN grew. In kSnapshot mode, an answer that matches up to the
  // pending snapshot's LSN resumes replication right after it.
  bool OnAppendAccepted(Lsn match, Lsn accepted);
  // A rejection of the append whose previous entry was `rejected_prev`;
  // `retry_next` is where the primary wants to resume. Returns false (and
  // changes nothing) when the rejection is stale: late, duplicated, or about
  // an append the progress has moved past.
  bool OnAppendRejected(Lsn rejected_prev, Lsn retry_next);
  // A heartbeat answer lets a paused peer take one more append: if appends
  // were lost, that one is refused and the peer goes back to probing. It
  // does not end kSnapshot mode: only the snapshot's arrival does.
  void OnHeartbeatAnswered() {
    probe_sent_ = false;
    one_past_window_ = true;
  }
  // The follower needs a snapshot at or after `lsn` (the primary's log base).
  void BecomeSnapshot(Lsn lsn);
  // The host reports the end of the transfer. Delivered: probe right after
  // the snapshot. Failed: probe from the match point, but only after the next
  // heartbeat answer, so a peer that keeps failing is asked at most once per
  // heartbeat round. Returns false (and changes nothing) outside kSnapshot
  // mode: the report is late.
  bool OnSnapshotReported(bool delivered);

 private:
  struct InFlight {
    Lsn last_lsn;
    uint64_t bytes;
  };
  void FreeInFlightUpTo(Lsn lsn);
  void BecomeProbe(Lsn next);

  Mode mode_ = Mode::kProbe;
  Lsn match_lsn_ = 0;
  Lsn next_lsn_;
  Lsn pending_snapshot_lsn_ = 0;
  bool probe_sent_ = false;
  bool one_past_window_ = false;
  bool recent_active_ = false;
  uint64_t acked_context_ = 0;
  std::deque<InFlight> in_flight_;
  uint64_t in_flight_bytes_ = 0;
  const uint32_t max_inflight_appends_;
  const uint64_t max_inflight_bytes_;
};

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_PROGRESS_H_
