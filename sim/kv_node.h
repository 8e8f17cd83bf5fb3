#ifndef TOYDB_SIM_KV_NODE_H_
#define TOYDB_SIM_KV_NODE_H_

// KvNode: the simulator's host of a node's replicas, as the real Node
// (src/node/node.cc) hosts them on real time. It opens this node's replica of
// every partition that names it, each on its own directory of the node's
// simulated disk with background work done inline (no threads); ticks every
// replica from a timer; runs the stores' background work (checkpoints, WAL
// release, compaction) from the ticks; translates the replicas' messages to
// and from the wire (Replica::Receive and its outbox); and serves ClientRequests that arrive
// over the network, answering each with a ClientResponse to its sender.
// After every input it lets the replicas Process() and shows each one to a
// KvObserver, which checks invariants as the run goes.
//
// Owned by its SimNode (one per incarnation); single-threaded.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "sim/sim_node.h"
#include "src/replication/replica.h"
#include "toydb/env.h"
#include "toydb/options.h"
#include "toydb/partition.h"
#include "toydb/replica.h"

namespace toydb::sim {

// What every KvNode of a cluster shares.
struct KvClusterConfig {
  std::vector<PartitionConfig> partitions;
  ReplicaOptions replica;
  // Every replica's store: limits, sync policy, file sizes. `dir`, `env`,
  // `clock` and `background_threads` are set by the node.
  StoreOptions store;
  // Simulated time between two ticks of a node's replicas, before skew.
  int64_t tick_micros = 10'000;
  // A deliberately broken disk, for the checker's own tests: syncs of the
  // replicas' log (WAL) files report success without making anything
  // durable, so replicas acknowledge entries that a crash then loses.
  bool log_sync_lies = false;
};

// Sees every replica after each of its Process() calls. Implemented by the
// scenario's oracle.
class KvObserver {
 public:
  virtual ~KvObserver() = default;
  // Replica `replica` of node `node` was opened (after recovery).
  virtual void OnReplicaOpened(NodeId node, replication::Replica& replica) = 0;
  // It has processed its inputs: roles, terms and applied entries may have
  // changed.
  virtual void OnReplicaProcessed(NodeId node, replication::Replica& replica) = 0;
  // Something the node could not do that the run must report.
  virtual void OnNodeError(NodeId node, const std::string& what) = 0;
};

// The partitions of `partitions` x `replicas` on nodes 1..`nodes`: partition
// p's members are `replicas` consecutive nodes starting at node p % nodes + 1,
// so that every node leads a share. REQUIRES: 1 <= replicas <= nodes.
std::vector<PartitionConfig> SpreadPartitions(uint32_t partitions, uint32_t replicas,
                                              uint32_t nodes);

class KvNode final : public SimProcess {
 public:
  static constexpr uint64_t kTickTimer = 1;

  // Opens (recovering) every replica of ctx.id and arms the tick timer.
  // `tick_micros` is this node's own tick period (skewed clocks differ).
  static StatusOr<std::unique_ptr<SimProcess>> Create(const NodeContext& ctx,
                                                      const KvClusterConfig& config,
                                                      int64_t tick_micros, KvObserver* observer);
  ~KvNode() override;

  void OnMessage(const Message& message) override;
  void OnTimer(uint64_t timer_id) override;

  // This node's replicas, by partition.
  const std::map<PartitionId, std::unique_ptr<replication::Replica>>& replicas() const {
    return replicas_;
  }
  // Whether a replica stopped after a storage failure, or its store turned
  // read-only (it would stop at its next write).
  bool AnyReplicaFailed() const;

 private:
  KvNode(const NodeContext& ctx, int64_t tick_micros, KvObserver* observer);
  Status OpenReplicas(const KvClusterConfig& config);
  Status ArmTick();
  void Serve(const Message& message, const ClientRequest& request);
  void SendReplication(const Message& message);
  void ProcessAll();
  void Process(replication::Replica& replica);

  NodeContext ctx_;
  // Wraps ctx.disk when config.log_sync_lies; declared before the replicas,
  // so that it outlives them.
  std::unique_ptr<Env> lying_disk_;
  const int64_t tick_micros_;
  KvObserver* const observer_;
  std::map<PartitionId, std::unique_ptr<replication::Replica>> replicas_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_KV_NODE_H_
