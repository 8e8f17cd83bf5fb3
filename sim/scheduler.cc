#include "sim/scheduler.h"

#include <fmt/format.h>

#include <utility>

namespace toydb::sim {

StatusOr<EventId> Scheduler::At(int64_t time_micros, Callback fn) {
  if (time_micros < Now()) {
    return absl::InvalidArgumentError(
        fmt::format("event at {}us is in the past (now {}us)", time_micros, Now()));
  }
  if (queue_.size() >= max_pending_events_) {
    return absl::ResourceExhaustedError(
        fmt::format("scheduler full: {} pending events", queue_.size()));
  }
  const EventId id{time_micros, next_seq_++};
  queue_.emplace(id, std::move(fn));
  return id;
}

StatusOr<EventId> Scheduler::After(int64_t delay_micros, Callback fn) {
  if (delay_micros < 0) return absl::InvalidArgumentError("negative delay");
  return At(Now() + delay_micros, std::move(fn));
}

bool Scheduler::Cancel(EventId id) { return queue_.erase(id) == 1; }

bool Scheduler::Step() {
  if (queue_.empty()) return false;
  auto it = queue_.begin();
  Callback fn = std::move(it->second);
  now_.store(it->first.time_micros, std::memory_order_relaxed);
  queue_.erase(it);
  ++executed_;
  fn();
  return true;
}

uint64_t Scheduler::RunUntil(int64_t time_micros) {
  uint64_t ran = 0;
  while (!queue_.empty() && queue_.begin()->first.time_micros <= time_micros) {
    Step();
    ++ran;
  }
  if (time_micros > Now()) now_.store(time_micros, std::memory_order_relaxed);
  return ran;
}

uint64_t Scheduler::RunUntilIdle(uint64_t max_events) {
  uint64_t ran = 0;
  while (ran < max_events && Step()) ++ran;
  return ran;
}

}  // namespace toydb::sim
