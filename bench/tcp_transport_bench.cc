// Messages between two TcpTransports over loopback (127.0.0.1), one node on
// each: node 1 sends, node 2 counts. Payloads of 100 bytes and 64 KiB (a
// ClientRequest's value; the frame adds its header and the request's
// fields). The sender sends as fast as the transport accepts; a full send
// queue (ResourceExhausted) makes it yield and try again. Each iteration
// sends a batch and waits until the receiver has it all. Beside it, in the
// same run, the same traffic through the LocalTransport (one process, no
// sockets: the codec and the queues alone).
//
//   ./build/bench/tcp_transport_bench
// Counters: items_per_second (messages/s), bytes_per_second (payload bytes),
// frames_per_write (frames the sender handed to one gathered write: the
// coalescing), refused_full (sends refused by a full queue and retried).
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "bench/bench_util.h"
#include "toydb/local_transport.h"
#include "toydb/tcp_transport.h"

namespace toydb::bench {
namespace {

// Counts what arrives; the sender waits for a count.
class Counter : public Transport::Handler {
 public:
  void OnMessage(const Message&) override {
    if (received_.fetch_add(1, std::memory_order_acq_rel) + 1 >= target_.load()) {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    }
  }
  void OnPeerUnreachable(NodeId) override {}
  void WaitFor(uint64_t target) {
    target_ = target;
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return received_.load() >= target; });
  }
  uint64_t received() const { return received_.load(); }

 private:
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> target_{UINT64_MAX};
  std::mutex mu_;
  std::condition_variable cv_;
};

Message Payload(size_t bytes) {
  return Message{
      .from = 1, .to = 2, .body = ClientRequest{.key = "k", .value = std::string(bytes, 'v')}};
}

// Sends `count` copies, retrying while the queue is full.
uint64_t SendAll(Transport& transport, const Message& message, int count) {
  uint64_t refused = 0;
  for (int i = 0; i < count; ++i) {
    Status s;
    while (absl::IsResourceExhausted(s = transport.Send(message))) {
      refused++;
      std::this_thread::yield();
    }
    Check(s, "send");
  }
  return refused;
}

int BatchFor(size_t payload) { return payload <= 1024 ? 10'000 : 200; }

void BM_Tcp(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  auto open = [](std::string listen) {
    StatusOr<std::unique_ptr<TcpTransport>> t = TcpTransport::Open({.listen_address = listen});
    Check(t.status(), "open transport");
    return std::move(*t);
  };
  std::unique_ptr<TcpTransport> a = open("127.0.0.1:0"), b = open("127.0.0.1:0");
  for (TcpTransport* t : {a.get(), b.get()}) {
    Check(t->SetPeerAddress(1, fmt::format("127.0.0.1:{}", a->listen_port())), "peer");
    Check(t->SetPeerAddress(2, fmt::format("127.0.0.1:{}", b->listen_port())), "peer");
  }
  Counter sender, receiver;
  Check(a->Register(1, &sender), "register");
  Check(b->Register(2, &receiver), "register");
  const Message message = Payload(payload);
  const int batch = BatchFor(payload);
  // Connect before timing.
  SendAll(*a, message, 1);
  receiver.WaitFor(1);
  const TcpTransportStats before = a->GetStats();
  uint64_t expected = 1, refused = 0;
  for (auto _ : state) {
    refused += SendAll(*a, message, batch);
    expected += batch;
    receiver.WaitFor(expected);
  }
  const TcpTransportStats after = a->GetStats();
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetBytesProcessed(state.iterations() * batch * static_cast<int64_t>(payload));
  state.counters["frames_per_write"] =
      static_cast<double>(after.frames_sent - before.frames_sent) /
      static_cast<double>(std::max<uint64_t>(1, after.writes - before.writes));
  state.counters["refused_full"] = static_cast<double>(refused);
  a->Unregister(1);
  b->Unregister(2);
}

void BM_Local(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  LocalTransport transport;
  Counter sender, receiver;
  Check(transport.Register(1, &sender), "register");
  Check(transport.Register(2, &receiver), "register");
  const Message message = Payload(payload);
  const int batch = BatchFor(payload);
  uint64_t expected = 0, refused = 0;
  for (auto _ : state) {
    refused += SendAll(transport, message, batch);
    expected += batch;
    receiver.WaitFor(expected);
  }
  state.SetItemsProcessed(state.iterations() * batch);
  state.SetBytesProcessed(state.iterations() * batch * static_cast<int64_t>(payload));
  state.counters["refused_full"] = static_cast<double>(refused);
  transport.Unregister(1);
  transport.Unregister(2);
}

BENCHMARK(BM_Tcp)->ArgName("payload")->Arg(100)->Arg(64 << 10)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_Local)->ArgName("payload")->Arg(100)->Arg(64 << 10)->UseRealTime()->MinTime(2.0);

}  // namespace
}  // namespace toydb::bench

int main(int argc, char** argv) { return toydb::bench::RunBenchmarks(argc, argv, {}); }
