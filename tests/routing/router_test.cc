// Router end to end: two partitions on three Nodes over the LocalTransport,
// on real time and real files. Tagged [threads]: the test command also runs
// them under ThreadSanitizer.
#include "toydb/router.h"

#include <fmt/format.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include "tests/storage/temp_dir.h"
#include "toydb/local_transport.h"
#include "toydb/node.h"

namespace toydb {
namespace {

using namespace std::chrono_literals;

constexpr NodeId kRouterId = 100;

// Three nodes, each hosting a replica of partitions 1 and 2.
class Cluster {
 public:
  Cluster() {
    partitions_ = {PartitionConfig{1, {1, 2, 3}}, PartitionConfig{2, {1, 2, 3}}};
    for (NodeId id = 1; id <= 3; ++id) REQUIRE(Start(id).ok());
  }

  Status Start(NodeId id) {
    NodeOptions options;
    options.id = id;
    options.dir = JoinPath(dir_.path(), "node-" + std::to_string(id));
    options.transport = &transport_;
    options.partitions = partitions_;
    options.tick_ms = 5;
    options.replica.election_ticks = 20;
    options.replica.heartbeat_ticks = 2;
    options.replica.write_timeout_ticks = 100;
    options.replica.read_timeout_ticks = 100;
    options.store.sync_policy = SyncPolicy::kNone;
    options.store.cache_bytes_max = 1 << 20;
    options.seed = id * 101;
    StatusOr<std::unique_ptr<Node>> node = Node::Open(options);
    if (!node.ok()) return node.status();
    MutexGuard lock(mu_);
    nodes_[id] = std::move(*node);
    return absl::OkStatus();
  }
  void Stop(NodeId id) {
    std::unique_ptr<Node> node;
    {
      MutexGuard lock(mu_);
      node = std::move(nodes_[id]);
    }
    node.reset();
  }

  RouterOptions RouterOptionsFor() {
    RouterOptions options;
    options.id = kRouterId;
    options.transport = &transport_;
    options.partitions = partitions_;
    options.seed = 7;
    options.deadline_ms = 10'000;
    options.attempt_timeout_ms = 1'000;  // above the replicas' 500 ms write timeout
    options.probe_interval_ms = 50;
    options.probe_timeout_ms = 200;
    return options;
  }

  // The primary of `partition` (0 after `timeout`), not `not_this`.
  NodeId WaitForPrimary(PartitionId partition, std::chrono::milliseconds timeout = 10s,
                        NodeId not_this = 0) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      for (NodeId id = 1; id <= 3; ++id) {
        if (id == not_this) continue;
        Node* node = Get(id);
        if (node == nullptr) continue;
        for (const ReplicaStats& stats : node->GetStats()) {
          if (stats.partition == partition && stats.role == ReplicaRole::kPrimary) return id;
        }
      }
      std::this_thread::sleep_for(5ms);
    }
    return 0;
  }

  LocalTransport& transport() { return transport_; }

 private:
  using MutexGuard = std::lock_guard<std::mutex>;
  Node* Get(NodeId id) {
    MutexGuard lock(mu_);
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : it->second.get();
  }

  TempDir dir_;
  LocalTransport transport_;
  std::vector<PartitionConfig> partitions_;
  std::mutex mu_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
};

std::unique_ptr<Router> OpenRouter(const RouterOptions& options) {
  StatusOr<std::unique_ptr<Router>> router = Router::Open(options);
  REQUIRE(router.ok());
  return std::move(*router);
}

// A key the router places in `partition`.
std::string KeyIn(Router& router, PartitionId partition, int n = 0) {
  for (int i = 0;; ++i) {
    std::string key = fmt::format("k{}", i);
    if (router.PartitionOf(key) == partition && n-- == 0) return key;
  }
}

// Reads at kAny until the value shows up (a secondary may lag).
StatusOr<VersionedValue> EventuallyAny(Router& router, const std::string& key,
                                       const std::string& want) {
  StatusOr<VersionedValue> got = absl::NotFoundError("");
  for (int i = 0; i < 200; ++i) {
    got = router.Get(key, RouterReadOptions{ReadConsistency::kAny, 0});
    if (got.ok() && got->value == want) return got;
    std::this_thread::sleep_for(10ms);
  }
  return got;
}

TEST_CASE("Router: writes and reads through two partitions at every consistency level",
          "[router][threads]") {
  Cluster cluster;
  REQUIRE(cluster.WaitForPrimary(1) != 0);
  REQUIRE(cluster.WaitForPrimary(2) != 0);
  std::unique_ptr<Router> router = OpenRouter(cluster.RouterOptionsFor());

  std::map<PartitionId, int> per_partition;
  for (int i = 0; i < 40; ++i) {
    const std::string key = fmt::format("key{}", i);
    per_partition[router->PartitionOf(key)]++;
    const WriteResult put = router->Put(key, "v" + std::to_string(i));
    REQUIRE(put.ok());
    CHECK(put.outcome == WriteOutcome::kCommitted);
    CHECK(put.version == put.lsn);
    CHECK(put.replicas == 3);
    CHECK(put.acks >= 2);
  }
  CHECK(per_partition.size() == 2);  // both partitions took keys

  for (int i = 0; i < 40; ++i) {
    const std::string key = fmt::format("key{}", i);
    const std::string want = "v" + std::to_string(i);
    for (ReadConsistency c :
         {ReadConsistency::kLinearizable, ReadConsistency::kQuorum, ReadConsistency::kSession}) {
      StatusOr<VersionedValue> got = router->Get(key, RouterReadOptions{c, 0});
      REQUIRE(got.ok());
      CHECK(got->value == want);
    }
    StatusOr<VersionedValue> any = EventuallyAny(*router, key, want);
    REQUIRE(any.ok());
    CHECK(any->value == want);
  }

  const std::string key = KeyIn(*router, 1);
  REQUIRE(router->Put(key, "base").ok());
  StatusOr<VersionedValue> before = router->Get(key);
  REQUIRE(before.ok());
  // Compare-and-set: the right version wins, a stale one is refused.
  const WriteResult cas = router->CompareAndSet(key, before->version, "cas");
  REQUIRE(cas.ok());
  const WriteResult stale = router->CompareAndSet(key, before->version, "again");
  CHECK(absl::IsAborted(stale.status));
  CHECK(stale.outcome == WriteOutcome::kNotWritten);
  CHECK(router->Get(key)->value == "cas");
  // Delete.
  REQUIRE(router->Delete(key).ok());
  CHECK(absl::IsNotFound(router->Get(key).status()));
  CHECK(absl::IsNotFound(router->Get(key, {ReadConsistency::kSession, 0}).status()));

  // A batch within partition 2 applies whole; one across partitions is refused.
  WriteBatch batch;
  batch.Put(KeyIn(*router, 2, 0), "b0");
  batch.Put(KeyIn(*router, 2, 1), "b1");
  batch.Delete(KeyIn(*router, 2, 2));
  const WriteResult applied = router->Write(batch);
  REQUIRE(applied.ok());
  CHECK(router->Get(KeyIn(*router, 2, 1))->value == "b1");
  WriteBatch across;
  across.Put(KeyIn(*router, 1, 0), "x");
  across.Put(KeyIn(*router, 2, 0), "y");
  const WriteResult refused = router->Write(across);
  CHECK(absl::IsInvalidArgument(refused.status));
  CHECK(router->Get(KeyIn(*router, 2, 0))->value == "b0");  // untouched

  // The callback forms.
  std::promise<WriteResult> put_done;
  router->PutAsync("async", "a", {}, [&](WriteResult r) { put_done.set_value(std::move(r)); });
  REQUIRE(put_done.get_future().get().ok());
  std::promise<StatusOr<VersionedValue>> get_done;
  router->GetAsync("async", {ReadConsistency::kSession, 0},
                   [&](StatusOr<VersionedValue> v) { get_done.set_value(std::move(v)); });
  StatusOr<VersionedValue> async = get_done.get_future().get();
  REQUIRE(async.ok());
  CHECK(async->value == "a");

  const RouterStats stats = router->GetStats();
  CHECK(stats.dead_letters == 0);
  for (const RouterPartitionState& p : stats.partitions) {
    CHECK(p.primary != 0);
    CHECK(p.session_lsn > 0);
  }
  bool probed = false;
  for (int i = 0; i < 100 && !probed; ++i) {
    probed = true;
    for (const RouterNodeHealth& node : router->GetStats().nodes) {
      probed = probed && node.probes_answered > 0 && node.up;
    }
    std::this_thread::sleep_for(10ms);
  }
  CHECK(probed);
}

TEST_CASE("Router: follows a new primary when one is destroyed; acknowledged writes stay",
          "[router][threads]") {
  Cluster cluster;
  const NodeId first = cluster.WaitForPrimary(1);
  REQUIRE(first != 0);
  REQUIRE(cluster.WaitForPrimary(2) != 0);
  std::unique_ptr<Router> router = OpenRouter(cluster.RouterOptionsFor());

  std::mutex mu;
  std::map<std::string, std::string> acknowledged;  // key -> value
  std::vector<uint64_t> unknown_letters;
  std::atomic<bool> stop{false};
  std::atomic<int> writes{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const std::string key = fmt::format("w{}-{}", t, i);
        const WriteResult r = router->Put(key, key);
        std::lock_guard<std::mutex> lock(mu);
        if (r.ok()) {
          acknowledged[key] = key;
        } else if (r.outcome == WriteOutcome::kUnknown) {
          unknown_letters.push_back(r.dead_letter_id);
        }
        writes++;
      }
    });
  }
  while (writes < 100) std::this_thread::sleep_for(1ms);
  cluster.Stop(first);  // mid-run
  const NodeId second = cluster.WaitForPrimary(1, 10s, first);
  REQUIRE(second != 0);
  const int at_failover = writes;
  while (writes < at_failover + 200) std::this_thread::sleep_for(1ms);
  stop = true;
  for (std::thread& w : writers) w.join();

  // The router follows the new primary.
  const WriteResult after = router->Put(KeyIn(*router, 1), "after");
  REQUIRE(after.ok());
  NodeId cached = 0;
  for (const RouterPartitionState& p : router->GetStats().partitions) {
    if (p.partition == 1) cached = p.primary;
  }
  CHECK(cached == cluster.WaitForPrimary(1, 10s, first));
  CHECK(cached != first);
  const RouterStats stats = router->GetStats();
  CHECK(stats.retries + stats.redirects > 0);  // it had to look for the new primary
  CHECK(stats.nodes.size() == 3);
  // Every acknowledged write is readable.
  for (const auto& [key, value] : acknowledged) {
    StatusOr<VersionedValue> got = router->Get(key);
    REQUIRE(got.ok());
    CHECK(got->value == value);
  }
  // A write whose outcome is unknown is in the dead-letter queue.
  const std::vector<DeadLetter> letters = router->DeadLetters();
  for (uint64_t id : unknown_letters) {
    bool found = false;
    for (const DeadLetter& letter : letters) found = found || letter.id == id;
    CHECK(found);
  }
  // The destroyed node is seen as down.
  bool down = false;
  for (int i = 0; i < 100 && !down; ++i) {
    for (const RouterNodeHealth& node : router->GetStats().nodes) {
      if (node.node == first) down = !node.up;
    }
    std::this_thread::sleep_for(10ms);
  }
  CHECK(down);
  // Reads skip it: kAny reads still succeed.
  for (int i = 0; i < 10; ++i) {
    CHECK(router->Get(acknowledged.begin()->first, {ReadConsistency::kAny, 2000}).ok());
  }
}

TEST_CASE("Router: many threads share one router", "[router][threads]") {
  Cluster cluster;
  REQUIRE(cluster.WaitForPrimary(1) != 0);
  REQUIRE(cluster.WaitForPrimary(2) != 0);
  std::unique_ptr<Router> router = OpenRouter(cluster.RouterOptionsFor());
  std::atomic<int> failures{0};
  std::atomic<int> stale_reads{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 40; ++i) {
        // Own keys: each thread must read its own writes at kSession.
        const std::string key = fmt::format("t{}-{}", t, i % 5);
        const std::string value = fmt::format("{}", i);
        if (!router->Put(key, value).ok()) failures++;
        StatusOr<VersionedValue> got = router->Get(key, {ReadConsistency::kSession, 0});
        if (!got.ok()) {
          failures++;
        } else if (got->value != value) {
          stale_reads++;
        }
        // Shared keys: conflicting writes, each ordered by its partition's log.
        if (!router->Put(fmt::format("shared{}", i % 3), value).ok()) failures++;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(failures == 0);
  CHECK(stale_reads == 0);
  const RouterStats stats = router->GetStats();
  CHECK(stats.requests >= 16 * 40 * 3);
  CHECK(stats.dead_letters == 0);
}

TEST_CASE("Router: a write short of its concern says how many replicas hold it",
          "[router][threads]") {
  Cluster cluster;
  const NodeId primary = cluster.WaitForPrimary(1);
  REQUIRE(primary != 0);
  std::unique_ptr<Router> router = OpenRouter(cluster.RouterOptionsFor());
  const std::string key = KeyIn(*router, 1);
  REQUIRE(router->Put(key, "before").ok());
  // Stop a node that is not partition 1's primary: two of three remain.
  const NodeId secondary = primary == 1 ? 2 : 1;
  cluster.Stop(secondary);
  if (cluster.WaitForPrimary(1, 10s, secondary) == 0) FAIL("no primary");
  const WriteResult all =
      router->Put(key, "all", RouterWriteOptions{WriteConcern{WriteConcernKind::kAll, 0}, 0});
  CHECK(absl::IsDeadlineExceeded(all.status));
  CHECK(all.outcome == WriteOutcome::kCommitted);
  CHECK(all.acks == 2);
  CHECK(all.replicas == 3);
  CHECK(all.status.message().find("2 of 3") != std::string_view::npos);
  CHECK(all.dead_letter_id == 0);
  // Committed: it is there.
  CHECK(router->Get(key)->value == "all");
}

TEST_CASE(
    "Router: a write cut off from the cluster goes to the dead-letter queue; a retry "
    "applies it",
    "[router][threads]") {
  Cluster cluster;
  REQUIRE(cluster.WaitForPrimary(1) != 0);
  RouterOptions options = cluster.RouterOptionsFor();
  options.attempt_timeout_ms = 100;
  std::unique_ptr<Router> router = OpenRouter(options);
  const std::string key = KeyIn(*router, 1);
  REQUIRE(router->Put(key, "v1").ok());
  cluster.transport().Isolate(kRouterId);
  const WriteResult lost = router->Put(key, "v2", RouterWriteOptions{WriteConcern{}, 300});
  CHECK(absl::IsDeadlineExceeded(lost.status));
  CHECK(lost.outcome == WriteOutcome::kUnknown);  // it was sent; it may have arrived
  REQUIRE(lost.dead_letter_id != 0);
  std::vector<DeadLetter> letters = router->DeadLetters();
  REQUIRE(letters.size() == 1);
  CHECK(letters[0].request.key == key);
  CHECK(letters[0].request.value == "v2");
  cluster.transport().Heal();
  const WriteResult retried = router->RetryDeadLetter(lost.dead_letter_id);
  REQUIRE(retried.ok());
  CHECK(router->DeadLetters().empty());
  CHECK(router->Get(key)->value == "v2");
  CHECK(absl::IsNotFound(router->DropDeadLetter(lost.dead_letter_id)));
}

}  // namespace
}  // namespace toydb
