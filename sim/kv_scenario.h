#ifndef TOYDB_SIM_KV_SCENARIO_H_
#define TOYDB_SIM_KV_SCENARIO_H_

// The replicated key-value scenario: P partitions x 3 replicas on 3-5 nodes
// (KvNode), and clients (KvClient) writing and reading through the simulated
// network, run in the phases of every toydb simulation:
//   seed -> randomized fault plan -> faulty phase (loss, duplication,
//   reordering, bit damage, partitions one or both ways, crashes with lost or
//   torn unsynced writes, failing syncs, full disks, skewed clocks) -> healed
//   phase (faults off, every node up, clients still working: every partition
//   must acknowledge writes again) -> settle (clients stopped) -> checks
//   (KvOracle: one primary per term, one entry per LSN, no acknowledged
//   write lost, replicas converged). The same seed gives the same run and
//   trace hash. Stateless functions; thread-safe (each run owns its
//   Simulator).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/kv_history.h"
#include "sim/kv_oracle.h"
#include "sim/ping_scenario.h"
#include "sim/rng.h"

namespace toydb::sim {

// The faults of one kv run, drawn from the seed: the network and nemesis of
// the ping scenario's plan, plus the cluster's shape, disk faults and clock
// skew.
struct KvFaultPlan {
  FaultPlan base;
  uint32_t partitions = 2;
  uint32_t clients = 3;
  // Application processes going through a Router, and the concurrent
  // sessions of each (sim/kv_router_client.h); their history is checked.
  uint32_t routers = 1;
  uint32_t router_sessions = 3;
  // Each node's tick period is off by up to this fraction, either way.
  double max_clock_skew = 0.0;
  // Whether the nemesis also fails syncs and fills disks.
  bool disk_faults = false;

  std::string Describe() const;
};

struct KvScenarioOptions {
  // Simulated time. A sweep of 200 seeds takes about 20 s on a 2-core
  // machine (docs/SIMULATION.md).
  int64_t faulty_phase_micros = 10'000'000;
  int64_t healed_phase_micros = 3'000'000;
  int64_t settle_micros = 1'000'000;
  bool faults = true;  // false: a clean network and no nemesis
  // A deliberately broken configuration, for the checker's own tests: the
  // disks acknowledge syncs of the replicas' logs without syncing
  // (KvClusterConfig::log_sync_lies), so replicas acknowledge entries a
  // crash then loses.
  bool broken_log_sync = false;
  // Another, for the history checker's tests: kAny reads through the Router
  // are judged as if they had been promised linearizability.
  bool any_reads_presented_as_linearizable = false;
  // Judge the Router clients' history (KvHistoryRecorder::Check).
  bool check_history = true;
};

struct KvScenarioResult {
  uint64_t seed = 0;
  bool ok = false;
  std::string failure;
  uint64_t trace_hash = 0;
  uint64_t trace_events = 0;
  std::vector<std::string> trace_tail;  // filled when a check failed
  KvFaultPlan plan;
  NetworkStats network;
  KvOracleCounts counts;
  // The verdict on the Router clients' history, per consistency level
  // (empty verdict when the run failed before it was judged).
  KvHistoryVerdict history;
  uint64_t history_operations = 0;  // calls the Router clients made
  uint64_t crashes = 0;
  uint64_t disk_faults = 0;
  // Storage work seen at the end, summed over the replicas' last
  // incarnations: proof that the runs reach checkpoints, compaction, WAL
  // release and snapshot catch-up.
  uint64_t checkpoints = 0;
  uint64_t compactions = 0;
  uint64_t snapshots_installed = 0;
  uint64_t logs_released = 0;  // replicas whose log no longer starts at LSN 1
};

KvFaultPlan RandomKvFaultPlan(Rng& rng);

// The cluster configuration of every kv run on `partitions`: elections after
// 10 ticks of 10 ms (randomized up to twice that), heartbeats every tick,
// small files so that checkpoints, WAL release and compaction happen within
// a few simulated seconds.
KvClusterConfig KvScenarioClusterConfig(std::vector<PartitionConfig> partitions);

// Runs the scenario for `seed`. `trace_sink`, if set, sees every trace line.
KvScenarioResult RunKvScenario(uint64_t seed, const KvScenarioOptions& options = {},
                               std::function<void(std::string_view)> trace_sink = nullptr);

}  // namespace toydb::sim

#endif  // TOYDB_SIM_KV_SCENARIO_H_
