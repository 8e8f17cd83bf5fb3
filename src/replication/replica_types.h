#ifndef TOYDB_REPLICATION_REPLICA_TYPES_H_
#define TOYDB_REPLICATION_REPLICA_TYPES_H_

// The values the replica's protocol core (replica_core.h) takes in and gives
// out: log entries, the hard state, protocol messages, storage writes, read
// results, the Ready bundle, and the core's configuration. Plain values,
// freely copied; no thread-safety concerns.
//
// The messages here are the core's own; wire_messages.h translates them to
// and from the wire's (toydb/message.h), which the codec (src/transport/)
// frames.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "toydb/message.h"
#include "toydb/status.h"

namespace toydb::replication {

using toydb::Lsn;
using toydb::NodeId;
using toydb::Term;

// NodeId 0 is never a member: it means "nobody" (no vote, no known leader).
inline constexpr NodeId kNoNode = 0;

enum class EntryType : uint8_t {
  kNormal = 0,  // a client write; `payload` is opaque to the core
  kNoop = 1,    // a new primary's first entry; commits the earlier terms' tail
};

// One log entry. LSNs are dense: the entry after LSN n has LSN n + 1.
struct Entry {
  Term term = 0;
  Lsn lsn = 0;
  EntryType type = EntryType::kNormal;
  std::string payload;
  bool operator==(const Entry&) const = default;
};

// Bytes an entry costs against the flow-control and batch limits.
inline uint64_t EntryBytes(const Entry& entry) { return entry.payload.size() + 24; }

// What a replica must keep durably across crashes, besides its log. The core
// asks for it to be persisted (Ready::hard_state) before any message of the
// same Ready leaves the node.
struct HardState {
  Term term = 0;
  NodeId vote = kNoNode;  // the candidate voted for in `term`
  Lsn commit_lsn = 0;     // never above what the replica durably holds
  bool operator==(const HardState&) const = default;
};

enum class MessageKind : uint8_t {
  kPreVote,
  kPreVoteResponse,
  kVote,
  kVoteResponse,
  kAppend,
  kAppendResponse,
  kHeartbeat,
  kHeartbeatResponse,
  kTimeoutNow,  // primary -> transfer target: campaign now, skip pre-vote
};

const char* MessageKindName(MessageKind kind);

// One protocol message. A flat struct: each kind uses the fields listed under
// it, the others stay zero. Every message carries the sender's term.
struct Message {
  MessageKind kind = MessageKind::kHeartbeat;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term = 0;  // for kPreVote: the term the candidate would campaign in

  // kPreVote, kVote: the candidate's last entry. `transfer` marks a campaign
  // asked for by the primary, which voters honour even inside a leader lease.
  Lsn last_lsn = 0;
  Term last_term = 0;
  bool transfer = false;

  // kPreVoteResponse, kVoteResponse.
  bool granted = false;

  // kAppend: entries follow (prev_lsn, prev_term); commit_lsn also in kHeartbeat.
  Lsn prev_lsn = 0;
  Term prev_term = 0;
  std::vector<Entry> entries;
  Lsn commit_lsn = 0;

  // kAppendResponse. On success: `match_lsn` is the last LSN the follower
  // holds durably and that matches the primary; `accepted_lsn` the last LSN
  // that matches (maybe not yet durable). On rejection: `rejected_prev_lsn`
  // names the append refused, and the hints locate the match point: the
  // follower's last LSN, and the term it has at rejected_prev_lsn (0 if its
  // log is shorter) with the first LSN of that term in its log.
  bool reject = false;
  Lsn match_lsn = 0;
  Lsn accepted_lsn = 0;
  Lsn rejected_prev_lsn = 0;
  Lsn hint_last_lsn = 0;
  Term hint_conflict_term = 0;
  Lsn hint_conflict_first_lsn = 0;

  // kHeartbeat, kHeartbeatResponse: echoed, confirms leadership for reads.
  // A kHeartbeatResponse also carries match_lsn and accepted_lsn, as a
  // successful kAppendResponse does.
  uint64_t context = 0;

  bool operator==(const Message&) const = default;
};

// A change the host must make to the log, in order: if `truncate`, drop every
// entry after `truncate_after`; then append `entries` (dense LSNs following
// the log's last). The host reports durability by `write_id`
// (ReplicaCore::OnLogDurable): ids grow by one per write.
struct LogWrite {
  uint64_t write_id = 0;
  bool truncate = false;
  Lsn truncate_after = 0;
  std::vector<Entry> entries;
};

// A snapshot the primary asks its host to send to `peer`, whose log would
// need entries the primary's log no longer holds. (lsn, term) is the primary's
// log base (FirstLsn() - 1 and its term): the oldest snapshot that will do.
// The host may send any snapshot of its applied state at (lsn', term') with
// lsn' >= lsn (a newer one saves log entries later), and reports the end of
// the transfer through ReplicaCore::ReportSnapshot. Until then, or until the
// peer's answers show it holds lsn, the primary sends that peer heartbeats
// only.
struct SnapshotRequest {
  NodeId peer = kNoNode;
  Lsn lsn = 0;
  Term term = 0;
  bool operator==(const SnapshotRequest&) const = default;
};

// The answer to ReplicaCore::ReadIndex. When ok, the read may be served once
// the host has applied up to `read_lsn` (which the core guarantees by the time
// it hands the result out). Otherwise the read failed (leadership lost) and
// the client should retry elsewhere.
struct ReadResult {
  uint64_t request_id = 0;
  Lsn read_lsn = 0;
  Status status;
};

enum class Role : uint8_t { kFollower, kPreCandidate, kCandidate, kPrimary };

const char* RoleName(Role role);

// Everything the core asks of its host after some inputs. The host handles a
// Ready completely, in this order, before it calls the core again:
//   1. persist `hard_state` durably (if set),
//   2. perform `log_write` on the log (written; it need not be synced yet),
//   3. send `messages` (and start the transfers of `snapshots`),
//   4. apply `committed` in LSN order,
//   5. answer `reads`.
// Step 1 before step 3 is the rule that makes votes and terms safe: a replica
// never says something that a crash could make it forget.
struct Ready {
  std::optional<HardState> hard_state;
  std::optional<LogWrite> log_write;
  std::vector<Message> messages;
  std::vector<Entry> committed;
  std::vector<ReadResult> reads;
  std::vector<SnapshotRequest> snapshots;

  bool empty() const {
    return !hard_state && !log_write && messages.empty() && committed.empty() && reads.empty() &&
           snapshots.empty();
  }
};

// A replica group's knobs and one member's identity. Times are in ticks: the
// host calls Tick() at a fixed period, so ticks are the only clock.
struct ReplicaConfig {
  NodeId id = kNoNode;           // this replica; must be in `members`
  std::vector<NodeId> members;   // every replica of the group, this one included
  uint32_t election_ticks = 10;  // base election timeout (and the check-quorum period)
  uint32_t heartbeat_ticks = 1;  // a primary's heartbeat period; < election_ticks
  // Lower ids get election timeouts shifted earlier by this many ticks per
  // rank, which prefers them among equally up-to-date replicas.
  uint32_t rank_skew_ticks = 1;
  bool pre_vote = true;                        // ask for a pre-vote before raising the term
  bool check_quorum = true;                    // a primary steps down without a majority's contact
  uint64_t random_seed = 1;                    // the core's only randomness (election timeouts)
  uint64_t max_append_bytes = 2 << 20;         // entry bytes per append; see ValidateWireLimits
  uint32_t max_append_entries = 1024;          // entries per append message
  uint32_t max_inflight_appends = 64;          // unacknowledged appends per peer
  uint64_t max_inflight_bytes = 16 << 20;      // unacknowledged entry bytes per peer
  uint64_t max_entry_bytes = 1 << 20;          // one proposal's payload; <= max_append_bytes
  uint64_t max_uncommitted_entries = 1 << 16;  // proposals refused beyond this
  uint64_t max_apply_bytes = 16 << 20;         // committed entry bytes per Ready
  uint32_t max_pending_reads = 4096;           // ReadIndex calls waiting

  Status Validate() const;
};

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_REPLICA_TYPES_H_
