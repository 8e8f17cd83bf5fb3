// Tests of the Trace: its hash covers every field of every event, in order,
// and its in-memory tail is bounded.
#include "sim/trace.h"

#include <catch2/catch.hpp>

namespace toydb::sim {
namespace {

uint64_t HashOf(std::initializer_list<TraceEvent> events) {
  Trace trace;
  for (const TraceEvent& e : events) trace.Record(e);
  return trace.hash();
}

TEST_CASE("Trace hash depends on every field and on the order of events", "[trace]") {
  const TraceEvent base{10, TraceKind::kDeliver, 1, 2, 3};
  const uint64_t h = HashOf({base});
  CHECK(HashOf({base}) == h);
  CHECK(HashOf({{11, TraceKind::kDeliver, 1, 2, 3}}) != h);
  CHECK(HashOf({{10, TraceKind::kDrop, 1, 2, 3}}) != h);
  CHECK(HashOf({{10, TraceKind::kDeliver, 9, 2, 3}}) != h);
  CHECK(HashOf({{10, TraceKind::kDeliver, 1, 9, 3}}) != h);
  CHECK(HashOf({{10, TraceKind::kDeliver, 1, 2, 9}}) != h);
  const TraceEvent other{20, TraceKind::kTimer, 1, 0, 1};
  CHECK(HashOf({base, other}) != HashOf({other, base}));
  CHECK(Trace().hash() == 0);
  CHECK(Trace::Encode(base).size() == 8 + 1 + 8 + 8 + 8);
}

TEST_CASE("Trace keeps a bounded tail, oldest first", "[trace]") {
  Trace trace;
  for (uint64_t i = 0; i < Trace::kTailEvents + 10; ++i) {
    trace.Record({static_cast<int64_t>(i), TraceKind::kNote, i, 0, 0});
  }
  CHECK(trace.size() == Trace::kTailEvents + 10);
  const std::vector<std::string> tail = trace.Tail();
  REQUIRE(tail.size() == Trace::kTailEvents);
  CHECK(tail.front() == Trace::Format({10, TraceKind::kNote, 10, 0, 0}));
  CHECK(tail.back().find("note") != std::string::npos);
}

}  // namespace
}  // namespace toydb::sim
