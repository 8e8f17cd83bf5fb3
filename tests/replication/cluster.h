#ifndef TOYDB_TESTS_REPLICATION_CLUSTER_H_
#define TOYDB_TESTS_REPLICATION_CLUSTER_H_

// Cluster: a deterministic test bench for ReplicaCore. It runs a replica
// group in one thread over a tiny in-memory network that can drop, duplicate,
// delay (and so reorder) and cut messages, crashes and restarts replicas
// keeping only their persisted hard state and the synced part of their log,
// compacts their logs, moves snapshots between them as a host would (in
// chunks, delayed, sometimes failing), and checks the protocol's safety
// properties as it goes. Every random choice
// comes from one seed. Owned by a test; not thread-safe; driven by one thread.
//
// Unit tests drive it step by step (Deliver, Sync, Tick); the randomized
// test (replication_random_test.cc) lets it run with faults on.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/rng.h"
#include "src/replication/replica_core.h"

namespace toydb::replication::testing {

struct NetworkFaults {
  double drop = 0;               // probability a message is lost
  double duplicate = 0;          // probability a message is delivered twice
  uint32_t max_delay_ticks = 0;  // delays drawn from [0, max]: reorders
};

// How the bench's hosts move snapshots. The sender snapshots its applied
// state at an LSN between the one asked for and its applied LSN. A transfer
// sends 1..max_chunks
// chunks, one every [0, max_delay_ticks] ticks (0: all within the tick);
// each chunk is lost, failing the transfer, with probability `fail`; a cut
// link or a receiver that is down fails it too.
struct SnapshotFaults {
  double fail = 0;
  uint32_t max_delay_ticks = 0;
  uint32_t max_chunks = 1;
  // Probability the receiver crashes once the snapshot is installed in its
  // storage but before its core hears of it (the restart must find it).
  double crash_after_install = 0;
};

// One replica and what survives its crashes.
struct SimReplica {
  NodeId id = kNoNode;
  bool up = true;
  std::unique_ptr<ReplicaCore> core;
  MemReplicaLog log;
  HardState hard_state;        // as persisted
  std::vector<Entry> applied;  // applied[i] has LSN i + 1 (the state; survives crashes)
  uint64_t incarnation = 0;    // grows at each restart: a crash ends its transfers
  std::vector<ReadResult> reads;
  // The last durable acknowledgement it sent: (term, LSN, term of that entry).
  Term acked_in_term = 0;
  Lsn acked_lsn = 0;
  Term acked_entry_term = 0;
};

class Cluster {
 public:
  // Replicas 1..size, all followers in term 0. `base` gives the knobs (its id
  // and members are filled in).
  Cluster(size_t size, uint64_t seed, ReplicaConfig base = {});

  SimReplica& replica(NodeId id) { return replicas_.at(id); }
  ReplicaCore& core(NodeId id) { return *replicas_.at(id).core; }
  std::vector<NodeId> ids() const;
  sim::Rng& rng() { return rng_; }
  uint64_t now() const { return now_; }

  // Settings.
  void set_faults(const NetworkFaults& faults) { faults_ = faults; }
  // When on (the default), a log write is synced as soon as it is performed.
  void set_auto_sync(bool on) { auto_sync_ = on; }
  // When on, every delivered message is printed (for replaying a seed).
  void set_trace(bool on) { trace_ = on; }
  // Called with every message a replica sends, before the network's faults
  // (drop, duplicate, delay) apply to it.
  void set_on_send(std::function<void(const Message&)> on_send) { on_send_ = std::move(on_send); }
  // When set, each replica compacts its log after applying, keeping only the
  // last `keep` applied entries (and the base). Unset (the default): never.
  void set_compact_keep(std::optional<uint64_t> keep) { compact_keep_ = keep; }
  void set_snapshot_faults(const SnapshotFaults& faults) { snapshot_faults_ = faults; }
  // While held, snapshot transfers wait (unit tests look at them first).
  void set_hold_snapshots(bool on) { hold_snapshots_ = on; }
  // Every snapshot request a primary made: (sender, request).
  const std::vector<std::pair<NodeId, SnapshotRequest>>& snapshot_requests() const {
    return snapshot_requests_;
  }
  uint64_t snapshots_installed() const { return snapshots_installed_; }
  uint64_t snapshots_failed() const { return snapshots_failed_; }
  size_t transfers_in_progress() const { return transfers_.size(); }

  // Driving.
  void Tick(NodeId id);
  void TickAll();
  void Sync(NodeId id);
  // Handles every Ready of `id` (persist, write, send, apply).
  void Process(NodeId id);
  // Delivers every message due now (and those they cause), in order.
  void DeliverDue();
  // Sends the snapshot chunks due now (installing the last ones).
  void StepTransfers();
  // Advances time one tick: ticks every live replica, then delivers and
  // moves snapshot chunks.
  void RunTick();
  // Runs until no message or snapshot is in flight and no replica has work
  // (at most `max_rounds` delivery rounds), syncing every log as it goes.
  void Stabilize(int max_rounds = 1000);
  // Runs ticks until some replica is primary and a majority follows it, or
  // `max_ticks` pass. Returns the primary.
  std::optional<NodeId> ElectWithin(uint64_t max_ticks);

  // Faults.
  void Crash(NodeId id);
  void Restart(NodeId id);
  void Cut(NodeId a, NodeId b);  // both directions
  void CutOneWay(NodeId from, NodeId to);
  void Isolate(NodeId id);
  void Heal();
  // Drops every message in flight.
  void DropInFlight() { in_flight_.clear(); }
  // Messages in flight, for unit tests to inspect or filter.
  std::vector<Message> InFlight() const;
  void DropIf(const std::function<bool(const Message&)>& predicate);

  // The primary of the highest term among live replicas, if any.
  std::optional<NodeId> Primary() const;
  // Proposes on the current primary; returns the LSN.
  StatusOr<Lsn> Propose(std::string payload);
  // Asks the current primary for a read index under a fresh request id, and
  // remembers the highest LSN applied anywhere at that moment: a linearizable
  // read must not be served below it.
  Status ReadIndex();
  uint64_t reads_served() const { return reads_served_; }

  // Safety checks. The first violation seen, empty if none.
  const std::string& violation() const { return violation_; }
  const std::map<Lsn, Entry>& committed() const { return committed_; }
  // Checks that every live replica applied the same entries and that their
  // logs agree up to the commit LSN.
  std::string CheckConverged() const;

 private:
  struct InFlightMessage {
    uint64_t deliver_at;
    uint64_t seq;
    Message message;
  };
  // A snapshot on its way, as the primary's host would stream it.
  struct SnapshotTransfer {
    NodeId from = kNoNode;
    NodeId to = kNoNode;
    uint64_t from_incarnation = 0;
    Term primary_term = 0;  // the sender's term when asked: tags every chunk
    Lsn lsn = 0;
    Term term = 0;
    std::vector<Entry> state;  // the sender's applied entries up to lsn
    uint32_t chunks_left = 1;
    uint64_t next_at = 0;
  };
  void StartTransfers(SimReplica& sender, const std::vector<SnapshotRequest>& requests);
  // Sends the transfer's next chunk; returns false once it is over.
  bool StepTransfer(SnapshotTransfer& transfer);
  void InstallSnapshot(SimReplica& receiver, const SnapshotTransfer& transfer);
  void ReportSnapshot(const SnapshotTransfer& transfer, bool delivered);
  void Compact(SimReplica& replica);
  ReplicaConfig ConfigFor(NodeId id) const;
  void Persist(SimReplica& replica, Ready& ready);
  void Apply(SimReplica& replica, const std::vector<Entry>& entries);
  void Enqueue(const Message& message);
  bool Linked(NodeId from, NodeId to) const;
  void Deliver(const Message& message);
  void CheckPrimary(SimReplica& replica);
  void RecordAck(SimReplica& replica, const Message& message);
  void CheckAckSurvived(SimReplica& replica);
  void Fail(std::string what);

  ReplicaConfig base_;
  sim::Rng rng_;
  std::map<NodeId, SimReplica> replicas_;
  NetworkFaults faults_;
  bool auto_sync_ = true;
  bool trace_ = false;
  std::function<void(const Message&)> on_send_;
  uint64_t now_ = 0;
  uint64_t next_seq_ = 0;
  uint64_t rng_seed_salt_ = 0;  // gives each incarnation its own timeouts
  std::vector<InFlightMessage> in_flight_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::optional<uint64_t> compact_keep_;
  SnapshotFaults snapshot_faults_;
  // Snapshot decisions draw from their own stream, so that a run without
  // compaction makes exactly the choices it made before snapshots existed.
  sim::Rng snapshot_rng_;
  std::vector<SnapshotTransfer> transfers_;
  bool hold_snapshots_ = false;
  std::vector<std::pair<NodeId, SnapshotRequest>> snapshot_requests_;
  uint64_t snapshots_installed_ = 0;
  uint64_t snapshots_failed_ = 0;

  std::map<uint64_t, Lsn> read_floors_;  // request id -> LSN the read must reach
  uint64_t next_read_id_ = 1;
  uint64_t reads_served_ = 0;
  void CheckRead(SimReplica& replica, const ReadResult& read);
  std::map<Term, NodeId> primaries_;  // every primary seen, by term
  std::map<Lsn, Entry> committed_;    // every entry any replica applied
  // For each applied LSN, the lowest term any replica was in when it applied
  // it: the entry was committed in that term or earlier.
  std::map<Lsn, Term> commit_term_bound_;
  std::string violation_;
};

}  // namespace toydb::replication::testing

#endif  // TOYDB_TESTS_REPLICATION_CLUSTER_H_
