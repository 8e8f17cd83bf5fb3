#ifndef TOYDB_SIM_KV_FAILOVER_H_
#define TOYDB_SIM_KV_FAILOVER_H_

// The failover measurement: how long, in simulated time, a replica group is
// without a primary that acknowledges writes after its primary crashes.
// One partition x 3 replicas (KvNode, the kv scenario's configuration) on a
// clean network with the usual per-message delays and no nemesis; clients
// (KvClient) write continuously with kMajority concern. Once a primary is
// established and its writes are acknowledged, the primary's node crashes
// at a moment drawn from the seed; the run then records, from the crash:
//   elected    a live replica is primary in a later term;
//   committed  that primary has committed the no-op entry of its term (it
//              can acknowledge writes from then on);
//   acked      a client got its first write acknowledged by a replica other
//              than the crashed one (a write issued after the crash, or an
//              earlier one retried).
// The KvOracle watches the whole run (one primary per term, one entry per
// LSN). Stateless functions; thread-safe (each run owns its Simulator).

#include <cstdint>
#include <string>

#include "sim/sim_network.h"

namespace toydb::sim {

struct FailoverOptions {
  uint32_t clients = 3;
  // The crash comes at a moment drawn uniformly from this window, after the
  // first election and with writes flowing.
  int64_t min_crash_micros = 500'000;
  int64_t max_crash_micros = 1'000'000;
  // A run without an acknowledged write this long after the crash fails.
  int64_t bound_micros = 2'000'000;
  // The clients' wait for an answer before they retry elsewhere
  // (KvClientConfig::attempt_timeout_micros), and whether they then keep
  // away from the silent member (KvClientConfig::avoid_unanswered_member).
  // One election timeout, and yes: with the kv scenario's client (400 ms,
  // no) the figure measures the client's timeout, not the failover: every
  // client is waiting on the crashed primary, and about 4 election timeouts
  // pass before any of them tries another member (docs/BENCHMARKS.md).
  int64_t client_attempt_timeout_micros = 100'000;
  bool client_avoids_unanswered = true;
};

struct FailoverResult {
  uint64_t seed = 0;
  bool ok = false;
  std::string failure;
  // KvNode's election timeout: election ticks x tick length.
  int64_t election_timeout_micros = 0;
  int64_t crash_micros = 0;  // simulated time of the crash
  NodeId old_primary = 0;
  NodeId new_primary = 0;  // 0: none seen
  // Delays from the crash; -1 when the event did not happen within the bound.
  int64_t elected_micros = -1;
  int64_t committed_micros = -1;
  int64_t acked_micros = -1;
  // Elections (candidacies after a granted pre-vote) the live replicas
  // started after the crash: 1 when the first candidate won.
  uint64_t elections = 0;
};

// Runs the measurement for `seed`.
FailoverResult RunFailover(uint64_t seed, const FailoverOptions& options = {});

}  // namespace toydb::sim

#endif  // TOYDB_SIM_KV_FAILOVER_H_
