// Node: three nodes in one process over the LocalTransport, on real time and
// real files. Tagged [threads]: the test command also runs them under
// ThreadSanitizer.
#include "toydb/node.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "src/util/mutex.h"
#include "tests/storage/temp_dir.h"
#include "toydb/local_transport.h"

namespace toydb {
namespace {

using namespace std::chrono_literals;

class ThreeNodes {
 public:
  ThreeNodes() {
    partition_.id = 1;
    partition_.members = {1, 2, 3};
    for (NodeId id = 1; id <= 3; ++id) REQUIRE(Start(id).ok());
  }

  Status Start(NodeId id) {
    NodeOptions options;
    options.id = id;
    options.dir = JoinPath(dir_.path(), "node-" + std::to_string(id));
    options.transport = &transport_;
    options.partitions = {partition_};
    options.tick_ms = 5;
    options.replica.election_ticks = 20;
    options.replica.heartbeat_ticks = 2;
    options.replica.write_timeout_ticks = 400;
    options.replica.read_timeout_ticks = 400;
    options.store.sync_policy = SyncPolicy::kNone;
    options.store.cache_bytes_max = 1 << 20;
    options.seed = id * 101;
    options.counters = [id] { return std::vector<StatsCounter>{{"test_counter", id * 10}}; };
    StatusOr<std::unique_ptr<Node>> node = Node::Open(options);
    if (!node.ok()) return node.status();
    nodes_[id] = std::move(*node);
    return absl::OkStatus();
  }
  void Stop(NodeId id) { nodes_[id].reset(); }
  Node& node(NodeId id) { return *nodes_[id]; }
  LocalTransport& transport() { return transport_; }

  // The primary most nodes agree on, once there is one (0 after `timeout`).
  NodeId WaitForPrimary(std::chrono::milliseconds timeout = 10s, NodeId not_this = 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& [id, node] : nodes_) {
        if (node == nullptr || id == not_this) continue;
        for (const ReplicaStats& stats : node->GetStats()) {
          if (stats.role == ReplicaRole::kPrimary) return id;
        }
      }
      std::this_thread::sleep_for(5ms);
    }
    return 0;
  }

  // Waits until every live node applied at least `lsn`.
  bool WaitForApplied(Lsn lsn, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      bool all = true;
      for (auto& [id, node] : nodes_) {
        if (node == nullptr) continue;
        for (const ReplicaStats& stats : node->GetStats()) all = all && stats.applied_lsn >= lsn;
      }
      if (all) return true;
      std::this_thread::sleep_for(5ms);
    }
    return false;
  }

 private:
  TempDir dir_;
  LocalTransport transport_;
  PartitionConfig partition_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
};

TEST_CASE("Node: a cluster of three elects a primary, replicates, fails over and catches up",
          "[node][threads]") {
  ThreeNodes cluster;
  const NodeId primary = cluster.WaitForPrimary();
  REQUIRE(primary != 0);
  Lsn last = 0;
  for (int i = 0; i < 100; ++i) {
    StatusOr<Lsn> lsn = cluster.node(primary).Put(1, "key" + std::to_string(i), "value");
    REQUIRE(lsn.ok());
    last = *lsn;
  }
  // A secondary refuses the write and names the primary.
  const NodeId secondary = primary == 1 ? 2 : 1;
  StatusOr<Lsn> refused = cluster.node(secondary).Put(1, "x", "y");
  REQUIRE_FALSE(refused.ok());
  CHECK(IsNotPrimary(refused.status()));
  CHECK(LeaderHint(refused.status()) == primary);
  REQUIRE(cluster.WaitForApplied(last));
  StatusOr<VersionedValue> read = cluster.node(secondary).Get(1, "key7", ReadConsistency::kAny);
  REQUIRE(read.ok());
  CHECK(read->value == "value");

  cluster.Stop(primary);
  const NodeId next = cluster.WaitForPrimary(10s, primary);
  REQUIRE(next != 0);
  for (int i = 100; i < 200; ++i) {
    StatusOr<Lsn> lsn = cluster.node(next).Put(1, "key" + std::to_string(i), "value");
    REQUIRE(lsn.ok());
    last = *lsn;
  }
  REQUIRE(cluster.Start(primary).ok());
  REQUIRE(cluster.WaitForApplied(last));
  for (int i = 0; i < 200; i += 17) {
    StatusOr<VersionedValue> value =
        cluster.node(primary).Get(1, "key" + std::to_string(i), ReadConsistency::kAny);
    REQUIRE(value.ok());
    CHECK(value->value == "value");
  }
}

TEST_CASE("Node: many threads write through one node at once", "[node][threads]") {
  ThreeNodes cluster;
  const NodeId primary = cluster.WaitForPrimary();
  REQUIRE(primary != 0);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        // Every thread writes the same keys: conflicting writes are ordered
        // by the log, and each gets its own version.
        if (!cluster.node(primary)
                 .Put(1, "shared" + std::to_string(i % 5), std::to_string(t))
                 .ok()) {
          failures++;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
  StatusOr<VersionedValue> value = cluster.node(primary).Get(1, "shared0");
  REQUIRE(value.ok());
}

}  // namespace
}  // namespace toydb

namespace toydb {
namespace {

// A tool's end of the transport: sends requests and keeps what comes back.
class Inbox final : public Transport::Handler {
 public:
  void OnMessage(const Message& message) override {
    MutexLock lock(&mu_);
    messages_.push_back(message);
  }
  void OnPeerUnreachable(NodeId) override {}

  // The first message whose body is a T, waiting up to 5 s for it.
  template <typename T>
  std::optional<T> Take() {
    for (int i = 0; i < 1000; ++i) {
      {
        MutexLock lock(&mu_);
        for (auto it = messages_.begin(); it != messages_.end(); ++it) {
          if (const T* body = std::get_if<T>(&it->body)) {
            T found = *body;
            messages_.erase(it);
            return found;
          }
        }
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }

 private:
  Mutex mu_;
  std::vector<Message> messages_ ABSL_GUARDED_BY(mu_);
};

TEST_CASE("Node answers stats and admin requests that arrive over the transport",
          "[node][threads]") {
  ThreeNodes cluster;
  const NodeId primary = cluster.WaitForPrimary();
  REQUIRE(primary != 0);
  REQUIRE(cluster.node(primary).Put(1, "k", "v").ok());
  constexpr NodeId kTool = 1000;
  Inbox inbox;
  REQUIRE(cluster.transport().Register(kTool, &inbox).ok());
  const NodeId follower = primary == 1 ? 2 : 1;

  REQUIRE(cluster.transport()
              .Send(Message{.from = kTool, .to = primary, .body = StatsRequest{.request_id = 7}})
              .ok());
  std::optional<StatsResponse> stats = inbox.Take<StatsResponse>();
  REQUIRE(stats.has_value());
  CHECK(stats->request_id == 7);
  CHECK(stats->node == primary);
  REQUIRE(stats->replicas.size() == 1);
  const ReplicaStats replica = FromStatsReplica(stats->replicas[0]);
  CHECK(replica.role == ReplicaRole::kPrimary);
  CHECK(replica.partition == 1);
  CHECK(replica.leader == primary);
  CHECK(replica.commit_lsn >= 1);
  CHECK(replica.peers.size() == 2);
  CHECK(replica.failure.ok());
  REQUIRE(stats->counters.size() == 1);
  CHECK(stats->counters[0] == StatsCounter{"test_counter", primary * 10});

  // A follower refuses a transfer and names the primary.
  REQUIRE(
      cluster.transport()
          .Send(Message{.from = kTool,
                        .to = follower,
                        .body = AdminRequest{.request_id = 8, .partition = 1, .target = follower}})
          .ok());
  std::optional<AdminResponse> refused = inbox.Take<AdminResponse>();
  REQUIRE(refused.has_value());
  CHECK(refused->request_id == 8);
  CHECK(refused->code == static_cast<uint8_t>(absl::StatusCode::kFailedPrecondition));
  CHECK(refused->leader_hint == primary);

  // A partition the node does not host.
  REQUIRE(
      cluster.transport()
          .Send(Message{
              .from = kTool, .to = primary, .body = AdminRequest{.request_id = 9, .partition = 5}})
          .ok());
  std::optional<AdminResponse> unknown = inbox.Take<AdminResponse>();
  REQUIRE(unknown.has_value());
  CHECK(unknown->code == static_cast<uint8_t>(absl::StatusCode::kNotFound));

  // The primary hands its role over.
  REQUIRE(
      cluster.transport()
          .Send(Message{.from = kTool,
                        .to = primary,
                        .body = AdminRequest{.request_id = 10, .partition = 1, .target = follower}})
          .ok());
  std::optional<AdminResponse> done = inbox.Take<AdminResponse>();
  REQUIRE(done.has_value());
  CHECK(done->code == 0);
  CHECK(cluster.WaitForPrimary(10s, primary) == follower);
  cluster.transport().Unregister(kTool);
}

}  // namespace
}  // namespace toydb
