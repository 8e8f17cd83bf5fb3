// Catch-up of a replica that missed N entries: three Nodes on the
// LocalTransport (real files under $TOYDB_BENCH_DIR), one stopped while the
// others take N writes (16-byte keys, 100-byte values, syncs off), then
// restarted; the time is from its restart until it has applied the
// primary's last LSN. Once by the log (the primary retains every entry the
// follower needs) and once by snapshot (the primary's log keeps only a few
// MiB and the follower is too far behind for it).
//
//   ./build/bench/catchup_bench                      1,000,000 entries
//   ./build/bench/catchup_bench --benchmark_filter=/100000/
// Counters: entries_per_second (entries applied by the follower per second
// of catch-up) and MB_per_second (their key and value bytes).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "bench/bench_util.h"
#include "toydb/local_transport.h"
#include "toydb/node.h"

namespace toydb::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kValueBytes = 100;

NodeOptions OptionsFor(NodeId id, const std::string& dir, Transport* transport, bool snapshot) {
  NodeOptions options;
  options.id = id;
  options.dir = JoinPath(dir, "node-" + std::to_string(id));
  options.transport = transport;
  options.partitions = {PartitionConfig{1, {1, 2, 3}}};
  options.tick_ms = 10;
  options.replica.election_ticks = 50;
  options.replica.heartbeat_ticks = 3;
  options.replica.write_timeout_ticks = 3000;
  options.store.sync_policy = SyncPolicy::kNone;
  options.seed = id;
  if (snapshot) {
    // Keep little log: the lagging follower must be caught up by snapshot.
    options.replica.log_catchup_entries_max = 10000;
    options.store.wal_retention_bytes = 4u << 20;
    options.store.checkpoint_wal_bytes = 8u << 20;
  } else {
    options.replica.log_catchup_entries_max = 1u << 30;
  }
  return options;
}

ReplicaStats StatsOf(Node& node) {
  std::vector<ReplicaStats> stats = node.GetStats();
  Check(stats.size() == 1, "one replica per node");
  return stats.front();
}

// Writes `count` entries through `primary`, 256 in flight.
void Load(Node& primary, uint64_t count) {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t in_flight = 0;
  uint64_t failures = 0;
  const std::string value(kValueBytes, 'v');
  for (uint64_t i = 0; i < count; ++i) {
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return in_flight < 256; });
      ++in_flight;
    }
    ClientRequest request;
    request.partition = 1;
    request.op = OpType::kPut;
    request.key = fmt::format("{:016x}", i * 0x9e3779b97f4a7c15ULL);
    request.value = value;
    primary.Submit(std::move(request), [&](ClientResponse response) {
      std::lock_guard lock(mu);
      if (response.code != 0) failures++;
      --in_flight;
      cv.notify_one();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  Check(failures == 0, "every load write succeeds");
}

void BM_CatchUp(benchmark::State& state) {
  const bool snapshot = state.range(0) != 0;
  const auto entries = static_cast<uint64_t>(state.range(1));
  const std::string dir = JoinPath(BenchDir(), "catchup");
  for (auto _ : state) {
    std::filesystem::remove_all(dir);
    LocalTransport transport;
    std::vector<std::unique_ptr<Node>> nodes(3);
    for (NodeId id = 1; id <= 3; ++id) {
      StatusOr<std::unique_ptr<Node>> node = Node::Open(OptionsFor(id, dir, &transport, snapshot));
      Check(node.status(), "open node");
      nodes[id - 1] = std::move(*node);
    }
    Check(nodes[0]->Campaign(1), "campaign");
    for (int i = 0; i < 2000 && StatsOf(*nodes[0]).role != ReplicaRole::kPrimary; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Check(StatsOf(*nodes[0]).role == ReplicaRole::kPrimary, "node 1 is primary");
    nodes[2].reset();  // the follower that will lag
    Load(*nodes[0], entries);
    const Lsn target = StatsOf(*nodes[0]).commit_lsn;

    const Clock::time_point start = Clock::now();
    StatusOr<std::unique_ptr<Node>> restarted =
        Node::Open(OptionsFor(3, dir, &transport, snapshot));
    Check(restarted.status(), "restart node 3");
    nodes[2] = std::move(*restarted);
    Lsn applied = 0;
    while ((applied = StatsOf(*nodes[2]).applied_lsn) < target) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    state.SetIterationTime(seconds);
    const ReplicaStats follower = StatsOf(*nodes[2]);
    state.counters["snapshots_received"] = static_cast<double>(follower.snapshots_received);
    state.counters["entries_per_second"] = static_cast<double>(entries) / seconds;
    state.counters["MB_per_second"] =
        static_cast<double>(entries * (16 + kValueBytes)) / seconds / 1e6;
    nodes.clear();
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_CatchUp)
    ->ArgNames({"snapshot", "entries"})
    ->ArgsProduct({{0, 1}, {100000, 1000000}})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace toydb::bench

int main(int argc, char** argv) { return toydb::bench::RunBenchmarks(argc, argv, {}); }
