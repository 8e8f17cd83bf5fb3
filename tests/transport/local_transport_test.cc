// Tests of LocalTransport: delivery order per link, unreachable peers, cuts,
// backpressure, handlers that send or unregister, and many sending threads
// (tagged [threads], so also run under ThreadSanitizer).
#include "toydb/local_transport.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
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
  // Waits up to 10 s for `n` messages; returns a copy of what arrived.
  std::vector<Message> WaitForMessages(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return messages_.size() >= n; });
    return messages_;
  }
  std::vector<NodeId> WaitForUnreachable(size_t n) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] { return unreachable_.size() >= n; });
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

uint64_t ProbeId(const Message& m) { return std::get<HealthProbe>(m.body).probe_id; }

TEST_CASE("LocalTransport delivers each link's messages in order, through the codec",
          "[local_transport][threads]") {
  LocalTransport transport;
  Recorder a, b;
  REQUIRE(transport.Register(1, &a).ok());
  REQUIRE(transport.Register(2, &b).ok());
  CHECK(absl::IsAlreadyExists(transport.Register(2, &b)));
  CHECK(absl::IsInvalidArgument(transport.Register(0, &b)));
  for (uint64_t i = 0; i < 1000; ++i) REQUIRE(transport.Send(Probe(1, 2, i)).ok());
  std::vector<Message> got = b.WaitForMessages(1000);
  REQUIRE(got.size() == 1000);
  for (uint64_t i = 0; i < 1000; ++i) {
    CHECK(got[i].from == 1);
    CHECK(ProbeId(got[i]) == i);
  }
  CHECK(transport.GetStats().delivered == 1000);
}

TEST_CASE("LocalTransport keeps per-sender order while many threads send",
          "[local_transport][threads]") {
  LocalTransport transport;
  Recorder receiver;
  std::vector<Recorder> senders(4);
  REQUIRE(transport.Register(100, &receiver).ok());
  for (NodeId n = 1; n <= 4; ++n) REQUIRE(transport.Register(n, &senders[n - 1]).ok());
  constexpr uint64_t kPerSender = 2000;
  std::vector<std::thread> threads;
  for (NodeId n = 1; n <= 4; ++n) {
    threads.emplace_back([&, n] {
      for (uint64_t i = 0; i < kPerSender; ++i) (void)transport.Send(Probe(n, 100, i));
    });
  }
  for (auto& t : threads) t.join();
  std::vector<Message> got = receiver.WaitForMessages(4 * kPerSender);
  REQUIRE(got.size() == 4 * kPerSender);
  std::vector<uint64_t> next(5, 0);
  for (const Message& m : got) {
    REQUIRE(ProbeId(m) == next[m.from]);
    next[m.from]++;
  }
}

TEST_CASE("LocalTransport tells the sender when the peer is not registered", "[local_transport]") {
  LocalTransport transport;
  Recorder a;
  REQUIRE(transport.Register(1, &a).ok());
  REQUIRE(transport.Send(Probe(1, 9, 0)).ok());
  CHECK(a.WaitForUnreachable(1) == std::vector<NodeId>{9});
  // An unregistered sender has no one to tell.
  REQUIRE(transport.Send(Probe(7, 9, 0)).ok());
  CHECK(transport.GetStats().dropped_unreachable == 2);
}

TEST_CASE("LocalTransport drops messages on cut links until healed", "[local_transport]") {
  LocalTransport transport;
  Recorder a, b, c;
  REQUIRE(transport.Register(1, &a).ok());
  REQUIRE(transport.Register(2, &b).ok());
  REQUIRE(transport.Register(3, &c).ok());
  transport.Cut(1, 2);
  REQUIRE(transport.Send(Probe(1, 2, 0)).ok());
  REQUIRE(transport.Send(Probe(2, 1, 0)).ok());
  REQUIRE(transport.Send(Probe(1, 3, 0)).ok());
  CHECK(c.WaitForMessages(1).size() == 1);
  transport.Isolate(3);
  REQUIRE(transport.Send(Probe(1, 3, 1)).ok());
  CHECK(transport.GetStats().dropped_cut == 3);
  transport.Heal();
  REQUIRE(transport.Send(Probe(1, 2, 1)).ok());
  REQUIRE(transport.Send(Probe(1, 3, 2)).ok());
  CHECK(ProbeId(b.WaitForMessages(1).at(0)) == 1);
  CHECK(ProbeId(c.WaitForMessages(2).at(1)) == 2);
  CHECK(a.message_count() == 0);
}

// Blocks in its first OnMessage until released, so its inbox fills.
class BlockedHandler : public Recorder {
 public:
  void OnMessage(const Message& m) override {
    std::unique_lock lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
    lock.unlock();
    Recorder::OnMessage(m);
  }
  void WaitEntered() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false, released_ = false;
};

TEST_CASE("LocalTransport refuses a send to a full inbox, and accepts again once it drains",
          "[local_transport][threads]") {
  const size_t frame_bytes = EncodeFrame(Probe(1, 2, 0))->size();
  LocalTransport transport(LocalTransportOptions{.inbox_bytes_max = 10 * frame_bytes});
  Recorder a;
  BlockedHandler b;
  REQUIRE(transport.Register(1, &a).ok());
  REQUIRE(transport.Register(2, &b).ok());
  REQUIRE(transport.Send(Probe(1, 2, 0)).ok());
  b.WaitEntered();  // the first message is out of the inbox, in the handler
  for (uint64_t i = 1; i <= 10; ++i) REQUIRE(transport.Send(Probe(1, 2, i)).ok());
  CHECK(absl::IsResourceExhausted(transport.Send(Probe(1, 2, 11))));
  CHECK(transport.GetStats().rejected_full == 1);
  b.Release();
  CHECK(b.WaitForMessages(11).size() == 11);
  CHECK(transport.Send(Probe(1, 2, 12)).ok());
  CHECK(b.WaitForMessages(12).size() == 12);
}

TEST_CASE("LocalTransport refuses a message too large for a frame", "[local_transport]") {
  LocalTransport transport;
  Message big{.from = 1,
              .to = 2,
              .body = ClientRequest{.key = "k", .value = std::string(kMaxFrameBytes, 'x')}};
  CHECK(absl::IsInvalidArgument(transport.Send(big)));
}

// Answers each probe to its sender with the next id, until `limit`; then
// unregisters its own node from inside the handler.
class PingPong : public Recorder {
 public:
  PingPong(LocalTransport* transport, NodeId self, uint64_t limit)
      : transport_(transport), self_(self), limit_(limit) {}
  void OnMessage(const Message& m) override {
    const uint64_t id = ProbeId(m);
    if (id < limit_) {
      (void)transport_->Send(Probe(self_, m.from, id + 1));
    } else {
      transport_->Unregister(self_);
    }
    Recorder::OnMessage(m);  // recorded last: a waiting test sees the effects
  }

 private:
  LocalTransport* transport_;
  NodeId self_;
  uint64_t limit_;
};

TEST_CASE("LocalTransport handlers may send, and may unregister their own node",
          "[local_transport][threads]") {
  LocalTransport transport;
  PingPong a(&transport, 1, 1000), b(&transport, 2, 1000);
  REQUIRE(transport.Register(1, &a).ok());
  REQUIRE(transport.Register(2, &b).ok());
  REQUIRE(transport.Send(Probe(1, 2, 1)).ok());
  // Node 2 sees the odd ids up to 999, node 1 the even ones up to 1000, and
  // at 1000 node 1 unregisters itself from its handler.
  CHECK(b.WaitForMessages(500).size() == 500);
  CHECK(a.WaitForMessages(500).size() == 500);
  REQUIRE(transport.Send(Probe(2, 1, 0)).ok());
  CHECK(b.WaitForUnreachable(1) == std::vector<NodeId>{1});
  CHECK(absl::IsAlreadyExists(transport.Register(2, &b)));
  Recorder again;
  REQUIRE(transport.Register(1, &again).ok());  // node 1 may join again
  REQUIRE(transport.Send(Probe(2, 1, 7)).ok());
  CHECK(ProbeId(again.WaitForMessages(1).at(0)) == 7);
}

}  // namespace
}  // namespace toydb
