// Router: the threaded runtime around RouterCore. Every input (a call from
// an application thread, a message from the transport's delivery thread, a
// timer from the Router's own thread) is applied to the core under one
// mutex, with the time read from the Clock under that mutex, so the core
// sees one ordered stream of inputs, as in the simulator. What the core
// produced is taken out under the same lock and sent and completed outside
// it: a callback never runs with the lock held, and Transport::Send may call
// back into the Router.
#include "toydb/router.h"

#include <fmt/format.h>

#include <future>
#include <map>
#include <thread>

#include "src/routing/router_core.h"
#include "src/util/mutex.h"

namespace toydb {

using routing::RouterCompletion;
using routing::RouterCore;
using routing::RouterReady;
using routing::RouterRequest;

namespace {

// A completion's way back to its caller: one of the two callbacks.
struct Waiter {
  Router::WriteCallback write;
  Router::ReadCallback read;
};

// The timer thread sleeps at most this long, so a clock that jumps or a
// missed signal costs little.
constexpr int64_t kMaxSleepMicros = 100'000;

}  // namespace

struct Router::State final : public Transport::Handler {
  RouterOptions options;
  Clock* clock = nullptr;

  Mutex mu;
  CondVar cv;
  std::unique_ptr<RouterCore> core ABSL_GUARDED_BY(mu);
  std::map<uint64_t, Waiter> waiters ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // When the timer thread plans to wake; a sooner timer signals it.
  int64_t wake_at ABSL_GUARDED_BY(mu) = 0;
  std::thread timer_thread;

  // Transport::Handler, on the transport's delivery thread.
  void OnMessage(const Message& message) override {
    Drive([&](RouterCore& core, int64_t now) {
      core.Receive(message, now);
      return uint64_t{0};
    });
  }
  void OnPeerUnreachable(NodeId peer) override {
    Drive([&](RouterCore& core, int64_t now) {
      core.PeerUnreachable(peer, now);
      return uint64_t{0};
    });
  }

  // Applies `input` to the core, then sends and completes what it produced.
  // `input` returns the op id `waiter` waits for (0: none); the waiter is
  // registered under the same lock, so a completion produced at once finds it.
  template <typename Input>
  void Drive(Input&& input, Waiter waiter = {}) ABSL_LOCKS_EXCLUDED(mu) {
    RouterReady ready;
    std::vector<std::pair<Waiter, RouterCompletion>> done;
    {
      MutexLock lock(&mu);
      const int64_t now = clock->NowMicros();
      const uint64_t op = input(*core, now);
      if (op != 0) waiters[op] = std::move(waiter);
      ready = core->TakeReady();
      for (RouterCompletion& completion : ready.completions) {
        auto it = waiters.find(completion.op);
        if (it == waiters.end()) continue;
        done.emplace_back(std::move(it->second), std::move(completion));
        waiters.erase(it);
      }
      if (core->NextWakeMicros() < wake_at) cv.Signal();
    }
    for (const Message& message : ready.messages) {
      // A refused send is a lost message: the attempt times out and is
      // retried, as after a loss on the wire.
      (void)options.transport->Send(message);
    }
    for (auto& [w, completion] : done) {
      if (w.read) {
        w.read(std::move(completion.value));
      } else if (w.write) {
        w.write(std::move(completion.write));
      }
    }
  }

  void Submit(RouterRequest request, Waiter waiter) {
    Drive([&](RouterCore& core, int64_t now) { return core.Submit(std::move(request), now); },
          std::move(waiter));
  }

  void RunTimers() ABSL_LOCKS_EXCLUDED(mu) {
    while (true) {
      {
        MutexLock lock(&mu);
        while (!stopping) {
          const int64_t now = clock->NowMicros();
          const int64_t next = core->NextWakeMicros();
          if (next <= now) break;
          wake_at = next;
          cv.WaitFor(&mu, std::chrono::microseconds(std::min(next - now, kMaxSleepMicros)));
          wake_at = 0;
        }
        if (stopping) return;
        wake_at = 0;
      }
      Drive([](RouterCore& core, int64_t now) {
        core.Tick(now);
        return uint64_t{0};
      });
    }
  }
};

StatusOr<std::unique_ptr<Router>> Router::Open(const RouterOptions& options) {
  if (options.transport == nullptr) {
    return absl::InvalidArgumentError("RouterOptions.transport is null");
  }
  RouterOptions resolved = options;
  Clock* clock = options.clock != nullptr ? options.clock : Clock::Default();
  if (resolved.seed == 0) {
    resolved.seed = static_cast<uint64_t>(clock->NowMicros()) * 0x9e3779b97f4a7c15ULL ^
                    reinterpret_cast<uintptr_t>(&resolved) ^ options.id;
  }
  StatusOr<std::unique_ptr<RouterCore>> core = RouterCore::Create(resolved);
  if (!core.ok()) return core.status();
  auto state = std::make_unique<State>();
  state->options = resolved;
  state->clock = clock;
  {
    MutexLock lock(&state->mu);
    state->core = std::move(*core);
  }
  if (Status s = options.transport->Register(options.id, state.get()); !s.ok()) return s;
  State* raw = state.get();
  state->timer_thread = std::thread([raw] { raw->RunTimers(); });
  return std::unique_ptr<Router>(new Router(std::move(state)));
}

Router::Router(std::unique_ptr<State> state) : state_(std::move(state)) {}

Router::~Router() {
  // No more answers after this (the delivery thread is joined).
  state_->options.transport->Unregister(state_->options.id);
  {
    MutexLock lock(&state_->mu);
    state_->stopping = true;
    state_->cv.Signal();
  }
  state_->timer_thread.join();
  state_->Drive([](RouterCore& core, int64_t now) {
    core.Shutdown(now);
    return uint64_t{0};
  });
}

namespace {

RouterRequest WriteRequest(OpType op, std::string_view key, const RouterWriteOptions& options) {
  RouterRequest request;
  request.body.op = op;
  request.body.key = std::string(key);
  request.body.concern = options.concern;
  request.deadline_ms = options.deadline_ms;
  return request;
}

// Waits for a write's callback.
template <typename Start>
WriteResult AwaitWrite(Start start) {
  std::promise<WriteResult> promise;
  std::future<WriteResult> future = promise.get_future();
  start([&promise](WriteResult result) { promise.set_value(std::move(result)); });
  return future.get();
}

}  // namespace

void Router::PutAsync(std::string_view key, std::string_view value,
                      const RouterWriteOptions& options, WriteCallback done) {
  RouterRequest request = WriteRequest(OpType::kPut, key, options);
  request.body.value = std::string(value);
  state_->Submit(std::move(request), Waiter{std::move(done), nullptr});
}

void Router::DeleteAsync(std::string_view key, const RouterWriteOptions& options,
                         WriteCallback done) {
  state_->Submit(WriteRequest(OpType::kDelete, key, options), Waiter{std::move(done), nullptr});
}

void Router::CompareAndSetAsync(std::string_view key, Lsn expected_version, std::string_view value,
                                const RouterWriteOptions& options, WriteCallback done) {
  RouterRequest request = WriteRequest(OpType::kCompareAndSet, key, options);
  request.body.expected_version = expected_version;
  request.body.value = std::string(value);
  state_->Submit(std::move(request), Waiter{std::move(done), nullptr});
}

void Router::WriteAsync(const WriteBatch& batch, const RouterWriteOptions& options,
                        WriteCallback done) {
  RouterRequest request = WriteRequest(OpType::kBatch, {}, options);
  for (const WriteBatch::Op& op : batch.ops()) {
    request.body.batch.push_back(BatchOp{
        op.type == WriteBatch::OpType::kPut ? OpType::kPut : OpType::kDelete, op.key, op.value});
  }
  state_->Submit(std::move(request), Waiter{std::move(done), nullptr});
}

void Router::GetAsync(std::string_view key, const RouterReadOptions& options, ReadCallback done) {
  RouterRequest request;
  request.body.op = OpType::kGet;
  request.body.key = std::string(key);
  request.body.consistency = options.consistency;
  request.deadline_ms = options.deadline_ms;
  state_->Submit(std::move(request), Waiter{nullptr, std::move(done)});
}

WriteResult Router::Put(std::string_view key, std::string_view value,
                        const RouterWriteOptions& options) {
  return AwaitWrite([&](WriteCallback done) { PutAsync(key, value, options, std::move(done)); });
}

WriteResult Router::Delete(std::string_view key, const RouterWriteOptions& options) {
  return AwaitWrite([&](WriteCallback done) { DeleteAsync(key, options, std::move(done)); });
}

WriteResult Router::CompareAndSet(std::string_view key, Lsn expected_version,
                                  std::string_view value, const RouterWriteOptions& options) {
  return AwaitWrite([&](WriteCallback done) {
    CompareAndSetAsync(key, expected_version, value, options, std::move(done));
  });
}

WriteResult Router::Write(const WriteBatch& batch, const RouterWriteOptions& options) {
  return AwaitWrite([&](WriteCallback done) { WriteAsync(batch, options, std::move(done)); });
}

StatusOr<VersionedValue> Router::Get(std::string_view key, const RouterReadOptions& options) {
  std::promise<StatusOr<VersionedValue>> promise;
  std::future<StatusOr<VersionedValue>> future = promise.get_future();
  GetAsync(key, options,
           [&promise](StatusOr<VersionedValue> value) { promise.set_value(std::move(value)); });
  return future.get();
}

std::vector<DeadLetter> Router::DeadLetters() {
  MutexLock lock(&state_->mu);
  return state_->core->DeadLetters();
}

WriteResult Router::RetryDeadLetter(uint64_t id, uint32_t deadline_ms) {
  std::promise<WriteResult> promise;
  std::future<WriteResult> future = promise.get_future();
  Status refused;
  state_->Drive(
      [&](RouterCore& core, int64_t now) {
        StatusOr<uint64_t> started = core.RetryDeadLetter(id, deadline_ms, now);
        if (started.ok()) return *started;
        refused = started.status();
        return uint64_t{0};
      },
      Waiter{[&promise](WriteResult result) { promise.set_value(std::move(result)); }, nullptr});
  if (!refused.ok()) {
    WriteResult result;
    result.status = refused;
    result.dead_letter_id = id;
    return result;
  }
  return future.get();
}

Status Router::DropDeadLetter(uint64_t id) {
  MutexLock lock(&state_->mu);
  return state_->core->DropDeadLetter(id);
}

PartitionId Router::PartitionOf(std::string_view key) {
  MutexLock lock(&state_->mu);
  return state_->core->PartitionOf(key);
}

RouterStats Router::GetStats() {
  MutexLock lock(&state_->mu);
  return state_->core->Stats();
}

}  // namespace toydb
