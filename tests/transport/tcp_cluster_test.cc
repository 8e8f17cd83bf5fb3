// Three toydb::Node, each on its own TcpTransport, in one process, and a
// Router on a fourth (a client: it listens nowhere): writes commit, the
// primary's node and transport go away, a new primary is elected and the
// Router's writes continue. Everything over 127.0.0.1 with ports picked by
// the system. Tagged [threads]: also run under ThreadSanitizer.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "tests/storage/temp_dir.h"
#include "toydb/node.h"
#include "toydb/router.h"
#include "toydb/tcp_transport.h"

namespace toydb {
namespace {

using namespace std::chrono_literals;

constexpr NodeId kRouterId = 100;

std::string Loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

class TcpCluster {
 public:
  TcpCluster() {
    partition_.id = 1;
    partition_.members = {1, 2, 3};
    for (NodeId id = 1; id <= 3; ++id) {
      StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::Open(
          {.listen_address = "127.0.0.1:0", .reconnect_initial_ms = 5, .reconnect_max_ms = 100});
      REQUIRE(t.ok());
      transports_[id] = std::move(*t);
    }
    for (auto& [id, transport] : transports_) {
      for (auto& [peer, peer_transport] : transports_) {
        REQUIRE(transport->SetPeerAddress(peer, Loopback(peer_transport->listen_port())).ok());
      }
    }
    for (NodeId id = 1; id <= 3; ++id) REQUIRE(StartNode(id).ok());
  }
  ~TcpCluster() {
    nodes_.clear();  // before their transports
  }

  Status StartNode(NodeId id) {
    NodeOptions options;
    options.id = id;
    options.dir = JoinPath(dir_.path(), "node-" + std::to_string(id));
    options.transport = transports_[id].get();
    options.partitions = {partition_};
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
    nodes_[id] = std::move(*node);
    return absl::OkStatus();
  }
  // The node and then its transport: the process is gone.
  void Kill(NodeId id) {
    nodes_.erase(id);
    transports_.erase(id);
  }
  Node& node(NodeId id) { return *nodes_.at(id); }

  // A client transport that knows every server's address.
  std::unique_ptr<TcpTransport> OpenClient() {
    TcpTransportOptions options{.reconnect_initial_ms = 5, .reconnect_max_ms = 100};
    for (auto& [id, transport] : transports_) {
      options.peers[id] = Loopback(transport->listen_port());
    }
    StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::Open(options);
    REQUIRE(t.ok());
    return std::move(*t);
  }
  RouterOptions RouterOptionsFor(Transport* transport) {
    RouterOptions options;
    options.id = kRouterId;
    options.transport = transport;
    options.partitions = {partition_};
    options.seed = 7;
    options.deadline_ms = 10'000;
    options.attempt_timeout_ms = 1'000;  // above the replicas' 500 ms write timeout
    options.probe_interval_ms = 50;
    options.probe_timeout_ms = 200;
    return options;
  }

  NodeId WaitForPrimary(NodeId not_this = 0) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
      for (auto& [id, node] : nodes_) {
        if (id == not_this) continue;
        for (const ReplicaStats& stats : node->GetStats()) {
          if (stats.role == ReplicaRole::kPrimary) return id;
        }
      }
      std::this_thread::sleep_for(5ms);
    }
    return 0;
  }

 private:
  TempDir dir_;
  PartitionConfig partition_;
  std::map<NodeId, std::unique_ptr<TcpTransport>> transports_;
  std::map<NodeId, std::unique_ptr<Node>> nodes_;
};

TEST_CASE("TcpTransport: three nodes replicate, fail over, and serve a Router over TCP",
          "[tcp_transport][threads]") {
  TcpCluster cluster;
  const NodeId primary = cluster.WaitForPrimary();
  REQUIRE(primary != 0);
  for (int i = 0; i < 50; ++i) {
    REQUIRE(cluster.node(primary).Put(1, "key" + std::to_string(i), "value").ok());
  }

  std::unique_ptr<TcpTransport> client = cluster.OpenClient();
  StatusOr<std::unique_ptr<Router>> router = Router::Open(cluster.RouterOptionsFor(client.get()));
  REQUIRE(router.ok());
  for (int i = 50; i < 100; ++i) {
    const WriteResult put = (*router)->Put("key" + std::to_string(i), "routed");
    REQUIRE(put.ok());
  }
  StatusOr<VersionedValue> read = (*router)->Get("key7");
  REQUIRE(read.ok());
  CHECK(read->value == "value");

  // The primary's process goes away: node and transport.
  cluster.Kill(primary);
  const NodeId next = cluster.WaitForPrimary(primary);
  REQUIRE(next != 0);
  CHECK(next != primary);
  for (int i = 100; i < 150; ++i) {
    REQUIRE(cluster.node(next).Put(1, "key" + std::to_string(i), "after").ok());
  }
  // The Router finds the new primary (hints, retries) and goes on.
  for (int i = 150; i < 200; ++i) {
    const WriteResult put = (*router)->Put("key" + std::to_string(i), "routed-after");
    REQUIRE(put.ok());
  }
  for (int i : {7, 60, 120, 170}) {
    StatusOr<VersionedValue> value = (*router)->Get("key" + std::to_string(i));
    REQUIRE(value.ok());
    CHECK(value->value == (i < 50    ? "value"
                           : i < 100 ? "routed"
                           : i < 150 ? "after"
                                     : "routed-after"));
  }
  const TcpTransportStats stats = client->GetStats();
  CHECK(stats.connections_accepted == 0);  // a client only dials
  CHECK(stats.frames_received > 0);
  router->reset();  // before its transport
}

}  // namespace
}  // namespace toydb
