// toydb-sim: runs a simulator scenario for one seed, or a sweep of seeds, and
// prints a one-line verdict per seed. On a failed check it prints the seed,
// the failure, the fault plan and the tail of the trace, and exits 1.
//
//   toydb-sim --seed 42              replay seed 42 (the replicated kv scenario)
//   toydb-sim --seed 1 --sweep 1000  seeds 1..1000, then the seeds that failed
//   toydb-sim --seed 42 --trace      print every trace event of the run
//   toydb-sim --scenario ping        the ping scenario (network and crash model)
//   toydb-sim --failover 1000        failover time after a primary crash, seeds 1..1000
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sim/kv_failover.h"
#include "sim/kv_scenario.h"
#include "sim/ping_scenario.h"

namespace {

constexpr uint64_t kMaxSweep = 10'000'000;

struct Flags {
  std::string scenario = "kv";
  uint64_t seed = 1;
  uint64_t sweep = 0;     // 0: just --seed
  uint64_t failover = 0;  // > 0: measure failover over this many seeds
  toydb::sim::FailoverOptions failover_options;
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
      "                 [--any-reads-as-linearizable] [--trace] [--verbose]\n"
      "       toydb-sim --failover COUNT [--seed N] [--attempt-timeout-ms MS]\n"
      "                 [--retry-unanswered]\n"
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
      "  --any-reads-as-linearizable kv: judge the Router clients' kAny reads as if\n"
      "                    they had been promised linearizability (the history\n"
      "                    checker must fail such runs)\n"
      "  --trace           print every trace event\n"
      "  --verbose         print the fault plan and counters of each run\n"
      "  --failover COUNT  crash the primary of 1 partition x 3 replicas under a steady\n"
      "                    kMajority write load, on a clean network, for COUNT seeds\n"
      "                    from --seed; print the time to the first write acknowledged\n"
      "                    by the new primary (median, p90, worst)\n"
      "  --attempt-timeout-ms MS  failover: the clients' attempt timeout (default 100,\n"
      "                    one election timeout; the kv scenario's clients use 400)\n"
      "  --retry-unanswered failover: clients may retry at, and follow hints to, the\n"
      "                    member that left their attempt unanswered\n",
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
    } else if (arg == "--any-reads-as-linearizable") {
      flags->kv.any_reads_presented_as_linearizable = true;
      flags->scenario_flags += " --any-reads-as-linearizable";
    } else if (arg == "--failover") {
      if (!value(&flags->failover) || flags->failover == 0 || flags->failover > kMaxSweep) {
        return false;
      }
    } else if (arg == "--attempt-timeout-ms") {
      if (!value(&ms) || ms == 0 || ms > 3'600'000) return false;
      flags->failover_options.client_attempt_timeout_micros = static_cast<int64_t>(ms) * 1000;
      flags->scenario_flags += fmt::format(" --attempt-timeout-ms {}", ms);
    } else if (arg == "--retry-unanswered") {
      flags->failover_options.client_avoids_unanswered = false;
      flags->scenario_flags += " --retry-unanswered";
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
  uint64_t history_operations = 0;    // Router clients' calls
  uint64_t linearizable_checked = 0;  // operations the linearizability search placed
  uint64_t session_reads = 0;
  uint64_t unknown_keys = 0;  // keys whose search ran out of budget
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
  totals->history_operations += r.history_operations;
  totals->linearizable_checked += r.history.linearizable_operations;
  totals->session_reads += r.history.session_reads;
  totals->unknown_keys += r.history.unknown_keys;
  if (!r.ok) {
    fmt::print("seed={} FAILED hash={:#018x}: {}\n  plan: {}\n", r.seed, r.trace_hash, r.failure,
               r.plan.Describe());
    PrintTail(r.trace_tail, r.trace_events);
    fmt::print("  replay: toydb-sim --seed {}{} --trace\n", r.seed, flags.scenario_flags);
    return false;
  }
  fmt::print(
      "seed={} ok hash={:#018x} writes={} acked={} leader_acked={} leader_lost={} reads={} "
      "crashes={} router_calls={} {}\n",
      r.seed, r.trace_hash, c.writes_issued, c.writes_acked, c.leader_acked, c.leader_lost, c.reads,
      r.crashes, r.history_operations, r.history.Describe());
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

// --- failover ---

// Nearest-rank quantile of sorted, non-empty `v`.
int64_t Quantile(const std::vector<int64_t>& v, double q) {
  const size_t rank = static_cast<size_t>(q * static_cast<double>(v.size()) + 0.999999);
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

// "median 123.4 ms (1.23 E)  p90 ...  worst ..." of delays in microseconds.
std::string Summarize(std::vector<int64_t> micros, int64_t election_micros) {
  if (micros.empty()) return "none";
  std::sort(micros.begin(), micros.end());
  auto part = [&](const char* name, int64_t v) {
    return fmt::format("{} {:.1f} ms ({:.2f} E)", name, static_cast<double>(v) / 1000,
                       static_cast<double>(v) / static_cast<double>(election_micros));
  };
  return part("median", Quantile(micros, 0.5)) + "  " + part("p90", Quantile(micros, 0.9)) + "  " +
         part("worst", micros.back());
}

// Delays from the crash over the seeds that failed over.
struct FailoverTotals {
  std::vector<int64_t> elected, committed, acked;
  std::map<uint64_t, uint64_t> elections;  // elections after the crash -> seeds
  int64_t election_micros = 0;
};

bool RunFailover(const Flags& flags, uint64_t seed, FailoverTotals* totals) {
  const auto r = toydb::sim::RunFailover(seed, flags.failover_options);
  totals->election_micros = r.election_timeout_micros;
  auto ms = [](int64_t micros) { return static_cast<double>(micros) / 1000; };
  if (!r.ok) {
    fmt::print(
        "seed={} FAILED crash={:.1f}ms primary={}: {}\n  replay: toydb-sim --seed {} "
        "--failover 1{}\n",
        r.seed, ms(r.crash_micros), r.old_primary, r.failure, r.seed, flags.scenario_flags);
    return false;
  }
  totals->elected.push_back(r.elected_micros);
  totals->committed.push_back(r.committed_micros);
  totals->acked.push_back(r.acked_micros);
  ++totals->elections[r.elections];
  fmt::print(
      "seed={} ok crash={:.1f}ms primary={}->{} elected={:.1f}ms committed={:.1f}ms "
      "acked={:.1f}ms ({:.2f} E) elections={}\n",
      r.seed, ms(r.crash_micros), r.old_primary, r.new_primary, ms(r.elected_micros),
      ms(r.committed_micros), ms(r.acked_micros),
      static_cast<double>(r.acked_micros) / static_cast<double>(r.election_timeout_micros),
      r.elections);
  return true;
}

void PrintFailoverSummary(const FailoverTotals& t, uint64_t count, size_t failed) {
  const int64_t e = t.election_micros;
  fmt::print("election timeout E = {:.0f} ms (10 ticks x 10 ms; randomized in [E, 2E))\n",
             static_cast<double>(e) / 1000);
  fmt::print("crash -> first write acked by the new primary: {}\n", Summarize(t.acked, e));
  fmt::print("crash -> new primary elected:                  {}\n", Summarize(t.elected, e));
  fmt::print("crash -> its no-op entry committed:            {}\n", Summarize(t.committed, e));
  std::string elections;
  for (const auto& [n, seeds] : t.elections) elections += fmt::format(" {}:{}", n, seeds);
  fmt::print("elections after the crash (count:seeds):{}\n", elections);
  fmt::print("{} of {} seeds failed over; {} did not within the bound\n", count - failed, count,
             failed);
}

int RunFailovers(const Flags& flags) {
  FailoverTotals totals;
  std::vector<uint64_t> failed;
  const auto start = std::chrono::steady_clock::now();
  for (uint64_t i = 0; i < flags.failover; ++i) {
    if (!RunFailover(flags, flags.seed + i, &totals)) failed.push_back(flags.seed + i);
    std::fflush(stdout);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  PrintFailoverSummary(totals, flags.failover, failed.size());
  if (!failed.empty()) {
    fmt::print("failed seeds:");
    for (uint64_t seed : failed) fmt::print(" {}", seed);
    fmt::print("\n");
  }
  fmt::print("{} seeds in {:.1f} s\n", flags.failover, seconds);
  return failed.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    Usage();
    return 2;
  }
  if (flags.failover > 0) return RunFailovers(flags);
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
      fmt::print("router calls={} checked linearizable={} session_reads={} keys_out_of_budget={}\n",
                 totals.history_operations, totals.linearizable_checked, totals.session_reads,
                 totals.unknown_keys);
    }
  }
  return failed.empty() ? 0 : 1;
}
