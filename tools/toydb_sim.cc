// toydb-sim: runs the simulator's scenario for one seed, or a sweep of seeds,
// and prints each run's trace hash. On a failed check it prints the seed, the
// failure, the fault plan and the tail of the trace, and exits 1.
//
//   toydb-sim --seed 42              replay seed 42
//   toydb-sim --seed 1 --sweep 1000  seeds 1..1000
//   toydb-sim --seed 42 --trace      print every trace event of the run
#include <fmt/format.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sim/ping_scenario.h"

namespace {

constexpr uint64_t kMaxSweep = 10'000'000;

struct Flags {
  uint64_t seed = 1;
  uint64_t sweep = 0;  // 0: just --seed
  bool trace = false;
  bool verbose = false;
  toydb::sim::PingScenarioOptions scenario;
  std::string scenario_flags;  // as given, for the replay command
};

void Usage() {
  std::fputs(
      "usage: toydb-sim [--seed N] [--sweep COUNT] [--faulty-ms MS] [--healed-ms MS]\n"
      "                 [--no-faults] [--trace] [--verbose]\n"
      "  --seed N        the seed to run (first of a sweep); default 1\n"
      "  --sweep COUNT   run COUNT seeds: N, N+1, ...\n"
      "  --faulty-ms MS  simulated length of the faulty phase (default 2000)\n"
      "  --healed-ms MS  simulated length of the healed phase (default 1000)\n"
      "  --no-faults     a clean network and no crashes\n"
      "  --trace         print every trace event (one seed)\n"
      "  --verbose       print the fault plan and counters of each run\n",
      stderr);
}

bool ParseU64(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  char* end = nullptr;
  const std::string copy(text);
  *out = std::strtoull(copy.c_str(), &end, 10);
  return end != nullptr && *end == '\0' && copy[0] != '-';
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
    if (arg == "--seed") {
      if (!value(&flags->seed)) return false;
    } else if (arg == "--sweep") {
      if (!value(&flags->sweep) || flags->sweep > kMaxSweep) return false;
    } else if (arg == "--faulty-ms" || arg == "--healed-ms") {
      if (!value(&ms) || ms > 3'600'000) return false;
      flags->scenario_flags += fmt::format(" {} {}", arg, ms);
      (arg == "--faulty-ms" ? flags->scenario.faulty_phase_micros
                            : flags->scenario.healed_phase_micros) =
          static_cast<int64_t>(ms) * 1000;
    } else if (arg == "--no-faults") {
      flags->scenario.faults = false;
      flags->scenario_flags += " --no-faults";
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

void PrintFailure(const toydb::sim::ScenarioResult& r, const std::string& scenario_flags) {
  fmt::print("FAILED seed={} hash={:#018x}\n  check: {}\n  plan: {}\n", r.seed, r.trace_hash,
             r.failure, r.plan.Describe());
  fmt::print("  trace tail ({} of {} events):\n", r.trace_tail.size(), r.trace_events);
  for (const std::string& line : r.trace_tail) fmt::print("    {}\n", line);
  fmt::print("  replay: toydb-sim --seed {}{} --trace\n", r.seed, scenario_flags);
}

void PrintRun(const toydb::sim::ScenarioResult& r, bool verbose) {
  fmt::print("seed={} hash={:#018x} events={} ok\n", r.seed, r.trace_hash, r.trace_events);
  if (!verbose) return;
  fmt::print(
      "  plan: {}\n  sent={} delivered={} echoed={} crashes={} lost={} "
      "partitioned={} node_down={} duplicated={} corrupted={} rejected={}\n",
      r.plan.Describe(), r.network.sent, r.delivered, r.echoed, r.crashes, r.network.dropped_loss,
      r.network.dropped_partition, r.network.dropped_node_down, r.network.duplicated,
      r.network.corrupted, r.network.rejected);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage();
    return 2;
  }
  const uint64_t count = flags.sweep == 0 ? 1 : flags.sweep;
  uint64_t failed = 0;
  for (uint64_t i = 0; i < count; ++i) {
    std::function<void(std::string_view)> sink;
    if (flags.trace) sink = [](std::string_view line) { fmt::print("  {}\n", line); };
    const auto result = toydb::sim::RunPingScenario(flags.seed + i, flags.scenario, sink);
    if (result.ok) {
      PrintRun(result, flags.verbose);
    } else {
      ++failed;
      PrintFailure(result, flags.scenario_flags);
    }
  }
  if (count > 1) fmt::print("{} of {} seeds failed\n", failed, count);
  return failed == 0 ? 0 : 1;
}
