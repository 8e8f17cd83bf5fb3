#ifndef TOYDB_SIM_PING_NODE_H_
#define TOYDB_SIM_PING_NODE_H_

// PingNode: the stand-in protocol until replication exists. On a random timer
// it takes the next number from a durable counter (persisted and synced
// before use, so numbers are never reused across crashes) and pings a random
// peer with it, alternating HealthProbe and ClientRequest; peers echo each
// ping back. Every send and receive is reported to a PingOracle. Owned by its
// SimNode; single-threaded.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/ping_oracle.h"
#include "sim/sim_node.h"

namespace toydb::sim {

struct PingNodeConfig {
  std::vector<NodeId> peers;  // the other nodes, ascending
  int64_t min_ping_interval_micros = 5'000;
  int64_t max_ping_interval_micros = 40'000;
  size_t max_payload_bytes = 64;  // of a ClientRequest ping's value
};

class PingNode final : public SimProcess {
 public:
  static constexpr uint64_t kPingTimer = 1;
  static constexpr const char* kCounterPath = "/ping/counter";

  // Recovers the counter from ctx.disk and arms the ping timer.
  static StatusOr<std::unique_ptr<SimProcess>> Create(const NodeContext& ctx,
                                                      const PingNodeConfig& config,
                                                      PingOracle* oracle);

  void OnMessage(const Message& message) override;
  void OnTimer(uint64_t timer_id) override;

  // Pings `peer` now; the oracle requires the echo before the run ends.
  void SendLivenessPing(NodeId peer);
  uint64_t counter() const { return counter_; }

 private:
  PingNode(const NodeContext& ctx, const PingNodeConfig& config, PingOracle* oracle,
           uint64_t counter);
  static StatusOr<uint64_t> ReadCounter(Env* disk);
  // Advances and durably persists the counter; the new value is the id.
  StatusOr<uint64_t> NextId();
  Status ArmTimer();
  Message MakePing(NodeId peer, uint64_t id);
  void SendPing(NodeId peer, bool expect_echo);
  void Echo(const Message& ping);
  void Send(const Message& message);

  NodeContext ctx_;
  PingNodeConfig config_;
  PingOracle* oracle_;
  uint64_t counter_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_PING_NODE_H_
