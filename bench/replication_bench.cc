// Replicated writes: a 3-replica partition in one process (three Nodes on
// the LocalTransport, real files under $TOYDB_BENCH_DIR), kMajority writes of
// 16-byte keys and 100-byte values with 1, 16 and 256 writes in flight, once
// with syncs off and once with sync-every-write group commit. Beside it, in
// the same run where LevelDB is installed, LevelDB's synced fillrandom with
// 16 threads on the same disk (the target compares the two).
//
//   ./build/bench/replication_bench
// Counters: items_per_second (acknowledged writes/s), p50_us and p99_us (from
// submit to acknowledgement).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "bench/bench_util.h"
#include "toydb/local_transport.h"
#include "toydb/node.h"

#ifdef TOYDB_BENCH_HAVE_LEVELDB
#include <leveldb/db.h>
#include <leveldb/write_batch.h>
#endif

namespace toydb::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::string KeyAt(uint64_t i) { return fmt::format("{:016x}", i * 0x9e3779b97f4a7c15ULL); }

// Three nodes hosting partition 1, in a fresh directory.
class LocalCluster {
 public:
  explicit LocalCluster(bool sync) : dir_(JoinPath(BenchDir(), "replication")) {
    std::filesystem::remove_all(dir_);
    PartitionConfig partition{1, {1, 2, 3}};
    for (NodeId id = 1; id <= 3; ++id) {
      NodeOptions options;
      options.id = id;
      options.dir = JoinPath(dir_, "node-" + std::to_string(id));
      options.transport = &transport_;
      options.partitions = {partition};
      options.tick_ms = 10;
      options.replica.election_ticks = 30;
      options.replica.heartbeat_ticks = 3;
      options.store.sync_policy = sync ? SyncPolicy::kEveryWrite : SyncPolicy::kNone;
      options.seed = id;
      StatusOr<std::unique_ptr<Node>> node = Node::Open(options);
      Check(node.status(), "open node");
      nodes_.push_back(std::move(*node));
    }
    // Node 1 campaigns at once, so the benchmark need not wait for a timeout.
    Check(nodes_[0]->Campaign(1), "campaign");
    for (int i = 0; i < 2000 && primary_ == nullptr; ++i) {
      for (auto& node : nodes_) {
        for (const ReplicaStats& stats : node->GetStats()) {
          if (stats.role == ReplicaRole::kPrimary) primary_ = node.get();
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    Check(primary_ != nullptr, "elect a primary");
  }
  ~LocalCluster() {
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }
  Node& primary() { return *primary_; }
  uint64_t messages_sent() const { return transport_.GetStats().sent; }

 private:
  std::string dir_;
  LocalTransport transport_;
  std::vector<std::unique_ptr<Node>> nodes_;
  Node* primary_ = nullptr;
};

// Keeps `window` writes in flight through the primary's callback API.
void BM_ReplicatedPut(benchmark::State& state) {
  const bool sync = state.range(0) != 0;
  const auto window = static_cast<size_t>(state.range(1));
  LocalCluster cluster(sync);
  const std::string value(100, 'v');
  std::mutex mu;
  std::condition_variable cv;
  size_t in_flight = 0;
  bool waiting = false;  // the submitting thread sleeps until a slot frees
  // It is woken once an eighth of the window is free, not at every answer.
  const size_t wake_at = window - std::max<size_t>(1, window / 8);
  uint64_t failures = 0;
  std::vector<int64_t> latencies;
  latencies.reserve(1 << 20);
  uint64_t next = 0;
  const uint64_t messages_before = cluster.messages_sent();
  for (auto _ : state) {
    {
      std::unique_lock lock(mu);
      if (in_flight >= window) {
        waiting = true;
        cv.wait(lock, [&] { return in_flight <= wake_at; });
        waiting = false;
      }
      ++in_flight;
    }
    ClientRequest request;
    request.partition = 1;
    request.op = OpType::kPut;
    request.key = KeyAt(next++);
    request.value = value;
    const Clock::time_point start = Clock::now();
    cluster.primary().Submit(std::move(request), [&, start](ClientResponse response) {
      const int64_t micros =
          std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
      std::lock_guard lock(mu);
      if (response.code != 0) failures++;
      latencies.push_back(micros);
      --in_flight;
      if (waiting && (in_flight <= wake_at)) cv.notify_one();
    });
  }
  {
    std::unique_lock lock(mu);
    waiting = true;
    cv.wait(lock, [&] { return in_flight <= wake_at; });
    cv.wait(lock, [&] { return in_flight == 0; });
  }
  Check(failures == 0, "every replicated write succeeds");
  std::sort(latencies.begin(), latencies.end());
  state.SetItemsProcessed(state.iterations());
  // Replication messages (appends, answers, heartbeats) per acknowledged write.
  state.counters["msgs_per_write"] =
      static_cast<double>(cluster.messages_sent() - messages_before) /
      static_cast<double>(std::max<uint64_t>(1, state.iterations()));
  if (!latencies.empty()) {
    state.counters["p50_us"] = static_cast<double>(latencies[latencies.size() / 2]);
    state.counters["p99_us"] = static_cast<double>(latencies[latencies.size() * 99 / 100]);
  }
}
BENCHMARK(BM_ReplicatedPut)
    ->ArgNames({"sync", "in_flight"})
    ->ArgsProduct({{0, 1}, {1, 16, 256}})
    ->UseRealTime()
    ->MinTime(2.0);

#ifdef TOYDB_BENCH_HAVE_LEVELDB
// LevelDB's fillrandom with sync=true, 16 threads sharing one database.
leveldb::DB* leveldb_db = nullptr;

void BM_LevelDBFillRandomSync(benchmark::State& state) {
  const std::string dir = JoinPath(BenchDir(), "leveldb-fillsync");
  if (state.thread_index() == 0) {
    std::filesystem::remove_all(dir);
    leveldb::Options options;
    options.create_if_missing = true;
    Check(leveldb::DB::Open(options, dir, &leveldb_db).ok(), "open leveldb");
  }
  const std::string value(100, 'v');
  leveldb::WriteOptions write_options;
  write_options.sync = true;
  uint64_t next = static_cast<uint64_t>(state.thread_index()) << 40;
  for (auto _ : state) {
    Check(leveldb_db->Put(write_options, KeyAt(next++), value).ok(), "leveldb put");
  }
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    delete leveldb_db;
    leveldb_db = nullptr;
    std::filesystem::remove_all(dir);
  }
}
BENCHMARK(BM_LevelDBFillRandomSync)->Threads(16)->UseRealTime()->MinTime(2.0);
#endif

}  // namespace
}  // namespace toydb::bench

int main(int argc, char** argv) { return toydb::bench::RunBenchmarks(argc, argv, {}); }
