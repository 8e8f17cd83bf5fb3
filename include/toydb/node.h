#ifndef TOYDB_NODE_H_
#define TOYDB_NODE_H_

// Node: one toydb process's share of a cluster. It hosts this node's replica
// of every partition that names it (PartitionConfig), each with its own
// storage under NodeOptions::dir, and runs them on an event loop thread of
// its own: messages from the transport, client requests and ticks of the real
// clock are handled there one at a time, so the replicas' protocol logic
// stays single-threaded and deterministic. Storage background work
// (checkpoints, compaction) runs on the stores' own threads.
//
// A host application writes and reads through it, blocking or with a
// callback. A request for a partition whose primary is elsewhere is answered
// FailedPrecondition with a leader hint (IsNotPrimary, LeaderHint): the
// Router retries there. Requests that arrive over the transport (from a
// Router in another process) are served the same way and answered to their
// sender, and so are operators' StatsRequest and AdminRequest messages
// (message.h).
//
// The host owns the Node; the Transport must outlive it. Thread-safe: any
// thread may call any method. Callbacks run on the node's loop thread and
// must not block; they may call the Node.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "toydb/clock.h"
#include "toydb/message.h"
#include "toydb/options.h"
#include "toydb/partition.h"
#include "toydb/replica.h"
#include "toydb/status.h"
#include "toydb/store.h"
#include "toydb/transport.h"

namespace toydb {

struct NodeOptions {
  NodeId id = 0;
  // The replica of partition P lives in dir/partition-P. Created if missing.
  std::string dir;
  // Carries the replicas' messages; not owned, must outlive the node.
  Transport* transport = nullptr;
  // The cluster's partitions; the node hosts those that name `id`.
  std::vector<PartitionConfig> partitions;
  ReplicaOptions replica;
  // Every replica's store: limits, sync policy, cache. `dir` is ignored (see
  // above); `background_threads` must stay true.
  StoreOptions store;
  // The length of a tick, the replicas' unit of time. At least 1.
  uint32_t tick_ms = 10;
  // Real time; nullptr means Clock::Default().
  Clock* clock = nullptr;
  // Randomizes election timeouts; 0 picks one from the clock.
  uint64_t seed = 0;
  // Receives one line per event that matters: role changes and elections,
  // snapshots sent and installed, messages refused (with their sender),
  // storage failures. Called on the node's loop thread; must not block.
  // nullptr: nothing is logged.
  std::function<void(std::string_view line)> log;
  // Counters of the host process (its transport's, for example) that a
  // StatsResponse carries beside the replicas' figures. Called on the
  // node's loop thread when a StatsRequest arrives; must not block.
  // nullptr: none.
  std::function<std::vector<StatsCounter>()> counters;
};

class Node {
 public:
  using Callback = std::function<void(ClientResponse)>;

  // Opens every replica this node hosts (recovering their storage), registers
  // with the transport and starts the loop.
  [[nodiscard]] static StatusOr<std::unique_ptr<Node>> Open(const NodeOptions& options);
  // Stops the loop, answers every request still waiting (Unavailable), and
  // closes the replicas.
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Any request, answered through `done` exactly once.
  void Submit(ClientRequest request, Callback done);
  // The same, waiting for the answer.
  ClientResponse Call(ClientRequest request);

  // Convenience forms over Call. Writes return the write's LSN (the key's
  // new version) and use ReplicaOptions::default_concern.
  [[nodiscard]] StatusOr<Lsn> Put(PartitionId partition, std::string_view key,
                                  std::string_view value);
  [[nodiscard]] StatusOr<Lsn> Delete(PartitionId partition, std::string_view key);
  [[nodiscard]] StatusOr<Lsn> CompareAndSet(PartitionId partition, std::string_view key,
                                            Lsn expected_version, std::string_view value);
  // NotFound if the key is absent.
  [[nodiscard]] StatusOr<VersionedValue> Get(
      PartitionId partition, std::string_view key,
      ReadConsistency consistency = ReadConsistency::kLinearizable);

  // Hands the primary role of `partition` from this node to `to`.
  [[nodiscard]] Status TransferLeadership(PartitionId partition, NodeId to);
  // Starts an election for `partition` now.
  [[nodiscard]] Status Campaign(PartitionId partition);

  std::vector<ReplicaStats> GetStats();
  NodeId id() const;

 private:
  struct State;
  explicit Node(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// The wire form of a replica's figures (StatsResponse), and back.
StatsReplica ToStatsReplica(const ReplicaStats& stats);
ReplicaStats FromStatsReplica(const StatsReplica& wire);

// The status a ClientResponse carries: OK, or its code and message (a
// FailedPrecondition with a leader hint is a NotPrimaryError).
[[nodiscard]] Status StatusOfResponse(const ClientResponse& response);

}  // namespace toydb

#endif  // TOYDB_NODE_H_
