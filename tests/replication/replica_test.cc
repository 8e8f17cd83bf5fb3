// Tests of the Replica runtime on real storage (ReplicaStore on MemEnv):
// write concerns, reads by consistency level, sessions, CAS, transfer,
// restarts and storage failures.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "tests/replication/replica_group.h"

namespace toydb::replication::testing {
namespace {

Status StatusOf(const ClientResponse& response) {
  return Status(static_cast<absl::StatusCode>(response.code), response.message);
}

NodeId Elect(ReplicaGroup& group) {
  std::optional<NodeId> primary = group.ElectWithin(500);
  REQUIRE(primary.has_value());
  return *primary;
}

NodeId OtherThan(NodeId a, NodeId b = 0) {
  for (NodeId id = 1; id <= 3; ++id) {
    if (id != a && id != b) return id;
  }
  return 0;
}

TEST_CASE("Replica: a kMajority write is applied on every replica with its LSN as version",
          "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  std::optional<ClientResponse> reply = group.Call(primary, ReplicaGroup::Put("k", "v1"));
  REQUIRE(reply.has_value());
  REQUIRE(StatusOf(*reply).ok());
  CHECK(reply->version == reply->lsn);
  CHECK(reply->acks >= 2);
  CHECK(reply->replicas == 3);
  for (int i = 0; i < 5; ++i) group.Tick();  // followers learn the commit
  for (NodeId id = 1; id <= 3; ++id) {
    auto contents = group.Contents(id);
    REQUIRE(contents.count("k") == 1);
    CHECK(contents["k"].first == "v1");
    CHECK(contents["k"].second == reply->version);
  }
}

TEST_CASE("Replica: a secondary refuses writes with a leader hint", "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  const NodeId secondary = OtherThan(primary);
  std::optional<ClientResponse> reply = group.Call(secondary, ReplicaGroup::Put("k", "v"));
  REQUIRE(reply.has_value());
  CHECK(static_cast<absl::StatusCode>(reply->code) == absl::StatusCode::kFailedPrecondition);
  CHECK(reply->leader_hint == primary);
}

TEST_CASE("Replica: reads by consistency level", "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  std::optional<ClientResponse> write = group.Call(primary, ReplicaGroup::Put("k", "v"));
  REQUIRE(write.has_value());
  REQUIRE(StatusOf(*write).ok());

  std::optional<ClientResponse> linearizable = group.Call(primary, ReplicaGroup::Read("k"));
  REQUIRE(linearizable.has_value());
  REQUIRE(StatusOf(*linearizable).ok());
  CHECK(linearizable->found);
  CHECK(linearizable->value == "v");
  CHECK(linearizable->version == write->version);

  const NodeId secondary = OtherThan(primary);
  std::optional<ClientResponse> refused = group.Call(secondary, ReplicaGroup::Read("k"));
  REQUIRE(refused.has_value());
  CHECK(refused->leader_hint == primary);

  // A session read on a secondary waits until it applied the client's LSN.
  ClientRequest session = ReplicaGroup::Read("k", ReadConsistency::kSession);
  session.min_lsn = write->lsn;
  std::optional<ClientResponse> read = group.Call(secondary, session);
  REQUIRE(read.has_value());
  REQUIRE(StatusOf(*read).ok());
  CHECK(read->found);
  CHECK(read->value == "v");
  CHECK(read->lsn >= write->lsn);

  // A session read that asks for an LSN the group never reaches times out.
  session.min_lsn = write->lsn + 1000;
  read = group.Call(secondary, session);
  REQUIRE(read.has_value());
  CHECK(static_cast<absl::StatusCode>(read->code) == absl::StatusCode::kDeadlineExceeded);

  std::optional<ClientResponse> missing =
      group.Call(primary, ReplicaGroup::Read("absent", ReadConsistency::kAny));
  REQUIRE(missing.has_value());
  CHECK(StatusOf(*missing).ok());
  CHECK_FALSE(missing->found);
}

TEST_CASE("Replica: kAll with a replica down answers 2 of 3; the third gets the write later",
          "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  const NodeId down = OtherThan(primary);
  group.Stop(down);
  WriteConcern all;
  all.kind = WriteConcernKind::kAll;
  std::optional<ClientResponse> reply = group.Call(primary, ReplicaGroup::Put("k", "v", all));
  REQUIRE(reply.has_value());
  CHECK(static_cast<absl::StatusCode>(reply->code) == absl::StatusCode::kDeadlineExceeded);
  CHECK(reply->acks == 2);
  CHECK(reply->replicas == 3);
  CHECK(reply->message.find("acknowledged by 2 of 3") != std::string::npos);
  CHECK(reply->version == reply->lsn);

  REQUIRE(group.Start(down).ok());
  for (int i = 0; i < 30; ++i) group.Tick();
  auto contents = group.Contents(down);
  REQUIRE(contents.count("k") == 1);
  CHECK(contents["k"].first == "v");
  CHECK(contents["k"].second == reply->version);
}

TEST_CASE("Replica: a duplicated request is applied once and answered with its first result",
          "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  ClientRequest put = ReplicaGroup::Put("k", "first");
  put.client_id = 42;
  put.sequence = 1;
  std::optional<ClientResponse> first = group.Call(primary, put);
  REQUIRE(first.has_value());
  REQUIRE(StatusOf(*first).ok());
  // The retry carries the same session, whatever its payload.
  put.value = "second";
  std::optional<ClientResponse> again = group.Call(primary, put);
  REQUIRE(again.has_value());
  REQUIRE(StatusOf(*again).ok());
  CHECK(again->version == first->version);
  for (int i = 0; i < 5; ++i) group.Tick();
  for (NodeId id = 1; id <= 3; ++id) {
    auto contents = group.Contents(id);
    CHECK(contents["k"].first == "first");
    CHECK(contents["k"].second == first->version);
  }
}

TEST_CASE("Replica: compare-and-set gives the same answer on every replica", "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  std::optional<ClientResponse> put = group.Call(primary, ReplicaGroup::Put("k", "v1"));
  REQUIRE(put.has_value());
  ClientRequest cas = ReplicaGroup::Put("k", "v2");
  cas.op = OpType::kCompareAndSet;
  cas.expected_version = put->version;
  // Two CAS on the same version, submitted together: exactly one wins.
  cas.sequence = 1;
  group.Submit(primary, cas);
  ClientRequest loser = cas;
  loser.value = "v3";
  loser.sequence = 2;
  group.Submit(primary, loser);
  for (int i = 0; i < 20 && group.replies().size() < 2; ++i) group.Tick();
  REQUIRE(group.replies().size() == 2);
  CHECK(StatusOf(group.replies()[1]).ok());
  CHECK(static_cast<absl::StatusCode>(group.replies()[2].code) == absl::StatusCode::kAborted);
  for (int i = 0; i < 5; ++i) group.Tick();
  for (NodeId id = 1; id <= 3; ++id) {
    auto contents = group.Contents(id);
    CHECK(contents["k"].first == "v2");
    CHECK(contents["k"].second == group.replies()[1].version);
  }
}

TEST_CASE("Replica: TransferLeadership moves the primary without losing a committed write",
          "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  std::vector<Lsn> versions;
  for (int i = 0; i < 20; ++i) {
    std::optional<ClientResponse> reply =
        group.Call(primary, ReplicaGroup::Put("k" + std::to_string(i), "v"));
    REQUIRE(reply.has_value());
    REQUIRE(StatusOf(*reply).ok());
  }
  const NodeId target = OtherThan(primary);
  REQUIRE(group.replica(primary).TransferLeadership(target).ok());
  for (int i = 0; i < 20 && group.Primary() != target; ++i) group.Tick();
  REQUIRE(group.Primary() == target);
  for (int i = 0; i < 20; ++i) {
    std::optional<ClientResponse> read =
        group.Call(target, ReplicaGroup::Read("k" + std::to_string(i)));
    REQUIRE(read.has_value());
    CHECK(read->found);
  }
}

TEST_CASE("Replica: a crashed primary is replaced, and catches up 10,000 writes from the log",
          "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(group.Call(primary, ReplicaGroup::Put("a" + std::to_string(i), "v")).has_value());
  }
  group.Crash(primary);
  std::optional<NodeId> next = group.ElectWithin(500);
  REQUIRE(next.has_value());
  CHECK(*next != primary);
  // 10,000 writes while it is down: about 1.4 MB of log, past the WAL's
  // 256 KiB retention window; the retention floor keeps them for it.
  for (int i = 0; i < 10000; ++i) {
    ClientRequest put = ReplicaGroup::Put("b" + std::to_string(i), std::string(100, 'x'));
    put.sequence = i + 1;
    group.Submit(*next, put);
    if (i % 100 == 99) group.Tick();
  }
  for (int i = 0; i < 20 && group.replies().size() < 10000; ++i) group.Tick();
  REQUIRE(group.replies().size() == 10000);
  for (const auto& [sequence, reply] : group.replies()) REQUIRE(reply.code == 0);
  REQUIRE(group.Start(primary).ok());
  for (int i = 0;
       i < 200 && group.replica(primary).applied_lsn() < group.replica(*next).applied_lsn(); ++i) {
    group.Tick();
  }
  CHECK(group.replica(primary).GetStats().snapshots_received == 0);
  CHECK(group.Contents(primary) == group.Contents(*next));
  CHECK(group.replica(primary).applied_lsn() == group.replica(*next).applied_lsn());
}

TEST_CASE("Replica: a primary whose disk fails stops, and the others elect a new one",
          "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  REQUIRE(group.Call(primary, ReplicaGroup::Put("k", "v")).has_value());
  group.disk(primary).SetSyncFailure(true);
  std::optional<ClientResponse> reply = group.Call(primary, ReplicaGroup::Put("k", "w"));
  REQUIRE(reply.has_value());
  CHECK(reply->code != 0);
  CHECK_FALSE(group.replica(primary).failure().ok());
  std::optional<NodeId> next;
  for (int i = 0; i < 500 && (!next || *next == primary); ++i) {
    group.Tick();
    next = group.Primary();
  }
  REQUIRE(next.has_value());
  CHECK(*next != primary);
  std::optional<ClientResponse> refused = group.Call(primary, ReplicaGroup::Put("k", "x"));
  REQUIRE(refused.has_value());
  CHECK(static_cast<absl::StatusCode>(refused->code) == absl::StatusCode::kUnavailable);
}

TEST_CASE("Replica: writes over a limit are refused and change nothing", "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  std::optional<ClientResponse> reply = group.Call(primary, ReplicaGroup::Put("", "v"));
  REQUIRE(reply.has_value());
  CHECK(static_cast<absl::StatusCode>(reply->code) == absl::StatusCode::kInvalidArgument);
  reply = group.Call(primary, ReplicaGroup::Put("k", std::string(2 << 20, 'x')));
  REQUIRE(reply.has_value());
  CHECK(static_cast<absl::StatusCode>(reply->code) == absl::StatusCode::kInvalidArgument);
  ClientRequest wrong = ReplicaGroup::Put("k", "v");
  wrong.partition = 8;
  reply = group.Call(primary, wrong);
  REQUIRE(reply.has_value());
  CHECK(static_cast<absl::StatusCode>(reply->code) == absl::StatusCode::kInvalidArgument);
  CHECK(group.Contents(primary).empty());
}

}  // namespace
}  // namespace toydb::replication::testing

namespace toydb::replication::testing {
namespace {

TEST_CASE("Replica: a secondary down past the retained log catches up by snapshot",
          "[replica][snapshot]") {
  ReplicaOptions options = ReplicaGroup::DefaultOptions();
  options.log_catchup_entries_max = 500;
  options.snapshot_chunk_bytes = 16 << 10;  // many chunks
  ReplicaGroup group(3, options);
  std::optional<NodeId> primary = group.ElectWithin(500);
  REQUIRE(primary.has_value());
  const NodeId down = *primary == 3 ? 2 : 3;
  group.Stop(down);
  // 3,000 writes of ~130 bytes: far past the 256 KiB the WAL retains.
  for (int i = 0; i < 3000; ++i) {
    ClientRequest put = ReplicaGroup::Put("key" + std::to_string(i % 1000),
                                          "value-" + std::to_string(i) + std::string(100, 'x'));
    put.client_id = 9;
    put.sequence = i + 1;
    group.Submit(*primary, put);
    if (i % 50 == 49) group.Tick();
  }
  for (int i = 0; i < 20; ++i) group.Tick();
  REQUIRE(group.replies().size() == 3000);
  REQUIRE(group.replica(*primary).replica_store()->first_lsn() > 1);

  REQUIRE(group.Start(down).ok());
  for (int i = 0;
       i < 300 && group.replica(down).applied_lsn() < group.replica(*primary).applied_lsn(); ++i) {
    group.Tick();
  }
  CHECK(group.replica(down).GetStats().snapshots_received >= 1);
  CHECK(group.replica(*primary).GetStats().snapshots_sent >= 1);
  CHECK(group.replica(down).applied_lsn() == group.replica(*primary).applied_lsn());
  CHECK(group.Contents(down) == group.Contents(*primary));

  // The session table came with the snapshot: a retry of the last write is
  // recognized on the new replica once it is primary.
  REQUIRE(group.replica(*primary).TransferLeadership(down).ok());
  for (int i = 0; i < 50 && group.Primary() != down; ++i) group.Tick();
  REQUIRE(group.Primary() == down);
  ClientRequest retry = ReplicaGroup::Put("key999", "changed");
  retry.client_id = 9;
  retry.sequence = 3000;
  std::optional<ClientResponse> reply = group.Call(down, retry);
  REQUIRE(reply.has_value());
  CHECK(reply->code == 0);
  CHECK(reply->version == group.replies()[3000].version);
  CHECK(group.Contents(down)["key999"].first != "changed");
}

}  // namespace
}  // namespace toydb::replication::testing

namespace toydb::replication::testing {
namespace {

bool Logged(const ReplicaGroup& group, std::string_view text) {
  for (const std::string& line : group.logs()) {
    if (line.find(text) != std::string::npos) return true;
  }
  return false;
}

toydb::Message HeartbeatFrom(NodeId from, NodeId to, Term term, PartitionId partition = 7) {
  Heartbeat heartbeat;
  heartbeat.partition = partition;
  heartbeat.term = term;
  heartbeat.leader = from;
  toydb::Message message;
  message.from = from;
  message.to = to;
  message.body = heartbeat;
  return message;
}

TEST_CASE("Replica: bad messages are refused and logged, and nothing is lost",
          "[replica][bad-input]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  std::optional<ClientResponse> put = group.Call(primary, ReplicaGroup::Put("k", "v"));
  REQUIRE(put.has_value());
  REQUIRE(put->code == 0);
  for (int i = 0; i < 5; ++i) group.Tick();
  const NodeId follower = OtherThan(primary);
  const Term term = group.replica(follower).GetStats().term;

  SECTION("from a node that is not a member") {
    CHECK(absl::IsInvalidArgument(
        group.replica(follower).Receive(HeartbeatFrom(99, follower, term))));
    CHECK(Logged(group, "refused a Heartbeat from node 99"));
  }
  SECTION("for another partition") {
    CHECK(absl::IsInvalidArgument(
        group.replica(follower).Receive(HeartbeatFrom(primary, follower, term, 8))));
    CHECK(Logged(group, "refused a Heartbeat"));
  }
  SECTION("naming another sender than the envelope") {
    toydb::Message message = HeartbeatFrom(primary, follower, term);
    std::get<Heartbeat>(message.body).leader = OtherThan(primary, follower);
    CHECK(absl::IsInvalidArgument(group.replica(follower).Receive(message)));
  }
  SECTION("with a stale term: ignored") {
    CHECK(group.replica(follower).Receive(HeartbeatFrom(primary, follower, term - 1)).ok());
    CHECK(group.replica(follower).GetStats().term == term);
    CHECK(group.replica(follower).leader() == primary);
  }
  SECTION("a malformed snapshot chunk") {
    SnapshotChunk chunk;
    chunk.partition = 7;
    chunk.term = term;
    chunk.leader = primary;
    chunk.snapshot_lsn = group.replica(follower).commit_lsn() + 100;
    chunk.snapshot_term = term;
    chunk.data = "not a snapshot";
    chunk.snapshot_bytes = chunk.data.size();
    chunk.snapshot_checksum = 12345;
    chunk.last = true;
    toydb::Message message;
    message.from = primary;
    message.to = follower;
    message.body = chunk;

    // A sender that is not the chunk's leader.
    toydb::Message forged = message;
    forged.from = OtherThan(primary, follower);
    CHECK(absl::IsInvalidArgument(group.replica(follower).Receive(forged)));

    // A chunk at an offset the follower does not expect.
    toydb::Message skipped = message;
    std::get<SnapshotChunk>(skipped.body).offset = 1000;
    REQUIRE(group.replica(follower).Receive(skipped).ok());
    std::vector<toydb::Message> sent = group.InFlight();
    REQUIRE_FALSE(sent.empty());
    const auto* answer = std::get_if<SnapshotResponse>(&sent.back().body);
    REQUIRE(answer != nullptr);
    CHECK(answer->result == SnapshotResult::kWrongOffset);
    CHECK(answer->next_offset == 0);

    // A whole snapshot whose checksum does not match: dropped, not installed.
    REQUIRE(group.replica(follower).Receive(message).ok());
    sent = group.InFlight();
    answer = std::get_if<SnapshotResponse>(&sent.back().body);
    REQUIRE(answer != nullptr);
    CHECK(answer->result == SnapshotResult::kChecksumMismatch);
    CHECK(Logged(group, "failed its checksum"));
    CHECK(group.replica(follower).GetStats().snapshots_received == 0);
  }

  // Whatever was refused, the group goes on and keeps the write.
  for (int i = 0; i < 30; ++i) group.Tick();
  std::optional<NodeId> now_primary = group.ElectWithin(500);
  REQUIRE(now_primary.has_value());
  std::optional<ClientResponse> more = group.Call(*now_primary, ReplicaGroup::Put("k2", "v2"));
  REQUIRE(more.has_value());
  CHECK(more->code == 0);
  for (int i = 0; i < 10; ++i) group.Tick();
  for (NodeId id = 1; id <= 3; ++id) {
    auto contents = group.Contents(id);
    CHECK(contents["k"].first == "v");
    CHECK(contents["k"].second == put->version);
    CHECK(contents["k2"].first == "v2");
  }
}

TEST_CASE("Replica: role changes are logged", "[replica]") {
  ReplicaGroup group(3);
  const NodeId primary = Elect(group);
  CHECK(Logged(group, fmt::format("partition 7 replica {}: primary in term", primary)));
}

}  // namespace
}  // namespace toydb::replication::testing
