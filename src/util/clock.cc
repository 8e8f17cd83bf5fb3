#include "toydb/clock.h"

#include <chrono>

namespace toydb {
namespace {

class SteadyClock final : public Clock {
 public:
  int64_t NowMicros() override {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Clock* Clock::Default() {
  static SteadyClock* clock = new SteadyClock();
  return clock;
}

}  // namespace toydb
