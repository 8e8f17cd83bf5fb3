#ifndef TOYDB_TESTS_REPLICATION_REPLICA_GROUP_H_
#define TOYDB_TESTS_REPLICATION_REPLICA_GROUP_H_

// ReplicaGroup: a replica group of real Replicas (ReplicaStore on a MemEnv
// per node) wired together in one thread, for the runtime's tests. Messages
// wait in a queue until Deliver(); a node can be stopped (its Replica closed,
// or crashed, losing unsynced data) and started again from its disk; links
// can be cut. Owned by a test; not thread-safe.

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/incarnation_env.h"
#include "src/replication/replica.h"
#include "toydb/mem_env.h"

namespace toydb::replication::testing {

class ReplicaGroup {
 public:
  // Replicas 1..size of partition 7. `options` applies to all.
  explicit ReplicaGroup(size_t size, ReplicaOptions options = DefaultOptions(),
                        SyncPolicy sync = SyncPolicy::kEveryWrite);
  static ReplicaOptions DefaultOptions();

  Replica& replica(NodeId id) { return *replicas_.at(id); }
  bool up(NodeId id) const { return replicas_.count(id) != 0; }
  MemEnv& disk(NodeId id) { return *disks_.at(id); }
  const PartitionConfig& partition() const { return partition_; }

  // Delivers queued messages (and those they cause) until none is left, and
  // processes every replica.
  void Deliver();
  // One tick on every live replica, then Deliver().
  void Tick();
  // Ticks until a primary is known by a majority, or `max_ticks` pass.
  std::optional<NodeId> ElectWithin(uint64_t max_ticks);
  std::optional<NodeId> Primary() const;

  // Submits on `id` and returns the reply once it arrives, ticking at most
  // `max_ticks` (nullopt if no reply came).
  std::optional<ClientResponse> Call(NodeId id, const ClientRequest& request,
                                     uint64_t max_ticks = 200);
  // Submits on `id`; the reply lands in replies() under the request's sequence.
  void Submit(NodeId id, const ClientRequest& request);
  std::map<uint64_t, ClientResponse>& replies() { return replies_; }

  // Closes the replica cleanly (its store syncs and checkpoints).
  void Stop(NodeId id);
  // Power cut: the disk forgets what was not synced, then the replica goes.
  void Crash(NodeId id);
  Status Start(NodeId id);
  void Cut(NodeId a, NodeId b);
  void Heal() { cut_.clear(); }

  // The (key -> value, version) contents of a replica's applied state.
  std::map<std::string, std::pair<std::string, Lsn>> Contents(NodeId id);

  // Every line the replicas logged, in order.
  const std::vector<std::string>& logs() const { return logs_; }
  // The messages sent and not yet delivered, decoded.
  std::vector<toydb::Message> InFlight() const;

  static ClientRequest Put(std::string key, std::string value,
                           WriteConcern concern = WriteConcern{});
  static ClientRequest Read(std::string key,
                            ReadConsistency consistency = ReadConsistency::kLinearizable);

 private:
  struct Queued {
    NodeId from;
    NodeId to;
    std::string frame;  // encoded with the wire codec, as a transport would
  };
  StoreOptions StoreOptionsFor(NodeId id);

  PartitionConfig partition_;
  ReplicaOptions options_;
  SyncPolicy sync_;
  std::map<NodeId, std::unique_ptr<MemEnv>> disks_;
  // Each incarnation's view of its disk, killed at a crash; declared
  // before replicas_ so that it outlives the replica using it.
  std::map<NodeId, std::unique_ptr<sim::IncarnationEnv>> incarnation_envs_;
  std::map<NodeId, std::unique_ptr<Replica>> replicas_;
  std::vector<Queued> queue_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::map<uint64_t, ClientResponse> replies_;
  uint64_t incarnations_ = 0;
  std::vector<std::string> logs_;
};

}  // namespace toydb::replication::testing

#endif  // TOYDB_TESTS_REPLICATION_REPLICA_GROUP_H_
