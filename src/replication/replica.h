#ifndef TOYDB_REPLICATION_REPLICA_H_
#define TOYDB_REPLICATION_REPLICA_H_

// Replica: one member of a replica group, with its storage. It hosts the
// protocol core (ReplicaCore) on a ReplicaStore: performs the core's log
// writes, syncs them, persists its hard state, applies what is committed,
// and turns client requests into proposals and reads, answering each when
// its write concern or read rule is met, or its deadline passes.
//
// Deterministic and single-threaded: it reacts to calls (Step, Tick, Submit,
// TransferLeadership) and does the resulting work in Process(); it never
// starts a thread, sleeps or reads a clock. Messages for peers, already in
// their wire form (toydb::Message, addressed and naming the partition), go
// to the outbox function given at Open, on the calling thread. The Node runs it on
// its event loop on real time; the simulator runs it on simulated time.
//
// A storage failure (a failed sync or write: the store turned read-only)
// stops the replica: it answers every request with that failure and no
// longer sends, acknowledges or votes, so a primary that meets one gives up
// its role to the others by falling silent.
//
// Owned by its host (Node, or the simulator's node). Not thread-safe: one
// thread calls everything, except reads of `store()`.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include "src/replication/replica_core.h"
#include "src/replication/store_log.h"
#include "src/storage/replica/replica_store.h"
#include "toydb/message.h"
#include "toydb/partition.h"
#include "toydb/replica.h"

namespace toydb::replication {

class Replica {
 public:
  using Reply = std::function<void(ClientResponse)>;
  using Outbox = std::function<void(const toydb::Message&)>;
  // Receives one line per event that matters (role changes, refused
  // messages, snapshots, storage failures), prefixed with the partition and
  // the replica. Called on the replica's thread.
  using Logger = std::function<void(const std::string&)>;

  // Opens the replica of `partition` held by node `self`, its storage in
  // store_options.store.dir. `seed` randomizes its election timeouts.
  static StatusOr<std::unique_ptr<Replica>> Open(const PartitionConfig& partition, NodeId self,
                                                 const ReplicaOptions& options,
                                                 const ReplicaStoreOptions& store_options,
                                                 uint64_t seed, Outbox outbox,
                                                 Logger log = nullptr);
  ~Replica();
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // Inputs. Each is handled in part at once; call Process() after them.
  // A message from a peer, as it came off the wire: a protocol message or a
  // snapshot chunk or answer. InvalidArgument for one the replica refuses
  // (malformed, not addressed to it, from a non-member, another
  // partition's); stale messages are ignored, not errors.
  Status Receive(const toydb::Message& message);
  // The same for a protocol message already translated (tests).
  Status Step(const Message& message);
  void Tick();
  // A client request (a read or a write) for this partition. `reply` is
  // called exactly once, from a later Process() (or at once for a request
  // refused outright).
  void Submit(const ClientRequest& request, Reply reply);
  Status TransferLeadership(NodeId to);
  // Starts an election now.
  void Campaign();
  // Answers every request still waiting with `status` (writes with an
  // unknown outcome), before the host closes the replica.
  void AbandonRequests(const Status& status);

  // Does everything the inputs so far call for: persists, writes and syncs
  // the log, sends, applies, answers. Returns when nothing is left to do.
  void Process();

  ReplicaStats GetStats() const;
  const PartitionConfig& partition() const { return partition_; }
  NodeId id() const { return self_; }
  bool is_primary() const { return failure_.ok() && core_->role() == Role::kPrimary; }
  NodeId leader() const { return core_->leader(); }
  Lsn applied_lsn() const { return store_->applied_lsn(); }
  Lsn commit_lsn() const { return core_->commit_lsn(); }
  const Status& failure() const { return failure_; }
  // The applied state, for reads from any thread.
  Store* store() { return store_->store(); }
  ReplicaStore* replica_store() { return store_.get(); }

 private:
  struct PendingWrite {
    ClientRequest request;  // its op, key, session, concern (payload dropped)
    Reply reply;
    uint64_t deadline_tick = 0;
    Term term = 0;
    bool applied = false;
    ApplyResult result;
  };
  // A snapshot being sent to one follower, a chunk at a time: each chunk is
  // sent once the previous one is answered (or again after a silence).
  struct OutgoingSnapshot {
    std::unique_ptr<SnapshotSource> source;
    uint64_t offset = 0;          // of the chunk in flight
    uint64_t sent_tick = 0;       // when it was sent
    uint32_t silent_resends = 0;  // resends since the last answer
  };
  struct PendingRead {
    ClientRequest request;
    Reply reply;
    uint64_t deadline_tick = 0;
    Lsn read_lsn = 0;        // serve once applied_lsn >= read_lsn
    bool confirmed = false;  // a linearizable read's index is known
  };

  Replica(const PartitionConfig& partition, NodeId self, const ReplicaOptions& options,
          const StoreOptions& limits, std::unique_ptr<ReplicaStore> store, Outbox outbox);
  static ReplicaConfig CoreConfig(const PartitionConfig& partition, NodeId self,
                                  const ReplicaOptions& options, uint64_t seed);
  void TrackRole();

  Status ReceiveWire(const toydb::Message& message);

  // Process, by step.
  void HandleReady(Ready ready);
  Status PersistHardState(const HardState& hard_state);
  // Consumes the entries' payloads.
  Status ApplyCommitted(std::vector<Entry>& committed);
  void AnswerWrites();
  void AnswerReads();
  void UpdateRetentionFloor();
  void Fail(const Status& cause);
  void HandleReadies();
  void Log(const std::string& line) const;

  // Snapshots (replica_snapshots.cc).
  void StartSnapshot(const SnapshotRequest& request);
  void SendSnapshotChunk(NodeId peer, OutgoingSnapshot& transfer);
  void TickSnapshots();
  void EndSnapshot(NodeId peer, bool delivered);
  Status ReceiveSnapshotChunk(NodeId from, const SnapshotChunk& chunk);
  Status ReceiveSnapshotResponse(NodeId from, const SnapshotResponse& response);
  void AnswerSnapshot(NodeId to, const SnapshotChunk& chunk, SnapshotResult result,
                      uint64_t next_offset);

  // Requests.
  void SubmitWrite(const ClientRequest& request, Reply reply);
  void SubmitRead(const ClientRequest& request, Reply reply);
  void ServeRead(PendingRead& read);
  ClientResponse WriteResponse(const PendingWrite& write) const;
  ClientResponse ErrorResponse(const ClientRequest& request, const Status& status) const;
  uint32_t AcksOf(Lsn lsn) const;
  bool ConcernMet(const PendingWrite& write, Lsn lsn) const;

  const PartitionConfig partition_;
  const NodeId self_;
  const ReplicaOptions options_;
  const StoreOptions limits_;  // key, value and batch limits of a write
  std::unique_ptr<ReplicaStore> store_;
  StoreLog log_;
  std::unique_ptr<ReplicaCore> core_;
  Outbox outbox_;
  Logger logger_;
  Status failure_;

  uint64_t now_tick_ = 0;
  HardState saved_hard_state_;  // term and vote as persisted durably
  Role last_role_ = Role::kFollower;
  Term last_term_ = 0;
  std::map<Lsn, PendingWrite> writes_;     // by LSN
  std::map<uint64_t, PendingRead> reads_;  // by read id
  uint64_t next_read_id_ = 1;
  std::map<NodeId, uint64_t> peer_caught_up_tick_;
  std::map<NodeId, OutgoingSnapshot> snapshots_out_;

  // Counters.
  uint64_t elections_started_ = 0;
  uint64_t elections_won_ = 0;
  uint64_t snapshots_sent_ = 0;
  uint64_t snapshots_received_ = 0;
};

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_REPLICA_H_
