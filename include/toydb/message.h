#ifndef TOYDB_MESSAGE_H_
#define TOYDB_MESSAGE_H_

// The messages nodes exchange: replication (append, vote, heartbeat, snapshot,
// leadership transfer), client requests and replies, and health probes. Plain
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
};

// Limits on repeated fields; the codec refuses to encode or decode more.
inline constexpr uint32_t kMaxEntriesPerAppend = 4096;
inline constexpr uint32_t kMaxOpsPerBatch = 4096;

// ---------------------------------------------------------------------------
// Replication. Every message names its partition (a node hosts replicas of
// many partitions) and carries the sender's term, which fences stale leaders.

// One replicated log entry.
struct LogEntry {
  Term term = 0;
  Lsn lsn = 0;
  std::string payload;  // an encoded write batch, opaque to the transport
  bool operator==(const LogEntry&) const = default;
};

struct AppendEntries {
  static constexpr MessageType kType = MessageType::kAppendEntries;
  PartitionId partition = 0;
  Term term = 0;
  NodeId leader = 0;
  Lsn prev_lsn = 0;  // the entry just before `entries`, for log matching
  Term prev_term = 0;
  Lsn commit_lsn = 0;
  std::vector<LogEntry> entries;  // at most kMaxEntriesPerAppend
  bool operator==(const AppendEntries&) const = default;
};

struct AppendEntriesResponse {
  static constexpr MessageType kType = MessageType::kAppendEntriesResponse;
  PartitionId partition = 0;
  Term term = 0;
  bool success = false;
  Lsn match_lsn = 0;     // on success: the last LSN the follower holds durably
  Lsn conflict_lsn = 0;  // on failure: where the leader should retry from
  bool operator==(const AppendEntriesResponse&) const = default;
};

struct VoteRequest {
  static constexpr MessageType kType = MessageType::kVoteRequest;
  PartitionId partition = 0;
  Term term = 0;  // for a pre-vote: the term the candidate would campaign in
  NodeId candidate = 0;
  Lsn last_lsn = 0;
  Term last_term = 0;
  bool pre_vote = false;
  bool operator==(const VoteRequest&) const = default;
};

struct VoteResponse {
  static constexpr MessageType kType = MessageType::kVoteResponse;
  PartitionId partition = 0;
  Term term = 0;
  bool granted = false;
  bool pre_vote = false;
  bool operator==(const VoteResponse&) const = default;
};

struct Heartbeat {
  static constexpr MessageType kType = MessageType::kHeartbeat;
  PartitionId partition = 0;
  Term term = 0;
  NodeId leader = 0;
  Lsn commit_lsn = 0;
  uint64_t read_index_context = 0;  // echoed back, for read-index confirmation
  bool operator==(const Heartbeat&) const = default;
};

struct HeartbeatResponse {
  static constexpr MessageType kType = MessageType::kHeartbeatResponse;
  PartitionId partition = 0;
  Term term = 0;
  Lsn match_lsn = 0;
  uint64_t read_index_context = 0;
  bool operator==(const HeartbeatResponse&) const = default;
};

struct SnapshotChunk {
  static constexpr MessageType kType = MessageType::kSnapshotChunk;
  PartitionId partition = 0;
  Term term = 0;
  NodeId leader = 0;
  Lsn snapshot_lsn = 0;  // the snapshot covers entries up to this LSN
  Term snapshot_term = 0;
  uint64_t offset = 0;  // of `data` within the snapshot
  std::string data;
  bool last = false;
  uint64_t snapshot_checksum = 0;  // of the whole snapshot; meaningful if last
  bool operator==(const SnapshotChunk&) const = default;
};

struct SnapshotResponse {
  static constexpr MessageType kType = MessageType::kSnapshotResponse;
  PartitionId partition = 0;
  Term term = 0;
  Lsn snapshot_lsn = 0;
  uint64_t next_offset = 0;  // the follower wants the chunk at this offset
  bool success = false;
  bool operator==(const SnapshotResponse&) const = default;
};

// Leader -> caught-up follower: campaign now, without waiting for a timeout.
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

// Alternatives in MessageType order: alternative i has tag i + 1.
using MessageBody =
    std::variant<AppendEntries, AppendEntriesResponse, VoteRequest, VoteResponse, Heartbeat,
                 HeartbeatResponse, SnapshotChunk, SnapshotResponse, TransferLeadership,
                 ClientRequest, ClientResponse, HealthProbe, HealthProbeResponse>;

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

}  // namespace toydb

#endif  // TOYDB_MESSAGE_H_
