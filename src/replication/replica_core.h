#ifndef TOYDB_REPLICATION_REPLICA_CORE_H_
#define TOYDB_REPLICATION_REPLICA_CORE_H_

// ReplicaCore: the protocol logic of one replica of a replica group, as a
// pure, deterministic state machine (Raft's elections and log replication,
// with pre-vote, check-quorum, leadership transfer and read-index).
//
// Inputs, each a method call:
//   Step(message)          a protocol message from a peer
//   Tick()                 one period of the host's clock; ticks are the only time
//   OnLogDurable(id)       the host synced its log through LogWrite `id`
//   Propose(payload)       a client write (primary only); returns its LSN
//   ReadIndex(request_id)  a linearizable read (primary only)
//   TransferLeadership(to) hand the primary role to `to`
//   ReportSnapshot(peer, delivered)        (primary) a snapshot transfer ended
//   OnSnapshotChunk(from, term, lsn, st)   (follower) a snapshot chunk arrived
//   OnSnapshotInstalled(lsn, term)         (follower) a snapshot is installed
// Outputs, collected until the host calls TakeReady(): the hard state to
// persist, the log write to perform, messages to send, snapshots to send,
// committed entries to apply and read results to answer (see Ready in
// replica_types.h).
//
// Snapshots. The host may compact its log: drop entries it has applied, the
// last one dropped staying as the log's base (ReplicaLog::FirstLsn() - 1, with
// its term). A primary that would need a dropped entry to catch a peer up
// asks its host for a snapshot instead (Ready::snapshots) and sends that peer
// only heartbeats until the transfer ends. The bytes travel out of band, sent
// and installed by the hosts; the core only decides and tracks:
//   primary host:  on a SnapshotRequest, send a snapshot of its applied state
//                  at some (lsn', term') with lsn' >= request.lsn, in chunks
//                  tagged with the primary's term; when the transfer ends,
//                  call ReportSnapshot(peer, delivered).
//   follower host: for every chunk, first call OnSnapshotChunk; stage the
//                  chunk only if it returns OK. After the last chunk's OK (and
//                  its Ready handled), with no other call to the core in
//                  between, install the snapshot durably (state at lsn', log
//                  empty after (lsn', term')), then call OnSnapshotInstalled.
// The follower then answers the primary with match = lsn', which resumes
// replication right after it.
//
// The host compacts its log only up to its applied LSN, so that the core
// never needs an entry below the base except to catch a peer up.
//
// Nothing here touches a thread, socket, file or clock; randomness (election
// timeouts) comes from the seed in ReplicaConfig. The same inputs give the
// same outputs, which is what lets the simulator replay a run from its seed.
//
// Persistence before send: the host persists Ready::hard_state durably before
// it sends any of Ready::messages. A vote or a new term is therefore never
// announced and then forgotten in a crash, which is what keeps two primaries
// out of one term.
//
// Durability before acknowledgement: a replica counts (for the primary) or
// acknowledges (for a follower) only entries that its log reported durable
// through OnLogDurable, and never considers committed an entry it does not
// durably hold itself. `commit_lsn <= durable_lsn` always holds, so the
// persisted commit LSN and everything applied survive a crash.
//
// Owner: the host replica (later the Replica runtime; now tests and the
// simulator). Not thread-safe; driven by one thread.

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "src/replication/log_view.h"
#include "src/replication/progress.h"
#include "src/replication/replica_log.h"
#include "src/replication/replica_types.h"

namespace toydb::replication {

// A snapshot of a replica's state, for stats and tests.
struct ReplicaStatus {
  NodeId id = kNoNode;
  Role role = Role::kFollower;
  Term term = 0;
  NodeId leader = kNoNode;
  Lsn last_lsn = 0;
  Lsn durable_lsn = 0;
  Lsn commit_lsn = 0;
  Lsn applied_lsn = 0;
  Lsn first_lsn = 1;                        // the log's first entry; below it, the base
  std::map<NodeId, Lsn> peer_match_lsn;     // filled on the primary only
  std::map<NodeId, Lsn> peer_snapshot_lsn;  // peers waiting for a snapshot (primary only)
};

class ReplicaCore {
 public:
  // Starts (or restarts) a replica on `log`, which it reads but never writes.
  // `hard_state` is the last one persisted (all zero on first start);
  // `applied_lsn` is how far the host has applied the log. `log` must outlive
  // the core, and holds only what was durable: everything in it is durable.
  static StatusOr<std::unique_ptr<ReplicaCore>> Open(const ReplicaConfig& config,
                                                     const ReplicaLog* log,
                                                     const HardState& hard_state, Lsn applied_lsn);

  ReplicaCore(const ReplicaCore&) = delete;
  ReplicaCore& operator=(const ReplicaCore&) = delete;
  ~ReplicaCore();

  // InvalidArgument for a message not addressed to this replica or from a
  // non-member; otherwise OK (a stale message is ignored, not an error).
  Status Step(const Message& message);
  void Tick();
  // InvalidArgument for a write id the core never issued.
  Status OnLogDurable(uint64_t write_id);
  // FailedPrecondition (with the leader hint) on a non-primary; Unavailable
  // during a leadership transfer or past max_uncommitted_entries;
  // InvalidArgument for a payload over max_entry_bytes.
  StatusOr<Lsn> Propose(std::string payload);
  // The result arrives in a later Ready::reads, under `request_id`.
  // FailedPrecondition on a non-primary; Unavailable past max_pending_reads.
  Status ReadIndex(uint64_t request_id);
  // FailedPrecondition on a non-primary; InvalidArgument for a non-member or
  // this replica.
  Status TransferLeadership(NodeId to);
  // Starts an election now (as if the election timeout had passed).
  void Campaign();

  // Primary: the host's transfer of the snapshot asked for by a
  // SnapshotRequest for `peer` ended; `delivered` when the peer installed it,
  // false if the transfer failed or was given up. After a failure the peer is
  // probed again (at the next heartbeat answer), and asked a snapshot again
  // if it still needs one. A report that finds the peer no longer waiting (it
  // already resumed) is ignored. Reports are not matched to requests: a late
  // one that finds the peer waiting again is taken for the current transfer,
  // which costs a probe or a repeated request, never safety (the peer's
  // answers alone decide where replication resumes). FailedPrecondition on a
  // non-primary; InvalidArgument for a non-peer.
  Status ReportSnapshot(NodeId peer, bool delivered);
  // Follower: a chunk of a snapshot at (lsn, snapshot_term) arrived from
  // `from`, sent as primary of `term`. OK: stage the chunk (the call counts as
  // the primary's contact: the election timer restarts; a higher term is
  // adopted, as an append's would be). Aborted: drop it, because `term` is
  // stale (the sender is told the newer term, so a deposed primary steps
  // down), or this replica is primary, or the snapshot is not needed: its
  // LSN is at or below the commit LSN, or the log already holds (lsn,
  // snapshot_term); then the core answers the primary with its current match,
  // which ends the primary's wait. InvalidArgument for a non-member sender,
  // LSN 0, or snapshot_term above term.
  Status OnSnapshotChunk(NodeId from, Term term, Lsn lsn, Term snapshot_term);
  // Follower: the host installed, durably, the snapshot at (lsn, term) whose
  // chunks OnSnapshotChunk accepted: its applied state is the snapshot's and
  // its log (the ReplicaLog) is now empty after (lsn, term). The core's view
  // restarts there: durable, commit and applied LSNs become lsn, writes in
  // flight no longer make anything past lsn durable, and the primary is
  // answered with match = lsn. FailedPrecondition, and nothing changes, if
  // lsn is not above the commit LSN (OnSnapshotChunk would have refused it);
  // InvalidArgument if the log does not end at (lsn, term) or the term is
  // above the current one.
  Status OnSnapshotInstalled(Lsn lsn, Term term);
  // Primary: the snapshot LSN `peer` waits for (0 when it waits for none):
  // a host may give up a transfer the core no longer waits for.
  Lsn PendingSnapshotLsn(NodeId peer) const;

  bool HasReady() const;
  Ready TakeReady();

  // Write concern inputs, on the primary: whether it durably holds its own
  // entry at `lsn`, and how many secondaries durably hold that same entry
  // (0 on a non-primary).
  bool HoldsDurably(Lsn lsn) const { return lsn <= durable_lsn_; }
  uint32_t DurableSecondaryCount(Lsn lsn) const;
  ReplicaStatus GetStatus() const;
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId leader() const { return leader_; }
  NodeId id() const { return config_.id; }
  Lsn commit_lsn() const { return commit_lsn_; }
  Lsn last_lsn() const { return log_->LastLsn(); }
  Lsn durable_lsn() const { return durable_lsn_; }
  Lsn applied_lsn() const { return applied_lsn_; }
  StatusOr<Term> TermAt(Lsn lsn) const;
  // True once the primary committed an entry of its own term: only then does
  // its commit LSN reflect everything the group committed.
  bool CommittedInTerm() const;
  size_t group_size() const { return config_.members.size(); }

 private:
  struct PendingRead {
    uint64_t request_id;
    Lsn read_lsn;
    uint64_t context;
  };
  struct IssuedWrite {
    uint64_t write_id;
    Lsn durable_cap;  // the LSN this write makes durable, less later truncations
  };

  ReplicaCore(const ReplicaConfig& config, const ReplicaLog* log, const HardState& hard_state,
              Lsn applied_lsn);

  // Roles.
  void BecomeFollower(Term term, NodeId leader);
  void BecomePreCandidate();
  void BecomeCandidate();
  void BecomePrimary();
  void ResetForTerm(Term term);
  void StartCampaign(bool pre_vote, bool transfer);
  void ResetElectionTimeout();
  bool InLeaderLease() const;
  uint32_t Quorum() const { return static_cast<uint32_t>(config_.members.size() / 2 + 1); }
  std::vector<NodeId> Peers() const;

  // Step, by phase.
  bool StepTerm(const Message& m);
  void AnswerStaleTerm(const Message& m);
  void StepByRole(const Message& m);
  void HandleVoteRequest(const Message& m);
  void HandleVoteResponse(const Message& m);
  void HandleAppend(const Message& m);
  void HandleHeartbeat(const Message& m);
  void HandleAppendResponse(const Message& m);
  void HandleHeartbeatResponse(const Message& m);
  void HandleTimeoutNow(const Message& m);
  bool SnapshotNeeded(Lsn lsn, Term snapshot_term);

  // Follower side of replication.
  void RejectAppend(const Message& m);
  void AppendConflictingSuffix(const Message& m, size_t skip);
  void AnswerAppend(NodeId to);
  void AdvanceFollowerCommit();

  // Primary side of replication.
  bool SendAppend(NodeId peer, bool send_if_empty);
  void RequestSnapshot(NodeId peer);
  void SendAppends(NodeId peer, bool send_if_empty);
  void BroadcastAppend(bool send_if_empty);
  void BroadcastHeartbeat();
  Lsn RetryNextAfterReject(const Message& m) const;
  void MaybeCommit();
  void MaybeFinishTransfer(NodeId peer);
  void TickPrimary();
  void TickCandidateOrFollower();
  void CheckQuorum();

  // Reads.
  void ConfirmReads();
  void FailPendingReads(const Status& status);
  void ReleaseReads();

  // Log and durability.
  void AppendAfter(Lsn after, std::vector<Entry> entries);
  void TakeCommitted(Ready* ready);
  uint64_t NextRandom();
  void SetCommit(Lsn commit);
  void Send(Message m);
  HardState CurrentHardState() const;

  const ReplicaConfig config_;
  std::unique_ptr<LogView> log_;
  uint64_t rng_state_;

  Role role_ = Role::kFollower;
  Term term_ = 0;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Lsn commit_lsn_ = 0;
  Lsn applied_lsn_ = 0;  // handed to the host in a Ready
  Lsn durable_lsn_ = 0;

  // Elections.
  uint32_t election_elapsed_ = 0;
  uint32_t randomized_timeout_ = 0;
  std::map<NodeId, bool> votes_;

  // Follower: what the current term's primary is known to share with us.
  Lsn leader_match_lsn_ = 0;
  Lsn leader_commit_lsn_ = 0;
  Lsn acked_match_lsn_ = 0;

  // Primary.
  std::map<NodeId, PeerProgress> progress_;
  uint32_t heartbeat_elapsed_ = 0;
  NodeId transfer_target_ = kNoNode;
  uint32_t transfer_elapsed_ = 0;
  uint64_t next_context_ = 0;
  std::vector<PendingRead> unconfirmed_reads_;  // waiting for a heartbeat round
  std::vector<PendingRead> confirmed_reads_;    // waiting for apply

  // Outputs.
  HardState persisted_hard_state_;
  uint64_t next_write_id_ = 1;
  std::vector<IssuedWrite> issued_writes_;  // not yet reported durable
  std::vector<Message> outbox_;
  std::vector<ReadResult> read_results_;
  std::vector<SnapshotRequest> snapshot_requests_;
};

// Whether a write at `lsn` of the primary's current term meets `concern`:
// the arguments are HoldsDurably(lsn), DurableSecondaryCount(lsn),
// group_size() and commit_lsn() >= lsn. kMajority means committed, which is
// what makes it survive any minority's loss.
bool WriteConcernMet(const WriteConcern& concern, bool primary_durable,
                     uint32_t durable_secondaries, size_t group_size, bool committed);

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_REPLICA_CORE_H_
