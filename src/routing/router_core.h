#ifndef TOYDB_ROUTING_ROUTER_CORE_H_
#define TOYDB_ROUTING_ROUTER_CORE_H_

// RouterCore: the Router's protocol logic as a deterministic state machine.
// Inputs: requests (Submit), messages from nodes (Receive), transport
// reports (PeerUnreachable), the passing of time (Tick) and dead-letter
// commands; every input carries the current time in microseconds. Outputs,
// taken with TakeReady: messages to send and completed requests. No threads,
// no clock, no I/O: the same inputs give the same outputs, so the simulator
// can drive it as it drives the replicas. Randomness (client ids, jitter)
// comes from a generator seeded by RouterOptions::seed.
//
// What it guarantees (docs/ARCHITECTURE.md, "Routing"):
//  - a write keeps one session (client id, sequence) across all its
//    attempts and its dead-letter retries, so the replicas apply it once;
//  - a client id has at most one write in flight, and its sequences grow:
//    a retry is never refused as stale;
//  - a write is reported done, committed short of its concern, not written,
//    or unknown; an unknown or timed-out write is in the dead-letter queue.
//
// Owned by the Router runtime (or a simulator); not thread-safe: the owner
// serializes every call.

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "src/routing/hash_ring.h"
#include "toydb/message.h"
#include "toydb/router.h"
#include "toydb/status.h"

namespace toydb::routing {

// A request as the application gives it: `body` holds the op, key(s),
// value, expected version, write concern and read consistency; the core
// fills in partition, session and min_lsn.
struct RouterRequest {
  ClientRequest body;
  uint32_t deadline_ms = 0;  // 0: RouterOptions::deadline_ms
};

struct RouterCompletion {
  uint64_t op = 0;
  bool read = false;
  WriteResult write;                                        // a write's result
  StatusOr<VersionedValue> value = absl::UnknownError("");  // a read's
};

struct RouterReady {
  std::vector<Message> messages;
  std::vector<RouterCompletion> completions;
};

class RouterCore {
 public:
  // InvalidArgument for options Validate() refuses.
  [[nodiscard]] static StatusOr<std::unique_ptr<RouterCore>> Create(const RouterOptions& options);

  // Accepts a request and returns its op id, which its completion carries.
  // A request refused at once (bad input, too many held) completes now.
  uint64_t Submit(RouterRequest request, int64_t now_micros);
  // A ClientResponse or HealthProbeResponse from a node; others are ignored.
  void Receive(const Message& message, int64_t now_micros);
  // The transport could not deliver to `node`: it is marked down, and the
  // request in flight to it is retried.
  void PeerUnreachable(NodeId node, int64_t now_micros);
  // Fires what is due: attempt timeouts, backoffs, deadlines, probes.
  void Tick(int64_t now_micros);
  // When Tick next has something to do (INT64_MAX: nothing planned).
  int64_t NextWakeMicros() const;
  // Completes every held request (Unavailable; a sent write kUnknown).
  void Shutdown(int64_t now_micros);

  RouterReady TakeReady();

  std::vector<DeadLetter> DeadLetters() const;
  // Starts a retry of a dead letter; its op id, or NotFound /
  // FailedPrecondition (already being retried).
  [[nodiscard]] StatusOr<uint64_t> RetryDeadLetter(uint64_t id, uint32_t deadline_ms,
                                                   int64_t now_micros);
  [[nodiscard]] Status DropDeadLetter(uint64_t id);

  PartitionId PartitionOf(std::string_view key) const { return ring_.Lookup(key); }
  RouterStats Stats() const;
  // For tests.
  NodeId CachedPrimary(PartitionId partition) const;
  Lsn SessionLsn(PartitionId partition) const;
  bool IsUp(NodeId node) const;
  // The op holding session (client_id, sequence), or 0: lets a simulator
  // that sees the requests on the wire tell which write each one carries.
  uint64_t OpOfSession(uint64_t client_id, uint64_t sequence) const;
  size_t held_requests() const { return ops_.size(); }

 private:
  // One client id of a partition's pool, with at most one write in flight.
  struct Slot {
    uint64_t client_id = 0;
    uint64_t next_sequence = 1;
    bool busy = false;
  };
  struct Partition {
    PartitionConfig config;
    NodeId primary = 0;
    Lsn session_lsn = 0;
    std::vector<Slot> slots;
    std::deque<uint64_t> waiting;  // writes waiting for a free slot, in order
    size_t next_member = 0;        // where to look when the primary is unknown
    uint64_t read_rotation = 0;    // spreads kSession/kAny reads
  };
  struct Op {
    uint64_t id = 0;
    ClientRequest request;  // partition, session filled in
    bool write = false;
    int64_t deadline = 0;
    int slot = -1;                // the pool slot holding its session, or -1
    uint64_t dead_letter = 0;     // a retry of this dead letter, or 0
    bool has_session = false;     // client_id/sequence assigned
    NodeId target = 0;            // the node of the attempt in flight, or 0
    NodeId last_failed = 0;       // the node of the last failed attempt
    int64_t attempt_expires = 0;  // when the attempt in flight is given up
    int64_t retry_at = 0;         // a backoff's end, or 0
    int64_t timer = std::numeric_limits<int64_t>::min();  // its key in timers_, if set
    uint32_t attempts = 0;
    uint32_t failures = 0;       // backoff exponent
    uint32_t redirects = 0;      // leader hints followed since the last backoff
    bool maybe_applied = false;  // an attempt may have reached a primary
    Status last_error;
  };
  struct NodeState {
    RouterNodeHealth health;
    uint64_t probe_id = 0;  // the probe in flight, or 0
    int64_t probe_sent = 0;
  };
  struct Letter {
    DeadLetter letter;
    bool retrying = false;
  };
  // What an answer means for a request.
  enum class Verdict {
    kDone,      // final: success, a partial commit, or a definite failure
    kRedirect,  // not served here and nothing written: try the hinted node
    kRetry,     // not served; retry after a backoff (maybe applied: see flag)
  };

  RouterCore(const RouterOptions& options, HashRing ring);

  Status Prepare(Op& op);
  Status CheckFitsFrame(const Op& op) const;
  void Admit(uint64_t id, int64_t now);
  bool TakeSlot(Op& op);
  void ReleaseSlot(Op& op, bool retire);
  void StartAttempt(Op& op, int64_t now);
  NodeId ChooseTarget(Op& op);
  NodeId NextMember(Partition& p, NodeId avoid, bool prefer_up);
  void OnClientResponse(NodeId from, const ClientResponse& response, int64_t now);
  void SettleLetter(const ClientResponse& response);
  Verdict Judge(const Op& op, const ClientResponse& response, bool* maybe_applied) const;
  void AttemptFailed(Op& op, NodeId node, bool maybe_applied, const Status& error, NodeId hint,
                     int64_t now);
  void Backoff(Op& op, int64_t now);
  void FinishWithResponse(Op& op, const ClientResponse& response);
  void Expire(Op& op, const Status& reason);
  void Finish(Op& op, RouterCompletion completion);
  uint64_t AddDeadLetter(const Op& op, const Status& status, WriteOutcome outcome);
  void SetTimer(Op& op, int64_t at);
  void OnTimer(Op& op, int64_t now);
  void Probe(int64_t now);
  void CheckProbes(int64_t now);
  void OnProbeResponse(NodeId from, const HealthProbeResponse& response, int64_t now);
  void MarkDown(NodeId node);
  void NotePrimary(Partition& p, NodeId node);
  uint64_t NewClientId();
  int64_t Now(int64_t now_micros);
  void Refuse(uint64_t id, bool read, const Status& status);

  const RouterOptions options_;
  HashRing ring_;
  std::mt19937_64 rng_;
  int64_t now_ = 0;
  std::map<PartitionId, Partition> partitions_;
  std::map<NodeId, NodeState> nodes_;
  std::map<uint64_t, Op> ops_;
  // (client_id, sequence) of the requests held -> op id.
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> by_session_;
  std::set<std::pair<int64_t, uint64_t>> timers_;  // (when, op id)
  std::map<uint64_t, Letter> letters_;             // by id: oldest first
  uint64_t next_op_ = 1;
  uint64_t next_letter_ = 1;
  uint64_t next_probe_ = 1;
  uint64_t read_client_id_ = 0;  // reads' client id; their sequence is the op id
  int64_t next_probe_at_ = 0;
  RouterStats stats_;
  RouterReady ready_;
};

}  // namespace toydb::routing

#endif  // TOYDB_ROUTING_ROUTER_CORE_H_
