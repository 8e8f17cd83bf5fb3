#include "sim/kv_failover.h"

#include <fmt/format.h>

#include <algorithm>
#include <utility>

#include "sim/kv_client.h"
#include "sim/kv_node.h"
#include "sim/kv_oracle.h"
#include "sim/kv_scenario.h"
#include "sim/simulator.h"

namespace toydb::sim {
namespace {

constexpr NodeId kFirstClientId = 101;
constexpr uint32_t kReplicas = 3;
// The run is observed at this granularity (a tenth of a tick).
constexpr int64_t kStepMicros = 1000;

// One run: owns the simulator and the oracle; every callback it schedules
// dies with it.
class FailoverRun {
 public:
  FailoverRun(uint64_t seed, const FailoverOptions& options)
      : options_(options),
        config_(KvScenarioClusterConfig(SpreadPartitions(1, kReplicas, kReplicas))),
        sim_(seed, NetworkOptions{}) {}

  FailoverResult Run(int64_t crash_micros);

 private:
  Status AddNodes();
  Status AddClients();
  KvNode* Process(NodeId id);
  replication::Replica* ReplicaOn(NodeId id);
  // The primary of the highest term among the live replicas, or 0.
  NodeId Primary(Term* term);
  uint64_t ElectionsStarted();
  void Crash(FailoverResult* result);
  // Looks at the cluster once, after a step of the run following the crash.
  void Observe(FailoverResult* result);
  // The earliest ack after the crash from a replica other than `crashed`.
  int64_t FirstAckAfterCrash(NodeId crashed) const;
  int64_t SinceCrash() { return sim_.scheduler().Now() - crash_micros_; }

  const FailoverOptions options_;
  const KvClusterConfig config_;
  Simulator sim_;
  KvOracle oracle_;
  int64_t crash_micros_ = 0;
  Term old_term_ = 0;
  uint64_t elections_before_ = 0;
  Lsn noop_lsn_ = 0;      // the new primary's first LSN of its term
  size_t scan_from_ = 0;  // writes before this index had finished before the crash
};

Status FailoverRun::AddNodes() {
  for (NodeId id = 1; id <= kReplicas; ++id) {
    auto factory = [this](const NodeContext& ctx) {
      return KvNode::Create(ctx, config_, config_.tick_micros, &oracle_);
    };
    if (Status s = sim_.AddNode(id, factory).status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

Status FailoverRun::AddClients() {
  KvClientConfig config;
  config.partitions = config_.partitions;
  config.majority_writes_only = true;
  config.attempt_timeout_micros = options_.client_attempt_timeout_micros;
  config.avoid_unanswered_member = options_.client_avoids_unanswered;
  config.stop_micros = options_.max_crash_micros + options_.bound_micros;
  for (uint32_t i = 0; i < options_.clients; ++i) {
    auto factory = [this, config](const NodeContext& ctx) {
      return KvClient::Create(ctx, config, &oracle_);
    };
    if (Status s = sim_.AddNode(kFirstClientId + i, factory).status(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

KvNode* FailoverRun::Process(NodeId id) {
  SimNode* node = sim_.node(id);
  return node != nullptr && node->up() ? static_cast<KvNode*>(node->process()) : nullptr;
}

replication::Replica* FailoverRun::ReplicaOn(NodeId id) {
  KvNode* node = Process(id);
  return node == nullptr ? nullptr : node->replicas().at(config_.partitions[0].id).get();
}

NodeId FailoverRun::Primary(Term* term) {
  NodeId primary = 0;
  *term = 0;
  for (NodeId id = 1; id <= kReplicas; ++id) {
    replication::Replica* replica = ReplicaOn(id);
    if (replica == nullptr) continue;
    const ReplicaStats stats = replica->GetStats();
    if (stats.role == ReplicaRole::kPrimary && stats.term > *term) {
      primary = id;
      *term = stats.term;
    }
  }
  return primary;
}

uint64_t FailoverRun::ElectionsStarted() {
  uint64_t n = 0;
  for (NodeId id = 1; id <= kReplicas; ++id) {
    if (replication::Replica* replica = ReplicaOn(id)) n += replica->GetStats().elections_started;
  }
  return n;
}

void FailoverRun::Crash(FailoverResult* result) {
  const PartitionId partition = config_.partitions[0].id;
  result->old_primary = Primary(&old_term_);
  if (result->old_primary == 0) {
    return oracle_.Fail("no primary at the moment chosen for the crash");
  }
  if (oracle_.AckedSince(partition, crash_micros_ - 100'000) == 0) {
    return oracle_.Fail("no write acknowledged in the 100 ms before the crash");
  }
  // Writes finished before the crash need not be looked at again.
  scan_from_ = oracle_.write_count();
  for (size_t i = 0; i < oracle_.write_count(); ++i) {
    if (oracle_.write(i).outcome == KvWrite::Outcome::kPending) {
      scan_from_ = i;
      break;
    }
  }
  sim_.node(result->old_primary)->Crash(CrashMode::kDropUnsynced);
  elections_before_ = ElectionsStarted();
}

void FailoverRun::Observe(FailoverResult* result) {
  if (result->elected_micros < 0) {
    Term term = 0;
    const NodeId primary = Primary(&term);
    if (primary == 0 || term <= old_term_) return;
    result->new_primary = primary;
    result->elected_micros = SinceCrash();
    // A new primary appends its term's no-op and nothing else before it
    // processes requests; one observed within the same step may hold one
    // more entry, which only delays `committed` by that entry's commit.
    noop_lsn_ = ReplicaOn(primary)->GetStats().last_lsn;
  }
  if (result->committed_micros < 0) {
    replication::Replica* replica = ReplicaOn(result->new_primary);
    if (replica != nullptr && replica->GetStats().commit_lsn >= noop_lsn_) {
      result->committed_micros = SinceCrash();
    }
  }
}

int64_t FailoverRun::FirstAckAfterCrash(NodeId crashed) const {
  int64_t first = -1;
  for (size_t i = scan_from_; i < oracle_.write_count(); ++i) {
    const KvWrite& w = oracle_.write(i);
    if (w.outcome != KvWrite::Outcome::kAcked || w.acked_by == crashed || w.acked_by == 0) continue;
    if (w.acked_micros < crash_micros_) continue;
    if (first < 0 || w.acked_micros < first) first = w.acked_micros;
  }
  return first;
}

FailoverResult FailoverRun::Run(int64_t crash_micros) {
  FailoverResult result;
  result.election_timeout_micros =
      static_cast<int64_t>(config_.replica.election_ticks) * config_.tick_micros;
  crash_micros_ = result.crash_micros = crash_micros;
  if (Status s = AddNodes(); !s.ok()) oracle_.Fail(s.ToString());
  if (Status s = AddClients(); !s.ok()) oracle_.Fail(s.ToString());
  sim_.scheduler().RunUntil(crash_micros);
  if (oracle_.ok()) Crash(&result);
  const int64_t end = crash_micros + options_.bound_micros;
  while (oracle_.ok() && sim_.scheduler().Now() < end) {
    sim_.scheduler().RunUntil(std::min(end, sim_.scheduler().Now() + kStepMicros));
    Observe(&result);
    const int64_t acked = FirstAckAfterCrash(result.old_primary);
    if (acked >= 0) {
      result.acked_micros = acked - crash_micros_;
      break;
    }
  }
  result.elections = ElectionsStarted() - elections_before_;
  result.ok = oracle_.ok() && result.acked_micros >= 0;
  result.failure = oracle_.failure();
  if (oracle_.ok() && result.acked_micros < 0) {
    result.failure = fmt::format("no write acknowledged by a new primary within {} ms of the crash",
                                 options_.bound_micros / 1000);
  }
  return result;
}

}  // namespace

FailoverResult RunFailover(uint64_t seed, const FailoverOptions& options) {
  Rng seeds(seed);
  Rng choices = seeds.Fork();
  const int64_t crash_micros = choices.Range(options.min_crash_micros, options.max_crash_micros);
  FailoverRun run(seeds.Next(), options);
  FailoverResult result = run.Run(crash_micros);
  result.seed = seed;
  return result;
}

}  // namespace toydb::sim
