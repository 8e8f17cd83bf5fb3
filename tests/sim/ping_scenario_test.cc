// Tests of the ping scenario: it passes across seeds with its faults active,
// and its oracle catches each kind of violation it is meant to catch.
#include "sim/ping_scenario.h"

#include <catch2/catch.hpp>

#include "sim/ping_oracle.h"

namespace toydb::sim {
namespace {

Message Probe(NodeId from, NodeId to, uint64_t id) {
  return Message{.from = from, .to = to, .body = HealthProbe{.probe_id = id}};
}

TEST_CASE("Ping scenario passes a sweep of seeds, with every fault exercised", "[ping]") {
  NetworkStats total;
  uint64_t crashes = 0;
  for (uint64_t seed = 100; seed < 160; ++seed) {
    ScenarioResult r = RunPingScenario(seed);
    INFO("seed " << seed << ": " << r.failure);
    REQUIRE(r.ok);
    CHECK(r.echoed > 0);
    total.dropped_loss += r.network.dropped_loss;
    total.dropped_partition += r.network.dropped_partition;
    total.dropped_node_down += r.network.dropped_node_down;
    total.duplicated += r.network.duplicated;
    total.rejected += r.network.rejected;
    crashes += r.crashes;
  }
  CHECK(total.dropped_loss > 0);
  CHECK(total.dropped_partition > 0);
  CHECK(total.dropped_node_down > 0);
  CHECK(total.duplicated > 0);
  CHECK(total.rejected > 0);
  CHECK(crashes > 0);
}

TEST_CASE("Ping scenario without faults delivers everything", "[ping]") {
  ScenarioResult r = RunPingScenario(3, {.faults = false});
  REQUIRE(r.ok);
  CHECK(r.network.delivered == r.network.sent);
  CHECK(r.crashes == 0);
}

TEST_CASE("Ping oracle catches invented and altered messages", "[ping]") {
  PingOracle oracle;
  oracle.OnSent(Probe(1, 2, 5));
  oracle.OnDelivered(Probe(1, 2, 5));
  CHECK(oracle.ok());
  oracle.OnDelivered(Probe(1, 2, 6));
  CHECK_FALSE(oracle.ok());

  PingOracle altered;
  altered.OnSent(Probe(1, 2, 5));
  Message changed = Probe(1, 2, 5);
  std::get<HealthProbe>(changed.body).sent_micros = 1;
  altered.OnDelivered(changed);
  CHECK_FALSE(altered.ok());
}

TEST_CASE("Ping oracle catches a counter that went back", "[ping]") {
  PingOracle oracle;
  oracle.OnPersisted(1, 10);
  oracle.OnRecovered(1, 10);
  CHECK(oracle.ok());
  oracle.OnRecovered(1, 9);
  CHECK_FALSE(oracle.ok());
}

TEST_CASE("Ping oracle catches a liveness ping never echoed", "[ping]") {
  PingOracle oracle;
  oracle.ExpectEcho(1, 2, 7);
  oracle.ExpectEcho(1, 3, 8);
  oracle.OnSent(Message{.from = 2, .to = 1, .body = HealthProbeResponse{.probe_id = 7}});
  oracle.OnDelivered(Message{.from = 2, .to = 1, .body = HealthProbeResponse{.probe_id = 7}});
  oracle.CheckAllEchoed();
  CHECK_FALSE(oracle.ok());
  CHECK(oracle.failure().find("1 -> 3 id 8") != std::string::npos);
}

}  // namespace
}  // namespace toydb::sim
