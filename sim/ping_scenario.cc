#include "sim/ping_scenario.h"

#include <fmt/format.h>

#include "sim/ping_node.h"
#include "sim/ping_oracle.h"
#include "sim/simulator.h"

namespace toydb::sim {
namespace {

// Trace notes marking the phases (TraceKind::kNote, a = phase).
enum class Phase : uint64_t { kFaulty = 1, kHealed = 2, kChecks = 3 };

// One run: owns the simulator and the oracle; every callback it schedules
// dies with it.
class PingRun {
 public:
  PingRun(uint64_t seed, const PingScenarioOptions& options, const FaultPlan& plan)
      : options_(options), plan_(plan), sim_(seed, plan.network) {}

  ScenarioResult Run(std::function<void(std::string_view)> sink);

 private:
  Status AddNodes();
  void ScheduleNemesis();
  void NemesisStep();
  NodeId Pick(const std::vector<NodeId>& ids) { return ids[sim_.rng().Uniform(ids.size())]; }
  void CrashOne();
  void RestartOne();
  void Heal();
  void Note(Phase phase);
  void Check(const Status& s) {
    if (!s.ok()) oracle_.Fail(s.ToString());
  }

  const PingScenarioOptions options_;
  const FaultPlan plan_;
  Simulator sim_;
  PingOracle oracle_;
  uint64_t crashes_ = 0;
};

Status PingRun::AddNodes() {
  std::vector<NodeId> ids;
  for (NodeId id = 1; id <= plan_.nodes; ++id) ids.push_back(id);
  for (NodeId id : ids) {
    PingNodeConfig config;
    for (NodeId peer : ids) {
      if (peer != id) config.peers.push_back(peer);
    }
    auto factory = [this, config](const NodeContext& ctx) {
      return PingNode::Create(ctx, config, &oracle_);
    };
    StatusOr<SimNode*> node = sim_.AddNode(id, factory);
    if (!node.ok()) return node.status();
  }
  return absl::OkStatus();
}

void PingRun::ScheduleNemesis() {
  const int64_t delay =
      sim_.rng().Range(plan_.min_nemesis_interval_micros, plan_.max_nemesis_interval_micros);
  Check(sim_.scheduler().After(delay, [this] { NemesisStep(); }).status());
}

void PingRun::NemesisStep() {
  if (sim_.scheduler().Now() >= options_.faulty_phase_micros) return;
  const std::vector<NodeId> ids = sim_.node_ids();
  // Draw into locals, one statement each: the evaluation order of function
  // arguments differs between compilers, and with it the run.
  const uint64_t action = sim_.rng().Uniform(6);
  const NodeId a = Pick(ids);
  const NodeId b = Pick(ids);
  switch (action) {
    case 0:
      CrashOne();
      break;
    case 1:
      RestartOne();
      break;
    case 2:
      sim_.network().Cut(a, b);
      break;
    case 3:
      sim_.network().CutOneWay(a, b);
      break;
    case 4:
      sim_.network().Isolate(a);
      break;
    default:
      sim_.network().Heal();
      break;
  }
  ScheduleNemesis();
}

void PingRun::CrashOne() {
  const std::vector<NodeId> up = sim_.up_node_ids();
  if (up.empty()) return;
  const CrashMode mode = sim_.rng().Chance(plan_.torn_write_probability) ? CrashMode::kTornWrite
                                                                         : CrashMode::kDropUnsynced;
  sim_.node(Pick(up))->Crash(mode);
  ++crashes_;
}

void PingRun::RestartOne() {
  const std::vector<NodeId> down = sim_.down_node_ids();
  if (!down.empty()) Check(sim_.node(Pick(down))->Start());
}

// Liveness phase: faults off, every node up, and pings that must be echoed.
void PingRun::Heal() {
  Note(Phase::kHealed);
  sim_.network().Heal();
  NetworkOptions clean = plan_.network;
  clean.drop_probability = clean.duplicate_probability = clean.corrupt_probability = 0;
  Check(sim_.network().SetOptions(clean));
  for (NodeId id : sim_.down_node_ids()) Check(sim_.node(id)->Start());
  for (NodeId id : sim_.node_ids()) {
    auto* node = static_cast<PingNode*>(sim_.node(id)->process());
    for (NodeId peer : sim_.node_ids()) {
      for (uint32_t i = 0; peer != id && i < options_.liveness_pings_per_peer; ++i) {
        node->SendLivenessPing(peer);
      }
    }
  }
}

void PingRun::Note(Phase phase) {
  sim_.trace().Record(
      {sim_.scheduler().Now(), TraceKind::kNote, static_cast<uint64_t>(phase), 0, 0});
}

ScenarioResult PingRun::Run(std::function<void(std::string_view)> sink) {
  if (sink) sim_.trace().set_sink(std::move(sink));
  Note(Phase::kFaulty);
  Check(AddNodes());
  if (options_.faults) ScheduleNemesis();
  sim_.scheduler().RunUntil(options_.faulty_phase_micros);
  if (oracle_.ok()) Heal();
  sim_.scheduler().RunUntil(options_.faulty_phase_micros + options_.healed_phase_micros);
  Note(Phase::kChecks);
  oracle_.CheckAllEchoed();
  const NetworkStats& stats = sim_.network().stats();
  if (stats.rejected > stats.corrupted) oracle_.Fail("the codec rejected an undamaged frame");

  ScenarioResult result{.seed = sim_.seed(), .ok = oracle_.ok(), .failure = oracle_.failure()};
  result.trace_hash = sim_.trace().hash();
  result.trace_events = sim_.trace().size();
  if (!result.ok) result.trace_tail = sim_.trace().Tail();
  result.plan = plan_;
  result.network = stats;
  result.delivered = oracle_.delivered();
  result.echoed = oracle_.echoed();
  result.crashes = crashes_;
  return result;
}

double Percent(Rng& rng, uint64_t max_percent) {
  return static_cast<double>(rng.Uniform(max_percent + 1)) / 100.0;
}

}  // namespace

FaultPlan RandomFaultPlan(Rng& rng) {
  FaultPlan plan;
  plan.nodes = 3 + static_cast<uint32_t>(rng.Uniform(3));
  plan.network.min_latency_micros = rng.Range(50, 2'000);
  plan.network.max_latency_micros = plan.network.min_latency_micros + rng.Range(0, 20'000);
  plan.network.drop_probability = Percent(rng, 30);
  plan.network.duplicate_probability = Percent(rng, 20);
  plan.network.reorder_probability = Percent(rng, 50);
  plan.network.corrupt_probability = Percent(rng, 5);
  plan.min_nemesis_interval_micros = rng.Range(5'000, 50'000);
  plan.max_nemesis_interval_micros = plan.min_nemesis_interval_micros + rng.Range(0, 300'000);
  plan.torn_write_probability = Percent(rng, 100);
  return plan;
}

std::string FaultPlan::Describe() const {
  return fmt::format(
      "nodes={} latency=[{},{}]us drop={:.2f} dup={:.2f} reorder={:.2f} corrupt={:.2f} "
      "nemesis=[{},{}]us torn={:.2f}",
      nodes, network.min_latency_micros, network.max_latency_micros, network.drop_probability,
      network.duplicate_probability, network.reorder_probability, network.corrupt_probability,
      min_nemesis_interval_micros, max_nemesis_interval_micros, torn_write_probability);
}

ScenarioResult RunPingScenario(uint64_t seed, const PingScenarioOptions& options,
                               std::function<void(std::string_view)> trace_sink) {
  // Everything random in the run derives from `seed`: the plan from its own
  // stream, the simulation from another.
  Rng seeds(seed);
  Rng plan_rng = seeds.Fork();
  FaultPlan plan = RandomFaultPlan(plan_rng);
  if (!options.faults) plan.network = NetworkOptions{};
  PingRun run(seeds.Next(), options, plan);
  ScenarioResult result = run.Run(std::move(trace_sink));
  result.seed = seed;
  return result;
}

}  // namespace toydb::sim
