#ifndef TOYDB_SIM_KV_ROUTER_CLIENT_H_
#define TOYDB_SIM_KV_ROUTER_CLIENT_H_

// KvRouterClient: a simulated application process that reaches the cluster
// through the Router, on a node of its own (it never crashes). It hosts the
// Router's deterministic core (src/routing/router_core.h) exactly as the
// threaded Router does, feeding it the simulated network's messages and the
// simulated time, and runs several application sessions on it at once, each
// with one call in flight: puts, deletes and compare-and-sets with every
// write concern, and reads at every consistency level, on keys the hash ring
// places. A write that ends with an unknown outcome is sometimes retried from
// the dead-letter queue.
//
// Every call goes to the KvHistoryRecorder (invoke and completion, in
// simulated time, with the level the application was promised) and every
// write and read to the KvOracle, which checks the replicas against them.
// Owned by its SimNode; single-threaded.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "sim/kv_history.h"
#include "sim/kv_oracle.h"
#include "sim/sim_node.h"
#include "src/routing/router_core.h"

namespace toydb::sim {

struct KvRouterClientConfig {
  std::vector<PartitionConfig> partitions;
  // Application sessions sharing the Router, each with one call in flight.
  uint32_t sessions = 3;
  // The keys: "r-k0" .. "r-k<keys-1>", placed on partitions by the ring.
  uint32_t keys = 8;
  int64_t min_think_micros = 0;
  int64_t max_think_micros = 20'000;
  uint32_t max_value_padding_bytes = 100;
  // Chance that a write ending with an unknown outcome is retried from the
  // dead-letter queue (once).
  double dead_letter_retry_probability = 0.5;
  // Timing of the Router (deadline, attempt timeout, backoff, probes); id,
  // partitions and seed are filled in per client.
  RouterOptions router;
  // The sessions issue nothing at or after this time.
  int64_t stop_micros = 0;
  // A deliberately wrong configuration, for the checker's own tests: kAny
  // reads are recorded as if the application had been promised
  // linearizable reads.
  bool any_reads_presented_as_linearizable = false;
};

class KvRouterClient final : public SimProcess {
 public:
  static StatusOr<std::unique_ptr<SimProcess>> Create(const NodeContext& ctx,
                                                      const KvRouterClientConfig& config,
                                                      KvOracle* oracle, KvHistoryRecorder* history);

  void OnMessage(const Message& message) override;
  void OnPeerUnreachable(NodeId peer) override;
  void OnTimer(uint64_t timer_id) override;

 private:
  // Timer ids: session s thinks on kFirstSessionTimer + s; the timer that
  // wakes the core at time t has id kWakeTimerBase + t.
  static constexpr uint64_t kFirstSessionTimer = 16;
  static constexpr uint64_t kWakeTimerBase = uint64_t{1} << 62;

  // One application call.
  struct Call {
    uint32_t session = 0;
    ClientRequest request;        // op, key, value, expected version, levels
    size_t history = 0;           // index in the KvHistoryRecorder
    std::optional<size_t> write;  // index in the KvOracle, for writes
    int64_t invoke_micros = 0;
    // This Router's latest acknowledged write of the key when the call was
    // made: what a kSession or stronger read must show.
    Lsn own_min_version = 0;
    bool dead_letter_retry = false;
  };

  KvRouterClient(const NodeContext& ctx, const KvRouterClientConfig& config, KvOracle* oracle,
                 KvHistoryRecorder* history, std::unique_ptr<routing::RouterCore> core);
  void Think(uint32_t session);
  void StartCall(uint32_t session);
  ClientRequest MakeRequest(uint32_t session);
  void Submit(Call call);
  // Sends what the core produced, completes what it finished, and sets the
  // wake timer for its next deadline.
  void Pump();
  void NoteSessions(const Message& message);
  void OnCompleted(const routing::RouterCompletion& completion);
  void OnWriteDone(Call& call, const WriteResult& result);
  void OnReadDone(Call& call, const StatusOr<VersionedValue>& value);
  bool RetryDeadLetter(Call& call, const WriteResult& result);
  int64_t Now() const { return ctx_.clock->NowMicros(); }
  void Check(const Status& s);

  NodeContext ctx_;
  const KvRouterClientConfig config_;
  KvOracle* const oracle_;
  KvHistoryRecorder* const history_;
  std::unique_ptr<routing::RouterCore> core_;
  std::map<uint64_t, Call> calls_;  // by the core's op id
  // When the wake timers pending fire. A new one is set only when the core
  // wants to wake before all of them, so none pile up.
  std::multiset<int64_t> wakes_;
  uint64_t next_value_ = 1;
  // Per session and key: the version last seen, for compare-and-sets.
  std::map<std::pair<uint32_t, std::string>, Lsn> known_version_;
  // Per key: this Router's latest acknowledged write (for the oracle's
  // read-your-writes check of kSession and stronger reads).
  std::map<std::string, Lsn> own_acked_version_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_KV_ROUTER_CLIENT_H_
