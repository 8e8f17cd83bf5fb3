#include "src/replication/replica_core.h"

#include <fmt/format.h>

#include <algorithm>

#include "src/util/check.h"

namespace toydb::replication {

const char* MessageKindName(MessageKind kind) {
  switch (kind) {
    case MessageKind::kPreVote:
      return "PreVote";
    case MessageKind::kPreVoteResponse:
      return "PreVoteResponse";
    case MessageKind::kVote:
      return "Vote";
    case MessageKind::kVoteResponse:
      return "VoteResponse";
    case MessageKind::kAppend:
      return "Append";
    case MessageKind::kAppendResponse:
      return "AppendResponse";
    case MessageKind::kHeartbeat:
      return "Heartbeat";
    case MessageKind::kHeartbeatResponse:
      return "HeartbeatResponse";
    case MessageKind::kTimeoutNow:
      return "TimeoutNow";
  }
  return "?";
}

const char* RoleName(Role role) {
  switch (role) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kPrimary:
      return "primary";
  }
  return "?";
}

Status ReplicaConfig::Validate() const {
  if (id == kNoNode) return absl::InvalidArgumentError("replica id 0 is reserved");
  std::vector<NodeId> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return absl::InvalidArgumentError("members lists a replica twice");
  }
  if (!std::binary_search(sorted.begin(), sorted.end(), id)) {
    return absl::InvalidArgumentError(fmt::format("replica {} is not among the members", id));
  }
  if (sorted.front() == kNoNode) return absl::InvalidArgumentError("member id 0 is reserved");
  if (heartbeat_ticks == 0 || heartbeat_ticks >= election_ticks) {
    return absl::InvalidArgumentError("need 0 < heartbeat_ticks < election_ticks");
  }
  if (max_append_entries == 0 || max_append_entries > kMaxEntriesPerAppend) {
    return absl::InvalidArgumentError(
        fmt::format("max_append_entries must be in [1, {}]", kMaxEntriesPerAppend));
  }
  if (max_inflight_appends == 0 || max_inflight_bytes == 0 || max_append_bytes == 0 ||
      max_apply_bytes == 0 || max_uncommitted_entries == 0) {
    return absl::InvalidArgumentError("flow-control limits must be positive");
  }
  if (max_entry_bytes == 0 || max_entry_bytes > max_append_bytes) {
    return absl::InvalidArgumentError("need 0 < max_entry_bytes <= max_append_bytes");
  }
  return absl::OkStatus();
}

bool WriteConcernMet(const WriteConcern& concern, bool primary_durable,
                     uint32_t durable_secondaries, size_t group_size, bool committed) {
  switch (concern.kind) {
    case WriteConcernKind::kLeader:
      return primary_durable;
    case WriteConcernKind::kCount:
      return primary_durable && durable_secondaries >= concern.count;
    case WriteConcernKind::kMajority:
      return committed;
    case WriteConcernKind::kAll:
      return committed && primary_durable && durable_secondaries + 1 >= group_size;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Construction.

StatusOr<std::unique_ptr<ReplicaCore>> ReplicaCore::Open(const ReplicaConfig& config,
                                                         const ReplicaLog* log,
                                                         const HardState& hard_state,
                                                         Lsn applied_lsn) {
  if (Status status = config.Validate(); !status.ok()) return status;
  if (log == nullptr) return absl::InvalidArgumentError("no log");
  if (hard_state.commit_lsn > log->LastLsn() || applied_lsn > log->LastLsn()) {
    return absl::DataLossError(
        fmt::format("commit LSN {} or applied LSN {} beyond the log's last LSN {}",
                    hard_state.commit_lsn, applied_lsn, log->LastLsn()));
  }
  if (applied_lsn + 1 < log->FirstLsn()) {
    return absl::DataLossError(fmt::format("the log starts at LSN {} but only {} was applied",
                                           log->FirstLsn(), applied_lsn));
  }
  StatusOr<Term> last_term = log->TermAt(log->LastLsn());
  if (!last_term.ok()) return last_term.status();
  if (*last_term > hard_state.term) {
    return absl::DataLossError(fmt::format("the log holds term {} but the hard state says term {}",
                                           *last_term, hard_state.term));
  }
  if (hard_state.vote != kNoNode && std::find(config.members.begin(), config.members.end(),
                                              hard_state.vote) == config.members.end()) {
    return absl::DataLossError(fmt::format("voted for non-member {}", hard_state.vote));
  }
  return std::unique_ptr<ReplicaCore>(new ReplicaCore(config, log, hard_state, applied_lsn));
}

ReplicaCore::ReplicaCore(const ReplicaConfig& config, const ReplicaLog* log,
                         const HardState& hard_state, Lsn applied_lsn)
    : config_(config),
      log_(std::make_unique<LogView>(log)),
      rng_state_(config.random_seed ^ (config.id * 0x9e3779b97f4a7c15ULL)),
      term_(hard_state.term),
      vote_(hard_state.vote),
      commit_lsn_(std::max(hard_state.commit_lsn, applied_lsn)),
      applied_lsn_(applied_lsn),
      durable_lsn_(log->LastLsn()) {
  persisted_hard_state_ = CurrentHardState();
  leader_match_lsn_ = commit_lsn_;
  ResetElectionTimeout();
}

ReplicaCore::~ReplicaCore() = default;

// ---------------------------------------------------------------------------
// Roles and elections.

uint64_t ReplicaCore::NextRandom() {
  // splitmix64: small, seedable, and the same on every platform.
  uint64_t z = (rng_state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The timeout is drawn from [E, 2E) shifted by rank * skew, rank being the
// replica's place among the members sorted by id. Lower ids therefore tend to
// time out first and, their logs being as up to date, to win: that is the
// preference for the lower id. It costs no liveness: nothing is refused on
// account of an id, every replica still draws from a window E ticks wide,
// so the chance that one replica times out alone, well before the others,
// and collects its votes stays bounded away from zero in every round, which
// is the argument Raft's randomized timeouts rest on.
void ReplicaCore::ResetElectionTimeout() {
  std::vector<NodeId> sorted = config_.members;
  std::sort(sorted.begin(), sorted.end());
  uint32_t rank = static_cast<uint32_t>(std::lower_bound(sorted.begin(), sorted.end(), config_.id) -
                                        sorted.begin());
  randomized_timeout_ = config_.election_ticks + rank * config_.rank_skew_ticks +
                        static_cast<uint32_t>(NextRandom() % config_.election_ticks);
}

std::vector<NodeId> ReplicaCore::Peers() const {
  std::vector<NodeId> peers;
  for (NodeId member : config_.members) {
    if (member != config_.id) peers.push_back(member);
  }
  return peers;
}

void ReplicaCore::ResetForTerm(Term term) {
  if (term != term_) {
    TOYDB_CHECK(term > term_, "terms only grow");
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  ResetElectionTimeout();
  votes_.clear();
  progress_.clear();
  transfer_target_ = kNoNode;
  leader_match_lsn_ = commit_lsn_;
  leader_commit_lsn_ = 0;
  acked_match_lsn_ = 0;
  snapshot_requests_.clear();  // a deposed primary's transfers would be refused
  FailPendingReads(absl::UnavailableError("leadership changed before the read was confirmed"));
}

void ReplicaCore::BecomeFollower(Term term, NodeId leader) {
  ResetForTerm(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void ReplicaCore::BecomePreCandidate() {
  // The term and vote stay: a pre-vote changes nothing durable.
  ResetForTerm(term_);
  role_ = Role::kPreCandidate;
}

void ReplicaCore::BecomeCandidate() {
  ResetForTerm(term_ + 1);
  role_ = Role::kCandidate;
  vote_ = config_.id;
}

void ReplicaCore::BecomePrimary() {
  TOYDB_CHECK(role_ == Role::kCandidate, "only a candidate becomes primary");
  role_ = Role::kPrimary;
  leader_ = config_.id;
  Lsn next = last_lsn() + 1;
  for (NodeId peer : Peers()) {
    progress_.emplace(peer,
                      PeerProgress(next, config_.max_inflight_appends, config_.max_inflight_bytes));
  }
  // An entry of the new term: committing it commits everything before it,
  // which a primary may not do by counting replicas of older terms' entries.
  AppendAfter(last_lsn(), {Entry{term_, next, EntryType::kNoop, {}}});
  BroadcastAppend(/*send_if_empty=*/true);
  MaybeCommit();
}

void ReplicaCore::Campaign() {
  if (role_ == Role::kPrimary) return;
  StartCampaign(config_.pre_vote, /*transfer=*/false);
}

void ReplicaCore::StartCampaign(bool pre_vote, bool transfer) {
  if (pre_vote) {
    BecomePreCandidate();
  } else {
    BecomeCandidate();
  }
  votes_[config_.id] = true;
  if (Quorum() == 1) {
    if (pre_vote) return StartCampaign(false, transfer);
    return BecomePrimary();
  }
  for (NodeId peer : Peers()) {
    Message m;
    m.kind = pre_vote ? MessageKind::kPreVote : MessageKind::kVote;
    m.to = peer;
    m.term = pre_vote ? term_ + 1 : term_;
    m.last_lsn = last_lsn();
    m.last_term = log_->LastTerm();
    m.transfer = transfer;
    Send(std::move(m));
  }
}

bool ReplicaCore::InLeaderLease() const {
  return config_.check_quorum && leader_ != kNoNode && election_elapsed_ < config_.election_ticks;
}

// ---------------------------------------------------------------------------
// Inputs.

Status ReplicaCore::Step(const Message& m) {
  if (m.to != config_.id) {
    return absl::InvalidArgumentError(
        fmt::format("message for replica {} reached replica {}", m.to, config_.id));
  }
  if (m.from == config_.id ||
      std::find(config_.members.begin(), config_.members.end(), m.from) == config_.members.end()) {
    return absl::InvalidArgumentError(fmt::format("message from non-member {}", m.from));
  }
  if (StepTerm(m)) StepByRole(m);
  return absl::OkStatus();
}

// Applies the term rules; returns whether the message is still to be handled.
bool ReplicaCore::StepTerm(const Message& m) {
  if (m.term < term_) {
    AnswerStaleTerm(m);
    return false;
  }
  if (m.term == term_) return true;
  bool vote_request = m.kind == MessageKind::kVote || m.kind == MessageKind::kPreVote;
  // A replica that heard from a live primary within the election timeout
  // ignores campaigns, so a replica that was cut off cannot depose it.
  if (vote_request && !m.transfer && InLeaderLease()) return false;
  if (m.kind == MessageKind::kPreVote) return true;
  if (m.kind == MessageKind::kPreVoteResponse && m.granted) return true;
  bool from_primary = m.kind == MessageKind::kAppend || m.kind == MessageKind::kHeartbeat ||
                      m.kind == MessageKind::kTimeoutNow;
  BecomeFollower(m.term, from_primary ? m.from : kNoNode);
  return true;
}

void ReplicaCore::AnswerStaleTerm(const Message& m) {
  Message answer;
  answer.to = m.from;
  answer.term = term_;
  if (m.kind == MessageKind::kAppend || m.kind == MessageKind::kHeartbeat) {
    // Tells a deposed primary the newer term, so it steps down.
    answer.kind = MessageKind::kAppendResponse;
    answer.reject = true;
  } else if (m.kind == MessageKind::kPreVote) {
    answer.kind = MessageKind::kPreVoteResponse;
  } else {
    return;
  }
  Send(std::move(answer));
}

void ReplicaCore::StepByRole(const Message& m) {
  switch (m.kind) {
    case MessageKind::kPreVote:
    case MessageKind::kVote:
      return HandleVoteRequest(m);
    case MessageKind::kPreVoteResponse:
    case MessageKind::kVoteResponse:
      return HandleVoteResponse(m);
    case MessageKind::kAppend:
    case MessageKind::kHeartbeat:
      // A second primary in one term cannot exist; such a message is ignored
      // (and the simulator's checker would catch the cause).
      if (role_ == Role::kPrimary) return;
      if (role_ != Role::kFollower) BecomeFollower(term_, m.from);
      return m.kind == MessageKind::kAppend ? HandleAppend(m) : HandleHeartbeat(m);
    case MessageKind::kAppendResponse:
      if (role_ == Role::kPrimary) HandleAppendResponse(m);
      return;
    case MessageKind::kHeartbeatResponse:
      if (role_ == Role::kPrimary) HandleHeartbeatResponse(m);
      return;
    case MessageKind::kTimeoutNow:
      return HandleTimeoutNow(m);
  }
}

void ReplicaCore::HandleVoteRequest(const Message& m) {
  bool pre_vote = m.kind == MessageKind::kPreVote;
  bool can_vote =
      vote_ == m.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre_vote && m.term > term_);
  Term my_last_term = log_->LastTerm();
  bool up_to_date =
      m.last_term > my_last_term || (m.last_term == my_last_term && m.last_lsn >= last_lsn());
  Message answer;
  answer.kind = pre_vote ? MessageKind::kPreVoteResponse : MessageKind::kVoteResponse;
  answer.to = m.from;
  answer.term = term_;
  if (can_vote && up_to_date) {
    answer.granted = true;
    answer.term = m.term;
    if (!pre_vote) {
      vote_ = m.from;  // persisted (Ready::hard_state) before the answer leaves
      election_elapsed_ = 0;
    }
  }
  Send(std::move(answer));
}

void ReplicaCore::HandleVoteResponse(const Message& m) {
  bool pre_vote = m.kind == MessageKind::kPreVoteResponse;
  if (role_ != (pre_vote ? Role::kPreCandidate : Role::kCandidate)) return;
  if (m.granted && m.term != (pre_vote ? term_ + 1 : term_)) return;
  votes_.emplace(m.from, m.granted);  // the first answer of each voter counts
  uint32_t granted = 0;
  uint32_t refused = 0;
  for (const auto& [voter, yes] : votes_) (yes ? granted : refused)++;
  if (granted >= Quorum()) {
    if (pre_vote) return StartCampaign(false, false);
    return BecomePrimary();
  }
  if (refused >= Quorum()) BecomeFollower(term_, kNoNode);
}

void ReplicaCore::HandleTimeoutNow(const Message& m) {
  if (role_ == Role::kPrimary || m.from != leader_) return;
  StartCampaign(/*pre_vote=*/false, /*transfer=*/true);
}

void ReplicaCore::Tick() {
  if (role_ == Role::kPrimary) {
    TickPrimary();
  } else {
    TickCandidateOrFollower();
  }
}

void ReplicaCore::TickCandidateOrFollower() {
  ++election_elapsed_;
  if (election_elapsed_ >= randomized_timeout_) Campaign();
}

void ReplicaCore::TickPrimary() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (transfer_target_ != kNoNode && ++transfer_elapsed_ >= config_.election_ticks) {
    transfer_target_ = kNoNode;  // the target did not take over in time: keep leading
  }
  if (election_elapsed_ >= config_.election_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) CheckQuorum();
    if (role_ != Role::kPrimary) return;
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_ticks) {
    heartbeat_elapsed_ = 0;
    BroadcastHeartbeat();
  }
}

// A primary that heard from no majority during the last election timeout may
// have been replaced on the far side of a partition; it steps down so that
// clients stop reaching a primary that can commit nothing.
void ReplicaCore::CheckQuorum() {
  uint32_t active = 1;
  for (auto& [peer, progress] : progress_) {
    if (progress.recent_active()) ++active;
    progress.set_recent_active(false);
  }
  if (active < Quorum()) BecomeFollower(term_, kNoNode);
}

StatusOr<Lsn> ReplicaCore::Propose(std::string payload) {
  if (role_ != Role::kPrimary) {
    return absl::FailedPreconditionError(
        fmt::format("replica {} is not the primary; leader hint: {}", config_.id, leader_));
  }
  if (transfer_target_ != kNoNode) {
    return absl::UnavailableError(
        fmt::format("leadership is moving to replica {}", transfer_target_));
  }
  if (payload.size() > config_.max_entry_bytes) {
    return absl::InvalidArgumentError(fmt::format("entry of {} bytes exceeds the limit of {}",
                                                  payload.size(), config_.max_entry_bytes));
  }
  if (last_lsn() - commit_lsn_ >= config_.max_uncommitted_entries) {
    return absl::UnavailableError("too many uncommitted entries; retry later");
  }
  Lsn lsn = last_lsn() + 1;
  AppendAfter(last_lsn(), {Entry{term_, lsn, EntryType::kNormal, std::move(payload)}});
  BroadcastAppend(/*send_if_empty=*/false);
  return lsn;
}

Status ReplicaCore::TransferLeadership(NodeId to) {
  if (role_ != Role::kPrimary) {
    return absl::FailedPreconditionError(
        fmt::format("replica {} is not the primary; leader hint: {}", config_.id, leader_));
  }
  if (progress_.find(to) == progress_.end()) {
    return absl::InvalidArgumentError(fmt::format("replica {} is not a peer", to));
  }
  transfer_target_ = to;
  transfer_elapsed_ = 0;
  MaybeFinishTransfer(to);
  if (transfer_target_ != kNoNode) SendAppends(to, /*send_if_empty=*/true);
  return absl::OkStatus();
}

void ReplicaCore::MaybeFinishTransfer(NodeId peer) {
  if (transfer_target_ != peer || progress_.at(peer).match_lsn() != last_lsn()) return;
  Message m;
  m.kind = MessageKind::kTimeoutNow;
  m.to = peer;
  m.term = term_;
  Send(std::move(m));
}

// ---------------------------------------------------------------------------
// Follower side of replication.

void ReplicaCore::HandleAppend(const Message& m) {
  leader_ = m.from;
  election_elapsed_ = 0;
  const size_t count = m.entries.size();
  size_t skip = 0;  // entries at or below our commit LSN match any primary's
  Lsn prev = m.prev_lsn;
  Term prev_term = m.prev_term;
  if (prev < commit_lsn_) {
    skip = std::min<size_t>(count, commit_lsn_ - prev);
    prev = skip == count ? commit_lsn_ : prev + skip;
    prev_term = skip == count ? 0 : m.entries[skip - 1].term;
  }
  bool prev_matches = prev == commit_lsn_ && prev != m.prev_lsn;
  if (!prev_matches) {
    StatusOr<Term> term = log_->TermAt(prev);
    prev_matches = term.ok() && *term == prev_term;
  }
  if (!prev_matches) return RejectAppend(m);
  AppendConflictingSuffix(m, skip);
  leader_match_lsn_ = std::max(leader_match_lsn_, m.prev_lsn + count);
  leader_commit_lsn_ = std::max(leader_commit_lsn_, m.commit_lsn);
  AdvanceFollowerCommit();
  AnswerAppend(m.from);
}

// Appends the entries of `m` from the first one our log lacks or disagrees
// with. Entries that already match stay, so a late or duplicated append
// truncates nothing.
void ReplicaCore::AppendConflictingSuffix(const Message& m, size_t skip) {
  for (size_t i = skip; i < m.entries.size(); ++i) {
    const Entry& entry = m.entries[i];
    StatusOr<Term> term = log_->TermAt(entry.lsn);
    if (term.ok() && *term == entry.term) continue;
    TOYDB_CHECK(entry.lsn > commit_lsn_, "a primary's log disagrees with a committed entry");
    TOYDB_CHECK(entry.lsn > leader_match_lsn_, "a primary contradicts itself within a term");
    AppendAfter(entry.lsn - 1,
                std::vector<Entry>(m.entries.begin() + static_cast<ptrdiff_t>(i), m.entries.end()));
    return;
  }
}

void ReplicaCore::RejectAppend(const Message& m) {
  Message answer;
  answer.kind = MessageKind::kAppendResponse;
  answer.to = m.from;
  answer.term = term_;
  answer.reject = true;
  answer.rejected_prev_lsn = m.prev_lsn;
  answer.hint_last_lsn = last_lsn();
  if (m.prev_lsn <= last_lsn()) {
    Term conflict = *log_->TermAt(m.prev_lsn);
    Lsn first = m.prev_lsn;
    // Walk back to the first entry of the conflicting term (never below the
    // commit point, where logs are known to agree).
    while (first - 1 > commit_lsn_ && *log_->TermAt(first - 1) == conflict) --first;
    answer.hint_conflict_term = conflict;
    answer.hint_conflict_first_lsn = first;
  }
  Send(std::move(answer));
}

void ReplicaCore::AnswerAppend(NodeId to) {
  Message answer;
  answer.kind = MessageKind::kAppendResponse;
  answer.to = to;
  answer.term = term_;
  answer.match_lsn = std::min(durable_lsn_, leader_match_lsn_);
  answer.accepted_lsn = leader_match_lsn_;
  acked_match_lsn_ = std::max(acked_match_lsn_, answer.match_lsn);
  Send(std::move(answer));
}

// A follower commits what the primary says is committed, but only as far as
// its own log is known to match the primary's and is durable.
void ReplicaCore::AdvanceFollowerCommit() {
  Lsn commit = std::min({leader_commit_lsn_, leader_match_lsn_, durable_lsn_});
  if (commit > commit_lsn_) SetCommit(commit);
}

void ReplicaCore::HandleHeartbeat(const Message& m) {
  leader_ = m.from;
  election_elapsed_ = 0;
  leader_commit_lsn_ = std::max(leader_commit_lsn_, m.commit_lsn);
  AdvanceFollowerCommit();
  Message answer;
  answer.kind = MessageKind::kHeartbeatResponse;
  answer.to = m.from;
  answer.term = term_;
  answer.context = m.context;
  // Repeats the durable acknowledgement: if the append answer that carried it
  // was lost and no new entry follows, this is how the primary learns it.
  answer.match_lsn = std::min(durable_lsn_, leader_match_lsn_);
  answer.accepted_lsn = leader_match_lsn_;
  acked_match_lsn_ = std::max(acked_match_lsn_, answer.match_lsn);
  Send(std::move(answer));
}

// ---------------------------------------------------------------------------
// Follower side of snapshots.

Status ReplicaCore::OnSnapshotChunk(NodeId from, Term term, Lsn lsn, Term snapshot_term) {
  if (from == config_.id ||
      std::find(config_.members.begin(), config_.members.end(), from) == config_.members.end()) {
    return absl::InvalidArgumentError(fmt::format("snapshot from non-member {}", from));
  }
  if (lsn == 0 || snapshot_term > term) {
    return absl::InvalidArgumentError(fmt::format(
        "snapshot at (LSN {}, term {}) from a primary of term {}", lsn, snapshot_term, term));
  }
  if (term < term_) {
    Message stale;
    stale.kind = MessageKind::kAppend;  // answered as a stale append is
    stale.from = from;
    stale.term = term;
    AnswerStaleTerm(stale);
    return absl::AbortedError(fmt::format("snapshot of stale term {} (now {})", term, term_));
  }
  if (term > term_) {
    BecomeFollower(term, from);
  } else if (role_ == Role::kPrimary) {
    return absl::AbortedError(
        fmt::format("replica {} is the primary of term {}", config_.id, term));
  } else if (role_ != Role::kFollower) {
    BecomeFollower(term_, from);
  }
  leader_ = from;
  election_elapsed_ = 0;
  if (!SnapshotNeeded(lsn, snapshot_term)) {
    AnswerAppend(from);  // the primary stops waiting for the snapshot
    return absl::AbortedError(fmt::format("no snapshot needed at LSN {} (commit {}, last {})", lsn,
                                          commit_lsn_, last_lsn()));
  }
  return absl::OkStatus();
}

// A snapshot at or below the commit LSN would rewind applied state; one whose
// last entry the log already holds would needlessly drop the entries after
// it, which may be acknowledged as durable. In the second case the log
// matches the primary's up to `lsn` (same entry, same term), and `lsn` is
// committed (it is in the primary's applied state).
bool ReplicaCore::SnapshotNeeded(Lsn lsn, Term snapshot_term) {
  if (lsn <= commit_lsn_) return false;
  StatusOr<Term> held = log_->TermAt(lsn);
  if (!held.ok() || *held != snapshot_term) return true;
  leader_match_lsn_ = std::max(leader_match_lsn_, lsn);
  leader_commit_lsn_ = std::max(leader_commit_lsn_, lsn);
  AdvanceFollowerCommit();
  return false;
}

Status ReplicaCore::OnSnapshotInstalled(Lsn lsn, Term term) {
  if (role_ != Role::kFollower || lsn <= commit_lsn_) {
    return absl::FailedPreconditionError(
        fmt::format("snapshot at LSN {} installed by a {} whose commit LSN is {}", lsn,
                    RoleName(role_), commit_lsn_));
  }
  const ReplicaLog& stored = log_->stored();
  StatusOr<Term> base_term = stored.TermAt(lsn);
  if (term > term_ || stored.LastLsn() != lsn || stored.FirstLsn() != lsn + 1 || !base_term.ok() ||
      *base_term != term) {
    return absl::InvalidArgumentError(
        fmt::format("snapshot (LSN {}, term {}) but the log holds [{}, {}] (now term {})", lsn,
                    term, stored.FirstLsn(), stored.LastLsn(), term_));
  }
  // The host's log is the whole truth now: the core's unwritten entries and
  // the writes in flight were replaced by the snapshot.
  log_->DiscardPendingWrite();
  durable_lsn_ = lsn;
  for (IssuedWrite& write : issued_writes_) write.durable_cap = std::min(write.durable_cap, lsn);
  SetCommit(lsn);
  applied_lsn_ = lsn;  // the host's state is the snapshot's
  leader_match_lsn_ = std::max(leader_match_lsn_, lsn);
  leader_commit_lsn_ = std::max(leader_commit_lsn_, lsn);
  if (leader_ != kNoNode) AnswerAppend(leader_);
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Primary side of replication.

bool ReplicaCore::SendAppend(NodeId peer, bool send_if_empty) {
  PeerProgress& progress = progress_.at(peer);
  if (progress.Paused()) return false;
  Lsn prev = progress.next_lsn() - 1;
  if (prev + 1 < log_->FirstLsn()) {
    RequestSnapshot(peer);  // the peer needs entries compacted away
    return false;
  }
  StatusOr<Term> prev_term = log_->TermAt(prev);
  if (!prev_term.ok()) return false;
  Message m;
  m.kind = MessageKind::kAppend;
  m.to = peer;
  m.term = term_;
  m.prev_lsn = prev;
  m.prev_term = *prev_term;
  m.commit_lsn = commit_lsn_;
  Lsn last = std::min<Lsn>(last_lsn(), prev + config_.max_append_entries);
  if (prev < last && !log_->Entries(prev + 1, last, config_.max_append_bytes, &m.entries).ok()) {
    return false;
  }
  if (m.entries.empty() && !send_if_empty) return false;
  uint64_t bytes = 0;
  for (const Entry& entry : m.entries) bytes += EntryBytes(entry);
  progress.OnAppendSent(m.entries.size(), bytes, m.entries.empty() ? prev : m.entries.back().lsn);
  bool sent_entries = !m.entries.empty();
  Send(std::move(m));
  return sent_entries;
}

// The oldest snapshot that will do is the log's base: the peer can be caught
// up by appends from there.
void ReplicaCore::RequestSnapshot(NodeId peer) {
  Lsn base = log_->FirstLsn() - 1;
  StatusOr<Term> base_term = log_->TermAt(base);
  TOYDB_CHECK(base_term.ok(), "the log keeps its base's term");
  progress_.at(peer).BecomeSnapshot(base);
  snapshot_requests_.push_back({peer, base, *base_term});
}

Status ReplicaCore::ReportSnapshot(NodeId peer, bool delivered) {
  if (role_ != Role::kPrimary) {
    return absl::FailedPreconditionError(
        fmt::format("replica {} is not the primary; leader hint: {}", config_.id, leader_));
  }
  auto progress = progress_.find(peer);
  if (progress == progress_.end()) {
    return absl::InvalidArgumentError(fmt::format("replica {} is not a peer", peer));
  }
  if (progress->second.OnSnapshotReported(delivered)) SendAppends(peer, /*send_if_empty=*/true);
  return absl::OkStatus();
}

Lsn ReplicaCore::PendingSnapshotLsn(NodeId peer) const {
  if (role_ != Role::kPrimary) return 0;
  auto progress = progress_.find(peer);
  if (progress == progress_.end()) return 0;
  return progress->second.mode() == PeerProgress::Mode::kSnapshot
             ? progress->second.pending_snapshot_lsn()
             : 0;
}

// Sends as much as the peer's flow control allows.
void ReplicaCore::SendAppends(NodeId peer, bool send_if_empty) {
  if (!SendAppend(peer, send_if_empty)) return;
  while (progress_.at(peer).mode() == PeerProgress::Mode::kReplicate &&
         SendAppend(peer, /*send_if_empty=*/false)) {
  }
}

void ReplicaCore::BroadcastAppend(bool send_if_empty) {
  for (auto& [peer, progress] : progress_) SendAppends(peer, send_if_empty);
}

void ReplicaCore::BroadcastHeartbeat() {
  for (auto& [peer, progress] : progress_) {
    Message m;
    m.kind = MessageKind::kHeartbeat;
    m.to = peer;
    m.term = term_;
    // Never more than the peer is known to match: it must not commit entries
    // of its own that the primary lacks.
    m.commit_lsn = std::min(progress.match_lsn(), commit_lsn_);
    m.context = next_context_;
    Send(std::move(m));
  }
}

void ReplicaCore::HandleAppendResponse(const Message& m) {
  PeerProgress& progress = progress_.at(m.from);
  progress.set_recent_active(true);
  if (m.reject) {
    if (progress.OnAppendRejected(m.rejected_prev_lsn, RetryNextAfterReject(m))) {
      SendAppends(m.from, /*send_if_empty=*/true);
    }
    return;
  }
  if (progress.OnAppendAccepted(m.match_lsn, m.accepted_lsn)) {
    MaybeCommit();
    if (role_ != Role::kPrimary) return;
    MaybeFinishTransfer(m.from);
  }
  SendAppends(m.from, /*send_if_empty=*/false);
}

// Where to resume after a rejection, from the follower's hints: past its
// last entry if its log is short; past our last entry of the conflicting term
// if we have that term (our logs agree up to there); otherwise at the first
// entry of that term in its log, skipping the whole term in one round trip.
Lsn ReplicaCore::RetryNextAfterReject(const Message& m) const {
  if (m.hint_conflict_term == 0) return m.hint_last_lsn + 1;
  const Lsn floor = progress_.at(m.from).match_lsn();
  Lsn lsn = std::min(m.rejected_prev_lsn, last_lsn());
  while (lsn > floor) {
    StatusOr<Term> term = log_->TermAt(lsn);
    if (!term.ok() || *term <= m.hint_conflict_term) {
      if (term.ok() && *term == m.hint_conflict_term) return lsn + 1;
      break;
    }
    --lsn;
  }
  return m.hint_conflict_first_lsn;
}

void ReplicaCore::HandleHeartbeatResponse(const Message& m) {
  PeerProgress& progress = progress_.at(m.from);
  progress.set_recent_active(true);
  progress.OnHeartbeatAnswered();
  progress.AckContext(m.context);
  if (progress.OnAppendAccepted(m.match_lsn, m.accepted_lsn)) MaybeCommit();
  ConfirmReads();
  MaybeFinishTransfer(m.from);
  // If the follower lacks what was sent, appends were lost (or are slow):
  // send again from where it stands.
  bool behind = m.accepted_lsn + 1 < progress.next_lsn();
  if (progress.match_lsn() < last_lsn()) SendAppends(m.from, behind);
}

bool ReplicaCore::CommittedInTerm() const {
  StatusOr<Term> term = log_->TermAt(commit_lsn_);
  return term.ok() && *term == term_;
}

// Commits the highest LSN that a majority holds durably, if it is of the
// current term (an older term's entry is committed only by a later one).
void ReplicaCore::MaybeCommit() {
  std::vector<Lsn> matches = {durable_lsn_};
  for (const auto& [peer, progress] : progress_) matches.push_back(progress.match_lsn());
  std::sort(matches.begin(), matches.end(), std::greater<Lsn>());
  Lsn candidate = std::min(matches[Quorum() - 1], durable_lsn_);
  if (candidate <= commit_lsn_) return;
  StatusOr<Term> term = log_->TermAt(candidate);
  if (!term.ok() || *term != term_) return;
  SetCommit(candidate);
  BroadcastAppend(/*send_if_empty=*/true);  // tells the followers
}

uint32_t ReplicaCore::DurableSecondaryCount(Lsn lsn) const {
  uint32_t count = 0;
  for (const auto& [peer, progress] : progress_) count += progress.match_lsn() >= lsn ? 1 : 0;
  return count;
}

// ---------------------------------------------------------------------------
// Reads.

Status ReplicaCore::ReadIndex(uint64_t request_id) {
  if (role_ != Role::kPrimary) {
    return absl::FailedPreconditionError(
        fmt::format("replica {} is not the primary; leader hint: {}", config_.id, leader_));
  }
  if (unconfirmed_reads_.size() + confirmed_reads_.size() >= config_.max_pending_reads) {
    return absl::UnavailableError("too many reads waiting; retry later");
  }
  // Until the primary commits an entry of its term, its commit LSN may lag
  // the group's: the read LSN is fixed once that happens.
  Lsn read_lsn = CommittedInTerm() ? commit_lsn_ : 0;
  unconfirmed_reads_.push_back({request_id, read_lsn, ++next_context_});
  if (Quorum() == 1) {
    ConfirmReads();
  } else {
    BroadcastHeartbeat();
  }
  return absl::OkStatus();
}

// A read is confirmed once a majority (this primary included) answered a
// heartbeat sent after the read arrived: no other primary can have committed
// anything newer than its read LSN by then.
void ReplicaCore::ConfirmReads() {
  if (!CommittedInTerm()) return;
  auto confirmed = [&](const PendingRead& read) {
    uint32_t acks = 1;
    for (const auto& [peer, progress] : progress_) {
      if (progress.acked_context() >= read.context) ++acks;
    }
    return acks >= Quorum();
  };
  auto it = std::stable_partition(unconfirmed_reads_.begin(), unconfirmed_reads_.end(),
                                  [&](const PendingRead& read) { return !confirmed(read); });
  for (auto moved = it; moved != unconfirmed_reads_.end(); ++moved) {
    PendingRead read = *moved;
    if (read.read_lsn == 0) read.read_lsn = commit_lsn_;
    confirmed_reads_.push_back(read);
  }
  unconfirmed_reads_.erase(it, unconfirmed_reads_.end());
}

void ReplicaCore::FailPendingReads(const Status& status) {
  for (const PendingRead& read : unconfirmed_reads_) {
    read_results_.push_back({read.request_id, 0, status});
  }
  unconfirmed_reads_.clear();
}

// Confirmed reads are served once the host has applied up to their LSN.
void ReplicaCore::ReleaseReads() {
  auto it =
      std::stable_partition(confirmed_reads_.begin(), confirmed_reads_.end(),
                            [&](const PendingRead& read) { return read.read_lsn > applied_lsn_; });
  for (auto moved = it; moved != confirmed_reads_.end(); ++moved) {
    read_results_.push_back({moved->request_id, moved->read_lsn, absl::OkStatus()});
  }
  confirmed_reads_.erase(it, confirmed_reads_.end());
}

// ---------------------------------------------------------------------------
// Log, durability and outputs.

void ReplicaCore::AppendAfter(Lsn after, std::vector<Entry> entries) {
  TOYDB_CHECK(after >= commit_lsn_, "truncating a committed entry");
  log_->AppendAfter(after, std::move(entries));
  // What is cut off is no longer durable, and a write in flight that held it
  // will not make it durable either.
  durable_lsn_ = std::min(durable_lsn_, after);
  for (IssuedWrite& write : issued_writes_) write.durable_cap = std::min(write.durable_cap, after);
}

Status ReplicaCore::OnLogDurable(uint64_t write_id) {
  if (write_id >= next_write_id_) {
    return absl::InvalidArgumentError(fmt::format("write {} was never issued", write_id));
  }
  auto done = std::find_if(issued_writes_.begin(), issued_writes_.end(),
                           [&](const IssuedWrite& write) { return write.write_id > write_id; });
  if (done == issued_writes_.begin()) return absl::OkStatus();  // reported before
  // Writes are performed in order: the last one synced speaks for all.
  durable_lsn_ = std::max(durable_lsn_, std::prev(done)->durable_cap);
  issued_writes_.erase(issued_writes_.begin(), done);
  if (role_ == Role::kPrimary) {
    MaybeCommit();
    return absl::OkStatus();
  }
  AdvanceFollowerCommit();
  if (leader_ != kNoNode && std::min(durable_lsn_, leader_match_lsn_) > acked_match_lsn_) {
    AnswerAppend(leader_);
  }
  return absl::OkStatus();
}

void ReplicaCore::SetCommit(Lsn commit) {
  TOYDB_CHECK(commit > commit_lsn_, "the commit LSN only grows");
  TOYDB_CHECK(commit <= durable_lsn_, "committing an entry this replica does not hold durably");
  commit_lsn_ = commit;
  if (role_ == Role::kPrimary) ConfirmReads();
}

void ReplicaCore::Send(Message m) {
  m.from = config_.id;
  outbox_.push_back(std::move(m));
}

HardState ReplicaCore::CurrentHardState() const { return {term_, vote_, commit_lsn_}; }

bool ReplicaCore::HasReady() const {
  if (CurrentHardState() != persisted_hard_state_ || log_->HasPendingWrite()) return true;
  if (!outbox_.empty() || applied_lsn_ < commit_lsn_ || !read_results_.empty()) return true;
  if (!snapshot_requests_.empty()) return true;
  return std::any_of(confirmed_reads_.begin(), confirmed_reads_.end(),
                     [&](const PendingRead& read) { return read.read_lsn <= applied_lsn_; });
}

void ReplicaCore::TakeCommitted(Ready* ready) {
  if (applied_lsn_ >= commit_lsn_) return;
  Status status =
      log_->Entries(applied_lsn_ + 1, commit_lsn_, config_.max_apply_bytes, &ready->committed);
  TOYDB_CHECK(status.ok(), fmt::format("committed entries unreadable: {}", status.ToString()));
  applied_lsn_ = ready->committed.back().lsn;
}

Ready ReplicaCore::TakeReady() {
  Ready ready;
  HardState hard_state = CurrentHardState();
  if (hard_state != persisted_hard_state_) {
    ready.hard_state = hard_state;
    persisted_hard_state_ = hard_state;
  }
  TakeCommitted(&ready);  // before the pending write: committed entries are already stored
  if (log_->HasPendingWrite()) {
    uint64_t write_id = next_write_id_++;
    issued_writes_.push_back({write_id, last_lsn()});  // the whole log, once this write is done
    ready.log_write = log_->TakePendingWrite(write_id);
  }
  ready.messages = std::move(outbox_);
  outbox_.clear();
  ready.snapshots = std::move(snapshot_requests_);
  snapshot_requests_.clear();
  ReleaseReads();
  ready.reads = std::move(read_results_);
  read_results_.clear();
  return ready;
}

StatusOr<Term> ReplicaCore::TermAt(Lsn lsn) const { return log_->TermAt(lsn); }

ReplicaStatus ReplicaCore::GetStatus() const {
  ReplicaStatus status{config_.id, role_,        term_,       leader_,
                       last_lsn(), durable_lsn_, commit_lsn_, applied_lsn_};
  status.first_lsn = log_->FirstLsn();
  for (const auto& [peer, progress] : progress_) {
    status.peer_match_lsn[peer] = progress.match_lsn();
    if (Lsn pending = PendingSnapshotLsn(peer); pending != 0)
      status.peer_snapshot_lsn[peer] = pending;
  }
  return status;
}

}  // namespace toydb::replication
