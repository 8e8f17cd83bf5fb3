#ifndef TOYDB_SIM_SIM_NETWORK_H_
#define TOYDB_SIM_SIM_NETWORK_H_

// SimNetwork: toydb's in-memory Transport, the simulator's network. Every
// message is encoded to a frame on Send and decoded from it on delivery, so
// the simulator exercises the real wire format. Latency, loss, duplication,
// reordering, bit damage and partitions are decided by its own seeded Rng and
// recorded in the Trace. Owned by the Simulator; single-threaded: handlers
// run inside Scheduler events.

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "sim/rng.h"
#include "sim/scheduler.h"
#include "sim/trace.h"
#include "toydb/transport.h"

namespace toydb::sim {

// Fault settings, applied to every link. Probabilities are per message.
struct NetworkOptions {
  // One-way latency of a message, uniform in [min, max].
  int64_t min_latency_micros = 100;
  int64_t max_latency_micros = 1000;
  // The message vanishes.
  double drop_probability = 0.0;
  // A second copy is delivered, with its own latency.
  double duplicate_probability = 0.0;
  // The message ignores its link's FIFO order and may overtake earlier ones.
  // Otherwise a link delivers in send order, like a TCP connection.
  double reorder_probability = 0.0;
  // One bit of the frame flips in flight; the receiver's codec must refuse it.
  double corrupt_probability = 0.0;
  // Sends beyond this many undelivered messages fail with ResourceExhausted.
  uint64_t max_in_flight_messages = 100000;

  // InvalidArgument unless latencies are ordered and non-negative,
  // probabilities are within [0, 1] and the in-flight maximum is positive.
  Status Validate() const;
};

struct NetworkStats {
  uint64_t sent = 0;     // accepted by Send
  uint64_t refused = 0;  // Send failed (encode or in-flight limit)
  uint64_t delivered = 0;
  uint64_t dropped_loss = 0;
  uint64_t dropped_partition = 0;
  uint64_t dropped_node_down = 0;
  uint64_t duplicated = 0;
  uint64_t corrupted = 0;  // damaged in flight
  uint64_t rejected = 0;   // damaged frames the codec refused
};

class SimNetwork final : public Transport {
 public:
  // Does not own `scheduler` or `trace`. REQUIRES: options.Validate() is OK.
  SimNetwork(Scheduler* scheduler, Trace* trace, Rng rng, NetworkOptions options);
  SimNetwork(const SimNetwork&) = delete;
  SimNetwork& operator=(const SimNetwork&) = delete;

  // --- Transport ---
  Status Register(NodeId node, Handler* handler) override;
  void Unregister(NodeId node) override;
  Status Send(const Message& message) override;

  // --- Faults ---
  [[nodiscard]] Status SetOptions(const NetworkOptions& options);
  const NetworkOptions& options() const { return options_; }
  // Cuts both directions between a and b.
  void Cut(NodeId a, NodeId b);
  // Cuts only messages from `from` to `to`.
  void CutOneWay(NodeId from, NodeId to);
  // Cuts every link into and out of `node`.
  void Isolate(NodeId node);
  // Restores every cut link (fault probabilities are kept: see SetOptions).
  void Heal();
  // Whether a message sent now from `from` to `to` could arrive.
  bool LinkUp(NodeId from, NodeId to) const;

  const NetworkStats& stats() const { return stats_; }
  uint64_t in_flight() const { return in_flight_; }

 private:
  using Link = std::pair<NodeId, NodeId>;

  void Enqueue(NodeId from, NodeId to, std::string frame);
  int64_t DeliveryTime(const Link& link);
  void Deliver(NodeId from, NodeId to, const std::string& frame);
  void Drop(NodeId from, NodeId to, DropReason reason);
  void Record(TraceKind kind, uint64_t a, uint64_t b, uint64_t detail);

  Scheduler* const scheduler_;
  Trace* const trace_;
  Rng rng_;
  NetworkOptions options_;
  NetworkStats stats_;
  uint64_t in_flight_ = 0;
  std::map<NodeId, Handler*> handlers_;
  std::set<Link> cut_;
  std::set<NodeId> isolated_;
  std::map<Link, int64_t> last_delivery_;  // per link, for FIFO order
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_SIM_NETWORK_H_
