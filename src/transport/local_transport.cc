// LocalTransport: per-node inboxes, each drained by a delivery thread of its
// own. Send encodes the frame on the caller's thread and queues it; the
// receiver's thread decodes it and calls the handler, outside every lock, so
// a handler may Send (even to itself) without deadlock.
#include "toydb/local_transport.h"

#include <fmt/format.h>

#include <atomic>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <utility>

#include "src/transport/codec.h"
#include "src/util/mutex.h"

namespace toydb {
namespace {

// What a delivery thread hands to its handler: a frame, or the news that a
// peer could not be reached (then `frame` is empty).
struct Event {
  std::string frame;
  NodeId unreachable_peer = 0;
};

struct Counters {
  std::atomic<uint64_t> sent{0}, delivered{0}, dropped_cut{0}, dropped_unreachable{0},
      rejected_full{0};
};

// One registered node: its queue and the thread that drains it. Shared by the
// transport's table and the thread itself, so that a node that unregisters
// from its own handler keeps its inbox alive until that handler returns.
class Inbox {
 public:
  Inbox(Transport::Handler* handler, uint64_t bytes_max, Counters* counters)
      : handler_(handler), bytes_max_(bytes_max), counters_(counters) {}

  void Start(std::shared_ptr<Inbox> self) {
    thread_ = std::thread([self = std::move(self)] { self->Run(); });
  }
  // False if the inbox is full (the event is not queued).
  bool Push(Event event) ABSL_LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (stopping_) return true;  // delivery has stopped: lost in flight
    if (bytes_ + event.frame.size() > bytes_max_ && !event.frame.empty()) return false;
    bytes_ += event.frame.size();
    events_.push_back(std::move(event));
    // A busy delivery thread takes this event with its next batch: waking
    // it costs a system call only when it sleeps.
    if (waiting_) cv_.Signal();
    return true;
  }
  // Stops delivery; joins the thread unless called from it.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
      events_.clear();
      cv_.Signal();
    }
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();  // the handler unregistered its own node
    } else if (thread_.joinable()) {
      thread_.join();
    }
  }

 private:
  // Takes every queued event at once, and delivers them in order.
  void Run() {
    std::deque<Event> batch;
    for (;;) {
      {
        MutexLock lock(&mu_);
        while (events_.empty() && !stopping_) {
          waiting_ = true;
          cv_.Wait(&mu_);
          waiting_ = false;
        }
        if (stopping_) return;
        batch.swap(events_);
      }
      for (const Event& event : batch) {
        {
          MutexLock lock(&mu_);
          if (stopping_) return;
          bytes_ -= event.frame.size();
        }
        Deliver(event);
      }
      batch.clear();
    }
  }
  void Deliver(const Event& event) {
    if (event.frame.empty()) return handler_->OnPeerUnreachable(event.unreachable_peer);
    StatusOr<Message> message = DecodeFrame(event.frame);
    // The frame was encoded by this process and never left it.
    if (!message.ok()) return;
    counters_->delivered++;
    handler_->OnMessage(*message);
  }

  Transport::Handler* const handler_;
  const uint64_t bytes_max_;
  Counters* const counters_;
  Mutex mu_;
  CondVar cv_;
  std::deque<Event> events_ ABSL_GUARDED_BY(mu_);
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool waiting_ ABSL_GUARDED_BY(mu_) = false;  // the delivery thread sleeps
  std::thread thread_;
};

}  // namespace

struct LocalTransport::State {
  explicit State(LocalTransportOptions o) : options(o) {}
  // The inboxes of `from` and `to` (either may be null), and whether the link
  // between them is cut.
  void Route(NodeId from, NodeId to, std::shared_ptr<Inbox>* sender,
             std::shared_ptr<Inbox>* receiver, bool* cut) ABSL_LOCKS_EXCLUDED(mu) {
    MutexLock lock(&mu);
    if (auto it = inboxes.find(from); it != inboxes.end()) *sender = it->second;
    if (auto it = inboxes.find(to); it != inboxes.end()) *receiver = it->second;
    *cut = isolated.contains(from) || isolated.contains(to) || cuts.contains({from, to});
  }

  const LocalTransportOptions options;
  Counters counters;
  Mutex mu;
  std::map<NodeId, std::shared_ptr<Inbox>> inboxes ABSL_GUARDED_BY(mu);
  std::set<std::pair<NodeId, NodeId>> cuts ABSL_GUARDED_BY(mu);
  std::set<NodeId> isolated ABSL_GUARDED_BY(mu);
};

LocalTransport::LocalTransport(LocalTransportOptions options)
    : state_(std::make_unique<State>(options)) {}

LocalTransport::~LocalTransport() {
  std::map<NodeId, std::shared_ptr<Inbox>> inboxes;
  {
    MutexLock lock(&state_->mu);
    inboxes.swap(state_->inboxes);
  }
  for (auto& [node, inbox] : inboxes) inbox->Stop();
}

Status LocalTransport::Register(NodeId node, Handler* handler) {
  if (node == 0 || handler == nullptr) {
    return absl::InvalidArgumentError("node 0 or a null handler");
  }
  auto inbox = std::make_shared<Inbox>(handler, state_->options.inbox_bytes_max, &state_->counters);
  // The thread runs before the inbox can be found, so that an Unregister
  // racing this call always has a thread to stop.
  inbox->Start(inbox);
  bool added = false;
  {
    MutexLock lock(&state_->mu);
    added = state_->inboxes.emplace(node, inbox).second;
  }
  if (added) return absl::OkStatus();
  inbox->Stop();
  return absl::AlreadyExistsError(fmt::format("node {} is registered", node));
}

void LocalTransport::Unregister(NodeId node) {
  std::shared_ptr<Inbox> inbox;
  {
    MutexLock lock(&state_->mu);
    auto it = state_->inboxes.find(node);
    if (it == state_->inboxes.end()) return;
    inbox = std::move(it->second);
    state_->inboxes.erase(it);
  }
  inbox->Stop();
}

Status LocalTransport::Send(const Message& message) {
  StatusOr<std::string> frame = EncodeFrame(message);
  if (!frame.ok()) return frame.status();
  std::shared_ptr<Inbox> sender, receiver;
  bool cut = false;
  state_->Route(message.from, message.to, &sender, &receiver, &cut);
  Counters& counters = state_->counters;
  if (cut) {
    counters.dropped_cut++;
  } else if (receiver == nullptr) {
    counters.dropped_unreachable++;
    if (sender != nullptr) sender->Push(Event{.frame = {}, .unreachable_peer = message.to});
  } else if (!receiver->Push(Event{.frame = std::move(*frame)})) {
    counters.rejected_full++;
    return absl::ResourceExhaustedError(fmt::format("the inbox of node {} holds {} bytes already",
                                                    message.to, state_->options.inbox_bytes_max));
  }
  counters.sent++;
  return absl::OkStatus();
}

void LocalTransport::Cut(NodeId a, NodeId b) {
  MutexLock lock(&state_->mu);
  state_->cuts.insert({a, b});
  state_->cuts.insert({b, a});
}

void LocalTransport::Isolate(NodeId node) {
  MutexLock lock(&state_->mu);
  state_->isolated.insert(node);
}

void LocalTransport::Heal() {
  MutexLock lock(&state_->mu);
  state_->cuts.clear();
  state_->isolated.clear();
}

LocalTransportStats LocalTransport::GetStats() const {
  const Counters& c = state_->counters;
  return LocalTransportStats{c.sent.load(), c.delivered.load(), c.dropped_cut.load(),
                             c.dropped_unreachable.load(), c.rejected_full.load()};
}

}  // namespace toydb
