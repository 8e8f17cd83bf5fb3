// Tests of ReplicaCore: elections (votes, terms, pre-vote, check-quorum, the
// lower-id preference), log replication (conflicts, hints, stale answers,
// flow control), commit and durability, write concerns, leadership transfer
// and read-index. Each drives a small Cluster step by step.
#include "src/replication/replica_core.h"

#include <catch2/catch.hpp>

#include "tests/replication/cluster.h"

namespace toydb::replication {
namespace {

using testing::Cluster;

ReplicaConfig TestConfig() {
  ReplicaConfig config;
  config.election_ticks = 10;
  config.heartbeat_ticks = 1;
  return config;
}

NodeId ElectPrimary(Cluster& cluster) {
  std::optional<NodeId> primary = cluster.ElectWithin(500);
  REQUIRE(primary.has_value());
  cluster.Stabilize();
  REQUIRE(cluster.violation() == "");
  return *primary;
}

Message VoteRequest(NodeId from, NodeId to, Term term, Lsn last_lsn, Term last_term) {
  Message m;
  m.kind = MessageKind::kVote;
  m.from = from;
  m.to = to;
  m.term = term;
  m.last_lsn = last_lsn;
  m.last_term = last_term;
  return m;
}

TEST_CASE("MemReplicaLog keeps only synced writes across a crash", "[replication]") {
  MemReplicaLog log;
  LogWrite first{1, false, 0, {Entry{1, 1}, Entry{1, 2}}};
  REQUIRE(log.Write(first).ok());
  REQUIRE(log.Sync() == 1);
  LogWrite second{2, true, 1, {Entry{2, 2}, Entry{2, 3}}};
  REQUIRE(log.Write(second).ok());
  REQUIRE(log.LastLsn() == 3);
  REQUIRE(*log.TermAt(2) == 2);
  log.Crash();
  REQUIRE(log.LastLsn() == 2);
  REQUIRE(*log.TermAt(2) == 1);
  // A write that does not follow on is refused and changes nothing.
  LogWrite gap{3, false, 0, {Entry{2, 5}}};
  REQUIRE(log.Write(gap).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(log.LastLsn() == 2);
  REQUIRE(log.TermAt(3).status().code() == absl::StatusCode::kOutOfRange);
}

TEST_CASE("ReplicaConfig::Validate refuses bad configurations", "[replication]") {
  MemReplicaLog log;
  ReplicaConfig config = TestConfig();
  config.id = 4;
  config.members = {1, 2, 3};
  REQUIRE(ReplicaCore::Open(config, &log, {}, 0).status().code() ==
          absl::StatusCode::kInvalidArgument);
  config.members = {1, 2, 4, 4};
  REQUIRE(!config.Validate().ok());
  config.members = {1, 2, 4};
  config.heartbeat_ticks = 10;
  REQUIRE(!config.Validate().ok());
  config.heartbeat_ticks = 1;
  REQUIRE(config.Validate().ok());
  HardState ahead{1, kNoNode, 5};
  REQUIRE(ReplicaCore::Open(config, &log, ahead, 0).status().code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("A group elects one primary, which commits a no-op of its term", "[replication]") {
  Cluster cluster(3, 7, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  ReplicaCore& core = cluster.core(primary);
  REQUIRE(core.role() == Role::kPrimary);
  REQUIRE(core.commit_lsn() == 1);
  REQUIRE(cluster.committed().at(1).type == EntryType::kNoop);
  REQUIRE(cluster.committed().at(1).term == core.term());
  for (NodeId id : cluster.ids()) {
    REQUIRE(cluster.core(id).term() == core.term());
    REQUIRE(cluster.core(id).leader() == primary);
  }
}

TEST_CASE("A vote is persisted in the same Ready as the answer that grants it", "[replication]") {
  Cluster cluster(3, 1, TestConfig());
  ReplicaCore& voter = cluster.core(2);
  REQUIRE(voter.Step(VoteRequest(1, 2, 1, 0, 0)).ok());
  Ready ready = voter.TakeReady();
  REQUIRE(ready.hard_state.has_value());
  REQUIRE(ready.hard_state->term == 1);
  REQUIRE(ready.hard_state->vote == 1);
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].kind == MessageKind::kVoteResponse);
  REQUIRE(ready.messages[0].granted);
}

TEST_CASE("One vote per term; a repeated request from the same candidate is granted again",
          "[replication]") {
  Cluster cluster(3, 1, TestConfig());
  ReplicaCore& voter = cluster.core(2);
  REQUIRE(voter.Step(VoteRequest(1, 2, 1, 0, 0)).ok());
  REQUIRE(voter.TakeReady().messages.at(0).granted);
  REQUIRE(voter.Step(VoteRequest(3, 2, 1, 0, 0)).ok());
  REQUIRE_FALSE(voter.TakeReady().messages.at(0).granted);
  REQUIRE(voter.Step(VoteRequest(1, 2, 1, 0, 0)).ok());
  REQUIRE(voter.TakeReady().messages.at(0).granted);
}

TEST_CASE("A vote goes only to a candidate at least as up to date", "[replication]") {
  Cluster cluster(3, 1, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  REQUIRE(cluster.Propose("a").ok());
  cluster.Stabilize();
  NodeId voter = primary == 1 ? 2 : 1;
  ReplicaCore& core = cluster.core(voter);
  Term term = core.term();
  Lsn last = core.last_lsn();
  cluster.Crash(primary);  // ends the voter's leader lease only after ticks
  for (int i = 0; i < 10; ++i) cluster.Tick(voter);
  cluster.DropInFlight();
  // Shorter log, same last term: refused. Older last term, longer log: refused.
  REQUIRE(core.Step(VoteRequest(3 == voter ? 2 : 3, voter, term + 5, last - 1, term)).ok());
  Ready ready = core.TakeReady();
  REQUIRE_FALSE(ready.messages.back().granted);
  REQUIRE(core.term() == term + 5);  // but the higher term was taken
  REQUIRE(core.Step(VoteRequest(3 == voter ? 2 : 3, voter, term + 6, last + 9, term - 1)).ok());
  REQUIRE_FALSE(core.TakeReady().messages.back().granted);
  REQUIRE(core.Step(VoteRequest(3 == voter ? 2 : 3, voter, term + 7, last, term)).ok());
  REQUIRE(core.TakeReady().messages.back().granted);
}

TEST_CASE("Messages from non-members or for another replica are refused", "[replication]") {
  Cluster cluster(3, 1, TestConfig());
  REQUIRE(cluster.core(2).Step(VoteRequest(9, 2, 1, 0, 0)).code() ==
          absl::StatusCode::kInvalidArgument);
  REQUIRE(cluster.core(2).Step(VoteRequest(1, 3, 1, 0, 0)).code() ==
          absl::StatusCode::kInvalidArgument);
  REQUIRE(cluster.core(2).term() == 0);
}

TEST_CASE("A stale term is refused and a higher term deposes the primary", "[replication]") {
  Cluster cluster(3, 3, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  ReplicaCore& core = cluster.core(primary);
  Term term = core.term();
  NodeId other = primary == 1 ? 2 : 1;
  Message stale;
  stale.kind = MessageKind::kAppend;
  stale.from = other;
  stale.to = primary;
  stale.term = term - 1;
  REQUIRE(core.Step(stale).ok());
  REQUIRE(core.role() == Role::kPrimary);
  Ready ready = core.TakeReady();
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].kind == MessageKind::kAppendResponse);
  REQUIRE(ready.messages[0].term == term);  // tells the sender the newer term
  Message newer;
  newer.kind = MessageKind::kAppendResponse;
  newer.from = other;
  newer.to = primary;
  newer.term = term + 1;
  newer.reject = true;
  REQUIRE(core.Step(newer).ok());
  REQUIRE(core.role() == Role::kFollower);
  REQUIRE(core.term() == term + 1);
  REQUIRE(core.TakeReady().hard_state->term == term + 1);
}

TEST_CASE("Pre-vote: a partitioned replica does not raise its term or disrupt the primary",
          "[replication]") {
  Cluster cluster(3, 11, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  Term term = cluster.core(primary).term();
  NodeId loner = primary == 3 ? 2 : 3;
  cluster.Isolate(loner);
  for (int i = 0; i < 100; ++i) cluster.RunTick();
  REQUIRE(cluster.core(loner).term() == term);
  REQUIRE(cluster.core(loner).role() == Role::kPreCandidate);
  cluster.Heal();
  for (int i = 0; i < 50; ++i) cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.core(primary).role() == Role::kPrimary);
  REQUIRE(cluster.core(primary).term() == term);
  REQUIRE(cluster.core(loner).leader() == primary);
}

TEST_CASE("Without pre-vote, a partitioned replica's higher term forces a new election",
          "[replication]") {
  ReplicaConfig config = TestConfig();
  config.pre_vote = false;
  Cluster cluster(3, 11, config);
  NodeId primary = ElectPrimary(cluster);
  Term term = cluster.core(primary).term();
  NodeId loner = primary == 3 ? 2 : 3;
  cluster.Isolate(loner);
  for (int i = 0; i < 100; ++i) cluster.RunTick();
  REQUIRE(cluster.core(loner).term() > term);
  cluster.Heal();
  for (int i = 0; i < 30; ++i) cluster.RunTick();
  REQUIRE(cluster.ElectWithin(500).has_value());
  REQUIRE(cluster.core(*cluster.Primary()).term() > term);
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("Check-quorum: a primary cut off from the majority steps down", "[replication]") {
  Cluster cluster(3, 5, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  cluster.Isolate(primary);
  for (int i = 0; i < 25; ++i) cluster.RunTick();
  REQUIRE(cluster.core(primary).role() != Role::kPrimary);
  // The others elect a new primary in a later term.
  std::optional<NodeId> next = cluster.ElectWithin(500);
  REQUIRE(next.has_value());
  REQUIRE(*next != primary);
  cluster.Heal();
  for (int i = 0; i < 30; ++i) cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.core(primary).leader() == *next);
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("Equally up-to-date replicas: the lower id wins more elections", "[replication]") {
  std::map<NodeId, int> wins;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    ReplicaConfig config = TestConfig();
    config.random_seed = seed;
    config.rank_skew_ticks = 2;
    Cluster cluster(3, seed, config);
    std::optional<NodeId> primary = cluster.ElectWithin(500);
    REQUIRE(primary.has_value());
    ++wins[*primary];
  }
  INFO("wins: 1=" << wins[1] << " 2=" << wins[2] << " 3=" << wins[3]);
  REQUIRE(wins[1] > wins[2]);
  REQUIRE(wins[2] > wins[3]);
  REQUIRE(wins[3] > 0);  // a preference, not an exclusion
}

TEST_CASE("After the primary dies, the most up-to-date replica wins over a lower id",
          "[replication]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    ReplicaConfig config = TestConfig();
    config.random_seed = seed;
    Cluster cluster(3, seed, config);
    NodeId primary = ElectPrimary(cluster);
    std::vector<NodeId> followers;
    for (NodeId id : cluster.ids()) {
      if (id != primary) followers.push_back(id);
    }
    NodeId lagging = followers[0];  // the lower id of the two
    NodeId ahead = followers[1];
    cluster.Cut(primary, lagging);
    for (int i = 0; i < 3; ++i) REQUIRE(cluster.Propose("w").ok());
    cluster.Stabilize();
    cluster.Crash(primary);
    cluster.Heal();
    std::optional<NodeId> winner = cluster.ElectWithin(500);
    REQUIRE(winner == ahead);
    REQUIRE(cluster.violation() == "");
  }
}

TEST_CASE("An entry commits only once a majority holds it durably", "[replication]") {
  Cluster cluster(3, 2, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  cluster.set_auto_sync(false);
  Lsn lsn = *cluster.Propose("x");
  cluster.DeliverDue();
  // Written everywhere, durable nowhere: not committed.
  REQUIRE(cluster.core(primary).commit_lsn() < lsn);
  for (NodeId id : cluster.ids()) REQUIRE(cluster.replica(id).log.LastLsn() == lsn);
  NodeId follower = primary == 1 ? 2 : 1;
  cluster.Sync(follower);
  cluster.DeliverDue();
  // A follower's durable copy is not enough while the primary's own is not.
  REQUIRE(cluster.core(primary).commit_lsn() < lsn);
  REQUIRE(cluster.core(primary).DurableSecondaryCount(lsn) == 1);
  cluster.Sync(primary);
  cluster.DeliverDue();
  REQUIRE(cluster.core(primary).commit_lsn() == lsn);
  // The follower that never synced applies nothing past what it holds durably.
  NodeId lagging = 6 - primary - follower;
  REQUIRE(cluster.core(lagging).commit_lsn() < lsn);
  cluster.Sync(lagging);
  cluster.DeliverDue();
  cluster.TickAll();
  cluster.DeliverDue();
  REQUIRE(cluster.core(lagging).commit_lsn() == lsn);
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("A follower acknowledges only what it holds durably", "[replication]") {
  Cluster cluster(3, 2, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  cluster.set_auto_sync(false);
  Lsn lsn = *cluster.Propose("x");
  NodeId follower = primary == 1 ? 2 : 1;
  std::vector<Message> appends = cluster.InFlight();
  cluster.DropInFlight();
  auto append = std::find_if(appends.begin(), appends.end(), [&](const Message& m) {
    return m.to == follower && m.kind == MessageKind::kAppend;
  });
  REQUIRE(append != appends.end());
  ReplicaCore& core = cluster.core(follower);
  REQUIRE(core.Step(*append).ok());
  Ready ready = core.TakeReady();
  REQUIRE(ready.log_write.has_value());
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].kind == MessageKind::kAppendResponse);
  REQUIRE(ready.messages[0].accepted_lsn == lsn);
  REQUIRE(ready.messages[0].match_lsn == lsn - 1);
  MemReplicaLog& log = cluster.replica(follower).log;
  REQUIRE(log.Write(*ready.log_write).ok());
  REQUIRE(core.OnLogDurable(log.Sync()).ok());
  ready = core.TakeReady();
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].match_lsn == lsn);
  REQUIRE(core.OnLogDurable(99).code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("A lost durable acknowledgement is repeated by the next heartbeat answer",
          "[replication]") {
  Cluster cluster(3, 2, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  Lsn lsn = *cluster.Propose("x");
  // Every answer to the append is lost; nothing new is proposed after it.
  for (NodeId id : cluster.ids()) {
    if (id != primary) cluster.CutOneWay(id, primary);
  }
  cluster.DeliverDue();
  cluster.Heal();
  REQUIRE(cluster.core(primary).commit_lsn() < lsn);
  cluster.RunTick();  // a heartbeat round
  REQUIRE(cluster.core(primary).commit_lsn() == lsn);
}

TEST_CASE("Write concerns count durable replicas", "[replication]") {
  Cluster cluster(3, 2, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  NodeId down = primary == 3 ? 2 : 3;
  cluster.Crash(down);
  Lsn lsn = *cluster.Propose("w");
  cluster.Stabilize();
  ReplicaCore& core = cluster.core(primary);
  bool committed = core.commit_lsn() >= lsn;
  REQUIRE(committed);
  bool durable = core.HoldsDurably(lsn);
  uint32_t secondaries = core.DurableSecondaryCount(lsn);
  REQUIRE(secondaries == 1);
  auto met = [&](WriteConcern concern) {
    return WriteConcernMet(concern, durable, secondaries, core.group_size(), committed);
  };
  REQUIRE(met({WriteConcernKind::kLeader, 0}));
  REQUIRE(met({WriteConcernKind::kCount, 1}));
  REQUIRE_FALSE(met({WriteConcernKind::kCount, 2}));
  REQUIRE(met({WriteConcernKind::kMajority, 0}));
  REQUIRE_FALSE(met({WriteConcernKind::kAll, 0}));
  cluster.Restart(down);
  for (int i = 0; i < 5; ++i) cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(core.DurableSecondaryCount(lsn) == 2);
}

TEST_CASE("Proposals are refused off the primary, oversized, or past the backlog limit",
          "[replication]") {
  ReplicaConfig config = TestConfig();
  config.max_entry_bytes = 100;
  config.max_uncommitted_entries = 3;
  Cluster cluster(3, 4, config);
  NodeId primary = ElectPrimary(cluster);
  NodeId follower = primary == 1 ? 2 : 1;
  StatusOr<Lsn> refused = cluster.core(follower).Propose("x");
  REQUIRE(refused.status().code() == absl::StatusCode::kFailedPrecondition);
  REQUIRE(std::string(refused.status().message()).find(std::to_string(primary)) !=
          std::string::npos);
  REQUIRE(cluster.core(primary).Propose(std::string(101, 'x')).status().code() ==
          absl::StatusCode::kInvalidArgument);
  cluster.Isolate(primary);
  REQUIRE(cluster.Propose("1").ok());
  REQUIRE(cluster.Propose("2").ok());
  REQUIRE(cluster.Propose("3").ok());
  REQUIRE(cluster.Propose("4").status().code() == absl::StatusCode::kUnavailable);
}

// Builds a follower log that diverges from the primary's over many entries:
// the old primary writes entries nobody else gets, then loses its role.
TEST_CASE("A conflicting uncommitted suffix is truncated, in few round trips", "[replication]") {
  Cluster cluster(3, 9, TestConfig());
  NodeId old_primary = ElectPrimary(cluster);
  REQUIRE(cluster.Propose("committed").ok());
  cluster.Stabilize();
  Lsn committed = cluster.core(old_primary).commit_lsn();
  cluster.Isolate(old_primary);
  for (int i = 0; i < 50; ++i) REQUIRE(cluster.Propose("lost-" + std::to_string(i)).ok());
  REQUIRE(cluster.core(old_primary).last_lsn() == committed + 50);
  for (int i = 0; i < 30; ++i) cluster.RunTick();
  std::optional<NodeId> primary = cluster.ElectWithin(500);
  REQUIRE(primary.has_value());
  REQUIRE(*primary != old_primary);
  for (int i = 0; i < 5; ++i) REQUIRE(cluster.Propose("kept-" + std::to_string(i)).ok());
  cluster.Stabilize();
  cluster.Heal();
  int rejections = 0;
  for (int round = 0; round < 50; ++round) {
    for (const Message& m : cluster.InFlight()) {
      if (m.kind == MessageKind::kAppendResponse && m.reject && m.from == old_primary) {
        ++rejections;
      }
    }
    cluster.RunTick();
  }
  cluster.Stabilize();
  REQUIRE(rejections <= 3);
  REQUIRE(cluster.CheckConverged() == "");
  REQUIRE(cluster.core(old_primary).last_lsn() == cluster.core(*primary).last_lsn());
  for (const Entry& entry : cluster.replica(old_primary).applied) {
    REQUIRE(entry.payload.rfind("lost-", 0) == std::string::npos);
  }
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("PeerProgress ignores late and duplicated rejections", "[replication]") {
  PeerProgress progress(11, 4, 1 << 20);
  REQUIRE(progress.mode() == PeerProgress::Mode::kProbe);
  progress.OnAppendSent(0, 0, 10);
  REQUIRE(progress.Paused());
  // A rejection of an append that is not the outstanding probe: stale.
  REQUIRE_FALSE(progress.OnAppendRejected(7, 5));
  REQUIRE(progress.OnAppendRejected(10, 6));
  REQUIRE(progress.next_lsn() == 6);
  REQUIRE_FALSE(progress.Paused());
  // The same rejection again is stale now.
  REQUIRE_FALSE(progress.OnAppendRejected(10, 6));
  progress.OnAppendSent(5, 500, 10);
  REQUIRE(progress.OnAppendAccepted(10, 10));
  REQUIRE(progress.mode() == PeerProgress::Mode::kReplicate);
  REQUIRE(progress.next_lsn() == 11);
  // In replicate mode, a rejection at or below the match point is late.
  REQUIRE_FALSE(progress.OnAppendRejected(8, 3));
  REQUIRE(progress.mode() == PeerProgress::Mode::kReplicate);
  // An older success changes nothing.
  REQUIRE_FALSE(progress.OnAppendAccepted(9, 9));
  REQUIRE(progress.match_lsn() == 10);
}

TEST_CASE("PeerProgress bounds appends in flight by count and bytes", "[replication]") {
  PeerProgress progress(1, 2, 1000);
  REQUIRE_FALSE(progress.OnAppendAccepted(0, 0));  // the match did not grow
  REQUIRE(progress.mode() == PeerProgress::Mode::kReplicate);
  progress.OnAppendSent(1, 10, 1);
  REQUIRE_FALSE(progress.Paused());
  progress.OnAppendSent(1, 10, 2);
  REQUIRE(progress.Paused());  // two appends out
  progress.OnAppendAccepted(1, 1);
  REQUIRE_FALSE(progress.Paused());
  progress.OnAppendSent(1, 2000, 3);
  REQUIRE(progress.Paused());  // bytes over the window
  progress.OnHeartbeatAnswered();
  REQUIRE_FALSE(progress.Paused());  // one more, to find lost appends
}

TEST_CASE("Flow control: a primary keeps at most the window in flight", "[replication]") {
  ReplicaConfig config = TestConfig();
  config.max_inflight_appends = 2;
  config.max_append_entries = 1;
  Cluster cluster(3, 6, config);
  NodeId primary = ElectPrimary(cluster);
  for (int i = 0; i < 10; ++i) REQUIRE(cluster.core(primary).Propose("p").ok());
  cluster.Process(primary);
  std::map<NodeId, int> appends;
  for (const Message& m : cluster.InFlight()) {
    if (m.kind == MessageKind::kAppend) ++appends[m.to];
  }
  for (const auto& [peer, count] : appends) REQUIRE(count == 2);
  cluster.Stabilize();
  for (int i = 0; i < 20; ++i) {
    cluster.RunTick();
    cluster.Stabilize();
  }
  REQUIRE(cluster.CheckConverged() == "");
  REQUIRE(cluster.core(primary).commit_lsn() == cluster.core(primary).last_lsn());
}

TEST_CASE("TransferLeadership hands over without losing committed entries", "[replication]") {
  Cluster cluster(3, 8, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  NodeId target = primary == 3 ? 1 : 3;
  cluster.Crash(target);
  for (int i = 0; i < 5; ++i) REQUIRE(cluster.Propose("before").ok());
  cluster.Stabilize();
  Lsn committed = cluster.core(primary).commit_lsn();
  cluster.Restart(target);  // behind: the primary must catch it up first
  REQUIRE(cluster.core(primary).TransferLeadership(target).ok());
  REQUIRE(cluster.core(primary).Propose("during").status().code() ==
          absl::StatusCode::kUnavailable);
  cluster.Process(primary);
  for (int i = 0; i < 5; ++i) {
    cluster.RunTick();
    cluster.Stabilize();
  }
  REQUIRE(cluster.Primary() == target);
  REQUIRE(cluster.core(target).commit_lsn() > committed);
  for (Lsn lsn = 1; lsn <= committed; ++lsn) {
    REQUIRE(*cluster.core(target).TermAt(lsn) == cluster.committed().at(lsn).term);
  }
  REQUIRE(cluster.core(primary).role() == Role::kFollower);
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("TransferLeadership is refused off the primary and to a non-member", "[replication]") {
  Cluster cluster(3, 8, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  NodeId follower = primary == 1 ? 2 : 1;
  REQUIRE(cluster.core(follower).TransferLeadership(primary).code() ==
          absl::StatusCode::kFailedPrecondition);
  REQUIRE(cluster.core(primary).TransferLeadership(9).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(cluster.core(primary).TransferLeadership(primary).code() ==
          absl::StatusCode::kInvalidArgument);
}

TEST_CASE("A transfer to an unreachable target is abandoned after an election timeout",
          "[replication]") {
  Cluster cluster(3, 8, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  NodeId target = primary == 3 ? 1 : 3;
  cluster.Crash(target);
  REQUIRE(cluster.core(primary).TransferLeadership(target).ok());
  REQUIRE(cluster.core(primary).Propose("x").status().code() == absl::StatusCode::kUnavailable);
  for (int i = 0; i < 11; ++i) cluster.RunTick();
  REQUIRE(cluster.core(primary).role() == Role::kPrimary);
  REQUIRE(cluster.Propose("y").ok());
}

TEST_CASE("ReadIndex confirms leadership with a heartbeat round before serving", "[replication]") {
  Cluster cluster(3, 10, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  REQUIRE(cluster.Propose("v").ok());
  cluster.Stabilize();
  Lsn commit = cluster.core(primary).commit_lsn();
  REQUIRE(cluster.core(primary).ReadIndex(42).ok());
  cluster.Process(primary);
  REQUIRE(cluster.replica(primary).reads.empty());  // not before the round
  cluster.DeliverDue();
  REQUIRE(cluster.replica(primary).reads.size() == 1);
  const ReadResult& read = cluster.replica(primary).reads[0];
  REQUIRE(read.request_id == 42);
  REQUIRE(read.status.ok());
  REQUIRE(read.read_lsn == commit);
  REQUIRE(cluster.core(primary).applied_lsn() >= read.read_lsn);
  NodeId follower = primary == 1 ? 2 : 1;
  REQUIRE(cluster.core(follower).ReadIndex(1).code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("ReadIndex on a primary cut off from the majority is never served", "[replication]") {
  Cluster cluster(3, 10, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  cluster.Isolate(primary);
  REQUIRE(cluster.core(primary).ReadIndex(7).ok());
  cluster.Process(primary);
  for (int i = 0; i < 30; ++i) cluster.RunTick();
  const std::vector<ReadResult>& reads = cluster.replica(primary).reads;
  REQUIRE(reads.size() == 1);
  REQUIRE(reads[0].status.code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("A restarted replica keeps its term, vote and durable log", "[replication]") {
  Cluster cluster(3, 12, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  REQUIRE(cluster.Propose("a").ok());
  cluster.Stabilize();
  NodeId follower = primary == 1 ? 2 : 1;
  HardState before = cluster.replica(follower).hard_state;
  Lsn last = cluster.core(follower).last_lsn();
  cluster.Crash(follower);
  cluster.Restart(follower);
  REQUIRE(cluster.core(follower).term() == before.term);
  REQUIRE(cluster.core(follower).last_lsn() == last);
  REQUIRE(cluster.core(follower).durable_lsn() == last);
  REQUIRE(cluster.core(follower).commit_lsn() == before.commit_lsn);
}

TEST_CASE("A single-replica group commits on its own durable append", "[replication]") {
  Cluster cluster(1, 1, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  REQUIRE(primary == 1);
  Lsn lsn = *cluster.Propose("solo");
  cluster.Stabilize();
  REQUIRE(cluster.core(1).commit_lsn() == lsn);
  REQUIRE(cluster.core(1).ReadIndex(5).ok());
  cluster.Process(1);
  REQUIRE(cluster.replica(1).reads.size() == 1);
  REQUIRE(cluster.replica(1).reads[0].read_lsn == lsn);
}

}  // namespace
}  // namespace toydb::replication
