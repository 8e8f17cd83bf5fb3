// Tests of the discrete-event scheduler and the simulated clock: events run
// in (time, scheduling order), time only moves forward, limits hold.
#include "sim/scheduler.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace toydb::sim {
namespace {

TEST_CASE("Scheduler runs events by time, then in scheduling order", "[scheduler]") {
  Scheduler s;
  std::vector<std::string> ran;
  auto log = [&](std::string name) { return [&ran, name] { ran.push_back(name); }; };
  REQUIRE(s.At(30, log("c")).ok());
  REQUIRE(s.At(10, log("a1")).ok());
  REQUIRE(s.At(20, log("b")).ok());
  REQUIRE(s.At(10, log("a2")).ok());
  CHECK(s.pending() == 4);
  CHECK(s.RunUntilIdle(100) == 4);
  CHECK(ran == std::vector<std::string>{"a1", "a2", "b", "c"});
  CHECK(s.Now() == 30);
  CHECK(s.executed() == 4);
}

TEST_CASE("Scheduler events may schedule more events, also at the current time", "[scheduler]") {
  Scheduler s;
  std::vector<int64_t> times;
  REQUIRE(s.At(5, [&] {
             times.push_back(s.Now());
             REQUIRE(s.After(0, [&] { times.push_back(s.Now()); }).ok());
             REQUIRE(s.After(7, [&] { times.push_back(s.Now()); }).ok());
           }).ok());
  s.RunUntilIdle(100);
  CHECK(times == std::vector<int64_t>{5, 5, 12});
}

TEST_CASE("Scheduler RunUntil stops at the deadline and advances time to it", "[scheduler]") {
  Scheduler s;
  int ran = 0;
  REQUIRE(s.At(100, [&] { ++ran; }).ok());
  REQUIRE(s.At(101, [&] { ++ran; }).ok());
  CHECK(s.RunUntil(100) == 1);
  CHECK(s.Now() == 100);
  CHECK(s.RunUntil(50) == 0);  // time never goes back
  CHECK(s.Now() == 100);
  CHECK(s.RunUntil(1000) == 1);
  CHECK(s.Now() == 1000);
  CHECK(ran == 2);
}

TEST_CASE("Scheduler cancels pending events and refuses the past", "[scheduler]") {
  Scheduler s;
  bool ran = false;
  StatusOr<EventId> id = s.At(10, [&] { ran = true; });
  REQUIRE(id.ok());
  CHECK(s.Cancel(*id));
  CHECK_FALSE(s.Cancel(*id));
  s.RunUntil(20);
  CHECK_FALSE(ran);
  CHECK(absl::IsInvalidArgument(s.At(19, [] {}).status()));
  CHECK(absl::IsInvalidArgument(s.After(-1, [] {}).status()));
  CHECK_FALSE(s.Step());
}

TEST_CASE("Scheduler refuses events beyond its maximum", "[scheduler]") {
  Scheduler s(/*max_pending_events=*/3);
  for (int i = 0; i < 3; ++i) REQUIRE(s.After(i, [] {}).ok());
  CHECK(absl::IsResourceExhausted(s.After(5, [] {}).status()));
  s.Step();
  CHECK(s.After(5, [] {}).ok());
}

TEST_CASE("SimClock reads simulated time", "[scheduler]") {
  Scheduler s;
  SimClock clock(&s);
  Clock& as_clock = clock;
  CHECK(as_clock.NowMicros() == 0);
  s.RunUntil(1234);
  CHECK(as_clock.NowMicros() == 1234);
}

}  // namespace
}  // namespace toydb::sim
