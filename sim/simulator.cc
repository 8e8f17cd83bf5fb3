#include "sim/simulator.h"

#include <fmt/format.h>

#include <utility>

namespace toydb::sim {

Simulator::Simulator(uint64_t seed, NetworkOptions network)
    : seed_(seed),
      rng_(seed),
      clock_(&scheduler_),
      network_(&scheduler_, &trace_, rng_.Fork(), network) {}

StatusOr<SimNode*> Simulator::AddNode(NodeId id, SimNode::Factory factory) {
  if (id == 0) return absl::InvalidArgumentError("node id 0 is reserved");
  if (nodes_.contains(id)) {
    return absl::AlreadyExistsError(fmt::format("node {} exists", id));
  }
  if (nodes_.size() >= kMaxNodes) {
    return absl::ResourceExhaustedError(fmt::format("at most {} nodes", kMaxNodes));
  }
  auto node = std::make_unique<SimNode>(id, &scheduler_, &clock_, &network_, &trace_, rng_.Fork(),
                                        std::move(factory));
  SimNode* raw = node.get();
  nodes_.emplace(id, std::move(node));
  Status s = raw->Start();
  if (!s.ok()) return s;
  return raw;
}

SimNode* Simulator::node(NodeId id) {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : it->second.get();
}

std::vector<NodeId> Simulator::node_ids() const {
  std::vector<NodeId> ids;
  for (const auto& [id, node] : nodes_) ids.push_back(id);
  return ids;
}

std::vector<NodeId> Simulator::up_node_ids() const {
  std::vector<NodeId> ids;
  for (const auto& [id, node] : nodes_) {
    if (node->up()) ids.push_back(id);
  }
  return ids;
}

std::vector<NodeId> Simulator::down_node_ids() const {
  std::vector<NodeId> ids;
  for (const auto& [id, node] : nodes_) {
    if (!node->up()) ids.push_back(id);
  }
  return ids;
}

}  // namespace toydb::sim
