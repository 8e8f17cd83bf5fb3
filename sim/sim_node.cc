#include "sim/sim_node.h"

#include <fmt/format.h>

#include <utility>

namespace toydb::sim {

SimNode::SimNode(NodeId id, Scheduler* scheduler, Clock* clock, SimNetwork* network, Trace* trace,
                 Rng rng, Factory factory)
    : id_(id),
      scheduler_(scheduler),
      clock_(clock),
      network_(network),
      trace_(trace),
      rng_(rng),
      process_rng_(0),
      factory_(std::move(factory)) {}

SimNode::~SimNode() {
  if (up()) network_->Unregister(id_);
}

Status SimNode::Start() {
  if (up()) return absl::FailedPreconditionError(fmt::format("node {} is up", id_));
  ++incarnation_;
  pending_timers_ = 0;
  process_rng_ = rng_.Fork();
  Record(TraceKind::kRestart, incarnation_);
  incarnation_env_ = std::make_unique<IncarnationEnv>(&disk_, id_, incarnation_);
  NodeContext ctx{id_, incarnation_env_.get(), clock_, network_, this, &process_rng_};
  StatusOr<std::unique_ptr<SimProcess>> process = factory_(ctx);
  if (!process.ok()) return process.status();
  Status s = network_->Register(id_, this);
  if (!s.ok()) return s;
  process_ = std::move(*process);
  return absl::OkStatus();
}

void SimNode::Crash(CrashMode mode) {
  if (!up()) return;
  network_->Unregister(id_);
  // The power goes first: nothing the process does while it is torn down
  // (a store's destructor syncs and checkpoints) may reach the disk.
  incarnation_env_->Kill();
  if (mode == CrashMode::kDropUnsynced) {
    disk_.CrashDropUnsynced();
  } else {
    disk_.Crash(
        [this](const std::string&, uint64_t unsynced) { return rng_.Uniform(unsynced + 1); });
  }
  process_.reset();
  Record(TraceKind::kCrash, incarnation_);
}

void SimNode::OnMessage(const Message& message) {
  if (up()) process_->OnMessage(message);
}

void SimNode::OnPeerUnreachable(NodeId peer) {
  if (up()) process_->OnPeerUnreachable(peer);
}

Status SimNode::SetTimer(int64_t delay_micros, uint64_t timer_id) {
  if (pending_timers_ >= kMaxPendingTimers) {
    return absl::ResourceExhaustedError(
        fmt::format("node {} has {} pending timers", id_, pending_timers_));
  }
  const uint64_t incarnation = incarnation_;
  StatusOr<EventId> id = scheduler_->After(
      delay_micros, [this, incarnation, timer_id] { FireTimer(incarnation, timer_id); });
  if (!id.ok()) return id.status();
  ++pending_timers_;
  return absl::OkStatus();
}

void SimNode::FireTimer(uint64_t incarnation, uint64_t timer_id) {
  // A timer of an earlier incarnation died with its process.
  if (incarnation != incarnation_ || !up()) return;
  --pending_timers_;
  Record(TraceKind::kTimer, timer_id);
  process_->OnTimer(timer_id);
}

void SimNode::Record(TraceKind kind, uint64_t detail) {
  trace_->Record({scheduler_->Now(), kind, id_, 0, detail});
}

}  // namespace toydb::sim
