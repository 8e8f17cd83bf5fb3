#ifndef TOYDB_TOOLS_ADMIN_CLIENT_H_
#define TOYDB_TOOLS_ADMIN_CLIENT_H_

// AdminClient: sends StatsRequest and AdminRequest messages to servers and
// waits for their answers (the toydb CLI's `stats` and `promote`). It
// registers its own node id on the transport. Thread-safe.

#include <chrono>
#include <map>
#include <optional>
#include <vector>

#include "src/util/mutex.h"
#include "toydb/message.h"
#include "toydb/transport.h"

namespace toydb::tools {

class AdminClient final : public Transport::Handler {
 public:
  // Registers `id` on `transport`, which must outlive this.
  static StatusOr<std::unique_ptr<AdminClient>> Open(Transport* transport, NodeId id);
  ~AdminClient() override { transport_->Unregister(id_); }

  // Asks each of `nodes` for its stats at once and waits up to `timeout`
  // for the answers: node -> answer; a node that did not answer is absent.
  std::map<NodeId, StatsResponse> Stats(const std::vector<NodeId>& nodes,
                                        std::chrono::milliseconds timeout);
  // Sends `request` to each of `nodes` and waits up to `timeout` for all
  // answers: node -> answer.
  std::map<NodeId, AdminResponse> Admin(const std::vector<NodeId>& nodes, AdminRequest request,
                                        std::chrono::milliseconds timeout);

  void OnMessage(const Message& message) override;
  void OnPeerUnreachable(NodeId peer) override;

 private:
  AdminClient(Transport* transport, NodeId id) : transport_(transport), id_(id) {}
  // Sends `body` to every node and waits until each answered or was
  // reported unreachable, or `timeout` passed.
  void Exchange(const std::vector<NodeId>& nodes, const MessageBody& body,
                std::chrono::milliseconds timeout) ABSL_LOCKS_EXCLUDED(mu_);

  Transport* const transport_;
  const NodeId id_;
  Mutex mu_;
  CondVar cv_;
  uint64_t request_id_ ABSL_GUARDED_BY(mu_) = 0;  // of the exchange under way
  std::map<NodeId, StatsResponse> stats_ ABSL_GUARDED_BY(mu_);
  std::map<NodeId, AdminResponse> admin_ ABSL_GUARDED_BY(mu_);
  std::map<NodeId, bool> unreachable_ ABSL_GUARDED_BY(mu_);
};

}  // namespace toydb::tools

#endif  // TOYDB_TOOLS_ADMIN_CLIENT_H_
