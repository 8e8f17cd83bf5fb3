// Tests of TcpTransport on 127.0.0.1, every listener on port 0 (peers learn
// each other's ports through SetPeerAddress), so parallel runs never
// collide. Tagged [threads]: the test command also runs them under
// ThreadSanitizer.
#include "toydb/tcp_transport.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "src/transport/codec.h"
#include "src/transport/tcp_hello.h"

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
  std::vector<NodeId> WaitForUnreachable(size_t n, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return unreachable_.size() >= n; });
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
  Recorder a, b;  // declared first: they outlive the transports
  auto servers = OpenServers(2);
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
  // A client node registered after the connection's hello is answered over
  // it too: the server learns it from its first frame.
  Recorder late;
  REQUIRE((*client)->Register(101, &late).ok());
  REQUIRE((*client)->Send(Probe(101, 1, 5)).ok());
  CHECK(ProbeId(late.WaitForMessages(1).at(0)) == 5);
  CHECK((*client)->GetStats().connections_dialed == 1);
  (*client)->Unregister(100);
  (*client)->Unregister(101);
  server->Unregister(1);
}

// Waits up to 10 s for `done`.
template <typename Condition>
bool Eventually(Condition done) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST_CASE("TcpTransport keeps one connection when two servers dial each other at once",
          "[tcp_transport][threads]") {
  // Both sides start sending together, so both dial; the tie-break keeps
  // one connection and no message is lost or reordered on the way.
  for (int round = 0; round < 10; ++round) {
    Recorder a, b;
    auto servers = OpenServers(2);
    REQUIRE(servers[0]->Register(1, &a).ok());
    REQUIRE(servers[1]->Register(2, &b).ok());
    constexpr uint64_t kCount = 200;
    std::atomic<int> ready{0};
    size_t refused = 0;
    std::thread other([&] {
      ready++;
      while (ready < 2) {
      }
      for (uint64_t i = 0; i < kCount; ++i) refused += !servers[1]->Send(Probe(2, 1, i)).ok();
    });
    ready++;
    while (ready < 2) {
    }
    for (uint64_t i = 0; i < kCount; ++i) REQUIRE(servers[0]->Send(Probe(1, 2, i)).ok());
    other.join();
    REQUIRE(refused == 0);
    std::vector<Message> to_a = a.WaitForMessages(kCount), to_b = b.WaitForMessages(kCount);
    REQUIRE(to_a.size() == kCount);
    REQUIRE(to_b.size() == kCount);
    for (uint64_t i = 0; i < kCount; ++i) {
      REQUIRE(ProbeId(to_a[i]) == i);
      REQUIRE(ProbeId(to_b[i]) == i);
    }
    CHECK(Eventually([&] {
      return servers[0]->GetStats().connections_open == 1 &&
             servers[1]->GetStats().connections_open == 1;
    }));
    servers[0]->Unregister(1);
    servers[1]->Unregister(2);
  }
}

// Counts calls that arrive after `closed` is set.
class Fenced : public Transport::Handler {
 public:
  void OnMessage(const Message&) override {
    if (closed) late++;
    calls++;
    std::this_thread::sleep_for(200us);
  }
  void OnPeerUnreachable(NodeId) override {
    if (closed) late++;
  }
  std::atomic<bool> closed{false};
  std::atomic<int> late{0}, calls{0};
};

TEST_CASE("TcpTransport calls no handler once Unregister has returned",
          "[tcp_transport][threads]") {
  Fenced fenced;
  Recorder b;
  auto servers = OpenServers(2);
  REQUIRE(servers[0]->Register(1, &fenced).ok());
  REQUIRE(servers[1]->Register(2, &b).ok());
  for (uint64_t i = 0; i < 2000; ++i) REQUIRE(servers[1]->Send(Probe(2, 1, i)).ok());
  REQUIRE(Eventually([&] { return fenced.calls > 50; }));
  servers[0]->Unregister(1);
  fenced.closed = true;
  REQUIRE(Eventually([&] {
    const TcpTransportStats s = servers[0]->GetStats();
    return s.frames_received == 2000;
  }));
  CHECK(fenced.late == 0);
  CHECK(servers[0]->GetStats().dropped_unregistered > 0);
}

// Unregisters its own node from inside its handler, on the first message.
class SelfUnregistering : public Recorder {
 public:
  SelfUnregistering(Transport* transport, NodeId self) : transport_(transport), self_(self) {}
  void OnMessage(const Message& m) override {
    transport_->Unregister(self_);
    Recorder::OnMessage(m);
  }

 private:
  Transport* transport_;
  NodeId self_;
};

TEST_CASE("TcpTransport lets a handler unregister its own node", "[tcp_transport][threads]") {
  auto servers = OpenServers(2);
  SelfUnregistering a(servers[0].get(), 1);
  Recorder b;
  REQUIRE(servers[0]->Register(1, &a).ok());
  REQUIRE(servers[1]->Register(2, &b).ok());
  for (uint64_t i = 0; i < 100; ++i) REQUIRE(servers[1]->Send(Probe(2, 1, i)).ok());
  REQUIRE(Eventually([&] { return servers[0]->GetStats().frames_received == 100; }));
  CHECK(a.message_count() == 1);
  Recorder again;
  REQUIRE(servers[0]->Register(1, &again).ok());
  REQUIRE(servers[1]->Send(Probe(2, 1, 7)).ok());
  CHECK(ProbeId(again.WaitForMessages(1).at(0)) == 7);
  servers[0]->Unregister(1);
  servers[1]->Unregister(2);
}

TEST_CASE("TcpTransport delivers to a node of its own process", "[tcp_transport][threads]") {
  Recorder a, b;
  auto server = OpenServer();
  REQUIRE(server->Register(1, &a).ok());
  REQUIRE(server->Register(2, &b).ok());
  for (uint64_t i = 0; i < 100; ++i) REQUIRE(server->Send(Probe(1, 2, i)).ok());
  std::vector<Message> got = b.WaitForMessages(100);
  REQUIRE(got.size() == 100);
  for (uint64_t i = 0; i < 100; ++i) CHECK(ProbeId(got[i]) == i);
  CHECK(server->GetStats().connections_dialed == 0);
  CHECK(server->GetStats().delivered_local == 100);
}

TEST_CASE("TcpTransport tells the sender about a node with no address",
          "[tcp_transport][threads]") {
  Recorder a;
  auto server = OpenServer();
  REQUIRE(server->Register(1, &a).ok());
  REQUIRE(server->Send(Probe(1, 9, 0)).ok());
  CHECK(a.WaitForUnreachable(1) == std::vector<NodeId>{9});
  CHECK(server->GetStats().dropped_no_route == 1);
}

// A message of `bytes` encoded bytes (a frame of exactly that size).
Message SizedMessage(NodeId from, NodeId to, uint64_t sequence, size_t bytes) {
  Message m{.from = from, .to = to, .body = ClientRequest{.sequence = sequence}};
  const size_t base = EncodeFrame(m)->size();
  REQUIRE(bytes >= base);
  std::get<ClientRequest>(m.body).value.assign(bytes - base,
                                               static_cast<char>('a' + sequence % 26));
  // The value's length prefix is fixed-width: the frame is `bytes` long.
  REQUIRE(EncodeFrame(m)->size() == bytes);
  return m;
}

TEST_CASE("TcpTransport: three servers exchange messages of every size up to the frame limit",
          "[tcp_transport][threads]") {
  std::vector<Recorder> recorders(3);
  auto servers = OpenServers(3);
  for (NodeId n = 1; n <= 3; ++n) REQUIRE(servers[n - 1]->Register(n, &recorders[n - 1]).ok());
  // Sizes from the smallest frame to kMaxFrameBytes, doubling, with the
  // limit itself; every link (both directions of each pair) carries them all.
  std::vector<size_t> sizes;
  const size_t smallest = EncodeFrame(Message{.body = ClientRequest{}})->size();
  for (size_t size = smallest; size < kMaxFrameBytes; size = size * 2 + 1) sizes.push_back(size);
  sizes.push_back(kMaxFrameBytes);
  // Built here: Catch's assertions are not thread-safe.
  std::map<std::pair<NodeId, NodeId>, std::vector<Message>> messages;
  for (NodeId from = 1; from <= 3; ++from) {
    for (NodeId to = 1; to <= 3; ++to) {
      for (uint64_t i = 0; i < sizes.size(); ++i) {
        if (to != from) messages[{from, to}].push_back(SizedMessage(from, to, i, sizes[i]));
      }
    }
  }
  std::atomic<size_t> refused{0};
  std::vector<std::thread> senders;
  for (NodeId from = 1; from <= 3; ++from) {
    senders.emplace_back([&, from] {
      for (uint64_t i = 0; i < sizes.size(); ++i) {
        for (NodeId to = 1; to <= 3; ++to) {
          if (to == from) continue;
          // A full queue is backpressure: wait and send again.
          const Message& m = messages.at({from, to})[i];
          Status s;
          while (absl::IsResourceExhausted(s = servers[from - 1]->Send(m))) {
            std::this_thread::sleep_for(1ms);
          }
          refused += !s.ok();
        }
      }
    });
  }
  for (std::thread& t : senders) t.join();
  REQUIRE(refused == 0);
  for (NodeId to = 1; to <= 3; ++to) {
    std::vector<Message> got = recorders[to - 1].WaitForMessages(2 * sizes.size());
    REQUIRE(got.size() == 2 * sizes.size());
    std::map<NodeId, uint64_t> next;
    for (const Message& m : got) {
      const uint64_t i = next[m.from]++;
      REQUIRE(std::get<ClientRequest>(m.body).sequence == i);
      CHECK(m == messages.at({m.from, to})[i]);
    }
  }
  // One connection per pair of processes, whoever dialed first.
  for (auto& server : servers) CHECK(server->GetStats().connections_open == 2);
}

TEST_CASE("TcpTransport: a frame over the limit is refused at Send", "[tcp_transport]") {
  auto servers = OpenServers(2);
  Message big{.from = 1,
              .to = 2,
              .body = ClientRequest{.key = "k", .value = std::string(kMaxFrameBytes, 'x')}};
  CHECK(absl::IsInvalidArgument(servers[0]->Send(big)));
}

TEST_CASE("TcpTransport: messages flow again after a peer restarts on the same port",
          "[tcp_transport][threads]") {
  TcpTransportOptions options{.reconnect_initial_ms = 5, .reconnect_max_ms = 50};
  Recorder a, b, b2;
  auto servers = OpenServers(2, options);
  REQUIRE(servers[0]->Register(1, &a).ok());
  REQUIRE(servers[1]->Register(2, &b).ok());
  REQUIRE(servers[0]->Send(Probe(1, 2, 0)).ok());
  REQUIRE(b.WaitForMessages(1).size() == 1);

  const uint16_t port = servers[1]->listen_port();
  servers[1]->Unregister(2);
  servers[1].reset();
  // The peer is gone: sends are accepted, and once the loss of the
  // connection is seen (the first may still go to the dead socket), the
  // redial fails and node 1 hears it.
  for (uint64_t i = 1; a.WaitForUnreachable(1, 5ms).empty() && i < 2000; ++i) {
    REQUIRE(servers[0]->Send(Probe(1, 2, i)).ok());
  }
  CHECK(a.WaitForUnreachable(1).at(0) == 2);

  options.listen_address = Loopback(port);
  options.peers = {{1, Loopback(servers[0]->listen_port())}, {2, Loopback(port)}};
  StatusOr<std::unique_ptr<TcpTransport>> reopened = TcpTransport::Open(options);
  REQUIRE(reopened.ok());
  servers[1] = std::move(*reopened);
  REQUIRE(servers[1]->Register(2, &b2).ok());
  // Probes until one arrives (the sender may be in its backoff), then in
  // order from there.
  uint64_t id = 100;
  while (b2.message_count() == 0 && id < 100 + 2000) {
    REQUIRE(servers[0]->Send(Probe(1, 2, id++)).ok());
    std::this_thread::sleep_for(5ms);
  }
  REQUIRE(b2.message_count() > 0);
  // And back: the restarted peer reaches node 1.
  REQUIRE(servers[1]->Send(Probe(2, 1, 7)).ok());
  CHECK(ProbeId(a.WaitForMessages(1).at(0)) == 7);
}

// A blocking POSIX socket on 127.0.0.1 for hostile-peer tests.
class RawSocket {
 public:
  explicit RawSocket(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  }
  explicit RawSocket(int fd) : fd_(fd) {}
  ~RawSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  void Write(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return;  // the other side closed: what tests look for next
      bytes.remove_prefix(n);
    }
  }
  // Reads `n` bytes (fewer if the connection ends first).
  std::string Read(size_t n) {
    std::string out(n, '\0');
    size_t got = 0;
    SetTimeout(10s);
    while (got < n) {
      const ssize_t r = ::recv(fd_, out.data() + got, n - got, 0);
      if (r <= 0) break;
      got += r;
    }
    out.resize(got);
    return out;
  }
  // Whether the other side closes the connection within `timeout`
  // (everything it sends meanwhile is read and ignored).
  bool ClosedWithin(std::chrono::milliseconds timeout) {
    SetTimeout(timeout);
    char buffer[4096];
    for (;;) {
      const ssize_t r = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (r == 0) return true;
      if (r < 0) return errno == ECONNRESET;
    }
  }
  void Close() {
    ::close(fd_);
    fd_ = -1;
  }

 private:
  void SetTimeout(std::chrono::milliseconds timeout) {
    timeval tv{.tv_sec = static_cast<time_t>(timeout.count() / 1000),
               .tv_usec = static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  int fd_ = -1;
};

std::string HelloBytes(tcp::HelloKind kind, std::vector<tcp::HelloNode> nodes) {
  std::mt19937_64 random(std::random_device{}());
  return *tcp::EncodeHello(tcp::Hello{.kind = kind, .incarnation = random(), .nodes = nodes});
}

// Sends a client hello for node 300 and reads the server's answer.
void Handshake(RawSocket& raw) {
  raw.Write(HelloBytes(tcp::HelloKind::kHello, {{300, tcp::NodeRole::kClient}}));
  std::string header = raw.Read(tcp::kHelloFixedBytes);
  REQUIRE(header.size() == tcp::kHelloFixedBytes);
  const size_t count = static_cast<uint8_t>(header[4]) | static_cast<uint8_t>(header[5]) << 8;
  std::string rest = raw.Read(count * tcp::kHelloEntryBytes + tcp::kHelloChecksumBytes);
  size_t consumed = 0;
  StatusOr<tcp::Hello> answer = tcp::ParseHello(header + rest, &consumed);
  REQUIRE(answer.ok());
  REQUIRE(consumed == header.size() + rest.size());
  CHECK(answer->kind == tcp::HelloKind::kAccept);
}

// Lines logged by a transport, for tests to look at. Thread-safe.
class LogLines {
 public:
  std::function<void(std::string_view)> Sink() {
    return [this](std::string_view line) {
      std::lock_guard lock(mu_);
      lines_.emplace_back(line);
    };
  }
  bool Contains(std::string_view text) {
    std::lock_guard lock(mu_);
    for (const std::string& line : lines_) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

TEST_CASE("TcpTransport: hostile peers lose their own connection only",
          "[tcp_transport][threads]") {
  LogLines log;
  TcpTransportOptions options{.handshake_timeout_ms = 200, .log = log.Sink()};
  auto servers = OpenServers(2, options);
  Echo echo(servers[0].get(), 1);
  Recorder good;
  REQUIRE(servers[0]->Register(1, &echo).ok());
  REQUIRE(servers[1]->Register(2, &good).ok());
  // Node 2 keeps a conversation with node 1 going through every attack.
  std::atomic<bool> done{false};
  std::atomic<uint64_t> sent{0};
  std::thread conversation([&] {
    while (!done) {
      if (servers[1]->Send(Probe(2, 1, sent)).ok()) sent++;
      std::this_thread::sleep_for(1ms);
    }
  });
  const uint16_t port = servers[0]->listen_port();
  const Message valid = Probe(300, 1, 0);
  const std::string frame = *EncodeFrame(valid);
  uint64_t expected_bad_frames = 0, expected_refused = 0;

  SECTION("garbage instead of a hello") {
    RawSocket raw(port);
    raw.Write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(raw.ClosedWithin(5s));
    expected_refused = 1;
  }
  SECTION("an oversize length prefix") {
    RawSocket raw(port);
    Handshake(raw);
    std::string header = frame.substr(0, kFrameHeaderBytes);
    header[2] = header[3] = header[4] = header[5] = '\xff';
    raw.Write(header);
    CHECK(raw.ClosedWithin(5s));
    expected_bad_frames = 1;
  }
  SECTION("half a frame, then the connection closes") {
    RawSocket raw(port);
    Handshake(raw);
    raw.Write(frame.substr(0, frame.size() / 2));
    std::this_thread::sleep_for(20ms);
    raw.Close();
    expected_bad_frames = 1;
  }
  SECTION("a valid hello, then a corrupted frame") {
    RawSocket raw(port);
    Handshake(raw);
    raw.Write(frame);  // a good one first: delivered
    std::string corrupt = frame;
    corrupt[corrupt.size() - 1] ^= 0x40;
    raw.Write(corrupt);
    CHECK(raw.ClosedWithin(5s));
    expected_bad_frames = 1;
  }
  SECTION("a frame that claims to come from a node served here") {
    RawSocket raw(port);
    Handshake(raw);
    raw.Write(*EncodeFrame(Probe(1, 1, 0)));
    CHECK(raw.ClosedWithin(5s));
    expected_bad_frames = 1;
  }
  SECTION("silence") {
    RawSocket raw(port);
    CHECK(raw.ClosedWithin(5s));
    CHECK(servers[0]->GetStats().handshake_timeouts == 1);
  }
  SECTION("a hello claiming a server that is not configured") {
    RawSocket raw(port);
    raw.Write(HelloBytes(tcp::HelloKind::kHello, {{77, tcp::NodeRole::kServer}}));
    CHECK(raw.ClosedWithin(5s));
    expected_refused = 1;
  }
  SECTION("a hello claiming the receiver's own node") {
    RawSocket raw(port);
    raw.Write(HelloBytes(tcp::HelloKind::kHello, {{1, tcp::NodeRole::kServer}}));
    CHECK(raw.ClosedWithin(5s));
    expected_refused = 1;
  }
  SECTION("a hello claiming a configured server as a client") {
    RawSocket raw(port);
    raw.Write(HelloBytes(tcp::HelloKind::kHello, {{2, tcp::NodeRole::kClient}}));
    CHECK(raw.ClosedWithin(5s));
    expected_refused = 1;
  }
  // The conversation went on: its messages keep arriving, in order, over
  // the connection it had from the start.
  const uint64_t before = sent;
  while (sent < before + 50) std::this_thread::sleep_for(1ms);
  done = true;
  conversation.join();
  std::vector<Message> echoes = good.WaitForMessages(sent);
  REQUIRE(echoes.size() == sent);
  for (uint64_t i = 0; i < sent; ++i) REQUIRE(ProbeId(echoes[i]) == i);
  const TcpTransportStats attacked = servers[0]->GetStats();
  const TcpTransportStats conversing = servers[1]->GetStats();
  CHECK(conversing.connections_closed == 0);
  CHECK(attacked.connections_open == 1);
  CHECK(attacked.bad_frames == expected_bad_frames);
  CHECK(attacked.hellos_refused == expected_refused);
  if (expected_bad_frames + expected_refused > 0) CHECK(log.Contains("127.0.0.1:"));
  servers[0]->Unregister(1);
  servers[1]->Unregister(2);
}

// A listener that answers the hello as server 5 and then never reads.
class DeafPeer {
 public:
  DeafPeer() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listen_fd_ >= 0);
    // A small receive buffer: the transport's queue fills sooner.
    int small = 4096;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listen_fd_, 4) == 0);
    socklen_t len = sizeof(addr);
    REQUIRE(::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] {
      const int fd = ::accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      conn_ = std::make_unique<RawSocket>(fd);
      std::string hello = conn_->Read(tcp::kHelloFixedBytes);
      if (hello.size() < tcp::kHelloFixedBytes) return;
      const size_t count = static_cast<uint8_t>(hello[4]) | static_cast<uint8_t>(hello[5]) << 8;
      conn_->Read(count * tcp::kHelloEntryBytes + tcp::kHelloChecksumBytes);
      conn_->Write(HelloBytes(tcp::HelloKind::kAccept, {{5, tcp::NodeRole::kServer}}));
    });
  }
  ~DeafPeer() { Close(); }
  uint16_t port() const { return port_; }
  // The process goes away: its connection and its listener close.
  void Close() {
    if (thread_.joinable()) thread_.join();
    conn_.reset();
    if (listen_fd_ >= 0) ::close(listen_fd_);
    listen_fd_ = -1;
  }

 private:
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::unique_ptr<RawSocket> conn_;
  std::thread thread_;
};

TEST_CASE("TcpTransport: a peer that never reads fills its queue, and Send refuses beyond it",
          "[tcp_transport][threads]") {
  DeafPeer deaf;
  constexpr uint64_t kQueueMax = 1 << 20;
  Recorder a;
  StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::Open(
      {.peers = {{5, Loopback(deaf.port())}}, .send_queue_bytes_max = kQueueMax});
  REQUIRE(t.ok());
  TcpTransport& transport = **t;
  REQUIRE(transport.Register(1, &a).ok());
  const Message big = SizedMessage(1, 5, 0, 64 << 10);
  // Up to 64 MiB offered: the kernel's buffers take a few MiB, then the
  // queue fills and stays full.
  int accepted = 0, refused = 0;
  for (int i = 0; i < 1024 && refused < 100; ++i) {
    Status s = transport.Send(big);
    if (s.ok()) {
      accepted++;
    } else {
      REQUIRE(absl::IsResourceExhausted(s));
      refused++;
      std::this_thread::sleep_for(1ms);
    }
  }
  CHECK(refused == 100);
  const TcpTransportStats stats = transport.GetStats();
  CHECK(stats.rejected_full == 100);
  CHECK(stats.send_queue_bytes <= kQueueMax);
  CHECK(stats.send_queue_bytes > kQueueMax - (64 << 10));
  CHECK(accepted < 1024);
}

TEST_CASE("TcpTransport: the senders of frames lost with a connection hear of it",
          "[tcp_transport][threads]") {
  DeafPeer deaf;
  // Four times the kernel's largest send buffer (net.ipv4.tcp_wmem's 4 MiB
  // by default): frames the kernel took are lost in silence, and most of
  // these must still be in the transport when the peer goes.
  Recorder a;
  StatusOr<std::unique_ptr<TcpTransport>> t =
      TcpTransport::Open({.peers = {{5, Loopback(deaf.port())}}, .send_queue_bytes_max = 16 << 20});
  REQUIRE(t.ok());
  TcpTransport& transport = **t;
  REQUIRE(transport.Register(1, &a).ok());
  const Message big = SizedMessage(1, 5, 0, 64 << 10);
  SECTION("frames queued behind a write the peer does not read") {
    // Slowly enough that each write takes a frame or two: once the
    // kernel's buffers are full, one write waits, and the rest queue.
    while (transport.Send(big).ok()) std::this_thread::sleep_for(200us);
    CHECK(transport.GetStats().writes > 1);
  }
  SECTION("frames of the write itself") {
    // Queued while the dial is under way, so the first write takes them all.
    while (transport.Send(big).ok()) {
    }
  }
  REQUIRE(Eventually([&] { return transport.GetStats().connections_open == 1; }));
  // The peer's process goes away: the waiting write fails, the redial finds
  // no listener and the queue is dropped. Node 1 hears that node 5 is
  // unreachable, though it sent every frame while the connection was up.
  deaf.Close();
  CHECK(a.WaitForUnreachable(1).at(0) == 5);
  CHECK(Eventually([&] { return transport.GetStats().send_queue_bytes == 0; }));
}

TEST_CASE("TcpTransport can be destroyed while a dial waits for its answer",
          "[tcp_transport][threads]") {
  // A listener that never accepts: the kernel completes the connection, and
  // the hello is never answered.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(listener >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(listener, 4) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  {
    StatusOr<std::unique_ptr<TcpTransport>> t =
        TcpTransport::Open({.peers = {{5, Loopback(ntohs(addr.sin_port))}}});
    REQUIRE(t.ok());
    Recorder a;
    REQUIRE((*t)->Register(1, &a).ok());
    REQUIRE((*t)->Send(Probe(1, 5, 0)).ok());
    REQUIRE(Eventually([&] { return (*t)->GetStats().connections_dialed == 1; }));
    std::this_thread::sleep_for(20ms);  // connected, hello sent, no answer
    (*t)->Unregister(1);
    // Destroyed here: the address sanitizer's leak check sees anything left.
  }
  ::close(listener);
}

}  // namespace
}  // namespace toydb
