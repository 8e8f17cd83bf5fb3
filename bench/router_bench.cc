// Requests through the Router: P partitions x 3 replicas in one process
// (three Nodes on the LocalTransport, each hosting a replica of every
// partition; syncs off, so the figures are routing and replication, not the
// disk), 64 client threads sharing one Router, 16-byte keys over 10,000 keys
// loaded first, 100-byte values, kMajority writes. Mixes: 50/50 and 95/5
// reads/writes; reads kLinearizable or kSession. Beside it, in the same run,
// the baseline without a router: the same threads calling the partition's
// primary Node directly (Node::Call, the primary looked up once).
//
//   ./build/bench/router_bench
// Counters: items_per_second (completed operations/s), p50_us and p99_us
// (per operation, from call to return), failed (operations that did not
// succeed; NotFound counts as success).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "bench/bench_util.h"
#include "toydb/local_transport.h"
#include "toydb/node.h"
#include "toydb/router.h"

namespace toydb::bench {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr int kThreads = 64;
constexpr uint64_t kKeys = 10'000;
constexpr auto kRunFor = std::chrono::seconds(3);

std::string KeyAt(uint64_t i) { return fmt::format("{:016x}", i * 0x9e3779b97f4a7c15ULL); }

// Three nodes hosting `partitions` partitions, and a Router over them.
class Cluster {
 public:
  explicit Cluster(uint32_t partitions) : dir_(JoinPath(BenchDir(), "router")) {
    std::filesystem::remove_all(dir_);
    for (PartitionId p = 1; p <= partitions; ++p) map_.push_back(PartitionConfig{p, {1, 2, 3}});
    for (NodeId id = 1; id <= 3; ++id) {
      NodeOptions options;
      options.id = id;
      options.dir = JoinPath(dir_, "node-" + std::to_string(id));
      options.transport = &transport_;
      options.partitions = map_;
      options.tick_ms = 10;
      options.replica.election_ticks = 30;
      options.replica.heartbeat_ticks = 3;
      options.store.sync_policy = SyncPolicy::kNone;
      options.seed = id;
      StatusOr<std::unique_ptr<Node>> node = Node::Open(options);
      Check(node.status(), "open node");
      nodes_[id] = std::move(*node);
    }
    // Spread the primaries over the nodes, without waiting for timeouts.
    for (const PartitionConfig& p : map_) {
      Check(nodes_[1 + (p.id % 3)]->Campaign(p.id), "campaign");
    }
    for (int i = 0; i < 2000 && primaries_.size() < map_.size(); ++i) {
      for (auto& [id, node] : nodes_) {
        for (const ReplicaStats& stats : node->GetStats()) {
          if (stats.role == ReplicaRole::kPrimary) primaries_[stats.partition] = node.get();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Check(primaries_.size() == map_.size(), "elect primaries");
    RouterOptions options;
    options.id = 100;
    options.transport = &transport_;
    options.partitions = map_;
    StatusOr<std::unique_ptr<Router>> router = Router::Open(options);
    Check(router.status(), "open router");
    router_ = std::move(*router);
  }
  ~Cluster() {
    router_.reset();
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }
  Router& router() { return *router_; }
  Node& PrimaryOf(const std::string& key) { return *primaries_.at(router_->PartitionOf(key)); }

 private:
  std::string dir_;
  LocalTransport transport_;
  std::vector<PartitionConfig> map_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
  std::map<PartitionId, Node*> primaries_;
  std::unique_ptr<Router> router_;
};

// One operation, through the router or straight to the primary.
bool RouterOp(Cluster& c, bool read, const std::string& key, const std::string& value,
              ReadConsistency consistency) {
  if (read) {
    StatusOr<VersionedValue> got = c.router().Get(key, RouterReadOptions{consistency, 0});
    return got.ok() || absl::IsNotFound(got.status());
  }
  return c.router().Put(key, value).ok();
}

bool DirectOp(Cluster& c, bool read, const std::string& key, const std::string& value,
              ReadConsistency consistency) {
  Node& primary = c.PrimaryOf(key);
  const PartitionId partition = c.router().PartitionOf(key);
  if (read) {
    StatusOr<VersionedValue> got = primary.Get(partition, key, consistency);
    return got.ok() || absl::IsNotFound(got.status());
  }
  return primary.Put(partition, key, value).ok();
}

// Runs kThreads threads for kRunFor, each drawing reads and writes.
template <typename Op>
void RunMix(benchmark::State& state, Op op) {
  const auto partitions = static_cast<uint32_t>(state.range(0));
  const int read_pct = static_cast<int>(state.range(1));
  const auto consistency =
      state.range(2) == 0 ? ReadConsistency::kLinearizable : ReadConsistency::kSession;
  Cluster cluster(partitions);
  const std::string value(100, 'v');
  {  // Load the keys through the router.
    std::vector<std::thread> loaders;
    for (int t = 0; t < kThreads; ++t) {
      loaders.emplace_back([&, t] {
        for (uint64_t i = static_cast<uint64_t>(t); i < kKeys; i += kThreads) {
          Check(cluster.router().Put(KeyAt(i), value).ok(), "load");
        }
      });
    }
    for (std::thread& l : loaders) l.join();
  }
  for (auto _ : state) {
    std::mutex mu;
    std::vector<int64_t> latencies;
    std::atomic<uint64_t> failed{0};
    std::atomic<uint64_t> done{0};
    const SteadyClock::time_point start = SteadyClock::now();
    const SteadyClock::time_point end = start + kRunFor;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(static_cast<uint64_t>(t) + 1);
        std::vector<int64_t> mine;
        while (SteadyClock::now() < end) {
          const bool read = static_cast<int>(rng() % 100) < read_pct;
          const std::string key = KeyAt(rng() % kKeys);
          const SteadyClock::time_point begin = SteadyClock::now();
          if (!op(cluster, read, key, value, consistency)) failed++;
          mine.push_back(
              std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - begin)
                  .count());
        }
        done += mine.size();
        std::lock_guard lock(mu);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
      });
    }
    for (std::thread& t : threads) t.join();
    const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
    state.SetIterationTime(seconds);
    std::sort(latencies.begin(), latencies.end());
    state.SetItemsProcessed(static_cast<int64_t>(done.load()));
    if (!latencies.empty()) {
      state.counters["p50_us"] = static_cast<double>(latencies[latencies.size() / 2]);
      state.counters["p99_us"] = static_cast<double>(latencies[latencies.size() * 99 / 100]);
    }
    state.counters["failed"] = static_cast<double>(failed.load());
  }
}

void BM_Router(benchmark::State& state) { RunMix(state, RouterOp); }
void BM_DirectToPrimary(benchmark::State& state) { RunMix(state, DirectOp); }

// partitions x read percentage x read consistency (0 linearizable, 1 session).
BENCHMARK(BM_Router)
    ->ArgNames({"partitions", "read_pct", "session"})
    ->ArgsProduct({{2, 8}, {50, 95}, {0, 1}})
    ->Iterations(1)
    ->UseManualTime();
BENCHMARK(BM_DirectToPrimary)
    ->ArgNames({"partitions", "read_pct", "session"})
    ->ArgsProduct({{2, 8}, {50, 95}, {0, 1}})
    ->Iterations(1)
    ->UseManualTime();

}  // namespace
}  // namespace toydb::bench

int main(int argc, char** argv) { return toydb::bench::RunBenchmarks(argc, argv, {}); }
