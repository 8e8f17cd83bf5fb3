#include "tools/admin_client.h"

namespace toydb::tools {

StatusOr<std::unique_ptr<AdminClient>> AdminClient::Open(Transport* transport, NodeId id) {
  std::unique_ptr<AdminClient> client(new AdminClient(transport, id));
  if (Status s = transport->Register(id, client.get()); !s.ok()) return s;
  return client;
}

void AdminClient::OnMessage(const Message& message) {
  MutexLock lock(&mu_);
  if (const auto* stats = std::get_if<StatsResponse>(&message.body)) {
    if (stats->request_id == request_id_) stats_[message.from] = *stats;
  } else if (const auto* admin = std::get_if<AdminResponse>(&message.body)) {
    if (admin->request_id == request_id_) admin_[message.from] = *admin;
  } else {
    return;
  }
  cv_.SignalAll();
}

void AdminClient::OnPeerUnreachable(NodeId peer) {
  MutexLock lock(&mu_);
  unreachable_[peer] = true;
  cv_.SignalAll();
}

void AdminClient::Exchange(const std::vector<NodeId>& nodes, const MessageBody& body,
                           std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (NodeId node : nodes) {
    // A refused send is a node that will not answer: the wait below ends
    // at the deadline.
    (void)transport_->Send(Message{.from = id_, .to = node, .body = body});
  }
  MutexLock lock(&mu_);
  while (true) {
    size_t settled = 0;
    for (NodeId node : nodes) {
      settled += stats_.count(node) + admin_.count(node) + unreachable_.count(node);
    }
    const auto now = std::chrono::steady_clock::now();
    if (settled >= nodes.size() || now >= deadline) return;
    cv_.WaitFor(&mu_, std::chrono::duration_cast<std::chrono::microseconds>(deadline - now));
  }
}

std::map<NodeId, StatsResponse> AdminClient::Stats(const std::vector<NodeId>& nodes,
                                                   std::chrono::milliseconds timeout) {
  uint64_t id;
  {
    MutexLock lock(&mu_);
    id = ++request_id_;
    stats_.clear();
    unreachable_.clear();
  }
  Exchange(nodes, StatsRequest{.request_id = id}, timeout);
  MutexLock lock(&mu_);
  return stats_;
}

std::map<NodeId, AdminResponse> AdminClient::Admin(const std::vector<NodeId>& nodes,
                                                   AdminRequest request,
                                                   std::chrono::milliseconds timeout) {
  {
    MutexLock lock(&mu_);
    request.request_id = ++request_id_;
    admin_.clear();
    unreachable_.clear();
  }
  Exchange(nodes, request, timeout);
  MutexLock lock(&mu_);
  return admin_;
}

}  // namespace toydb::tools
