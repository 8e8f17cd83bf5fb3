// Tests of ReplicaCore: elections (votes, terms, pre-vote, check-quorum, the
// lower-id preference), log replication (conflicts, hints, stale answers,
// flow control), commit and durability, write concerns, leadership transfer,
// read-index, and catching up by snapshot (compacted logs, the primary's
// snapshot mode, the follower's chunk and installation calls). Each drives a
// small Cluster, or one core, step by step.
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

// ---------------------------------------------------------------------------
// Snapshots: compacted logs, the primary's snapshot mode, and the follower's
// chunk and installation calls.

namespace toydb::replication {
namespace {

using testing::Cluster;
using testing::SimReplica;

Entry At(Term term, Lsn lsn) { return Entry{term, lsn, EntryType::kNormal, "e"}; }

Message AppendFrom(NodeId from, NodeId to, Term term, Lsn prev_lsn, Term prev_term,
                   std::vector<Entry> entries, Lsn commit) {
  Message m;
  m.kind = MessageKind::kAppend;
  m.from = from;
  m.to = to;
  m.term = term;
  m.prev_lsn = prev_lsn;
  m.prev_term = prev_term;
  m.entries = std::move(entries);
  m.commit_lsn = commit;
  return m;
}

ReplicaConfig MemberConfig(NodeId id) {
  ReplicaConfig config = TestConfig();
  config.id = id;
  config.members = {1, 2, 3};
  return config;
}

// Elects a primary in a group whose logs keep `keep` applied entries, then
// commits `count` entries while one follower is down: the primary's log no
// longer holds what that follower needs. Returns {primary, follower}.
std::pair<NodeId, NodeId> LagBehindCompaction(Cluster& cluster, int count, uint64_t keep = 2) {
  cluster.set_compact_keep(keep);
  NodeId primary = ElectPrimary(cluster);
  NodeId follower = primary == 1 ? 2 : 1;
  cluster.Crash(follower);
  for (int i = 0; i < count; ++i) REQUIRE(cluster.Propose("v" + std::to_string(i)).ok());
  cluster.Stabilize();
  REQUIRE(cluster.replica(primary).log.FirstLsn() > cluster.replica(follower).log.LastLsn() + 1);
  cluster.Restart(follower);
  return {primary, follower};
}

TEST_CASE("MemReplicaLog compacts and installs snapshots durably, keeping the base's term",
          "[replication][snapshot]") {
  MemReplicaLog log;
  REQUIRE(log.Write({1, false, 0, {At(1, 1), At(1, 2), At(2, 3), At(2, 4)}}).ok());
  // Only what was synced can be compacted.
  REQUIRE(log.Compact(2).code() == absl::StatusCode::kInvalidArgument);
  log.Sync();
  REQUIRE(log.Compact(2).ok());
  REQUIRE(log.FirstLsn() == 3);
  REQUIRE(log.LastLsn() == 4);
  REQUIRE(*log.TermAt(2) == 1);  // the base keeps its term for log matching
  REQUIRE(log.TermAt(1).status().code() == absl::StatusCode::kOutOfRange);
  std::vector<Entry> out;
  REQUIRE(log.Entries(2, 4, 1 << 20, &out).code() == absl::StatusCode::kOutOfRange);
  REQUIRE(log.Entries(3, 4, 1 << 20, &out).ok());
  REQUIRE(out.size() == 2);
  REQUIRE(log.Compact(1).ok());  // at or below the base: nothing to do
  REQUIRE(log.FirstLsn() == 3);
  // No truncation below the base.
  REQUIRE(log.Write({2, true, 1, {}}).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(log.Write({2, true, 2, {At(3, 3)}}).ok());
  log.Crash();  // the compaction survives; the unsynced truncation does not
  REQUIRE(log.FirstLsn() == 3);
  REQUIRE(*log.TermAt(3) == 2);
  REQUIRE(log.LastLsn() == 4);
  // A snapshot replaces the log, durably, unsynced writes included.
  REQUIRE(log.Write({1, false, 0, {At(2, 5)}}).ok());
  log.InstallSnapshot(9, 3);
  log.Crash();
  REQUIRE(log.FirstLsn() == 10);
  REQUIRE(log.LastLsn() == 9);
  REQUIRE(*log.TermAt(9) == 3);
  REQUIRE(log.TermAt(8).status().code() == absl::StatusCode::kOutOfRange);
  REQUIRE(log.Write({1, false, 0, {At(3, 10)}}).ok());
  REQUIRE(log.LastLsn() == 10);
}

TEST_CASE("PeerProgress in snapshot mode sends nothing until the snapshot is reported or matched",
          "[replication][snapshot]") {
  PeerProgress progress(3, 4, 1 << 20);
  progress.BecomeSnapshot(20);
  REQUIRE(progress.mode() == PeerProgress::Mode::kSnapshot);
  REQUIRE(progress.pending_snapshot_lsn() == 20);
  REQUIRE(progress.Paused());
  progress.OnHeartbeatAnswered();
  REQUIRE(progress.Paused());  // heartbeats do not end the wait
  REQUIRE_FALSE(progress.OnAppendRejected(2, 1));
  // An older answer raises the match but does not end the wait.
  REQUIRE(progress.OnAppendAccepted(5, 5));
  REQUIRE(progress.mode() == PeerProgress::Mode::kSnapshot);
  // The snapshot's arrival (or anything newer) does: replicate right after.
  REQUIRE(progress.OnAppendAccepted(24, 24));
  REQUIRE(progress.mode() == PeerProgress::Mode::kReplicate);
  REQUIRE(progress.next_lsn() == 25);
  REQUIRE_FALSE(progress.OnSnapshotReported(true));  // late
  // A delivered report probes right after the snapshot.
  progress.BecomeSnapshot(30);
  REQUIRE(progress.OnSnapshotReported(true));
  REQUIRE(progress.mode() == PeerProgress::Mode::kProbe);
  REQUIRE(progress.next_lsn() == 31);
  REQUIRE_FALSE(progress.Paused());
  // A failed one probes from the match, once a heartbeat is answered.
  progress.BecomeSnapshot(40);
  REQUIRE(progress.OnSnapshotReported(false));
  REQUIRE(progress.mode() == PeerProgress::Mode::kProbe);
  REQUIRE(progress.next_lsn() == 25);
  REQUIRE(progress.Paused());
  progress.OnHeartbeatAnswered();
  REQUIRE_FALSE(progress.Paused());
}

TEST_CASE("A follower behind the primary's compacted log is caught up by a snapshot",
          "[replication][snapshot]") {
  Cluster cluster(3, 21, TestConfig());
  cluster.set_hold_snapshots(true);
  auto [primary, follower] = LagBehindCompaction(cluster, 20);
  Term term = cluster.core(primary).term();
  for (int i = 0; i < 3; ++i) {
    cluster.RunTick();
    cluster.Stabilize();
  }
  // The primary asks its host once, for a snapshot at its log's base.
  REQUIRE(cluster.snapshot_requests().size() == 1);
  auto [sender, request] = cluster.snapshot_requests()[0];
  REQUIRE(sender == primary);
  REQUIRE(request.peer == follower);
  Lsn base = cluster.replica(primary).log.FirstLsn() - 1;
  REQUIRE(request.lsn == base);
  REQUIRE(request.term == *cluster.core(primary).TermAt(base));
  REQUIRE(cluster.core(primary).PendingSnapshotLsn(follower) == base);
  REQUIRE(cluster.core(primary).GetStatus().peer_snapshot_lsn.at(follower) == base);
  // While it waits: no appends to that follower, but heartbeats, which keep
  // it from campaigning; and no second request.
  for (int i = 0; i < 30; ++i) {
    REQUIRE(cluster.Propose("more").ok());
    for (const Message& m : cluster.InFlight()) {
      if (m.to == follower) REQUIRE(m.kind != MessageKind::kAppend);
    }
    cluster.RunTick();
    cluster.Stabilize();
  }
  REQUIRE(cluster.core(follower).term() == term);
  REQUIRE(cluster.core(follower).leader() == primary);
  REQUIRE(cluster.snapshot_requests().size() == 1);
  cluster.set_hold_snapshots(false);
  for (int i = 0; i < 3; ++i) {
    cluster.RunTick();
    cluster.Stabilize();
  }
  // The snapshot taken at the old base may be behind the primary's base by
  // the time it lands (30 more entries were compacted): then a second one.
  REQUIRE(cluster.snapshots_installed() >= 1);
  REQUIRE(cluster.snapshots_installed() == cluster.snapshot_requests().size());
  REQUIRE(cluster.core(primary).PendingSnapshotLsn(follower) == 0);
  REQUIRE(cluster.replica(follower).log.FirstLsn() > base);
  REQUIRE(cluster.core(follower).commit_lsn() == cluster.core(primary).commit_lsn());
  REQUIRE(cluster.CheckConverged() == "");
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("A failed snapshot transfer is asked for again after a heartbeat round",
          "[replication][snapshot]") {
  Cluster cluster(3, 22, TestConfig());
  cluster.set_hold_snapshots(true);
  auto [primary, follower] = LagBehindCompaction(cluster, 20);
  cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.snapshot_requests().size() == 1);
  cluster.set_snapshot_faults({.fail = 1.0});
  cluster.set_hold_snapshots(false);
  cluster.StepTransfers();
  REQUIRE(cluster.snapshots_failed() == 1);
  // Not at once: the peer is probed again after the next heartbeat answer.
  REQUIRE(cluster.snapshot_requests().size() == 1);
  REQUIRE(cluster.core(primary).PendingSnapshotLsn(follower) == 0);
  cluster.set_hold_snapshots(true);
  cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.snapshot_requests().size() == 2);
  REQUIRE(cluster.snapshot_requests()[1].second.peer == follower);
  cluster.set_snapshot_faults({});
  cluster.set_hold_snapshots(false);
  cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.snapshots_installed() == 1);
  REQUIRE(cluster.CheckConverged() == "");
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("ReportSnapshot is refused off the primary and for a non-peer; a late one is ignored",
          "[replication][snapshot]") {
  Cluster cluster(3, 23, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  NodeId follower = primary == 1 ? 2 : 1;
  REQUIRE(cluster.core(follower).ReportSnapshot(primary, true).code() ==
          absl::StatusCode::kFailedPrecondition);
  REQUIRE(cluster.core(primary).ReportSnapshot(9, true).code() ==
          absl::StatusCode::kInvalidArgument);
  REQUIRE(cluster.core(primary).ReportSnapshot(follower, false).ok());
  REQUIRE_FALSE(cluster.core(primary).HasReady());  // nothing was waiting
  REQUIRE(cluster.core(primary).PendingSnapshotLsn(follower) == 0);
}

TEST_CASE("OnSnapshotChunk fences stale terms, adopts newer ones and resets the election timer",
          "[replication][snapshot]") {
  Cluster cluster(3, 24, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  NodeId follower = primary == 1 ? 2 : 1;
  NodeId third = 6 - primary - follower;
  ReplicaCore& core = cluster.core(follower);
  Term term = core.term();
  Lsn far = core.last_lsn() + 50;
  // A deposed primary's chunk: refused, and the sender learns the newer term.
  REQUIRE(term >= 1);
  REQUIRE(core.OnSnapshotChunk(primary, term - 1, far, term - 1).code() ==
          absl::StatusCode::kAborted);
  Ready ready = core.TakeReady();
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].kind == MessageKind::kAppendResponse);
  REQUIRE(ready.messages[0].to == primary);
  REQUIRE(ready.messages[0].term == term);
  // Bad input.
  REQUIRE(core.OnSnapshotChunk(9, term, far, term).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(core.OnSnapshotChunk(primary, term, 0, term).code() ==
          absl::StatusCode::kInvalidArgument);
  REQUIRE(core.OnSnapshotChunk(primary, term, far, term + 1).code() ==
          absl::StatusCode::kInvalidArgument);
  // Chunks from the current primary count as its contact: with no heartbeat
  // arriving, the follower still does not campaign while chunks come.
  for (int round = 0; round < 4; ++round) {
    for (int i = 0; i < 9; ++i) core.Tick();
    REQUIRE(core.OnSnapshotChunk(primary, term, far, term).ok());
  }
  REQUIRE(core.role() == Role::kFollower);
  REQUIRE(core.term() == term);
  // A chunk of a newer term makes its sender the leader of that term.
  REQUIRE(core.OnSnapshotChunk(third, term + 1, far, term).ok());
  REQUIRE(core.term() == term + 1);
  REQUIRE(core.leader() == third);
  REQUIRE(core.TakeReady().hard_state->term == term + 1);
}

TEST_CASE("A snapshot the follower does not need is refused and answered with its match",
          "[replication][snapshot]") {
  Cluster cluster(3, 25, TestConfig());
  NodeId primary = ElectPrimary(cluster);
  REQUIRE(cluster.Propose("a").ok());
  cluster.Stabilize();
  NodeId follower = primary == 1 ? 2 : 1;
  ReplicaCore& core = cluster.core(follower);
  Term term = core.term();
  Lsn commit = core.commit_lsn();
  // At or below the commit LSN: installing it would rewind applied state.
  REQUIRE(core.OnSnapshotChunk(primary, term, commit, *core.TermAt(commit)).code() ==
          absl::StatusCode::kAborted);
  Ready ready = core.TakeReady();
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].kind == MessageKind::kAppendResponse);
  REQUIRE_FALSE(ready.messages[0].reject);
  REQUIRE(ready.messages[0].match_lsn >= commit);
  // Above the commit LSN but held with the snapshot's term: installing it
  // would drop the entries after it for nothing. The answer says the log
  // matches up to there.
  cluster.CutOneWay(primary, follower);
  Lsn lsn = *cluster.Propose("b");
  cluster.Stabilize();  // committed by the others; the follower never heard
  cluster.Heal();
  REQUIRE(core.OnSnapshotChunk(primary, term, lsn - 1, *core.TermAt(lsn - 1)).code() ==
          absl::StatusCode::kAborted);
  REQUIRE(core.commit_lsn() == lsn - 1);
  Lsn last = core.last_lsn();
  // Give it the entry, unsynced, then a snapshot at it: refused, log kept.
  cluster.set_auto_sync(false);
  Message append = AppendFrom(primary, follower, term, lsn - 1, *core.TermAt(lsn - 1),
                              {Entry{term, lsn, EntryType::kNormal, "b"}}, lsn - 1);
  REQUIRE(core.Step(append).ok());
  cluster.Process(follower);
  REQUIRE(core.last_lsn() == lsn);
  REQUIRE(core.OnSnapshotChunk(primary, term, lsn, term).code() == absl::StatusCode::kAborted);
  ready = core.TakeReady();
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].accepted_lsn == lsn);
  REQUIRE(ready.messages[0].match_lsn == lsn - 1);  // lsn is not durable yet
  REQUIRE(core.last_lsn() >= last);
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("Installing a snapshot restarts the follower after it and resumes replication",
          "[replication][snapshot]") {
  Cluster cluster(3, 26, TestConfig());
  cluster.set_hold_snapshots(true);
  auto [primary, follower] = LagBehindCompaction(cluster, 20);
  cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.snapshot_requests().size() == 1);
  SnapshotRequest request = cluster.snapshot_requests()[0].second;
  // The follower's host, by hand: check the chunk, install, report.
  ReplicaCore& core = cluster.core(follower);
  Term term = core.term();
  REQUIRE(core.OnSnapshotChunk(primary, term, request.lsn, request.term).ok());
  cluster.Process(follower);
  SimReplica& replica = cluster.replica(follower);
  const std::vector<Entry>& state = cluster.replica(primary).applied;
  replica.applied.assign(state.begin(), state.begin() + static_cast<ptrdiff_t>(request.lsn));
  replica.log.InstallSnapshot(request.lsn, request.term);
  REQUIRE(core.OnSnapshotInstalled(request.lsn, request.term).ok());
  REQUIRE(core.durable_lsn() == request.lsn);
  REQUIRE(core.commit_lsn() == request.lsn);
  REQUIRE(core.applied_lsn() == request.lsn);
  REQUIRE(core.last_lsn() == request.lsn);
  Ready ready = core.TakeReady();
  REQUIRE(ready.hard_state->commit_lsn == request.lsn);
  REQUIRE(ready.committed.empty());  // the snapshot is the applied state
  REQUIRE(ready.messages.size() == 1);
  const Message& answer = ready.messages[0];
  REQUIRE(answer.kind == MessageKind::kAppendResponse);
  REQUIRE(answer.to == primary);
  REQUIRE_FALSE(answer.reject);
  REQUIRE(answer.match_lsn == request.lsn);
  replica.hard_state = *ready.hard_state;
  // The primary resumes on the answer alone, before any report.
  REQUIRE(cluster.core(primary).Step(answer).ok());
  REQUIRE(cluster.core(primary).PendingSnapshotLsn(follower) == 0);
  REQUIRE(cluster.core(primary).GetStatus().peer_match_lsn.at(follower) >= request.lsn);
  cluster.Process(primary);
  // Installing again, or below the commit LSN, is refused.
  REQUIRE(core.OnSnapshotInstalled(request.lsn, request.term).code() ==
          absl::StatusCode::kFailedPrecondition);
  cluster.Stabilize();
  cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.CheckConverged() == "");
  // A restart finds the snapshot's base and the entries after it.
  cluster.Crash(follower);
  cluster.Restart(follower);
  REQUIRE(cluster.core(follower).commit_lsn() >= request.lsn);
  REQUIRE(cluster.core(follower).GetStatus().first_lsn == request.lsn + 1);
  cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.CheckConverged() == "");
  REQUIRE(cluster.violation() == "");
}

TEST_CASE("OnSnapshotInstalled refuses a log that does not end at the snapshot",
          "[replication][snapshot]") {
  MemReplicaLog log;
  auto core = *ReplicaCore::Open(MemberConfig(2), &log, {}, 0);
  REQUIRE(core->OnSnapshotChunk(1, 2, 8, 2).ok());
  REQUIRE(core->OnSnapshotInstalled(8, 2).code() == absl::StatusCode::kInvalidArgument);
  log.InstallSnapshot(8, 1);
  REQUIRE(core->OnSnapshotInstalled(8, 2).code() == absl::StatusCode::kInvalidArgument);
  log.InstallSnapshot(8, 2);
  REQUIRE(core->OnSnapshotInstalled(8, 3).code() == absl::StatusCode::kInvalidArgument);
  REQUIRE(core->OnSnapshotInstalled(8, 2).ok());
  REQUIRE(core->commit_lsn() == 8);
}

// The follower's host had handed a write of entries 1..10 (term 1) to its log
// and not synced it when it installed a snapshot at (8, term 2) from a newer
// primary. Syncing afterwards reports that old write durable: it must not
// make LSNs 9 and 10 count as durable, for the log holds nothing past 8.
TEST_CASE("A log write in flight at a snapshot's installation makes nothing past it durable",
          "[replication][snapshot]") {
  MemReplicaLog log;
  auto core = *ReplicaCore::Open(MemberConfig(2), &log, {}, 0);
  std::vector<Entry> entries;
  for (Lsn lsn = 1; lsn <= 10; ++lsn) entries.push_back(At(1, lsn));
  REQUIRE(core->Step(AppendFrom(1, 2, 1, 0, 0, entries, 0)).ok());
  Ready ready = core->TakeReady();
  REQUIRE(log.Write(*ready.log_write).ok());  // written, not synced
  REQUIRE(core->OnSnapshotChunk(3, 2, 8, 2).ok());
  (void)core->TakeReady();
  log.InstallSnapshot(8, 2);
  REQUIRE(core->OnSnapshotInstalled(8, 2).ok());
  REQUIRE(core->durable_lsn() == 8);
  REQUIRE(core->OnLogDurable(log.Sync()).ok());
  REQUIRE(core->durable_lsn() == 8);
  (void)core->TakeReady();
  // The next append is accepted but acknowledged only once durable.
  REQUIRE(core->Step(AppendFrom(3, 2, 2, 8, 2, {At(2, 9)}, 8)).ok());
  ready = core->TakeReady();
  REQUIRE(ready.messages.size() == 1);
  REQUIRE(ready.messages[0].accepted_lsn == 9);
  REQUIRE(ready.messages[0].match_lsn == 8);
}

TEST_CASE("Open refuses a log compacted past the applied LSN", "[replication][snapshot]") {
  MemReplicaLog log;
  REQUIRE(log.Write({1, false, 0, {At(1, 1), At(1, 2), At(1, 3)}}).ok());
  log.Sync();
  REQUIRE(log.Compact(2).ok());
  HardState hard_state{1, kNoNode, 3};
  REQUIRE(ReplicaCore::Open(MemberConfig(2), &log, hard_state, 1).status().code() ==
          absl::StatusCode::kDataLoss);
  auto core = ReplicaCore::Open(MemberConfig(2), &log, hard_state, 2);
  REQUIRE(core.ok());
  REQUIRE((*core)->GetStatus().first_lsn == 3);
  REQUIRE((*core)->commit_lsn() == 3);
}

}  // namespace
}  // namespace toydb::replication
