#ifndef TOYDB_SIM_PING_SCENARIO_H_
#define TOYDB_SIM_PING_SCENARIO_H_

// The ping scenario: PingNodes on a faulty network, run in the phases of
// every toydb simulation: seed -> randomized fault plan -> faulty phase
// (loss, duplication, reordering, bit damage, partitions, crashes with torn
// writes) -> healed phase (faults off, every node up, liveness pings that
// must all be echoed) -> checks. The same seed gives the same run and trace
// hash. Stateless functions; thread-safe (each run owns its Simulator).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/rng.h"
#include "sim/sim_network.h"

namespace toydb::sim {

// The faults of one run, drawn from the seed.
struct FaultPlan {
  uint32_t nodes = 3;
  NetworkOptions network;
  // The nemesis acts (crash, restart, cut, isolate, heal) at random
  // intervals in this range during the faulty phase.
  int64_t min_nemesis_interval_micros = 20'000;
  int64_t max_nemesis_interval_micros = 200'000;
  double torn_write_probability = 0.5;  // per crash; otherwise drop unsynced

  std::string Describe() const;
};

struct PingScenarioOptions {
  int64_t faulty_phase_micros = 2'000'000;
  int64_t healed_phase_micros = 1'000'000;
  uint32_t liveness_pings_per_peer = 2;
  bool faults = true;  // false: a clean network and no nemesis
};

struct ScenarioResult {
  uint64_t seed = 0;
  bool ok = false;
  std::string failure;  // the first check that failed
  uint64_t trace_hash = 0;
  uint64_t trace_events = 0;
  std::vector<std::string> trace_tail;  // filled when a check failed
  FaultPlan plan;
  NetworkStats network;
  uint64_t delivered = 0;  // messages the nodes received
  uint64_t echoed = 0;     // echoes the pingers received
  uint64_t crashes = 0;
};

// Draws a fault plan from `rng`.
FaultPlan RandomFaultPlan(Rng& rng);

// Runs the scenario for `seed`. `trace_sink`, if set, sees every trace line.
ScenarioResult RunPingScenario(uint64_t seed, const PingScenarioOptions& options = {},
                               std::function<void(std::string_view)> trace_sink = nullptr);

}  // namespace toydb::sim

#endif  // TOYDB_SIM_PING_SCENARIO_H_
