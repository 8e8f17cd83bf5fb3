// cluster_demo: the README's main job. Runs a cluster of 3 nodes in this
// process, hosting 2 partitions x 3 replicas (real files in a temporary
// directory, the in-process transport on real time), under a client
// workload through the Router, with a live progress line. Midway it kills
// the node that leads partition 1, shows the election and the new primary,
// restarts the killed node and shows its catch-up, and ends by checking that
// every acknowledged write is readable and that all replicas agree.
//
// Usage: cluster_demo [DIR] (default: a fresh temporary directory, removed
// at the end). Exit status 0 when the verdict is PASS.
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "toydb/local_transport.h"
#include "toydb/node.h"
#include "toydb/router.h"

namespace {

using namespace std::chrono_literals;
using toydb::NodeId;
using toydb::PartitionId;
using SteadyClock = std::chrono::steady_clock;

constexpr NodeId kNodes = 3;
constexpr PartitionId kPartitions = 2;
constexpr int kClients = 8;

void Check(const toydb::Status& status, const char* what) {
  if (status.ok()) return;
  fmt::print(stderr, "cluster_demo: {} failed: {}\n", what, status.ToString());
  std::exit(1);
}

class Demo {
 public:
  explicit Demo(std::string dir) : dir_(std::move(dir)) {
    for (PartitionId p = 1; p <= kPartitions; ++p) partitions_.push_back({p, {1, 2, 3}});
  }

  void StartNode(NodeId id) {
    toydb::NodeOptions options;
    options.id = id;
    options.dir = dir_ + "/node-" + std::to_string(id);
    options.transport = &transport_;
    options.partitions = partitions_;
    options.tick_ms = 10;
    options.replica.election_ticks = 30;  // 300 ms
    options.replica.heartbeat_ticks = 3;
    options.store.sync_policy = toydb::SyncPolicy::kEveryWrite;
    options.store.cache_bytes_max = 8u << 20;
    options.log = [this](std::string_view line) {
      std::lock_guard lock(log_mu_);
      events_.push_back(std::string(line));
    };
    auto node = toydb::Node::Open(options);
    Check(node.status(), "Node::Open");
    std::lock_guard lock(nodes_mu_);
    nodes_[id] = std::move(*node);
  }
  void KillNode(NodeId id) {
    std::unique_ptr<toydb::Node> node;
    {
      std::lock_guard lock(nodes_mu_);
      node = std::move(nodes_[id]);
      nodes_.erase(id);
    }
    node.reset();
  }

  void StartRouter() {
    toydb::RouterOptions options;
    options.id = 100;
    options.transport = &transport_;
    options.partitions = partitions_;
    options.deadline_ms = 5000;
    options.attempt_timeout_ms = 1000;
    auto router = toydb::Router::Open(options);
    Check(router.status(), "Router::Open");
    router_ = std::move(*router);
  }

  // Every live node's replica stats, by partition.
  std::map<PartitionId, std::vector<toydb::ReplicaStats>> Stats() {
    std::map<PartitionId, std::vector<toydb::ReplicaStats>> stats;
    std::lock_guard lock(nodes_mu_);
    for (auto& [id, node] : nodes_) {
      for (toydb::ReplicaStats& s : node->GetStats()) stats[s.partition].push_back(s);
    }
    return stats;
  }
  NodeId PrimaryOf(PartitionId partition) {
    const std::map<PartitionId, std::vector<toydb::ReplicaStats>> stats = Stats();
    auto it = stats.find(partition);
    if (it == stats.end()) return 0;
    for (const toydb::ReplicaStats& s : it->second) {
      if (s.role == toydb::ReplicaRole::kPrimary) return s.node;
    }
    return 0;
  }

  // True when every primary sees `node` within a few entries of its log.
  bool CaughtUp(NodeId node) {
    for (auto& [partition, replicas] : Stats()) {
      bool seen = false;
      for (const toydb::ReplicaStats& s : replicas) {
        if (s.role != toydb::ReplicaRole::kPrimary) continue;
        for (const toydb::ReplicaPeerStats& peer : s.peers) {
          if (peer.node == node) seen = peer.lag_entries <= 16 && peer.match_lsn > 0;
        }
      }
      if (!seen) return false;
    }
    return true;
  }

  void ClientLoop(int client) {
    for (uint64_t n = 0; !stop_clients_; ++n) {
      const std::string key = fmt::format("user:{}:{}", client, n);
      const std::string value = fmt::format("value-{}-{}", client, n);
      toydb::WriteResult result = router_->Put(key, value);
      std::lock_guard lock(acked_mu_);
      if (result.ok()) {
        acked_[key] = value;
        writes_ok_++;
      } else {
        writes_failed_++;
      }
    }
  }

  std::string ProgressLine(double seconds, uint64_t writes_per_second) {
    std::string line = fmt::format("[{:5.1f}s] {:6} writes/s |", seconds, writes_per_second);
    for (auto& [partition, replicas] : Stats()) {
      NodeId primary = 0;
      for (const toydb::ReplicaStats& s : replicas) {
        if (s.role == toydb::ReplicaRole::kPrimary) primary = s.node;
      }
      line += fmt::format(" p{}: primary {}", partition,
                          primary == 0 ? std::string("none") : "node " + std::to_string(primary));
      for (const toydb::ReplicaStats& s : replicas) {
        if (s.role != toydb::ReplicaRole::kPrimary) continue;
        line += " lag";
        for (const toydb::ReplicaPeerStats& peer : s.peers) {
          line += fmt::format(" n{}={}", peer.node, peer.lag_entries);
        }
      }
      line += " |";
    }
    return line;
  }

  void PrintEvents() {
    std::vector<std::string> events;
    {
      std::lock_guard lock(log_mu_);
      events.swap(events_);
    }
    for (const std::string& e : events) {
      if (e.find("primary in term") != std::string::npos ||
          e.find("snapshot") != std::string::npos || e.find("stopped") != std::string::npos) {
        fmt::print("          event: {}\n", e);
      }
    }
  }

  // Runs the phases; returns true on PASS.
  bool Run() {
    fmt::print("toydb demonstration: {} nodes, {} partitions x 3 replicas, files in {}\n", kNodes,
               kPartitions, dir_);
    for (NodeId id = 1; id <= kNodes; ++id) StartNode(id);
    StartRouter();
    for (int i = 0; i < 500 && (PrimaryOf(1) == 0 || PrimaryOf(2) == 0); ++i) {
      std::this_thread::sleep_for(10ms);
    }
    PrintEvents();
    fmt::print("{} client threads write through the Router (kMajority, every write synced)\n",
               kClients);
    std::vector<std::thread> clients;
    for (int c = 0; c < kClients; ++c) clients.emplace_back([this, c] { ClientLoop(c); });

    const SteadyClock::time_point start = SteadyClock::now();
    uint64_t last_ok = 0;
    NodeId killed = 0;
    bool restarted = false;
    SteadyClock::time_point killed_at;
    bool announced_new_primary = false;
    bool announced_caught_up = false;
    SteadyClock::time_point restarted_at;
    for (int tick = 1; tick <= 24; ++tick) {
      // Sleep in small steps, to see the catch-up end when it does.
      for (int step = 0; step < 50; ++step) {
        std::this_thread::sleep_for(10ms);
        if (restarted && !announced_caught_up && CaughtUp(killed)) {
          const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() -
                                                                                restarted_at);
          fmt::print(">>> node {} caught up with every primary {} ms after its restart\n", killed,
                     ms.count());
          announced_caught_up = true;
        }
      }
      const double seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
      uint64_t ok;
      {
        std::lock_guard lock(acked_mu_);
        ok = writes_ok_;
      }
      fmt::print("{}\n", ProgressLine(seconds, (ok - last_ok) * 2));
      last_ok = ok;
      PrintEvents();
      if (tick == 6) {
        killed = PrimaryOf(1);
        fmt::print(">>> killing node {}, the primary of partition 1\n", killed);
        killed_at = SteadyClock::now();
        KillNode(killed);
      }
      const NodeId new_primary = killed != 0 ? PrimaryOf(1) : 0;
      if (killed != 0 && !announced_new_primary && new_primary != 0 && new_primary != killed) {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - killed_at);
        fmt::print(">>> partition 1 has a new primary: node {} (seen {} ms after the kill)\n",
                   new_primary, ms.count());
        announced_new_primary = true;
      }
      if (tick == 12) {
        fmt::print(">>> restarting node {}; it catches up from the primaries\n", killed);
        restarted_at = SteadyClock::now();
        StartNode(killed);
        restarted = true;
      }
    }
    stop_clients_ = true;
    for (std::thread& t : clients) t.join();

    // Let every replica apply everything, then check.
    fmt::print("workload stopped: {} writes acknowledged, {} failed or unknown\n", writes_ok_,
               writes_failed_);
    bool converged = false;
    for (int i = 0; i < 1000 && !converged; ++i) {
      converged = true;
      for (auto& [partition, replicas] : Stats()) {
        for (const toydb::ReplicaStats& s : replicas) {
          converged = converged && replicas.size() == kNodes &&
                      s.applied_lsn == replicas.front().applied_lsn && s.applied_lsn > 0;
        }
      }
      if (!converged) std::this_thread::sleep_for(10ms);
    }
    PrintEvents();
    uint64_t missing = 0;
    uint64_t disagreeing = 0;
    for (const auto& [key, value] : acked_) {
      auto read = router_->Get(key);
      if (!read.ok() || read->value != value) {
        if (missing++ < 5) fmt::print("  MISSING {}: {}\n", key, read.status().ToString());
        continue;
      }
      // Every replica holds the same value at the same version.
      const PartitionId partition = router_->PartitionOf(key);
      std::lock_guard lock(nodes_mu_);
      for (auto& [id, node] : nodes_) {
        auto local = node->Get(partition, key, toydb::ReadConsistency::kAny);
        if (!local.ok() || local->value != value || local->version != read->version) {
          if (disagreeing++ < 5) fmt::print("  DISAGREE {} on node {}\n", key, id);
        }
      }
    }
    const bool pass = converged && missing == 0 && disagreeing == 0 && writes_ok_ > 0;
    fmt::print(
        "verdict: {} ({} acknowledged writes checked: {} missing; replicas {}; {} disagreeing "
        "reads)\n",
        pass ? "PASS" : "FAIL", acked_.size(), missing,
        converged ? "all at the same applied LSN" : "NOT converged", disagreeing);
    router_.reset();
    std::lock_guard lock(nodes_mu_);
    nodes_.clear();
    return pass;
  }

 private:
  std::string dir_;
  std::vector<toydb::PartitionConfig> partitions_;
  toydb::LocalTransport transport_;
  std::mutex nodes_mu_;
  std::map<NodeId, std::unique_ptr<toydb::Node>> nodes_;
  std::unique_ptr<toydb::Router> router_;
  std::mutex log_mu_;
  std::vector<std::string> events_;
  std::atomic<bool> stop_clients_{false};
  std::mutex acked_mu_;
  std::map<std::string, std::string> acked_;
  uint64_t writes_ok_ = 0;
  uint64_t writes_failed_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  std::string dir;
  bool remove = false;
  if (argc > 1) {
    dir = argv[1];
    std::filesystem::remove_all(dir);
  } else {
    dir =
        (std::filesystem::temp_directory_path() / fmt::format("toydb-demo-{}", getpid())).string();
    remove = true;
  }
  std::filesystem::create_directories(dir);
  bool pass = false;
  {
    Demo demo(dir);
    pass = demo.Run();
  }
  if (remove) std::filesystem::remove_all(dir);
  return pass ? 0 : 1;
}
