#ifndef TOYDB_TRANSPORT_H_
#define TOYDB_TRANSPORT_H_

// Transport moves Messages between node IDs. Protocol code (replication,
// routing) sees only this interface, never a concrete transport: the
// simulator's network (sim/sim_network.h) and TCP both implement it, and both
// encode every message with the one codec (src/transport/codec.h).
// Implementations document their own thread safety and delivery context.

#include "toydb/message.h"
#include "toydb/status.h"

namespace toydb {

class Transport {
 public:
  // Receives what the transport delivers to one registered node. The handler
  // is owned by the caller of Register and must outlive its registration.
  class Handler {
   public:
    virtual ~Handler() = default;
    // A message addressed to this node arrived intact (its frame decoded).
    virtual void OnMessage(const Message& message) = 0;
    // A message this node sent to `peer` could not be delivered because the
    // peer is down or refused it. Silence (a partition, a lost message) is
    // not reported: protocols must still rely on their timeouts.
    virtual void OnPeerUnreachable(NodeId peer) = 0;
  };

  virtual ~Transport() = default;

  // Delivers messages addressed to `node` to `handler` from now on.
  // AlreadyExists if `node` is registered; InvalidArgument for node 0.
  [[nodiscard]] virtual Status Register(NodeId node, Handler* handler) = 0;
  // Stops delivery to `node`; messages in flight to it are lost. No-op if not
  // registered.
  virtual void Unregister(NodeId node) = 0;

  // Queues `message` for message.to. OK means accepted, not delivered: the
  // message may still be lost. InvalidArgument if it cannot be encoded (too
  // large for a frame); ResourceExhausted if the send queue is at its maximum.
  [[nodiscard]] virtual Status Send(const Message& message) = 0;
};

}  // namespace toydb

#endif  // TOYDB_TRANSPORT_H_
