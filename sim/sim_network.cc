#include "sim/sim_network.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

#include "src/transport/codec.h"
#include "src/util/checksum.h"

namespace toydb::sim {

Status NetworkOptions::Validate() const {
  if (min_latency_micros < 0 || max_latency_micros < min_latency_micros) {
    return absl::InvalidArgumentError(
        fmt::format("latency range [{}, {}]us is invalid", min_latency_micros, max_latency_micros));
  }
  for (double p :
       {drop_probability, duplicate_probability, reorder_probability, corrupt_probability}) {
    if (!(p >= 0.0 && p <= 1.0)) {
      return absl::InvalidArgumentError(fmt::format("probability {} not in [0, 1]", p));
    }
  }
  if (max_in_flight_messages == 0) {
    return absl::InvalidArgumentError("max_in_flight_messages must be positive");
  }
  return absl::OkStatus();
}

SimNetwork::SimNetwork(Scheduler* scheduler, Trace* trace, Rng rng, NetworkOptions options)
    : scheduler_(scheduler), trace_(trace), rng_(rng), options_(options) {
  assert(options_.Validate().ok());
}

Status SimNetwork::Register(NodeId node, Handler* handler) {
  if (node == 0 || handler == nullptr) {
    return absl::InvalidArgumentError("node 0 or a null handler");
  }
  if (!handlers_.emplace(node, handler).second) {
    return absl::AlreadyExistsError(fmt::format("node {} is registered", node));
  }
  return absl::OkStatus();
}

void SimNetwork::Unregister(NodeId node) { handlers_.erase(node); }

Status SimNetwork::SetOptions(const NetworkOptions& options) {
  Status s = options.Validate();
  if (s.ok()) options_ = options;
  return s;
}

void SimNetwork::Cut(NodeId a, NodeId b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
  Record(TraceKind::kFault, a, b, static_cast<uint64_t>(FaultKind::kCut));
}

void SimNetwork::CutOneWay(NodeId from, NodeId to) {
  cut_.insert({from, to});
  Record(TraceKind::kFault, from, to, static_cast<uint64_t>(FaultKind::kCutOneWay));
}

void SimNetwork::Isolate(NodeId node) {
  isolated_.insert(node);
  Record(TraceKind::kFault, node, 0, static_cast<uint64_t>(FaultKind::kIsolate));
}

void SimNetwork::Heal() {
  cut_.clear();
  isolated_.clear();
  Record(TraceKind::kFault, 0, 0, static_cast<uint64_t>(FaultKind::kHeal));
}

bool SimNetwork::LinkUp(NodeId from, NodeId to) const {
  return !cut_.contains({from, to}) && !isolated_.contains(from) && !isolated_.contains(to);
}

Status SimNetwork::Send(const Message& message) {
  if (in_flight_ >= options_.max_in_flight_messages) {
    ++stats_.refused;
    return absl::ResourceExhaustedError(
        fmt::format("{} messages in flight (the maximum)", in_flight_));
  }
  StatusOr<std::string> frame = EncodeFrame(message);
  if (!frame.ok()) {
    ++stats_.refused;
    return frame.status();
  }
  ++stats_.sent;
  const NodeId from = message.from, to = message.to;
  // A lost message is still a successful send: the sender cannot tell.
  if (!LinkUp(from, to)) {
    Drop(from, to, DropReason::kPartition);
    return absl::OkStatus();
  }
  if (rng_.Chance(options_.drop_probability)) {
    Drop(from, to, DropReason::kLoss);
    return absl::OkStatus();
  }
  if (rng_.Chance(options_.duplicate_probability)) {
    ++stats_.duplicated;
    Enqueue(from, to, *frame);
  }
  Enqueue(from, to, std::move(*frame));
  return absl::OkStatus();
}

int64_t SimNetwork::DeliveryTime(const Link& link) {
  int64_t t =
      scheduler_->Now() + rng_.Range(options_.min_latency_micros, options_.max_latency_micros);
  int64_t& last = last_delivery_[link];
  if (!rng_.Chance(options_.reorder_probability)) t = std::max(t, last);
  last = std::max(last, t);
  return t;
}

void SimNetwork::Enqueue(NodeId from, NodeId to, std::string frame) {
  const int64_t when = DeliveryTime({from, to});
  if (rng_.Chance(options_.corrupt_probability)) {
    ++stats_.corrupted;
    const uint64_t bit = rng_.Uniform(frame.size() * 8);
    frame[bit / 8] = static_cast<char>(frame[bit / 8] ^ (1 << (bit % 8)));
  }
  // Cannot fail: the in-flight limit is far below the scheduler's.
  StatusOr<EventId> id = scheduler_->At(
      when, [this, from, to, frame = std::move(frame)] { Deliver(from, to, frame); });
  if (id.ok()) ++in_flight_;
}

void SimNetwork::Deliver(NodeId from, NodeId to, const std::string& frame) {
  --in_flight_;
  if (!LinkUp(from, to)) return Drop(from, to, DropReason::kPartition);
  auto it = handlers_.find(to);
  if (it == handlers_.end()) {
    Drop(from, to, DropReason::kNodeDown);
    auto sender = handlers_.find(from);
    if (sender == handlers_.end()) return;
    Record(TraceKind::kUnreachable, from, to, 0);
    return sender->second->OnPeerUnreachable(to);
  }
  StatusOr<Message> message = DecodeFrame(frame);
  if (!message.ok()) {
    ++stats_.rejected;
    return Record(TraceKind::kReject, from, to, 0);
  }
  ++stats_.delivered;
  Record(TraceKind::kDeliver, from, to, Checksum64(frame));
  it->second->OnMessage(*message);
}

void SimNetwork::Drop(NodeId from, NodeId to, DropReason reason) {
  switch (reason) {
    case DropReason::kLoss:
      ++stats_.dropped_loss;
      break;
    case DropReason::kPartition:
      ++stats_.dropped_partition;
      break;
    case DropReason::kNodeDown:
      ++stats_.dropped_node_down;
      break;
  }
  Record(TraceKind::kDrop, from, to, static_cast<uint64_t>(reason));
}

void SimNetwork::Record(TraceKind kind, uint64_t a, uint64_t b, uint64_t detail) {
  trace_->Record({scheduler_->Now(), kind, a, b, detail});
}

}  // namespace toydb::sim
