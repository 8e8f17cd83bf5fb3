#ifndef TOYDB_SIM_SIMULATOR_H_
#define TOYDB_SIM_SIMULATOR_H_

// Simulator: a whole cluster in one process, on simulated time. It owns the
// scheduler (time), the root Rng (randomness), the network (Transport) and
// the nodes (each with its own MemEnv disk), and records everything in one
// Trace. The same seed and the same calls give the same trace hash. Not
// thread-safe: one simulation per thread.

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "sim/rng.h"
#include "sim/scheduler.h"
#include "sim/sim_network.h"
#include "sim/sim_node.h"
#include "sim/trace.h"

namespace toydb::sim {

class Simulator {
 public:
  static constexpr size_t kMaxNodes = 256;

  // REQUIRES: network.Validate() is OK.
  explicit Simulator(uint64_t seed, NetworkOptions network = {});
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  uint64_t seed() const { return seed_; }
  Rng& rng() { return rng_; }  // for the scenario's own choices
  Scheduler& scheduler() { return scheduler_; }
  Clock& clock() { return clock_; }
  SimNetwork& network() { return network_; }
  Trace& trace() { return trace_; }

  // Adds and starts node `id`. InvalidArgument for id 0, AlreadyExists for a
  // known id, ResourceExhausted beyond kMaxNodes.
  [[nodiscard]] StatusOr<SimNode*> AddNode(NodeId id, SimNode::Factory factory);
  // nullptr if unknown.
  SimNode* node(NodeId id);
  // Node ids in ascending order.
  std::vector<NodeId> node_ids() const;
  std::vector<NodeId> up_node_ids() const;
  std::vector<NodeId> down_node_ids() const;

 private:
  const uint64_t seed_;
  Rng rng_;
  Scheduler scheduler_;  // declared before the network and nodes it drives
  SimClock clock_;
  Trace trace_;
  SimNetwork network_;
  std::map<NodeId, std::unique_ptr<SimNode>> nodes_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_SIMULATOR_H_
