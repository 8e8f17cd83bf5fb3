#ifndef TOYDB_LOCAL_TRANSPORT_H_
#define TOYDB_LOCAL_TRANSPORT_H_

// LocalTransport: a Transport between nodes that live in one process, on real
// time and real threads (the simulator's network is the one on simulated
// time). Every message is encoded with the wire codec and decoded on delivery,
// so the bytes are exactly those TCP carries. Each registered node has an
// inbox and a delivery thread of its own: its handler is called from that
// thread only, one event at a time, and messages on one link (sender to
// receiver) arrive in the order they were sent. Links can be cut, to stage
// partitions in tests and demonstrations.
//
// The caller owns it; it must outlive every node that uses it. Thread-safe:
// any thread may Send, Register, Unregister, Cut and Heal. A handler may Send
// and may Unregister its own node (delivery to it stops after the current
// event).

#include <cstdint>
#include <memory>

#include "toydb/transport.h"

namespace toydb {

struct LocalTransportOptions {
  // Bytes of encoded frames waiting in one node's inbox; a Send beyond it is
  // ResourceExhausted (backpressure, never unbounded memory).
  uint64_t inbox_bytes_max = 64u << 20;
};

// Counters since construction, for tests and demonstrations.
struct LocalTransportStats {
  uint64_t sent = 0;                 // accepted by Send
  uint64_t delivered = 0;            // handed to a handler
  uint64_t dropped_cut = 0;          // on a cut link
  uint64_t dropped_unreachable = 0;  // to a node not registered
  uint64_t rejected_full = 0;        // refused: the inbox was full
};

class LocalTransport final : public Transport {
 public:
  explicit LocalTransport(LocalTransportOptions options = {});
  // Unregisters every node (joining their delivery threads).
  ~LocalTransport() override;
  LocalTransport(const LocalTransport&) = delete;
  LocalTransport& operator=(const LocalTransport&) = delete;

  [[nodiscard]] Status Register(NodeId node, Handler* handler) override;
  // Stops the node's delivery thread; what was queued for it is dropped.
  void Unregister(NodeId node) override;
  // A message to a node that is not registered is dropped, and the sender's
  // handler (if the sender is registered) hears OnPeerUnreachable. A message
  // on a cut link is dropped silently, as a partition would.
  [[nodiscard]] Status Send(const Message& message) override;

  // Drops every message between a and b, both ways, until Heal().
  void Cut(NodeId a, NodeId b);
  // Cuts every link of `node`.
  void Isolate(NodeId node);
  void Heal();

  LocalTransportStats GetStats() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace toydb

#endif  // TOYDB_LOCAL_TRANSPORT_H_
