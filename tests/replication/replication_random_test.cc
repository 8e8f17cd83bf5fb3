// The randomized test of the replication core: for each seed, a replica group
// of 3 or 5 runs under seeded faults (message loss, duplication, delay and
// reordering, partitions one- and two-way, crashes that lose unsynced log
// writes, restarts, leadership transfers, reads), then with the faults healed
// it must converge and commit a new proposal. Most seeds also compact the
// logs (keeping the last few applied entries), so lagging replicas are caught
// up by snapshots, sent in chunks, delayed and sometimes failing. Cluster
// checks safety all along: one primary per term, no two replicas applying
// different entries at one LSN, every new primary holding every entry applied
// anywhere, reads never served below what was applied before they began, no
// acknowledged durable entry lost, and no snapshot contradicting what its
// receiver applied or holding an entry never committed.
//
// A seed that ever fails stays below as a named regression test.
// Replay one seed:   TOYDB_REPLICATION_SEED=N replication_tests "[replication-random]"
// Sweep more seeds:  TOYDB_REPLICATION_SWEEP=5000 replication_tests "[replication-random]"
// TOYDB_REPLICATION_VERBOSE=1 prints each seed's fault plan and what it did;
// TOYDB_REPLICATION_TRACE=1 prints every message delivered after the heal.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "tests/replication/cluster.h"

namespace toydb::replication {
namespace {

using testing::Cluster;
using testing::NetworkFaults;

struct SeedPlan {
  size_t size;
  ReplicaConfig config;
  NetworkFaults faults;
  bool auto_sync;
  double sync_chance;                    // per replica per tick
  double crash_chance;                   // per tick
  double partition_chance;               // per tick
  double propose_chance;                 // per tick
  std::optional<uint64_t> compact_keep;  // applied entries each log keeps; unset: no compaction
  testing::SnapshotFaults snapshot_faults;
};

// Drawn from a stream of their own, so that the plans and runs of seeds that
// do not compact are exactly what they were before snapshots existed.
void PlanSnapshots(uint64_t seed, SeedPlan* plan) {
  sim::Rng rng(seed ^ 0x5a5a5a5a5a5a5a5aULL);
  if (rng.Chance(0.2)) return;
  plan->compact_keep = rng.Uniform(25);
  plan->snapshot_faults.fail = static_cast<double>(rng.Uniform(4)) / 10;
  plan->snapshot_faults.max_delay_ticks = static_cast<uint32_t>(rng.Uniform(6));
  plan->snapshot_faults.max_chunks = 1 + static_cast<uint32_t>(rng.Uniform(3));
  plan->snapshot_faults.crash_after_install = static_cast<double>(rng.Uniform(3)) / 10;
}

SeedPlan PlanFor(uint64_t seed) {
  sim::Rng rng(seed);
  SeedPlan plan;
  plan.size = rng.Chance(0.5) ? 3 : 5;
  plan.config.election_ticks = 10;
  plan.config.heartbeat_ticks = 1 + static_cast<uint32_t>(rng.Uniform(2));
  plan.config.pre_vote = rng.Chance(0.8);
  plan.config.check_quorum = rng.Chance(0.8);
  plan.config.random_seed = seed;
  plan.config.max_inflight_appends = 1 + static_cast<uint32_t>(rng.Uniform(8));
  plan.config.max_append_entries = 1 + static_cast<uint32_t>(rng.Uniform(8));
  plan.faults.drop = static_cast<double>(rng.Uniform(20)) / 100;
  plan.faults.duplicate = static_cast<double>(rng.Uniform(10)) / 100;
  plan.faults.max_delay_ticks = static_cast<uint32_t>(rng.Uniform(6));
  plan.auto_sync = rng.Chance(0.3);
  plan.sync_chance = 0.2 + static_cast<double>(rng.Uniform(80)) / 100;
  plan.crash_chance = static_cast<double>(rng.Uniform(4)) / 200;
  plan.partition_chance = static_cast<double>(rng.Uniform(4)) / 100;
  plan.propose_chance = 0.1 + static_cast<double>(rng.Uniform(50)) / 100;
  PlanSnapshots(seed, &plan);
  return plan;
}

NodeId AnyReplica(Cluster& cluster) {
  std::vector<NodeId> ids = cluster.ids();
  return ids[cluster.rng().Uniform(ids.size())];
}

void InjectFaults(Cluster& cluster, const SeedPlan& plan) {
  sim::Rng& rng = cluster.rng();
  if (rng.Chance(plan.crash_chance)) cluster.Crash(AnyReplica(cluster));
  if (rng.Chance(0.05)) cluster.Restart(AnyReplica(cluster));
  if (rng.Chance(plan.partition_chance)) {
    NodeId a = AnyReplica(cluster);
    NodeId b = AnyReplica(cluster);
    switch (rng.Uniform(3)) {
      case 0:
        cluster.Isolate(a);
        break;
      case 1:
        if (a != b) cluster.Cut(a, b);
        break;
      default:
        if (a != b) cluster.CutOneWay(a, b);
        break;
    }
  }
  if (rng.Chance(0.02)) cluster.Heal();
}

void DriveClients(Cluster& cluster, const SeedPlan& plan, uint64_t* proposals) {
  sim::Rng& rng = cluster.rng();
  if (rng.Chance(plan.propose_chance)) {
    (void)cluster.Propose(fmt::format("w{}", (*proposals)++));
  }
  if (rng.Chance(0.05)) (void)cluster.ReadIndex();
  if (rng.Chance(0.005)) {
    if (std::optional<NodeId> primary = cluster.Primary()) {
      (void)cluster.core(*primary).TransferLeadership(AnyReplica(cluster));
    }
  }
}

void SyncSome(Cluster& cluster, double chance) {
  for (NodeId id : cluster.ids()) {
    if (cluster.rng().Chance(chance)) cluster.Sync(id);
  }
}

bool AppliedEverywhere(Cluster& cluster, Lsn lsn) {
  for (NodeId id : cluster.ids()) {
    if (cluster.replica(id).applied.size() < lsn) return false;
  }
  return true;
}

// One line per replica, for failure messages.
std::string Describe(Cluster& cluster) {
  std::string out;
  for (NodeId id : cluster.ids()) {
    if (!cluster.replica(id).up) {
      out += fmt::format("\n  replica {}: down", id);
      continue;
    }
    ReplicaStatus s = cluster.core(id).GetStatus();
    out += fmt::format(
        "\n  replica {}: {} term {} leader {} first {} last {} durable {} commit {} applied {}", id,
        RoleName(s.role), s.term, s.leader, s.first_lsn, s.last_lsn, s.durable_lsn, s.commit_lsn,
        s.applied_lsn);
    for (const auto& [peer, match] : s.peer_match_lsn) out += fmt::format(" m{}={}", peer, match);
    for (const auto& [peer, lsn] : s.peer_snapshot_lsn) out += fmt::format(" s{}={}", peer, lsn);
  }
  return out;
}

// Whether an uncommitted proposal was overwritten or truncated by a change of
// primary (a client would retry it; so does the test).
bool FinalLost(Cluster& cluster, const Entry& entry) {
  auto committed = cluster.committed().find(entry.lsn);
  if (committed != cluster.committed().end()) return !(committed->second == entry);
  std::optional<NodeId> primary = cluster.Primary();
  return primary && cluster.core(*primary).TermAt(entry.lsn).value_or(0) != entry.term;
}

// Heals everything and runs until a new proposal is applied everywhere. The
// proposal is made again if a change of primary overwrote it.
std::string Converge(Cluster& cluster, const SeedPlan& plan, uint64_t max_ticks) {
  cluster.Heal();
  cluster.set_faults({});
  testing::SnapshotFaults snapshot_faults = plan.snapshot_faults;
  snapshot_faults.fail = 0;
  snapshot_faults.crash_after_install = 0;
  cluster.set_snapshot_faults(snapshot_faults);
  cluster.set_trace(std::getenv("TOYDB_REPLICATION_TRACE") != nullptr);
  for (NodeId id : cluster.ids()) cluster.Restart(id);
  std::optional<Entry> final_entry;
  for (uint64_t tick = 0; tick < max_ticks; ++tick) {
    cluster.RunTick();
    SyncSome(cluster, 1.0);
    if (final_entry && FinalLost(cluster, *final_entry)) final_entry.reset();
    if (!final_entry) {
      std::optional<NodeId> primary = cluster.Primary();
      if (primary && cluster.core(*primary).CommittedInTerm()) {
        StatusOr<Lsn> lsn = cluster.Propose("final");
        if (lsn.ok())
          final_entry = Entry{cluster.core(*primary).term(), *lsn, EntryType::kNormal, "final"};
      }
      continue;
    }
    if (!AppliedEverywhere(cluster, final_entry->lsn)) continue;
    // Let the commit of anything after it settle too, then compare.
    for (int i = 0; i < 50 && cluster.CheckConverged() != ""; ++i) {
      cluster.RunTick();
      SyncSome(cluster, 1.0);
    }
    if (!cluster.violation().empty()) return cluster.violation();
    std::string diverged = cluster.CheckConverged();
    return diverged.empty() ? "" : diverged + Describe(cluster);
  }
  return (final_entry ? "the final proposal did not reach every replica"
                      : "no primary committed in its term after the heal") +
         Describe(cluster);
}

// Runs one seed; returns the failure, empty if none.
std::string RunSeed(uint64_t seed, uint64_t fault_ticks = 500) {
  SeedPlan plan = PlanFor(seed);
  Cluster cluster(plan.size, seed * 7919 + 1, plan.config);
  cluster.set_faults(plan.faults);
  cluster.set_auto_sync(plan.auto_sync);
  cluster.set_compact_keep(plan.compact_keep);
  cluster.set_snapshot_faults(plan.snapshot_faults);
  cluster.set_trace(std::getenv("TOYDB_REPLICATION_TRACE") != nullptr);
  uint64_t proposals = 0;
  for (uint64_t tick = 0; tick < fault_ticks && cluster.violation().empty(); ++tick) {
    cluster.RunTick();
    SyncSome(cluster, plan.sync_chance);
    InjectFaults(cluster, plan);
    DriveClients(cluster, plan, &proposals);
  }
  if (!cluster.violation().empty()) return cluster.violation();
  Lsn committed_under_faults = cluster.committed().size();
  std::string failure = Converge(cluster, plan, 1000);
  if (std::getenv("TOYDB_REPLICATION_VERBOSE") != nullptr) {
    Term term = 0;
    for (NodeId id : cluster.ids()) term = std::max(term, cluster.core(id).term());
    fmt::print(
        "seed {}: {} replicas, drop {:.2f} dup {:.2f} delay {} crash {:.3f}; {} proposals, "
        "{} committed under faults, {} in all, {} reads served, last term {}, keep {}, "
        "{} snapshots installed, {} failed\n",
        seed, plan.size, plan.faults.drop, plan.faults.duplicate, plan.faults.max_delay_ticks,
        plan.crash_chance, proposals, committed_under_faults, cluster.committed().size(),
        cluster.reads_served(), term, plan.compact_keep ? int64_t(*plan.compact_keep) : -1,
        cluster.snapshots_installed(), cluster.snapshots_failed());
  }
  if (!failure.empty()) return failure;
  return cluster.violation();
}

TEST_CASE("Randomized runs keep replication safe and converge after healing",
          "[replication][replication-random]") {
  uint64_t first = 1;
  uint64_t count = 300;
  if (const char* only = std::getenv("TOYDB_REPLICATION_SEED")) {
    first = std::strtoull(only, nullptr, 10);
    count = 1;
  } else if (const char* sweep = std::getenv("TOYDB_REPLICATION_SWEEP")) {
    count = std::strtoull(sweep, nullptr, 10);
  }
  std::vector<uint64_t> failed;
  for (uint64_t seed = first; seed < first + count; ++seed) {
    std::string failure = RunSeed(seed);
    if (!failure.empty()) {
      failed.push_back(seed);
      UNSCOPED_INFO("seed " << seed << ": " << failure);
    }
  }
  REQUIRE(failed.empty());
}

}  // namespace
}  // namespace toydb::replication

namespace toydb::replication {
namespace {

// Seeds that once failed. All six failed in the heal phase's own checks, not
// in the protocol: the test waited for a final proposal that a change of
// primary had overwritten (1160) or truncated (394, 1551, 1910, 3958), and
// compared replicas before the commit of a later no-op had reached them all
// (2033). The heal phase now proposes again and lets commits settle first.
TEST_CASE("Regression: seed 394, the final proposal truncated by a new primary", "[replication]") {
  REQUIRE(RunSeed(394) == "");
}
TEST_CASE("Regression: seed 1160, the final proposal overwritten by a new primary",
          "[replication]") {
  REQUIRE(RunSeed(1160) == "");
}
TEST_CASE("Regression: seed 1551, the final proposal truncated", "[replication]") {
  REQUIRE(RunSeed(1551) == "");
}
TEST_CASE("Regression: seed 1910, the final proposal truncated", "[replication]") {
  REQUIRE(RunSeed(1910) == "");
}
TEST_CASE("Regression: seed 2033, replicas compared before a commit reached all", "[replication]") {
  REQUIRE(RunSeed(2033) == "");
}
TEST_CASE("Regression: seed 3958, the final proposal truncated", "[replication]") {
  REQUIRE(RunSeed(3958) == "");
}

}  // namespace
}  // namespace toydb::replication

namespace toydb::replication {
namespace {

// A follower's only acknowledgement of a durable entry was lost, and no later
// entry came to prompt another: the primary never counted the entry and
// never committed it. Heartbeat answers now carry the durable match too.
TEST_CASE("Regression: seed 21627, a lost durable acknowledgement stalled the commit",
          "[replication]") {
  REQUIRE(RunSeed(21627) == "");
}

}  // namespace
}  // namespace toydb::replication

namespace toydb::replication {
namespace {

// The checker, not the protocol: a primary of term 3 was elected by delayed
// votes just after a primary of term 4 committed its no-op, and the check
// wrongly asked the term-3 primary to hold it. The check now covers only
// entries committed in a term below the new primary's.
TEST_CASE("Regression: seed 20297, a late primary of an older term", "[replication]") {
  REQUIRE(RunSeed(20297) == "");
}

}  // namespace
}  // namespace toydb::replication
