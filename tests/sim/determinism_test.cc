// The simulator's promise: a seed gives the same run, byte for byte. The
// golden hash below pins that run across processes and builds (normal,
// ASan+UBSan, TSan, gcc or clang): each build must compute the same value.
//
// Updating the golden hash: any intended change to what a run does (the
// scenario, the network's draws, the trace encoding, the wire format) changes
// it. Then run `toydb-sim --seed 42` in a normal build, check that
// the run is still ok, and paste the printed hash into kGoldenHashSeed42 with
// a commit message that says why it changed. An unintended change is a
// determinism bug: find it before updating.
#include <catch2/catch.hpp>
#include <set>

#include "sim/ping_scenario.h"

namespace toydb::sim {
namespace {

constexpr uint64_t kGoldenHashSeed42 = 0x3bf60860efbb93d1;

TEST_CASE("The same seed gives the same trace hash, twice in one process", "[determinism]") {
  for (uint64_t seed : {1, 42, 977}) {
    ScenarioResult a = RunPingScenario(seed);
    ScenarioResult b = RunPingScenario(seed);
    REQUIRE(a.ok);
    CHECK(a.trace_hash == b.trace_hash);
    CHECK(a.trace_events == b.trace_events);
    CHECK(a.delivered == b.delivered);
  }
}

TEST_CASE("Seed 42 gives the golden trace hash in every build", "[determinism]") {
  ScenarioResult r = RunPingScenario(42);
  INFO("seed 42 trace hash " << std::hex << r.trace_hash << ", failure: " << r.failure);
  REQUIRE(r.ok);
  CHECK(r.trace_hash == kGoldenHashSeed42);
}

TEST_CASE("Different seeds give different trace hashes", "[determinism]") {
  std::set<uint64_t> hashes;
  for (uint64_t seed = 1; seed <= 30; ++seed) {
    ScenarioResult r = RunPingScenario(seed);
    REQUIRE(r.ok);
    hashes.insert(r.trace_hash);
  }
  CHECK(hashes.size() == 30);
}

TEST_CASE("A trace sink sees the events the hash covers", "[determinism]") {
  uint64_t lines = 0;
  ScenarioResult r = RunPingScenario(5, {}, [&lines](std::string_view) { ++lines; });
  CHECK(lines == r.trace_events);
  CHECK(RunPingScenario(5).trace_hash == r.trace_hash);
}

}  // namespace
}  // namespace toydb::sim
