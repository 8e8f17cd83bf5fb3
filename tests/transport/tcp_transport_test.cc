// Tests of TcpTransport on 127.0.0.1, every listener on port 0 (peers learn
// each other's ports through SetPeerAddress), so parallel runs never
// collide. Tagged [threads]: the test command also runs them under
// ThreadSanitizer.
#include "toydb/tcp_transport.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/transport/codec.h"

namespace toydb {
namespace {

using namespace std::chrono_literals;

Message Probe(NodeId from, NodeId to, uint64_t id) {
  return Message{.from = from, .to = to, .body = HealthProbe{.probe_id = id}};
}
uint64_t ProbeId(const Message& m) { return std::get<HealthProbe>(m.body).probe_id; }

std::string Loopback(uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

// Records what it is handed; tests wait for a count. Thread-safe.
class Recorder : public Transport::Handler {
 public:
  void OnMessage(const Message& m) override {
    std::lock_guard lock(mu_);
    messages_.push_back(m);
    cv_.notify_all();
  }
  void OnPeerUnreachable(NodeId peer) override {
    std::lock_guard lock(mu_);
    unreachable_.push_back(peer);
    cv_.notify_all();
  }
  std::vector<Message> WaitForMessages(size_t n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return messages_.size() >= n; });
    return messages_;
  }
  std::vector<NodeId> WaitForUnreachable(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 20s, [&] { return unreachable_.size() >= n; });
    return unreachable_;
  }
  size_t message_count() {
    std::lock_guard lock(mu_);
    return messages_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Message> messages_;
  std::vector<NodeId> unreachable_;
};

// Answers every probe to its sender.
class Echo : public Recorder {
 public:
  Echo(Transport* transport, NodeId self) : transport_(transport), self_(self) {}
  void OnMessage(const Message& m) override {
    (void)transport_->Send(Probe(self_, m.from, ProbeId(m)));
    Recorder::OnMessage(m);
  }

 private:
  Transport* transport_;
  NodeId self_;
};

std::unique_ptr<TcpTransport> OpenServer(TcpTransportOptions options = {}) {
  options.listen_address = "127.0.0.1:0";
  StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::Open(std::move(options));
  REQUIRE(t.ok());
  return std::move(*t);
}

// Transports for servers 1..n, each knowing every other's address.
std::vector<std::unique_ptr<TcpTransport>> OpenServers(int n, TcpTransportOptions options = {}) {
  std::vector<std::unique_ptr<TcpTransport>> servers;
  for (int i = 0; i < n; ++i) servers.push_back(OpenServer(options));
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      REQUIRE(servers[i]->SetPeerAddress(j + 1, Loopback(servers[j]->listen_port())).ok());
    }
  }
  return servers;
}

TEST_CASE("TcpTransport options are validated", "[tcp_transport]") {
  CHECK(absl::IsInvalidArgument(TcpTransport::Open({.listen_address = "nocolon"}).status()));
  CHECK(absl::IsInvalidArgument(TcpTransport::Open({.listen_address = "h:99999"}).status()));
  CHECK(absl::IsInvalidArgument(TcpTransport::Open({.peers = {{0, "127.0.0.1:1"}}}).status()));
  CHECK(absl::IsInvalidArgument(TcpTransport::Open({.peers = {{1, "127.0.0.1:0"}}}).status()));
  CHECK(absl::IsInvalidArgument(TcpTransport::Open({.send_queue_bytes_max = 0}).status()));
  StatusOr<std::unique_ptr<TcpTransport>> client = TcpTransport::Open({});
  REQUIRE(client.ok());
  CHECK((*client)->listen_port() == 0);
  CHECK(absl::IsInvalidArgument((*client)->SetPeerAddress(1, "[::1]")));
  CHECK((*client)->SetPeerAddress(1, "[::1]:7000").ok());
}

TEST_CASE("TcpTransport carries messages between two servers both ways, in order",
          "[tcp_transport][threads]") {
  auto servers = OpenServers(2);
  Recorder a, b;
  REQUIRE(servers[0]->Register(1, &a).ok());
  REQUIRE(servers[1]->Register(2, &b).ok());
  CHECK(absl::IsAlreadyExists(servers[0]->Register(1, &a)));
  constexpr uint64_t kCount = 5000;
  // Catch's assertions are not thread-safe: the other thread counts.
  size_t refused = 0;
  std::thread other([&] {
    for (uint64_t i = 0; i < kCount; ++i) refused += !servers[1]->Send(Probe(2, 1, i)).ok();
  });
  for (uint64_t i = 0; i < kCount; ++i) REQUIRE(servers[0]->Send(Probe(1, 2, i)).ok());
  other.join();
  REQUIRE(refused == 0);
  std::vector<Message> to_b = b.WaitForMessages(kCount);
  std::vector<Message> to_a = a.WaitForMessages(kCount);
  REQUIRE(to_b.size() == kCount);
  REQUIRE(to_a.size() == kCount);
  for (uint64_t i = 0; i < kCount; ++i) {
    CHECK(ProbeId(to_b[i]) == i);
    CHECK(ProbeId(to_a[i]) == i);
  }
  // Both dialed at once at most: one connection survives per pair.
  TcpTransportStats stats = servers[0]->GetStats();
  CHECK(stats.frames_received == kCount);
  CHECK(stats.writes <= stats.frames_sent);
}

TEST_CASE("TcpTransport answers a client over the connection the client opened",
          "[tcp_transport][threads]") {
  auto server = OpenServer();
  // A server is listed among its own peers: that makes node 1 a server.
  REQUIRE(server->SetPeerAddress(1, Loopback(server->listen_port())).ok());
  Echo echo(server.get(), 1);
  REQUIRE(server->Register(1, &echo).ok());
  StatusOr<std::unique_ptr<TcpTransport>> client =
      TcpTransport::Open({.peers = {{1, Loopback(server->listen_port())}}});
  REQUIRE(client.ok());
  Recorder router;
  REQUIRE((*client)->Register(100, &router).ok());
  for (uint64_t i = 0; i < 100; ++i) REQUIRE((*client)->Send(Probe(100, 1, i)).ok());
  std::vector<Message> got = router.WaitForMessages(100);
  REQUIRE(got.size() == 100);
  for (uint64_t i = 0; i < 100; ++i) {
    CHECK(got[i].from == 1);
    CHECK(ProbeId(got[i]) == i);
  }
  CHECK(server->GetStats().connections_dialed == 0);
  (*client)->Unregister(100);
}

TEST_CASE("TcpTransport delivers to a node of its own process", "[tcp_transport][threads]") {
  auto server = OpenServer();
  Recorder a, b;
  REQUIRE(server->Register(1, &a).ok());
  REQUIRE(server->Register(2, &b).ok());
  for (uint64_t i = 0; i < 100; ++i) REQUIRE(server->Send(Probe(1, 2, i)).ok());
  std::vector<Message> got = b.WaitForMessages(100);
  REQUIRE(got.size() == 100);
  for (uint64_t i = 0; i < 100; ++i) CHECK(ProbeId(got[i]) == i);
  CHECK(server->GetStats().connections_dialed == 0);
}

TEST_CASE("TcpTransport tells the sender about a node with no address", "[tcp_transport][threads]") {
  auto server = OpenServer();
  Recorder a;
  REQUIRE(server->Register(1, &a).ok());
  REQUIRE(server->Send(Probe(1, 9, 0)).ok());
  CHECK(a.WaitForUnreachable(1) == std::vector<NodeId>{9});
  CHECK(server->GetStats().dropped_no_route == 1);
}

}  // namespace
}  // namespace toydb
