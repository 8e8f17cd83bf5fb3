#ifndef TOYDB_MESSAGE_H_
#define TOYDB_MESSAGE_H_

// The messages nodes exchange: replication (append, vote, heartbeat, snapshot,
// leadership transfer), client requests and replies, health probes, and the
// operators' stats and admin requests. Plain
// values, freely copied; no thread-safety concerns. Every message travels as a
// Message envelope (from, to, body) and is encoded by one codec
// (src/transport/codec.h, docs/WIRE_FORMAT.md).
//
// To add a message type: define its struct with a new kType appended to
// MessageType, append it to MessageBody (in the same order), and list its
// fields in src/transport/message_fields.h. The wire tag is kType's value.

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "toydb/types.h"

namespace toydb {

// Lsn, Term and NodeId are in types.h.
using PartitionId = uint32_t;

// Wire tags. Values are part of the wire format: never reuse or renumber.
enum class MessageType : uint8_t {
  kAppendEntries = 1,
  kAppendEntriesResponse = 2,
  kVoteRequest = 3,
  kVoteResponse = 4,
  kHeartbeat = 5,
  kHeartbeatResponse = 6,
  kSnapshotChunk = 7,
  kSnapshotResponse = 8,
  kTransferLeadership = 9,
  kClientRequest = 10,
  kClientResponse = 11,
  kHealthProbe = 12,
  kHealthProbeResponse = 13,
  kStatsRequest = 14,
  kStatsResponse = 15,
  kAdminRequest = 16,
  kAdminResponse = 17,
};

// Limits on repeated fields; the codec refuses to encode or decode more.
inline constexpr uint32_t kMaxEntriesPerAppend = 4096;
inline constexpr uint32_t kMaxOpsPerBatch = 4096;
inline constexpr uint32_t kMaxReplicasPerStats = 4096;
inline constexpr uint32_t kMaxPeersPerReplicaStats = 256;
inline constexpr uint32_t kMaxCountersPerStats = 1024;

// ---------------------------------------------------------------------------
// Replication. Every message names its partition (a node hosts replicas of
// many partitions) and carries the sender's term, which fences stale leaders.

// What a log entry holds. Values are part of the wire format.
enum class LogEntryType : uint8_t {
  kNormal = 0,  // a client write batch
  kNoop = 1,    // a new leader's first entry, which commits the earlier terms' tail
};
inline constexpr uint8_t kMaxLogEntryType = 1;

// One replicated log entry.
struct LogEntry {
  Term term = 0;
  Lsn lsn = 0;
  LogEntryType type = LogEntryType::kNormal;
  std::string payload;  // an encoded write batch, opaque to the transport
  bool operator==(const LogEntry&) const = default;
};

// The bodies below that name a sender or addressee (leader, candidate,
// target) repeat the envelope's from/to, so a body read on its own (a trace,
// a log line) says who it is from; a receiver refuses a body that disagrees
// with its envelope (src/replication/wire_messages.h).

// Leader -> follower: entries to append after (prev_lsn, prev_term), or none
// (a probe, or news of a higher commit LSN).
struct AppendEntries {
  static constexpr MessageType kType = MessageType::kAppendEntries;
  PartitionId partition = 0;
  Term term = 0;
  NodeId leader = 0;
  Lsn prev_lsn = 0;  // the entry just before `entries`, for log matching
  Term prev_term = 0;
  Lsn commit_lsn = 0;
  std::vector<LogEntry> entries;  // at most kMaxEntriesPerAppend, LSNs prev_lsn + 1, + 2, ...
  bool operator==(const AppendEntries&) const = default;
};

// Follower -> leader. Accepted: `match_lsn` is the last LSN the follower
// holds durably and that matches the leader; `accepted_lsn` the last that
// matches, durable or not. Rejected: `rejected_prev_lsn` names the refused
// append's prev_lsn, and the hints locate the match point: the follower's
// last LSN, the term it holds at rejected_prev_lsn (0 if its log is shorter),
// and the first LSN of that term in its log.
struct AppendEntriesResponse {
  static constexpr MessageType kType = MessageType::kAppendEntriesResponse;
  PartitionId partition = 0;
  Term term = 0;
  bool reject = false;
  Lsn match_lsn = 0;
  Lsn accepted_lsn = 0;
  Lsn rejected_prev_lsn = 0;
  Lsn hint_last_lsn = 0;
  Term hint_conflict_term = 0;
  Lsn hint_conflict_first_lsn = 0;
  bool operator==(const AppendEntriesResponse&) const = default;
};

// Candidate -> voter: a vote, or (pre_vote) a poll that changes no state.
struct VoteRequest {
  static constexpr MessageType kType = MessageType::kVoteRequest;
  PartitionId partition = 0;
  Term term = 0;  // for a pre-vote: the term the candidate would campaign in
  NodeId candidate = 0;
  Lsn last_lsn = 0;  // the candidate's last entry
  Term last_term = 0;
  bool pre_vote = false;
  // A campaign the leader asked for (TransferLeadership): voters honour it
  // even while they still follow a live leader.
  bool transfer = false;
  bool operator==(const VoteRequest&) const = default;
};

struct VoteResponse {
  static constexpr MessageType kType = MessageType::kVoteResponse;
  PartitionId partition = 0;
  Term term = 0;
  bool granted = false;
  bool pre_vote = false;  // answers a pre-vote
  bool operator==(const VoteResponse&) const = default;
};

// Leader -> follower, periodically and for read-index confirmation.
struct Heartbeat {
  static constexpr MessageType kType = MessageType::kHeartbeat;
  PartitionId partition = 0;
  Term term = 0;
  NodeId leader = 0;
  Lsn commit_lsn = 0;    // never above what this follower is known to match
  uint64_t context = 0;  // echoed back, confirms leadership for reads
  bool operator==(const Heartbeat&) const = default;
};

// Follower -> leader: echoes the context and repeats the durable
// acknowledgement (match_lsn, accepted_lsn as in AppendEntriesResponse).
struct HeartbeatResponse {
  static constexpr MessageType kType = MessageType::kHeartbeatResponse;
  PartitionId partition = 0;
  Term term = 0;
  uint64_t context = 0;
  Lsn match_lsn = 0;
  Lsn accepted_lsn = 0;
  bool operator==(const HeartbeatResponse&) const = default;
};

// Leader -> follower: one piece of a snapshot, in offset order.
struct SnapshotChunk {
  static constexpr MessageType kType = MessageType::kSnapshotChunk;
  PartitionId partition = 0;
  Term term = 0;
  NodeId leader = 0;
  Lsn snapshot_lsn = 0;  // the snapshot covers entries up to this LSN
  Term snapshot_term = 0;
  uint64_t offset = 0;  // of `data` within the snapshot
  std::string data;
  uint64_t snapshot_bytes = 0;     // the whole snapshot's size
  uint64_t snapshot_checksum = 0;  // of the whole snapshot
  bool last = false;               // `data` ends the snapshot
  bool operator==(const SnapshotChunk&) const = default;
};

// How a follower took a snapshot chunk. Values are part of the wire format.
enum class SnapshotResult : uint8_t {
  kAccepted = 0,          // stored; send the chunk at next_offset
  kInstalled = 1,         // the last chunk: checksum verified, snapshot installed
  kStaleTerm = 2,         // the sender's term is old (see `term`)
  kWrongOffset = 3,       // not the chunk expected: resend from next_offset
  kChecksumMismatch = 4,  // the whole snapshot failed its checksum: start again
  kNotNeeded = 5,         // the follower already holds snapshot_lsn in its log
  kStorageFailed = 6,     // the follower could not store it: try later
};
inline constexpr uint8_t kMaxSnapshotResult = 6;

struct SnapshotResponse {
  static constexpr MessageType kType = MessageType::kSnapshotResponse;
  PartitionId partition = 0;
  Term term = 0;
  Lsn snapshot_lsn = 0;
  uint64_t next_offset = 0;  // the follower wants the chunk at this offset
  SnapshotResult result = SnapshotResult::kAccepted;
  bool operator==(const SnapshotResponse&) const = default;
};

// Leader -> caught-up follower: campaign now, without waiting for a timeout
// and without a pre-vote.
struct TransferLeadership {
  static constexpr MessageType kType = MessageType::kTransferLeadership;
  PartitionId partition = 0;
  Term term = 0;
  NodeId leader = 0;
  NodeId target = 0;
  bool operator==(const TransferLeadership&) const = default;
};

// ---------------------------------------------------------------------------
// Clients.

enum class OpType : uint8_t {
  kGet = 0,
  kPut = 1,
  kDelete = 2,
  kBatch = 3,
  kCompareAndSet = 4,
};
inline constexpr uint8_t kMaxOpType = 4;

enum class ReadConsistency : uint8_t {
  kLinearizable = 0,
  kSession = 1,
  kQuorum = 2,
  kAny = 3,
};
inline constexpr uint8_t kMaxReadConsistency = 3;

enum class WriteConcernKind : uint8_t {
  kLeader = 0,
  kCount = 1,  // `count` secondaries besides the leader
  kMajority = 2,
  kAll = 3,
};
inline constexpr uint8_t kMaxWriteConcernKind = 3;

struct WriteConcern {
  WriteConcernKind kind = WriteConcernKind::kMajority;
  uint32_t count = 0;  // used by kCount
  bool operator==(const WriteConcern&) const = default;
};

// One put or delete inside a batch.
struct BatchOp {
  OpType type = OpType::kPut;  // kPut or kDelete
  std::string key;
  std::string value;
  bool operator==(const BatchOp&) const = default;
};

struct ClientRequest {
  static constexpr MessageType kType = MessageType::kClientRequest;
  uint64_t client_id = 0;
  uint64_t sequence = 0;  // (client_id, sequence) makes a retried write idempotent
  PartitionId partition = 0;
  OpType op = OpType::kGet;
  std::string key;
  std::string value;           // kPut, kCompareAndSet
  Lsn expected_version = 0;    // kCompareAndSet; 0 means "key absent"
  std::vector<BatchOp> batch;  // kBatch; at most kMaxOpsPerBatch
  ReadConsistency consistency = ReadConsistency::kLinearizable;
  Lsn min_lsn = 0;  // kSession: the highest LSN this client has seen
  WriteConcern concern;
  bool operator==(const ClientRequest&) const = default;
};

struct ClientResponse {
  static constexpr MessageType kType = MessageType::kClientResponse;
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  uint8_t code = 0;  // an absl::StatusCode value; 0 is OK
  std::string message;
  NodeId leader_hint = 0;  // 0: unknown
  bool found = false;      // kGet
  std::string value;       // kGet
  Lsn version = 0;         // of the key read or written
  Lsn lsn = 0;             // of the write, or the state the read saw
  uint32_t acks = 0;       // replicas that acknowledged the write
  uint32_t replicas = 0;   // replicas of the partition
  bool operator==(const ClientResponse&) const = default;
};

// ---------------------------------------------------------------------------
// Health.

struct HealthProbe {
  static constexpr MessageType kType = MessageType::kHealthProbe;
  uint64_t probe_id = 0;
  int64_t sent_micros = 0;  // the prober's clock, echoed back to measure RTT
  bool operator==(const HealthProbe&) const = default;
};

struct HealthProbeResponse {
  static constexpr MessageType kType = MessageType::kHealthProbeResponse;
  uint64_t probe_id = 0;
  int64_t sent_micros = 0;
  bool healthy = false;
  bool operator==(const HealthProbeResponse&) const = default;
};

// ---------------------------------------------------------------------------
// Operations: a node's figures and administrative requests, asked for by a
// tool (the toydb CLI) and answered by the Node that receives them.

// What a primary knows of one follower (ReplicaPeerStats on the wire).
struct StatsPeer {
  NodeId node = 0;
  Lsn match_lsn = 0;
  uint64_t lag_entries = 0;
  uint64_t lag_ticks = 0;
  bool operator==(const StatsPeer&) const = default;
};

// One replica's figures (ReplicaStats on the wire).
struct StatsReplica {
  PartitionId partition = 0;
  NodeId node = 0;
  uint8_t role = 0;  // a ReplicaRole value (replica.h): 0 follower, 1 candidate, 2 primary
  Term term = 0;
  NodeId leader = 0;
  Lsn last_lsn = 0;
  Lsn synced_lsn = 0;
  Lsn commit_lsn = 0;
  Lsn applied_lsn = 0;
  std::vector<StatsPeer> peers;  // on the primary only; at most kMaxPeersPerReplicaStats
  uint64_t elections_started = 0;
  uint64_t elections_won = 0;
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_received = 0;
  uint8_t failure_code = 0;  // an absl::StatusCode; 0: the replica has not failed
  std::string failure_message;
  bool operator==(const StatsReplica&) const = default;
};
inline constexpr uint8_t kMaxStatsRole = 2;

// A named counter of the node's process (its transport's, for example).
struct StatsCounter {
  std::string name;
  uint64_t value = 0;
  bool operator==(const StatsCounter&) const = default;
};

// Tool -> node: report your replicas and counters.
struct StatsRequest {
  static constexpr MessageType kType = MessageType::kStatsRequest;
  uint64_t request_id = 0;  // echoed back
  bool operator==(const StatsRequest&) const = default;
};

struct StatsResponse {
  static constexpr MessageType kType = MessageType::kStatsResponse;
  uint64_t request_id = 0;
  NodeId node = 0;
  std::vector<StatsReplica> replicas;  // at most kMaxReplicasPerStats
  std::vector<StatsCounter> counters;  // at most kMaxCountersPerStats
  bool operator==(const StatsResponse&) const = default;
};

// What an AdminRequest asks. Values are part of the wire format.
enum class AdminOp : uint8_t {
  kTransferLeadership = 0,  // the partition's primary hands its role to `target`
  kCampaign = 1,            // the addressed replica starts an election now
};
inline constexpr uint8_t kMaxAdminOp = 1;

// Tool -> node.
struct AdminRequest {
  static constexpr MessageType kType = MessageType::kAdminRequest;
  uint64_t request_id = 0;  // echoed back
  AdminOp op = AdminOp::kTransferLeadership;
  PartitionId partition = 0;
  NodeId target = 0;  // kTransferLeadership: the new primary
  bool operator==(const AdminRequest&) const = default;
};

// The request started (OK) or was refused: code and message as in
// ClientResponse; a FailedPrecondition from a replica that is not the
// primary names the primary it knows in leader_hint.
struct AdminResponse {
  static constexpr MessageType kType = MessageType::kAdminResponse;
  uint64_t request_id = 0;
  uint8_t code = 0;  // an absl::StatusCode value; 0 is OK
  std::string message;
  NodeId leader_hint = 0;
  bool operator==(const AdminResponse&) const = default;
};

// ---------------------------------------------------------------------------

// Alternatives in MessageType order: alternative i has tag i + 1.
using MessageBody =
    std::variant<AppendEntries, AppendEntriesResponse, VoteRequest, VoteResponse, Heartbeat,
                 HeartbeatResponse, SnapshotChunk, SnapshotResponse, TransferLeadership,
                 ClientRequest, ClientResponse, HealthProbe, HealthProbeResponse, StatsRequest,
                 StatsResponse, AdminRequest, AdminResponse>;

inline constexpr size_t kMessageTypeCount = std::variant_size_v<MessageBody>;

// The envelope every transport carries.
struct Message {
  NodeId from = 0;
  NodeId to = 0;
  MessageBody body;
  bool operator==(const Message&) const = default;
};

inline MessageType TypeOf(const Message& m) { return static_cast<MessageType>(m.body.index() + 1); }

// "AppendEntries", "VoteRequest", ...; "Unknown" for an invalid value.
const char* MessageTypeName(MessageType type);
// "linearizable", "session", "quorum" or "any" ("?" out of range).
const char* ReadConsistencyName(ReadConsistency consistency);

}  // namespace toydb

#endif  // TOYDB_MESSAGE_H_
