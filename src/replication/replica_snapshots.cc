// Replica: snapshot transfers. A primary whose log no longer holds what a
// follower needs (the core's SnapshotRequest) streams a snapshot of its
// applied state to it, one chunk in flight at a time, while the core keeps
// sending heartbeats. The follower stages each chunk durably (a transfer cut
// by a crash or a new primary resumes at the bytes it holds), installs the
// snapshot crash-atomically after the last one, and tells its core, which
// answers the primary with the snapshot's LSN as its match: replication then
// resumes after it.
#include <fmt/format.h>

#include "src/replication/replica.h"
#include "src/replication/wire_messages.h"

namespace toydb::replication {
namespace {
// A chunk unanswered for this many ticks is sent again; after this many
// resends without an answer the transfer is given up (the core asks again
// once the follower answers).
constexpr uint64_t kChunkResendTicks = 10;
constexpr uint32_t kChunkResendsMax = 5;
}  // namespace

void Replica::StartSnapshot(const SnapshotRequest& request) {
  if (snapshots_out_.count(request.peer) != 0) return;  // one transfer per peer
  StatusOr<std::unique_ptr<SnapshotSource>> source = store_->MakeSnapshot();
  if (!source.ok() || (*source)->lsn() < request.lsn) {
    // Nothing to send now: the core probes the peer again and asks anew.
    (void)core_->ReportSnapshot(request.peer, false);
    return;
  }
  OutgoingSnapshot& transfer = snapshots_out_[request.peer];
  transfer.source = std::move(*source);
  Log(fmt::format("sending a snapshot at LSN {} ({} bytes) to replica {}", transfer.source->lsn(),
                  transfer.source->size(), request.peer));
  SendSnapshotChunk(request.peer, transfer);
}

void Replica::SendSnapshotChunk(NodeId peer, OutgoingSnapshot& transfer) {
  SnapshotChunk chunk;
  chunk.partition = partition_.id;
  chunk.term = core_->term();
  chunk.leader = self_;
  chunk.snapshot_lsn = transfer.source->lsn();
  chunk.snapshot_term = transfer.source->term();
  chunk.offset = transfer.offset;
  chunk.snapshot_bytes = transfer.source->size();
  chunk.snapshot_checksum = transfer.source->checksum();
  if (Status s = transfer.source->Read(transfer.offset, options_.snapshot_chunk_bytes, &chunk.data);
      !s.ok()) {
    EndSnapshot(peer, false);
    return;
  }
  chunk.last = transfer.offset + chunk.data.size() >= chunk.snapshot_bytes;
  transfer.sent_tick = now_tick_;
  toydb::Message message;
  message.from = self_;
  message.to = peer;
  message.body = std::move(chunk);
  outbox_(message);
}

void Replica::EndSnapshot(NodeId peer, bool delivered) {
  Log(fmt::format("snapshot transfer to replica {} {}", peer,
                  delivered ? "installed" : "ended without install"));
  snapshots_out_.erase(peer);
  if (delivered) ++snapshots_sent_;
  if (core_->role() == Role::kPrimary) (void)core_->ReportSnapshot(peer, delivered);
}

void Replica::TickSnapshots() {
  for (auto it = snapshots_out_.begin(); it != snapshots_out_.end();) {
    const NodeId peer = it->first;
    OutgoingSnapshot& transfer = it->second;
    ++it;  // EndSnapshot may erase the current entry
    if (core_->role() != Role::kPrimary || core_->PendingSnapshotLsn(peer) == 0) {
      // The core stopped waiting (the peer caught up, or this replica is no
      // longer primary): drop the transfer.
      snapshots_out_.erase(peer);
      continue;
    }
    if (now_tick_ - transfer.sent_tick < kChunkResendTicks) continue;
    if (++transfer.silent_resends > kChunkResendsMax) {
      EndSnapshot(peer, false);
      continue;
    }
    SendSnapshotChunk(peer, transfer);
  }
}

Status Replica::ReceiveSnapshotResponse(NodeId from, const SnapshotResponse& response) {
  auto it = snapshots_out_.find(from);
  if (it == snapshots_out_.end() || response.snapshot_lsn != it->second.source->lsn()) {
    return absl::OkStatus();  // late, or about an older transfer
  }
  OutgoingSnapshot& transfer = it->second;
  transfer.silent_resends = 0;
  switch (response.result) {
    case SnapshotResult::kAccepted:
    case SnapshotResult::kWrongOffset:
      if (response.next_offset > transfer.source->size()) {
        EndSnapshot(from, false);
        return absl::InvalidArgumentError(
            fmt::format("replica {} asked for snapshot offset {} of a {}-byte snapshot", from,
                        response.next_offset, transfer.source->size()));
      }
      transfer.offset = response.next_offset;
      SendSnapshotChunk(from, transfer);
      return absl::OkStatus();
    case SnapshotResult::kInstalled:
      EndSnapshot(from, true);
      return absl::OkStatus();
    case SnapshotResult::kStaleTerm:
    case SnapshotResult::kChecksumMismatch:
    case SnapshotResult::kNotNeeded:
    case SnapshotResult::kStorageFailed:
      EndSnapshot(from, false);
      return absl::OkStatus();
  }
  return absl::OkStatus();
}

void Replica::AnswerSnapshot(NodeId to, const SnapshotChunk& chunk, SnapshotResult result,
                             uint64_t next_offset) {
  SnapshotResponse response;
  response.partition = partition_.id;
  response.term = core_->term();
  response.snapshot_lsn = chunk.snapshot_lsn;
  response.next_offset = next_offset;
  response.result = result;
  toydb::Message message;
  message.from = self_;
  message.to = to;
  message.body = response;
  outbox_(message);
}

Status Replica::ReceiveSnapshotChunk(NodeId from, const SnapshotChunk& chunk) {
  if (chunk.leader != from) {
    return absl::InvalidArgumentError(
        fmt::format("a snapshot chunk from {} names {} as its sender", from, chunk.leader));
  }
  const Status accepted =
      core_->OnSnapshotChunk(from, chunk.term, chunk.snapshot_lsn, chunk.snapshot_term);
  HandleReadies();  // a newer term adopted is persisted before anything else
  if (!failure_.ok()) return absl::OkStatus();
  if (absl::IsAborted(accepted)) {
    AnswerSnapshot(
        from, chunk,
        chunk.term < core_->term() ? SnapshotResult::kStaleTerm : SnapshotResult::kNotNeeded, 0);
    return absl::OkStatus();
  }
  if (!accepted.ok()) return accepted;
  const uint64_t held = store_->ReceivedSnapshotBytes(chunk.snapshot_lsn, chunk.snapshot_term);
  if (chunk.offset != held) {
    AnswerSnapshot(from, chunk, SnapshotResult::kWrongOffset, held);
    return absl::OkStatus();
  }
  if (Status s = store_->ReceiveSnapshotChunk(chunk.snapshot_lsn, chunk.snapshot_term, chunk.offset,
                                              chunk.data);
      !s.ok()) {
    AnswerSnapshot(from, chunk, SnapshotResult::kStorageFailed, held);
    return absl::OkStatus();
  }
  if (!chunk.last) {
    AnswerSnapshot(from, chunk, SnapshotResult::kAccepted, chunk.offset + chunk.data.size());
    return absl::OkStatus();
  }
  const Status installed = store_->InstallSnapshot(chunk.snapshot_lsn, chunk.snapshot_term,
                                                   chunk.snapshot_bytes, chunk.snapshot_checksum);
  if (absl::IsDataLoss(installed)) {
    Log(fmt::format("snapshot at LSN {} from replica {} failed its checksum; starting over",
                    chunk.snapshot_lsn, from));
    // The staged bytes failed their checksum and were dropped: start over.
    AnswerSnapshot(from, chunk, SnapshotResult::kChecksumMismatch, 0);
    return absl::OkStatus();
  }
  if (!installed.ok()) {
    AnswerSnapshot(from, chunk, SnapshotResult::kStorageFailed, 0);
    Fail(installed);
    return absl::OkStatus();
  }
  log_.DropCache();
  if (Status s = core_->OnSnapshotInstalled(chunk.snapshot_lsn, chunk.snapshot_term); !s.ok()) {
    Fail(s);
    return absl::OkStatus();
  }
  ++snapshots_received_;
  Log(fmt::format("installed a snapshot at LSN {} (term {}) from replica {}", chunk.snapshot_lsn,
                  chunk.snapshot_term, from));
  AnswerSnapshot(from, chunk, SnapshotResult::kInstalled, chunk.snapshot_bytes);
  return absl::OkStatus();
}

}  // namespace toydb::replication
