#ifndef TOYDB_SIM_SCHEDULER_H_
#define TOYDB_SIM_SCHEDULER_H_

// Scheduler: the simulator's discrete-event loop and the owner of simulated
// time. Events run in (time, sequence number) order, so two events due at the
// same microsecond run in the order they were scheduled: a run depends on the
// seed only. Owned by the Simulator; single-threaded (only Now() may be read
// from another thread).

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>

#include "toydb/clock.h"
#include "toydb/status.h"

namespace toydb::sim {

struct EventId {
  int64_t time_micros = 0;
  uint64_t seq = 0;
  auto operator<=>(const EventId&) const = default;
};

class Scheduler {
 public:
  // Scheduling beyond this many pending events fails with ResourceExhausted:
  // a run that floods the queue is a bug to report, not a reason to OOM.
  static constexpr size_t kMaxPendingEvents = size_t{1} << 20;

  using Callback = std::function<void()>;

  // `max_pending_events` below the default is for tests of the limit.
  explicit Scheduler(size_t max_pending_events = kMaxPendingEvents)
      : max_pending_events_(max_pending_events) {}
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  int64_t Now() const { return now_.load(std::memory_order_relaxed); }

  // Runs `fn` at `time_micros` (not before Now(): InvalidArgument).
  [[nodiscard]] StatusOr<EventId> At(int64_t time_micros, Callback fn);
  [[nodiscard]] StatusOr<EventId> After(int64_t delay_micros, Callback fn);
  // Removes a pending event; false if it already ran or was cancelled.
  bool Cancel(EventId id);

  // Runs the earliest event, advancing time to it. False if none is pending.
  bool Step();
  // Runs every event due at or before `time_micros`, then sets the time to
  // it. Returns the number of events run.
  uint64_t RunUntil(int64_t time_micros);
  // Runs events until none is pending or `max_events` ran.
  uint64_t RunUntilIdle(uint64_t max_events);

  size_t pending() const { return queue_.size(); }
  uint64_t executed() const { return executed_; }

 private:
  const size_t max_pending_events_;
  std::atomic<int64_t> now_{0};
  uint64_t next_seq_ = 0;
  uint64_t executed_ = 0;
  std::map<EventId, Callback> queue_;
};

// The simulator's Clock: reads the scheduler's simulated time. Does not own
// the scheduler. Thread-safe as Clock requires.
class SimClock final : public Clock {
 public:
  explicit SimClock(const Scheduler* scheduler) : scheduler_(scheduler) {}
  int64_t NowMicros() override { return scheduler_->Now(); }

 private:
  const Scheduler* scheduler_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_SCHEDULER_H_
