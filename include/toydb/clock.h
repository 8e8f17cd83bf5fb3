#ifndef TOYDB_CLOCK_H_
#define TOYDB_CLOCK_H_

#include <cstdint>

namespace toydb {

// Clock is the only source of time for toydb's logic. Protocol code and the
// store's timed work (interval syncs, checkpoints) read time from an injected
// Clock so that the simulator can drive them on simulated time. Implementations
// must be thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;

  // Monotonic time in microseconds since an arbitrary origin. Never goes back.
  virtual int64_t NowMicros() = 0;

  // The process-wide real clock (std::chrono::steady_clock). Never deleted.
  static Clock* Default();
};

}  // namespace toydb

#endif  // TOYDB_CLOCK_H_
