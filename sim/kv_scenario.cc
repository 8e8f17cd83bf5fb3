#include "sim/kv_scenario.h"

#include <fmt/format.h>

#include <limits>

#include "sim/kv_client.h"
#include "sim/kv_node.h"
#include "sim/kv_router_client.h"
#include "sim/simulator.h"

namespace toydb::sim {
namespace {

// Trace notes marking the phases (TraceKind::kNote, a = phase).
enum class Phase : uint64_t { kFaulty = 1, kHealed = 2, kSettle = 3, kChecks = 4 };

// Trace notes for disk faults (TraceKind::kNote, a = kDiskFaultNote, b = node).
constexpr uint64_t kDiskFaultNote = 16;
enum class DiskFault : uint64_t { kSyncFails = 1, kFull = 2, kCleared = 3, kWriteFails = 4 };

constexpr NodeId kFirstClientId = 101;
constexpr NodeId kFirstRouterId = 201;
constexpr uint32_t kReplicas = 3;

}  // namespace

KvClusterConfig KvScenarioClusterConfig(std::vector<PartitionConfig> partitions) {
  KvClusterConfig config;
  config.partitions = std::move(partitions);
  config.replica.election_ticks = 10;
  config.replica.heartbeat_ticks = 1;
  config.replica.write_timeout_ticks = 30;
  config.replica.read_timeout_ticks = 30;
  // A follower more than 16 entries behind is caught up by a snapshot, sent
  // in 1 KiB chunks: snapshot transfers happen in most runs.
  config.replica.log_catchup_entries_max = 16;
  config.replica.snapshot_chunk_bytes = 1024;
  // Small files, so that checkpoints, WAL release and compaction happen
  // within a run of a few simulated seconds.
  config.store.wal_segment_bytes_max = 4 << 10;
  config.store.wal_preallocate_bytes = 0;
  config.store.wal_retention_bytes = 0;
  config.store.checkpoint_wal_bytes = 4 << 10;
  config.store.data_segment_bytes_max = 4 << 10;
  config.store.cache_bytes_max = 64 << 10;
  config.store.value_bytes_max = 4 << 10;
  config.store.batch_bytes_max = config.store.key_bytes_max + config.store.value_bytes_max;
  return config;
}

namespace {

KvClusterConfig ClusterConfig(const KvFaultPlan& plan, const KvScenarioOptions& options) {
  KvClusterConfig config =
      KvScenarioClusterConfig(SpreadPartitions(plan.partitions, kReplicas, plan.base.nodes));
  config.log_sync_lies = options.broken_log_sync;
  return config;
}

// One run: owns the simulator and the oracle; every callback it schedules
// dies with it.
class KvRun {
 public:
  KvRun(uint64_t seed, const KvScenarioOptions& options, const KvFaultPlan& plan)
      : options_(options),
        plan_(plan),
        config_(ClusterConfig(plan, options)),
        sim_(seed, plan.base.network) {}

  KvScenarioResult Run(std::function<void(std::string_view)> sink);

 private:
  Status AddNodes();
  Status AddClients();
  Status AddRouters();
  void CheckHistory();
  int64_t TickOf(NodeId id);
  void ScheduleNemesis();
  void NemesisStep();
  NodeId Pick(const std::vector<NodeId>& ids) { return ids[sim_.rng().Uniform(ids.size())]; }
  void CrashOne();
  void RestartOne();
  void DiskFaultOne(DiskFault fault);
  void ClearDiskFaults(NodeId id);
  void Heal();
  void CheckConvergence();
  std::string DescribeReplicas(const PartitionConfig& p);
  void CollectStorageStats(KvScenarioResult* result);
  void CheckLiveness();
  KvNode* Process(NodeId id);
  void Note(Phase phase);
  void Check(const Status& s) {
    if (!s.ok()) oracle_.Fail(s.ToString());
  }

  const KvScenarioOptions options_;
  const KvFaultPlan plan_;
  const KvClusterConfig config_;
  Simulator sim_;
  KvOracle oracle_;
  KvHistoryRecorder history_;
  KvHistoryVerdict verdict_;
  std::map<NodeId, int64_t> ticks_;  // each server's tick period
  uint64_t crashes_ = 0;
  uint64_t disk_faults_ = 0;
};

int64_t KvRun::TickOf(NodeId id) {
  auto it = ticks_.find(id);
  if (it != ticks_.end()) return it->second;
  const double skew = (sim_.rng().NextDouble() * 2 - 1) * plan_.max_clock_skew;
  const int64_t tick = static_cast<int64_t>(static_cast<double>(config_.tick_micros) * (1 + skew));
  return ticks_[id] = std::max<int64_t>(tick, 1000);
}

Status KvRun::AddNodes() {
  for (NodeId id = 1; id <= plan_.base.nodes; ++id) {
    const int64_t tick = TickOf(id);
    auto factory = [this, tick](const NodeContext& ctx) {
      return KvNode::Create(ctx, config_, tick, &oracle_);
    };
    if (Status s = sim_.AddNode(id, factory).status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

Status KvRun::AddClients() {
  KvClientConfig config;
  config.partitions = config_.partitions;
  config.stop_micros = options_.faulty_phase_micros + options_.healed_phase_micros;
  for (uint32_t i = 0; i < plan_.clients; ++i) {
    auto factory = [this, config](const NodeContext& ctx) {
      return KvClient::Create(ctx, config, &oracle_);
    };
    if (Status s = sim_.AddNode(kFirstClientId + i, factory).status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The Router's timing in simulated time: an attempt outlives the replicas'
// write timeout (300 ms), and a call's deadline leaves room for an election
// or two.
RouterOptions SimRouterOptions() {
  RouterOptions options;
  options.deadline_ms = 2000;
  options.attempt_timeout_ms = 400;
  options.backoff_initial_ms = 5;
  options.backoff_max_ms = 100;
  options.probe_interval_ms = 100;
  options.probe_timeout_ms = 300;
  options.writes_in_flight_per_partition_max = 8;
  return options;
}

Status KvRun::AddRouters() {
  KvRouterClientConfig config;
  config.partitions = config_.partitions;
  config.sessions = plan_.router_sessions;
  config.keys = 4 * plan_.partitions;
  config.router = SimRouterOptions();
  config.stop_micros = options_.faulty_phase_micros + options_.healed_phase_micros;
  config.any_reads_presented_as_linearizable = options_.any_reads_presented_as_linearizable;
  for (uint32_t i = 0; i < plan_.routers; ++i) {
    auto factory = [this, config](const NodeContext& ctx) {
      return KvRouterClient::Create(ctx, config, &oracle_, &history_);
    };
    if (Status s = sim_.AddNode(kFirstRouterId + i, factory).status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

// The Router clients' history, judged per consistency level.
void KvRun::CheckHistory() {
  verdict_ = history_.Check();
  if (!verdict_.failure.empty()) oracle_.Fail(verdict_.failure);
}

KvNode* KvRun::Process(NodeId id) {
  SimNode* node = sim_.node(id);
  return node != nullptr && node->up() ? static_cast<KvNode*>(node->process()) : nullptr;
}

std::vector<NodeId> Servers(const std::vector<NodeId>& ids) {
  std::vector<NodeId> out;
  for (NodeId id : ids) {
    if (id < kFirstClientId) out.push_back(id);
  }
  return out;
}

void KvRun::ScheduleNemesis() {
  const int64_t delay = sim_.rng().Range(plan_.base.min_nemesis_interval_micros,
                                         plan_.base.max_nemesis_interval_micros);
  Check(sim_.scheduler().After(delay, [this] { NemesisStep(); }).status());
}

// The nemesis's acts and their weights. Crashes and restarts weigh most:
// losing a replica's unsynced tail while another replica is away is what
// puts acknowledged writes at risk.
enum class Act : uint8_t {
  kCrash,
  kRestart,
  kCut,
  kCutOneWay,
  kIsolate,
  kHeal,
  kSyncFails,
  kDiskFull,
  kWriteFails,
  kClearDisk,
};
struct WeightedAct {
  Act act;
  uint64_t weight;
  bool disk;  // only in plans with disk faults
};
constexpr WeightedAct kActs[] = {
    {Act::kCrash, 3, false},     {Act::kRestart, 3, false}, {Act::kCut, 1, false},
    {Act::kCutOneWay, 1, false}, {Act::kIsolate, 1, false}, {Act::kHeal, 1, false},
    {Act::kSyncFails, 1, true},  {Act::kDiskFull, 1, true}, {Act::kWriteFails, 1, true},
    {Act::kClearDisk, 2, true},
};

Act DrawAct(Rng& rng, bool disk_faults) {
  uint64_t total = 0;
  for (const WeightedAct& a : kActs) total += (disk_faults || !a.disk) ? a.weight : 0;
  uint64_t draw = rng.Uniform(total);
  for (const WeightedAct& a : kActs) {
    if (!disk_faults && a.disk) continue;
    if (draw < a.weight) return a.act;
    draw -= a.weight;
  }
  return Act::kHeal;
}

void KvRun::NemesisStep() {
  if (sim_.scheduler().Now() >= options_.faulty_phase_micros) return;
  const std::vector<NodeId> ids = Servers(sim_.node_ids());
  // Draw into locals, one statement each: argument evaluation order differs
  // between compilers (docs/SIMULATION.md).
  const Act act = DrawAct(sim_.rng(), plan_.disk_faults);
  const NodeId a = Pick(ids);
  const NodeId b = Pick(ids);
  switch (act) {
    case Act::kCrash:
      CrashOne();
      break;
    case Act::kRestart:
      RestartOne();
      break;
    case Act::kCut:
      sim_.network().Cut(a, b);
      break;
    case Act::kCutOneWay:
      sim_.network().CutOneWay(a, b);
      break;
    case Act::kIsolate:
      sim_.network().Isolate(a);
      break;
    case Act::kHeal:
      sim_.network().Heal();
      break;
    case Act::kSyncFails:
      DiskFaultOne(DiskFault::kSyncFails);
      break;
    case Act::kDiskFull:
      DiskFaultOne(DiskFault::kFull);
      break;
    case Act::kWriteFails:
      DiskFaultOne(DiskFault::kWriteFails);
      break;
    case Act::kClearDisk:
      ClearDiskFaults(a);
      break;
  }
  ScheduleNemesis();
}

void KvRun::CrashOne() {
  const std::vector<NodeId> up = Servers(sim_.up_node_ids());
  if (up.empty()) return;
  const CrashMode mode = sim_.rng().Chance(plan_.base.torn_write_probability)
                             ? CrashMode::kTornWrite
                             : CrashMode::kDropUnsynced;
  sim_.node(Pick(up))->Crash(mode);
  ++crashes_;
}

// A restart may fail (the disk still fails its syncs, or is full): the node
// stays down until a later restart.
void KvRun::RestartOne() {
  const std::vector<NodeId> down = Servers(sim_.down_node_ids());
  if (!down.empty()) (void)sim_.node(Pick(down))->Start();
}

void KvRun::DiskFaultOne(DiskFault fault) {
  const std::vector<NodeId> up = Servers(sim_.up_node_ids());
  if (up.empty()) return;
  const NodeId id = Pick(up);
  MemEnv& disk = sim_.node(id)->disk();
  switch (fault) {
    case DiskFault::kSyncFails:
      disk.SetSyncFailure(true);
      break;
    case DiskFault::kWriteFails:
      disk.SetWriteFailure(true);
      break;
    default: {
      const uint64_t headroom = sim_.rng().Uniform(16 << 10);
      disk.SetCapacityBytes(disk.TotalFileBytes() + headroom);
      break;
    }
  }
  ++disk_faults_;
  sim_.trace().Record(
      {sim_.scheduler().Now(), TraceKind::kNote, kDiskFaultNote, id, static_cast<uint64_t>(fault)});
}

void KvRun::ClearDiskFaults(NodeId id) {
  MemEnv& disk = sim_.node(id)->disk();
  disk.SetSyncFailure(false);
  disk.SetWriteFailure(false);
  disk.SetCapacityBytes(std::numeric_limits<uint64_t>::max());
  sim_.trace().Record({sim_.scheduler().Now(), TraceKind::kNote, kDiskFaultNote, id,
                       static_cast<uint64_t>(DiskFault::kCleared)});
}

// Faults off, every node up with working replicas. A replica stopped by a
// storage failure comes back the way an operator would bring it back: its
// node restarts.
void KvRun::Heal() {
  Note(Phase::kHealed);
  sim_.network().Heal();
  NetworkOptions clean = plan_.base.network;
  clean.drop_probability = clean.duplicate_probability = clean.corrupt_probability = 0;
  Check(sim_.network().SetOptions(clean));
  for (NodeId id : Servers(sim_.node_ids())) {
    ClearDiskFaults(id);
    KvNode* node = Process(id);
    if (node != nullptr && node->AnyReplicaFailed()) sim_.node(id)->Crash(CrashMode::kDropUnsynced);
    if (sim_.node(id)->up()) continue;
    if (Status s = sim_.node(id)->Start(); !s.ok()) {
      oracle_.Fail(
          fmt::format("node {} could not recover after the faults healed: {}", id, s.ToString()));
    }
  }
}

void KvRun::CheckLiveness() {
  for (const PartitionConfig& p : config_.partitions) {
    if (oracle_.AckedSince(p.id, options_.faulty_phase_micros) == 0) {
      oracle_.Fail(
          fmt::format("partition {} acknowledged no write in the {} ms after the faults healed",
                      p.id, options_.healed_phase_micros / 1000));
      return;
    }
  }
}

std::string DescribeDifference(const KvContents& a, const KvContents& b) {
  for (const auto& [key, entry] : a) {
    auto it = b.find(key);
    if (it == b.end()) return fmt::format("key {} (version {}) is missing", key, entry.second);
    if (it->second != entry) {
      return fmt::format("key {} is at version {} instead of {}", key, it->second.second,
                         entry.second);
    }
  }
  for (const auto& [key, entry] : b) {
    if (a.count(key) == 0) return fmt::format("key {} (version {}) is extra", key, entry.second);
  }
  return "no difference";
}

StatusOr<KvContents> ContentsOf(replication::Replica& replica) {
  StatusOr<std::unique_ptr<Snapshot>> snapshot = replica.store()->GetSnapshot();
  if (!snapshot.ok()) return snapshot.status();
  KvContents contents;
  Status s = (*snapshot)->ForEach([&](std::string_view key, std::string_view value, Lsn version) {
    contents[std::string(key)] = {std::string(value), version};
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return contents;
}

// Each replica's role, term, log bounds, commit and applied LSN.
std::string KvRun::DescribeReplicas(const PartitionConfig& p) {
  std::string out;
  for (NodeId member : p.members) {
    KvNode* node = Process(member);
    if (node == nullptr) continue;
    replication::Replica& replica = *node->replicas().at(p.id);
    const ReplicaStats stats = replica.GetStats();
    out += fmt::format("{}node {}: {} term {} leader {} log [{}, {}] commit {} applied {}",
                       out.empty() ? "" : "; ", member, ReplicaRoleName(stats.role), stats.term,
                       stats.leader, replica.replica_store()->first_lsn(), stats.last_lsn,
                       stats.commit_lsn, stats.applied_lsn);
  }
  return out;
}

// Every replica of a partition has applied the same LSN and holds the same
// keys, values and versions; then the history is judged against that state.
void KvRun::CheckConvergence() {
  std::map<PartitionId, KvContents> contents;
  std::map<PartitionId, Lsn> applied;
  for (const PartitionConfig& p : config_.partitions) {
    NodeId first = 0;
    for (NodeId member : p.members) {
      KvNode* node = Process(member);
      if (node == nullptr) return oracle_.Fail(fmt::format("node {} is down at the end", member));
      replication::Replica& replica = *node->replicas().at(p.id);
      if (!replica.failure().ok()) {
        return oracle_.Fail(fmt::format("partition {} replica {} failed after the heal: {}", p.id,
                                        member, replica.failure().ToString()));
      }
      StatusOr<KvContents> mine = ContentsOf(replica);
      if (!mine.ok()) return oracle_.Fail(mine.status().ToString());
      if (first == 0) {
        first = member;
        contents[p.id] = std::move(*mine);
        applied[p.id] = replica.applied_lsn();
        continue;
      }
      if (replica.applied_lsn() != applied[p.id]) {
        return oracle_.Fail(fmt::format(
            "partition {} did not converge: replica {} applied up to LSN {}, replica {} up to {} "
            "({})",
            p.id, first, applied[p.id], member, replica.applied_lsn(), DescribeReplicas(p)));
      }
      if (*mine != contents[p.id]) {
        return oracle_.Fail(
            fmt::format("partition {} diverged at LSN {}: on replica {} (against {}) {}", p.id,
                        applied[p.id], member, first, DescribeDifference(contents[p.id], *mine)));
      }
    }
  }
  oracle_.CheckFinal(contents, applied);
}

void KvRun::CollectStorageStats(KvScenarioResult* result) {
  for (NodeId id : Servers(sim_.node_ids())) {
    KvNode* node = Process(id);
    if (node == nullptr) continue;
    for (const auto& [partition, replica] : node->replicas()) {
      const StoreStats stats = replica->store()->GetStats();
      result->checkpoints += stats.checkpoints;
      result->compactions += stats.compactions;
      result->snapshots_installed += replica->GetStats().snapshots_received;
      result->logs_released += replica->replica_store()->first_lsn() > 1;
    }
  }
}

void KvRun::Note(Phase phase) {
  sim_.trace().Record(
      {sim_.scheduler().Now(), TraceKind::kNote, static_cast<uint64_t>(phase), 0, 0});
}

KvScenarioResult KvRun::Run(std::function<void(std::string_view)> sink) {
  if (sink) sim_.trace().set_sink(std::move(sink));
  Note(Phase::kFaulty);
  Check(AddNodes());
  Check(AddClients());
  Check(AddRouters());
  if (options_.faults) ScheduleNemesis();
  int64_t until = options_.faulty_phase_micros;
  sim_.scheduler().RunUntil(until);
  if (oracle_.ok()) Heal();
  until += options_.healed_phase_micros;
  sim_.scheduler().RunUntil(until);
  Note(Phase::kSettle);
  until += options_.settle_micros;
  sim_.scheduler().RunUntil(until);
  Note(Phase::kChecks);
  if (oracle_.ok()) CheckLiveness();
  if (oracle_.ok()) CheckConvergence();
  if (oracle_.ok() && options_.check_history) CheckHistory();
  const NetworkStats& stats = sim_.network().stats();
  if (stats.rejected > stats.corrupted) oracle_.Fail("the codec rejected an undamaged frame");

  KvScenarioResult result{.seed = sim_.seed(), .ok = oracle_.ok(), .failure = oracle_.failure()};
  result.trace_hash = sim_.trace().hash();
  result.trace_events = sim_.trace().size();
  if (!result.ok) result.trace_tail = sim_.trace().Tail();
  result.plan = plan_;
  result.network = stats;
  result.counts = oracle_.counts();
  result.history = verdict_;
  result.history_operations = history_.size();
  result.crashes = crashes_;
  result.disk_faults = disk_faults_;
  CollectStorageStats(&result);
  return result;
}

}  // namespace

KvFaultPlan RandomKvFaultPlan(Rng& rng) {
  KvFaultPlan plan;
  plan.base = RandomFaultPlan(rng);
  plan.partitions = 1 + static_cast<uint32_t>(rng.Uniform(3));
  plan.clients = 3 + static_cast<uint32_t>(rng.Uniform(6));
  plan.max_clock_skew = static_cast<double>(rng.Uniform(21)) / 100.0;
  plan.disk_faults = rng.Chance(0.5);
  plan.routers = 1 + static_cast<uint32_t>(rng.Uniform(2));
  plan.router_sessions = 2 + static_cast<uint32_t>(rng.Uniform(4));
  return plan;
}

std::string KvFaultPlan::Describe() const {
  return fmt::format("{} partitions={}x{} clients={} routers={}x{} skew={:.2f} disk_faults={}",
                     base.Describe(), partitions, kReplicas, clients, routers, router_sessions,
                     max_clock_skew, disk_faults);
}

KvScenarioResult RunKvScenario(uint64_t seed, const KvScenarioOptions& options,
                               std::function<void(std::string_view)> trace_sink) {
  Rng seeds(seed);
  Rng plan_rng = seeds.Fork();
  KvFaultPlan plan = RandomKvFaultPlan(plan_rng);
  if (!options.faults) {
    plan.base.network = NetworkOptions{};
    plan.disk_faults = false;
  }
  KvRun run(seeds.Next(), options, plan);
  KvScenarioResult result = run.Run(std::move(trace_sink));
  result.seed = seed;
  return result;
}

}  // namespace toydb::sim
