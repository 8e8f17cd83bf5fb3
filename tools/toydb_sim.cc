// toydb-sim: runs a simulator scenario for one seed, or a sweep of seeds, and
// prints a one-line verdict per seed. On a failed check it prints the seed,
// the failure, the fault plan and the tail of the trace, and exits 1.
//
//   toydb-sim --seed 42              replay seed 42 (the replicated kv scenario)
//   toydb-sim --seed 1 --sweep 1000  seeds 1..1000, then the seeds that failed
//   toydb-sim --seed 42 --trace      print every trace event of the run
//   toydb-sim --scenario ping        the ping scenario (network and crash model)
#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "sim/kv_scenario.h"
#include "sim/ping_scenario.h"

namespace {

constexpr uint64_t kMaxSweep = 10'000'000;

struct Flags {
  std::string scenario = "kv";
  uint64_t seed = 1;
  uint64_t sweep = 0;  // 0: just --seed
  bool trace = false;
  bool verbose = false;
  toydb::sim::PingScenarioOptions ping;
  toydb::sim::KvScenarioOptions kv;
  std::string scenario_flags;  // as given, for the replay command
};

void Usage() {
  std::fputs(
      "usage: toydb-sim [--scenario kv|ping] [--seed N] [--sweep COUNT] [--faulty-ms MS]\n"
      "                 [--healed-ms MS] [--settle-ms MS] [--no-faults] [--broken-log-sync]\n"
      "                 [--trace] [--verbose]\n"
      "  --scenario S      kv (default): replica groups under faults; ping: the network\n"
      "                    and crash model alone\n"
      "  --seed N          the seed to run (first of a sweep); default 1\n"
      "  --sweep COUNT     run COUNT seeds: N, N+1, ...; lists the seeds that failed\n"
      "  --faulty-ms MS    simulated length of the faulty phase (kv 10000, ping 2000)\n"
      "  --healed-ms MS    simulated length of the healed phase (kv 3000, ping 1000)\n"
      "  --settle-ms MS    kv: clients stopped, before the checks (default 1000)\n"
      "  --no-faults       a clean network, no crashes, no disk faults\n"
      "  --broken-log-sync kv: the disks lie about syncing the replicas' logs (the\n               "
      "     checker must fail such runs)\n"
      "  --trace           print every trace event\n"
      "  --verbose         print the fault plan and counters of each run\n",
      stderr);
}

bool ParseU64(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const std::string copy(text);
  *out = std::strtoull(copy.c_str(), &end, 10);
  return end != nullptr && *end == '\0' && copy[0] != '-';
}

bool SetPhase(Flags* flags, std::string_view arg, uint64_t ms) {
  const int64_t micros = static_cast<int64_t>(ms) * 1000;
  if (arg == "--faulty-ms") {
    flags->ping.faulty_phase_micros = flags->kv.faulty_phase_micros = micros;
  } else if (arg == "--healed-ms") {
    flags->ping.healed_phase_micros = flags->kv.healed_phase_micros = micros;
  } else {
    flags->kv.settle_micros = micros;
  }
  flags->scenario_flags += fmt::format(" {} {}", arg, ms);
  return true;
}

// Returns false (after printing why) on a bad command line.
bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    auto value = [&](uint64_t* out) {
      if (i + 1 < argc && ParseU64(argv[i + 1], out)) return ++i, true;
      std::fprintf(stderr, "toydb-sim: %s needs a non-negative number\n", argv[i]);
      return false;
    };
    uint64_t ms = 0;
    if (arg == "--scenario") {
      if (i + 1 >= argc ||
          (std::string_view(argv[i + 1]) != "kv" && std::string_view(argv[i + 1]) != "ping")) {
        std::fputs("toydb-sim: --scenario takes kv or ping\n", stderr);
        return false;
      }
      flags->scenario = argv[++i];
      if (flags->scenario != "kv") flags->scenario_flags += " --scenario " + flags->scenario;
    } else if (arg == "--seed") {
      if (!value(&flags->seed)) return false;
    } else if (arg == "--sweep") {
      if (!value(&flags->sweep) || flags->sweep > kMaxSweep) return false;
    } else if (arg == "--faulty-ms" || arg == "--healed-ms" || arg == "--settle-ms") {
      if (!value(&ms) || ms > 3'600'000) return false;
      SetPhase(flags, arg, ms);
    } else if (arg == "--no-faults") {
      flags->ping.faults = flags->kv.faults = false;
      flags->scenario_flags += " --no-faults";
    } else if (arg == "--broken-log-sync") {
      flags->kv.broken_log_sync = true;
      flags->scenario_flags += " --broken-log-sync";
    } else if (arg == "--trace") {
      flags->trace = true;
    } else if (arg == "--verbose") {
      flags->verbose = true;
    } else {
      std::fprintf(stderr, "toydb-sim: unknown flag %s\n", argv[i]);
      return false;
    }
  }
  return true;
}

void PrintTail(const std::vector<std::string>& tail, uint64_t events) {
  fmt::print("  trace tail ({} of {} events):\n", tail.size(), events);
  for (const std::string& line : tail) fmt::print("    {}\n", line);
}

// --- ping ---

bool RunPing(const Flags& flags, uint64_t seed, std::function<void(std::string_view)> sink) {
  const auto r = toydb::sim::RunPingScenario(seed, flags.ping, std::move(sink));
  if (!r.ok) {
    fmt::print("seed={} FAILED hash={:#018x}\n  check: {}\n  plan: {}\n", r.seed, r.trace_hash,
               r.failure, r.plan.Describe());
    PrintTail(r.trace_tail, r.trace_events);
    fmt::print("  replay: toydb-sim --seed {}{} --trace\n", r.seed, flags.scenario_flags);
    return false;
  }
  fmt::print("seed={} ok hash={:#018x} events={}\n", r.seed, r.trace_hash, r.trace_events);
  if (flags.verbose) {
    fmt::print(
        "  plan: {}\n  sent={} delivered={} echoed={} crashes={} lost={} "
        "partitioned={} node_down={} duplicated={} corrupted={} rejected={}\n",
        r.plan.Describe(), r.network.sent, r.delivered, r.echoed, r.crashes, r.network.dropped_loss,
        r.network.dropped_partition, r.network.dropped_node_down, r.network.duplicated,
        r.network.corrupted, r.network.rejected);
  }
  return true;
}

// --- kv ---

// Totals over a sweep's kv runs.
struct KvTotals {
  uint64_t writes = 0;
  uint64_t acked = 0;
  uint64_t leader_acked = 0;
  uint64_t leader_lost = 0;
  uint64_t reads = 0;
  uint64_t crashes = 0;
};

bool RunKv(const Flags& flags, uint64_t seed, std::function<void(std::string_view)> sink,
           KvTotals* totals) {
  const auto r = toydb::sim::RunKvScenario(seed, flags.kv, std::move(sink));
  const auto& c = r.counts;
  totals->writes += c.writes_issued;
  totals->acked += c.writes_acked;
  totals->leader_acked += c.leader_acked;
  totals->leader_lost += c.leader_lost;
  totals->reads += c.reads;
  totals->crashes += r.crashes;
  if (!r.ok) {
    fmt::print("seed={} FAILED hash={:#018x}: {}\n  plan: {}\n", r.seed, r.trace_hash, r.failure,
               r.plan.Describe());
    PrintTail(r.trace_tail, r.trace_events);
    fmt::print("  replay: toydb-sim --seed {}{} --trace\n", r.seed, flags.scenario_flags);
    return false;
  }
  fmt::print(
      "seed={} ok hash={:#018x} writes={} acked={} leader_acked={} leader_lost={} reads={} "
      "crashes={}\n",
      r.seed, r.trace_hash, c.writes_issued, c.writes_acked, c.leader_acked, c.leader_lost, c.reads,
      r.crashes);
  if (flags.verbose) {
    fmt::print(
        "  plan: {}\n  events={} unknown={} cas_refused={} entries_checked={} unobserved={} "
        "applied_jumps={} primaries={} "
        "disk_faults={} sent={} lost={} partitioned={} node_down={} duplicated={} rejected={}\n"
        "  checkpoints={} compactions={} snapshots_installed={} logs_released={}\n",
        r.plan.Describe(), r.trace_events, c.writes_unknown, c.cas_refused, c.entries_checked,
        c.entries_unobserved, c.applied_jumps, c.primaries, r.disk_faults, r.network.sent,
        r.network.dropped_loss, r.network.dropped_partition, r.network.dropped_node_down,
        r.network.duplicated, r.network.rejected, r.checkpoints, r.compactions,
        r.snapshots_installed, r.logs_released);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage();
    return 2;
  }
  const uint64_t count = flags.sweep == 0 ? 1 : flags.sweep;
  std::vector<uint64_t> failed;
  KvTotals totals;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < count; ++i) {
    std::function<void(std::string_view)> sink;
    if (flags.trace) sink = [](std::string_view line) { fmt::print("  {}\n", line); };
    const uint64_t seed = flags.seed + i;
    const bool ok =
        flags.scenario == "ping" ? RunPing(flags, seed, sink) : RunKv(flags, seed, sink, &totals);
    if (!ok) failed.push_back(seed);
    std::fflush(stdout);
  }
  if (count > 1) {
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{} of {} seeds failed in {:.1f} s ({:.0f} seeds/min)", failed.size(), count,
               seconds, seconds > 0 ? 60.0 * static_cast<double>(count) / seconds : 0.0);
    if (!failed.empty()) {
      fmt::print(":");
      for (uint64_t seed : failed) fmt::print(" {}", seed);
    }
    fmt::print("\n");
    if (flags.scenario == "kv") {
      fmt::print("writes={} acked={} leader_acked={} leader_lost={} reads={} crashes={}\n",
                 totals.writes, totals.acked, totals.leader_acked, totals.leader_lost, totals.reads,
                 totals.crashes);
    }
  }
  return failed.empty() ? 0 : 1;
}
