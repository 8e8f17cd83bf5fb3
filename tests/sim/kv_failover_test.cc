// Tests of the failover measurement: after the primary's crash a new primary
// is elected and acknowledges writes within a loose bound of simulated time,
// the phases come in order, a run is a function of its seed, and a run that
// does not fail over within its bound fails.
#include "sim/kv_failover.h"

#include <catch2/catch.hpp>

namespace toydb::sim {
namespace {

TEST_CASE("Failover: a new primary acknowledges writes within 5 election timeouts",
          "[kv][failover]") {
  for (uint64_t seed : {1, 2, 3, 4, 5, 6, 7, 8}) {
    const FailoverResult r = RunFailover(seed);
    INFO("seed " << seed << ": " << r.failure);
    REQUIRE(r.ok);
    CHECK(r.old_primary != 0);
    CHECK(r.new_primary != 0);
    CHECK(r.new_primary != r.old_primary);
    CHECK(r.elections >= 1);
    CHECK(r.election_timeout_micros == 100'000);
    // An election needs at least one election timeout of silence.
    CHECK(r.elected_micros >= r.election_timeout_micros);
    CHECK(r.elected_micros <= r.committed_micros);
    CHECK(r.committed_micros <= r.acked_micros);
    CHECK(r.acked_micros <= 5 * r.election_timeout_micros);
  }
}

TEST_CASE("Failover: the same seed gives the same figures", "[kv][failover][determinism]") {
  const FailoverResult a = RunFailover(21);
  const FailoverResult b = RunFailover(21);
  REQUIRE(a.ok);
  CHECK(a.crash_micros == b.crash_micros);
  CHECK(a.new_primary == b.new_primary);
  CHECK(a.elected_micros == b.elected_micros);
  CHECK(a.acked_micros == b.acked_micros);
}

TEST_CASE("Failover: clients that wait 400 ms on the crashed primary measure their own timeout",
          "[kv][failover]") {
  // The kv scenario's client: every client is waiting on (or next sends to)
  // the crashed primary, so no write reaches the new one before the attempt
  // timeout, whenever the election ends.
  FailoverOptions options;
  options.client_attempt_timeout_micros = 400'000;
  options.client_avoids_unanswered = false;
  for (uint64_t seed : {1, 2, 3}) {
    const FailoverResult r = RunFailover(seed, options);
    INFO("seed " << seed << ": " << r.failure);
    REQUIRE(r.ok);
    CHECK(r.committed_micros < options.client_attempt_timeout_micros);
    CHECK(r.acked_micros >= options.client_attempt_timeout_micros);
  }
}

TEST_CASE("Failover: a run that does not fail over within its bound fails", "[kv][failover]") {
  // No election can end within half an election timeout of the crash.
  const FailoverResult r = RunFailover(1, {.bound_micros = 50'000});
  CHECK_FALSE(r.ok);
  CHECK(r.acked_micros == -1);
  CHECK(r.failure.find("no write acknowledged by a new primary within 50 ms") != std::string::npos);
}

}  // namespace
}  // namespace toydb::sim
