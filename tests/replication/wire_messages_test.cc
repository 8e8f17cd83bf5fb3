// Tests of the core <-> wire translation (src/replication/wire_messages.h):
// every message kind, with every field it uses set, survives core -> wire ->
// frame bytes -> wire -> core exactly; every message a running replica group
// sends does too; bodies that are not the core's, or that no correct peer
// sends, are refused; and the append size bound holds against the encoder.
#include "src/replication/wire_messages.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <string>

#include "src/transport/codec.h"
#include "tests/replication/cluster.h"
#include "tests/transport/random_message.h"

namespace toydb::replication {
namespace {

using testing::Cluster;
using testing::NetworkFaults;

constexpr PartitionId kPartition = 0xA1B2C3D4;

const MessageKind kAllKinds[] = {
    MessageKind::kPreVote,    MessageKind::kPreVoteResponse,
    MessageKind::kVote,       MessageKind::kVoteResponse,
    MessageKind::kAppend,     MessageKind::kAppendResponse,
    MessageKind::kHeartbeat,  MessageKind::kHeartbeatResponse,
    MessageKind::kTimeoutNow,
};

// Distinct non-zero values, so a field carried into another's place shows.
struct Counter {
  uint64_t next = 1000;
  uint64_t operator()() { return next += 7919; }
};

// Two entries of both types following prev_lsn, with terms rising from
// prev_term to below the message's term, as a leader's log holds them.
void FillAppend(Message& m, Counter& value) {
  m.prev_lsn = value();
  m.prev_term = 3;
  m.term = 9;
  m.commit_lsn = value();
  m.entries = {Entry{5, m.prev_lsn + 1, EntryType::kNoop, ""},
               Entry{7, m.prev_lsn + 2, EntryType::kNormal, std::string("batch\0bytes", 11)}};
}

// A message of `kind` with every field that kind uses (replica_types.h) set.
Message FullMessage(MessageKind kind, Counter& value) {
  Message m;
  m.kind = kind;
  m.from = value();
  m.to = value();
  m.term = value();
  switch (kind) {
    case MessageKind::kPreVote:
    case MessageKind::kVote:
      m.last_lsn = value();
      m.last_term = value();
      m.transfer = true;
      break;
    case MessageKind::kPreVoteResponse:
    case MessageKind::kVoteResponse:
      m.granted = true;
      break;
    case MessageKind::kAppend:
      FillAppend(m, value);
      break;
    case MessageKind::kAppendResponse:
      m.reject = true;
      m.match_lsn = value();
      m.accepted_lsn = value();
      m.rejected_prev_lsn = value();
      m.hint_last_lsn = value();
      m.hint_conflict_term = value();
      m.hint_conflict_first_lsn = value();
      break;
    case MessageKind::kHeartbeat:
      m.commit_lsn = value();
      m.context = value();
      break;
    case MessageKind::kHeartbeatResponse:
      m.context = value();
      m.match_lsn = value();
      m.accepted_lsn = value();
      break;
    case MessageKind::kTimeoutNow:
      break;
  }
  return m;
}

// core -> wire -> bytes -> wire -> core.
StatusOr<std::pair<PartitionId, Message>> ThroughBytes(PartitionId partition, const Message& m) {
  StatusOr<std::string> frame = EncodeFrame(ToWire(partition, m));
  if (!frame.ok()) return frame.status();
  StatusOr<toydb::Message> wire = DecodeFrame(*frame);
  if (!wire.ok()) return wire.status();
  return FromWire(*wire);
}

MessageType ExpectedType(MessageKind kind) {
  switch (kind) {
    case MessageKind::kPreVote:
    case MessageKind::kVote:
      return MessageType::kVoteRequest;
    case MessageKind::kPreVoteResponse:
    case MessageKind::kVoteResponse:
      return MessageType::kVoteResponse;
    case MessageKind::kAppend:
      return MessageType::kAppendEntries;
    case MessageKind::kAppendResponse:
      return MessageType::kAppendEntriesResponse;
    case MessageKind::kHeartbeat:
      return MessageType::kHeartbeat;
    case MessageKind::kHeartbeatResponse:
      return MessageType::kHeartbeatResponse;
    case MessageKind::kTimeoutNow:
      return MessageType::kTransferLeadership;
  }
  return MessageType{};
}

TEST_CASE("Every core message kind survives core -> wire -> bytes -> core", "[wire]") {
  Counter value;
  for (MessageKind kind : kAllKinds) {
    INFO(MessageKindName(kind));
    const Message m = FullMessage(kind, value);
    REQUIRE(TypeOf(ToWire(kPartition, m)) == ExpectedType(kind));
    StatusOr<std::pair<PartitionId, Message>> back = ThroughBytes(kPartition, m);
    REQUIRE(back.ok());
    CHECK(back->first == kPartition);
    CHECK(back->second == m);
  }
}

TEST_CASE("Boolean fields survive false as well as true", "[wire]") {
  Counter value;
  for (MessageKind kind : kAllKinds) {
    Message m = FullMessage(kind, value);
    m.transfer = false;
    m.granted = false;
    m.reject = false;
    StatusOr<std::pair<PartitionId, Message>> back = ThroughBytes(0, m);
    REQUIRE(back.ok());
    CHECK(back->second == m);
  }
}

TEST_CASE("Default-valued core messages survive the wire", "[wire]") {
  for (MessageKind kind : kAllKinds) {
    Message m;
    m.kind = kind;
    StatusOr<std::pair<PartitionId, Message>> back = ThroughBytes(0, m);
    REQUIRE(back.ok());
    CHECK(back->second == m);
  }
}

void Disturb(Cluster& cluster, uint64_t tick) {
  sim::Rng& rng = cluster.rng();
  NodeId someone = 1 + rng.Uniform(3);
  if (rng.Chance(0.01)) cluster.Crash(someone);
  if (rng.Chance(0.05)) cluster.Restart(someone);
  if (rng.Chance(0.02)) cluster.Isolate(someone);
  if (rng.Chance(0.05)) cluster.Heal();
  if (rng.Chance(0.5)) (void)cluster.Propose(std::string(rng.Uniform(40), 'a' + tick % 26));
  if (rng.Chance(0.1)) (void)cluster.ReadIndex();
  if (rng.Chance(0.03)) {
    if (std::optional<NodeId> primary = cluster.Primary()) {
      (void)cluster.core(*primary).TransferLeadership(someone);
    }
  }
  for (NodeId id : cluster.ids()) {
    if (rng.Chance(0.5)) cluster.Sync(id);
  }
}

TEST_CASE("Every message a replica group sends survives the wire", "[wire]") {
  ReplicaConfig config;
  config.max_append_entries = 3;
  Cluster cluster(3, /*seed=*/42, config);
  cluster.set_auto_sync(false);
  cluster.set_faults(NetworkFaults{.drop = 0.1, .duplicate = 0.05, .max_delay_ticks = 3});
  std::set<MessageKind> kinds;
  uint64_t sent = 0;
  uint64_t mismatched = 0;
  cluster.set_on_send([&](const Message& m) {
    StatusOr<std::pair<PartitionId, Message>> back = ThroughBytes(7, m);
    if (!back.ok() || back->first != 7 || back->second != m) ++mismatched;
    kinds.insert(m.kind);
    ++sent;
  });
  for (uint64_t tick = 0; tick < 3000; ++tick) {
    Disturb(cluster, tick);
    cluster.RunTick();
  }
  REQUIRE(cluster.violation() == "");
  INFO("messages sent: " << sent);
  CHECK(sent > 1000);
  CHECK(mismatched == 0);
  CHECK(kinds.size() == std::size(kAllKinds));
}

// Makes a random body plausible: parties that agree with the envelope and,
// for an append, entries that continue the log.
void MakePlausible(toydb::Message& m) {
  if (auto* v = std::get_if<VoteRequest>(&m.body)) v->candidate = m.from;
  if (auto* h = std::get_if<Heartbeat>(&m.body)) h->leader = m.from;
  if (auto* t = std::get_if<TransferLeadership>(&m.body)) {
    t->leader = m.from;
    t->target = m.to;
  }
  if (auto* a = std::get_if<AppendEntries>(&m.body)) {
    a->leader = m.from;
    a->prev_lsn %= 1000;
    a->term = a->prev_term + 10;
    for (size_t i = 0; i < a->entries.size(); ++i) {
      a->entries[i].lsn = a->prev_lsn + 1 + i;
      a->entries[i].term = a->prev_term + i;
    }
  }
}

TEST_CASE("Whatever FromWire accepts, ToWire gives back unchanged", "[wire]") {
  // So no wire field is dropped or altered on the way to the core: the core
  // sees everything a peer said.
  sim::Rng rng(11);
  uint64_t accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    toydb::Message m = toydb::testing::RandomMessage(rng);
    if (rng.Chance(0.7)) MakePlausible(m);
    StatusOr<std::pair<PartitionId, Message>> core = FromWire(m);
    if (!core.ok()) {
      REQUIRE(core.status().code() == absl::StatusCode::kInvalidArgument);
      continue;
    }
    ++accepted;
    REQUIRE(ToWire(core->first, core->second) == m);
  }
  CHECK(accepted > 5000);
}

// ------------------------------------------------------------ refusals

toydb::Message WireOf(MessageKind kind) {
  Counter value;
  return ToWire(kPartition, FullMessage(kind, value));
}

void CheckRefused(const toydb::Message& m) {
  StatusOr<std::pair<PartitionId, Message>> core = FromWire(m);
  CHECK(core.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("FromWire refuses bodies that are not replica protocol messages", "[wire]") {
  CheckRefused(toydb::Message{.from = 1, .to = 2, .body = SnapshotChunk{.partition = 1}});
  CheckRefused(toydb::Message{.from = 1, .to = 2, .body = SnapshotResponse{.partition = 1}});
  CheckRefused(toydb::Message{.from = 1, .to = 2, .body = ClientRequest{.partition = 1}});
  CheckRefused(toydb::Message{.from = 1, .to = 2, .body = ClientResponse{}});
  CheckRefused(toydb::Message{.from = 1, .to = 2, .body = HealthProbe{}});
  CheckRefused(toydb::Message{.from = 1, .to = 2, .body = HealthProbeResponse{}});
}

TEST_CASE("FromWire refuses a sender or target that disagrees with the envelope", "[wire]") {
  toydb::Message vote = WireOf(MessageKind::kVote);
  std::get<VoteRequest>(vote.body).candidate += 1;
  CheckRefused(vote);
  toydb::Message append = WireOf(MessageKind::kAppend);
  std::get<AppendEntries>(append.body).leader = 0;
  CheckRefused(append);
  toydb::Message heartbeat = WireOf(MessageKind::kHeartbeat);
  heartbeat.from += 1;
  CheckRefused(heartbeat);
  toydb::Message transfer = WireOf(MessageKind::kTimeoutNow);
  std::get<TransferLeadership>(transfer.body).target += 1;
  CheckRefused(transfer);
  toydb::Message transfer_from = WireOf(MessageKind::kTimeoutNow);
  std::get<TransferLeadership>(transfer_from.body).leader += 1;
  CheckRefused(transfer_from);
}

TEST_CASE("FromWire refuses an entry type the core does not know", "[wire]") {
  toydb::Message m = WireOf(MessageKind::kAppend);
  REQUIRE(FromWire(m).ok());
  std::get<AppendEntries>(m.body).entries[1].type = static_cast<LogEntryType>(kMaxLogEntryType + 1);
  CheckRefused(m);
  // The codec refuses it on the wire too.
  std::string frame = *EncodeFrame(m);
  CHECK(absl::IsDataLoss(DecodeFrame(frame).status()));
}

TEST_CASE("FromWire refuses entries that do not continue the log densely", "[wire]") {
  auto with = [](auto change) {
    toydb::Message m = WireOf(MessageKind::kAppend);
    change(std::get<AppendEntries>(m.body));
    return m;
  };
  CheckRefused(with([](AppendEntries& a) { a.entries[1].lsn += 1; }));  // a gap
  CheckRefused(with([](AppendEntries& a) { a.entries[0].lsn = a.prev_lsn; }));
  CheckRefused(with([](AppendEntries& a) { std::swap(a.entries[0], a.entries[1]); }));
  CheckRefused(with([](AppendEntries& a) {  // LSNs that would wrap past 2^64 - 1
    a.prev_lsn = UINT64_MAX - 1;
    a.entries[0].lsn = UINT64_MAX;
    a.entries[1].lsn = 0;
  }));
}

TEST_CASE("FromWire refuses entry terms outside [prev_term, term] or decreasing", "[wire]") {
  auto with = [](auto change) {
    toydb::Message m = WireOf(MessageKind::kAppend);
    change(std::get<AppendEntries>(m.body));
    return m;
  };
  CheckRefused(with([](AppendEntries& a) { a.entries[0].term = a.prev_term - 1; }));
  CheckRefused(with([](AppendEntries& a) { a.entries[1].term = a.term + 1; }));
  CheckRefused(with([](AppendEntries& a) { a.entries[1].term = a.entries[0].term - 1; }));
  CheckRefused(with([](AppendEntries& a) {
    a.prev_term = a.term + 1;
    a.entries.clear();
  }));
  // The edges are allowed: entries of prev_term and of the message's term.
  toydb::Message edges = with([](AppendEntries& a) {
    a.entries[0].term = a.prev_term;
    a.entries[1].term = a.term;
  });
  CHECK(FromWire(edges).ok());
}

// ------------------------------------------------------------ size limits

Message AppendWithPayloads(const std::vector<size_t>& sizes) {
  Message m;
  m.kind = MessageKind::kAppend;
  m.from = 1;
  m.to = 2;
  m.term = 5;
  m.prev_lsn = 10;
  m.prev_term = 5;
  for (size_t i = 0; i < sizes.size(); ++i) {
    m.entries.push_back(
        Entry{5, m.prev_lsn + 1 + i, EntryType::kNormal, std::string(sizes[i], 'p')});
  }
  return m;
}

uint64_t EntryBytesOf(const Message& m) {
  uint64_t bytes = 0;
  for (const Entry& e : m.entries) bytes += EntryBytes(e);
  return bytes;
}

TEST_CASE("AppendFrameBytesBound bounds the encoded append, exactly when empty", "[wire]") {
  StatusOr<std::string> empty = EncodeFrame(ToWire(1, AppendWithPayloads({})));
  REQUIRE(empty.ok());
  CHECK(empty->size() == AppendFrameBytesBound(0));
  sim::Rng rng(9);
  for (int i = 0; i < 200; ++i) {
    std::vector<size_t> sizes(rng.Uniform(50));
    for (size_t& size : sizes) size = rng.Uniform(rng.Chance(0.1) ? 5000 : 40);
    const Message m = AppendWithPayloads(sizes);
    StatusOr<std::string> frame = EncodeFrame(ToWire(1, m));
    REQUIRE(frame.ok());
    // Each entry costs 3 bytes less on the wire than EntryBytes() budgets.
    CHECK(frame->size() + 3 * sizes.size() == AppendFrameBytesBound(EntryBytesOf(m)));
  }
}

TEST_CASE("An append of kMaxAppendEntryBytes fits one frame", "[wire]") {
  const size_t one = kMaxAppendEntryBytes - EntryBytes(Entry{});
  for (const std::vector<size_t>& sizes :
       {std::vector<size_t>{one}, std::vector<size_t>{one / 2, one - one / 2 - 24}}) {
    const Message m = AppendWithPayloads(sizes);
    REQUIRE(EntryBytesOf(m) == kMaxAppendEntryBytes);
    StatusOr<std::string> frame = EncodeFrame(ToWire(1, m));
    REQUIRE(frame.ok());
    CHECK(frame->size() <= kMaxFrameBytes);
    StatusOr<std::pair<PartitionId, Message>> back = FromWire(*DecodeFrame(*frame));
    REQUIRE(back.ok());
    CHECK(back->second == m);
  }
  // Past the bound, the frame limit bites (3 bytes per entry of slack aside).
  const Message over = AppendWithPayloads({one + 4});
  CHECK(absl::IsInvalidArgument(EncodeFrame(ToWire(1, over)).status()));
}

TEST_CASE("ValidateWireLimits accepts the defaults and refuses appends past a frame", "[wire]") {
  ReplicaConfig config;
  CHECK(ValidateWireLimits(config).ok());
  config.max_entry_bytes = 1 << 10;
  config.max_append_bytes = kMaxAppendEntryBytes;
  CHECK(ValidateWireLimits(config).ok());
  config.max_append_bytes = kMaxAppendEntryBytes + 1;
  CHECK(absl::IsInvalidArgument(ValidateWireLimits(config)));
  // One entry of max_entry_bytes always goes, even past max_append_bytes.
  config.max_append_bytes = kMaxAppendEntryBytes;
  config.max_entry_bytes = kMaxAppendEntryBytes;
  CHECK(absl::IsInvalidArgument(ValidateWireLimits(config)));
  config.max_entry_bytes = kMaxAppendEntryBytes - EntryBytes(Entry{});
  CHECK(ValidateWireLimits(config).ok());
  config.max_append_entries = kMaxEntriesPerAppend + 1;
  CHECK(absl::IsInvalidArgument(ValidateWireLimits(config)));
}

// Replicates `payload_sizes` from a primary to a follower that was cut off
// while they were proposed; returns whether every append sent could be framed.
bool AllAppendsEncode(const ReplicaConfig& config, const std::vector<size_t>& payload_sizes) {
  Cluster cluster(3, /*seed=*/5, config);
  std::optional<NodeId> primary = cluster.ElectWithin(500);
  REQUIRE(primary.has_value());
  cluster.Stabilize();
  bool all_encode = true;
  uint64_t largest_frame = 0;
  cluster.set_on_send([&](const Message& m) {
    if (m.kind != MessageKind::kAppend) return;
    StatusOr<std::string> frame = EncodeFrame(ToWire(1, m));
    all_encode = all_encode && frame.ok();
    if (frame.ok()) largest_frame = std::max<uint64_t>(largest_frame, frame->size());
  });
  const NodeId lagging = *primary == 3 ? 2 : 3;
  cluster.Isolate(lagging);
  for (size_t size : payload_sizes) REQUIRE(cluster.Propose(std::string(size, 'x')).ok());
  cluster.Stabilize();
  cluster.Heal();
  for (int tick = 0; tick < 50; ++tick) cluster.RunTick();
  cluster.Stabilize();
  REQUIRE(cluster.violation() == "");
  INFO("largest append frame: " << largest_frame);
  if (all_encode) CHECK(largest_frame > kMaxFrameBytes / 2);
  return all_encode;
}

TEST_CASE("Appends the core builds under validated limits fit a frame", "[wire]") {
  ReplicaConfig config;
  config.max_append_bytes = kMaxAppendEntryBytes;
  config.max_entry_bytes = kMaxAppendEntryBytes - EntryBytes(Entry{});
  REQUIRE(ValidateWireLimits(config).ok());
  const size_t big = config.max_entry_bytes;
  CHECK(AllAppendsEncode(config, {big / 3, big / 3, big / 3, big / 3, big, 10, big / 2}));

  // The same backlog under a limit ValidateWireLimits refuses: the core
  // builds an append the codec cannot frame.
  config.max_append_bytes = kMaxFrameBytes;
  REQUIRE_FALSE(ValidateWireLimits(config).ok());
  CHECK_FALSE(AllAppendsEncode(config, {big / 3, big / 3, big / 3, big / 3, big, 10, big / 2}));
}

}  // namespace
}  // namespace toydb::replication
