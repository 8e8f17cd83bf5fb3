// Tests of SimNetwork, the in-memory Transport: delivery through the codec,
// latency, FIFO links, loss, duplication, damage, partitions and limits.
#include "sim/sim_network.h"

#include <catch2/catch.hpp>
#include <map>
#include <vector>

namespace toydb::sim {
namespace {

// Records what the network delivers to one node.
class Recorder : public Transport::Handler {
 public:
  void OnMessage(const Message& m) override { messages.push_back(m); }
  void OnPeerUnreachable(NodeId peer) override { unreachable.push_back(peer); }
  std::vector<Message> messages;
  std::vector<NodeId> unreachable;
};

Message Probe(NodeId from, NodeId to, uint64_t id) {
  return Message{.from = from, .to = to, .body = HealthProbe{.probe_id = id}};
}

uint64_t ProbeId(const Message& m) { return std::get<HealthProbe>(m.body).probe_id; }

// Three registered nodes 1, 2, 3 on a network with `options`.
struct World {
  explicit World(NetworkOptions options, uint64_t seed = 1)
      : trace(), network(&scheduler, &trace, Rng(seed), options) {
    for (NodeId id = 1; id <= 3; ++id) REQUIRE(network.Register(id, &nodes[id]).ok());
  }
  void SendProbes(NodeId from, NodeId to, uint64_t count) {
    for (uint64_t i = 0; i < count; ++i) REQUIRE(network.Send(Probe(from, to, i)).ok());
  }
  Scheduler scheduler;
  Trace trace;
  SimNetwork network;
  std::map<NodeId, Recorder> nodes;
};

TEST_CASE("SimNetwork delivers decoded messages after a latency in range", "[sim_network]") {
  World w({.min_latency_micros = 100, .max_latency_micros = 200});
  Message m{.from = 1, .to = 2, .body = ClientRequest{.client_id = 9, .key = "k", .value = "v"}};
  REQUIRE(w.network.Send(m).ok());
  w.scheduler.RunUntil(99);
  CHECK(w.nodes[2].messages.empty());
  w.scheduler.RunUntil(200);
  REQUIRE(w.nodes[2].messages.size() == 1);
  CHECK(w.nodes[2].messages[0] == m);
  CHECK(w.network.stats().delivered == 1);
  CHECK(w.trace.size() == 1);
}

TEST_CASE("SimNetwork links are FIFO unless reordering is enabled", "[sim_network]") {
  World fifo({.min_latency_micros = 0, .max_latency_micros = 10'000});
  fifo.SendProbes(1, 2, 200);
  fifo.scheduler.RunUntilIdle(1000);
  REQUIRE(fifo.nodes[2].messages.size() == 200);
  for (uint64_t i = 0; i < 200; ++i) CHECK(ProbeId(fifo.nodes[2].messages[i]) == i);

  World reorder(
      {.min_latency_micros = 0, .max_latency_micros = 10'000, .reorder_probability = 1.0});
  reorder.SendProbes(1, 2, 200);
  reorder.scheduler.RunUntilIdle(1000);
  REQUIRE(reorder.nodes[2].messages.size() == 200);
  int out_of_order = 0;
  for (uint64_t i = 0; i < 200; ++i) out_of_order += ProbeId(reorder.nodes[2].messages[i]) != i;
  CHECK(out_of_order > 100);
}

TEST_CASE("SimNetwork loses messages at roughly the configured rate", "[sim_network]") {
  World w({.drop_probability = 0.3});
  w.SendProbes(1, 2, 10'000);
  w.scheduler.RunUntilIdle(100'000);
  const size_t got = w.nodes[2].messages.size();
  CHECK((got > 6'500 && got < 7'500));
  CHECK(w.network.stats().dropped_loss == 10'000 - got);
}

TEST_CASE("SimNetwork duplicates messages, each copy intact", "[sim_network]") {
  World w({.duplicate_probability = 0.2});
  w.SendProbes(1, 2, 5'000);
  w.scheduler.RunUntilIdle(100'000);
  const size_t got = w.nodes[2].messages.size();
  CHECK((got > 5'800 && got < 6'200));
  CHECK(w.network.stats().duplicated == got - 5'000);
  std::map<uint64_t, int> copies;
  for (const Message& m : w.nodes[2].messages) copies[ProbeId(m)]++;
  CHECK(copies.size() == 5'000);
}

TEST_CASE("SimNetwork damaged frames are refused by the codec, never delivered", "[sim_network]") {
  World w({.corrupt_probability = 0.5});
  w.SendProbes(1, 2, 2'000);
  w.scheduler.RunUntilIdle(100'000);
  const NetworkStats& stats = w.network.stats();
  CHECK(stats.corrupted > 800);
  CHECK(stats.rejected == stats.corrupted);
  CHECK(w.nodes[2].messages.size() == 2'000 - stats.corrupted);
  for (const Message& m : w.nodes[2].messages) CHECK(m == Probe(1, 2, ProbeId(m)));
}

TEST_CASE("SimNetwork partitions block both ways, one way, or a whole node", "[sim_network]") {
  World w({});
  w.network.Cut(1, 2);
  CHECK_FALSE(w.network.LinkUp(1, 2));
  CHECK_FALSE(w.network.LinkUp(2, 1));
  CHECK(w.network.LinkUp(1, 3));
  w.SendProbes(1, 2, 5);
  w.SendProbes(2, 1, 5);
  w.SendProbes(1, 3, 5);
  w.scheduler.RunUntilIdle(1000);
  CHECK(w.nodes[2].messages.empty());
  CHECK(w.nodes[1].messages.empty());
  CHECK(w.nodes[3].messages.size() == 5);
  CHECK(w.network.stats().dropped_partition == 10);

  w.network.Heal();
  w.network.CutOneWay(1, 2);
  w.SendProbes(1, 2, 5);
  w.SendProbes(2, 1, 5);
  w.scheduler.RunUntilIdle(1000);
  CHECK(w.nodes[2].messages.empty());
  CHECK(w.nodes[1].messages.size() == 5);

  w.network.Heal();
  w.network.Isolate(3);
  CHECK_FALSE(w.network.LinkUp(3, 1));
  CHECK_FALSE(w.network.LinkUp(2, 3));
  CHECK(w.network.LinkUp(1, 2));
}

TEST_CASE("SimNetwork heal restores delivery; a cut loses messages in flight", "[sim_network]") {
  World w({.min_latency_micros = 100, .max_latency_micros = 100});
  w.SendProbes(1, 2, 3);
  w.network.Cut(1, 2);  // while the three are in flight
  w.scheduler.RunUntilIdle(1000);
  CHECK(w.nodes[2].messages.empty());
  w.network.Heal();
  w.SendProbes(1, 2, 3);
  w.scheduler.RunUntilIdle(1000);
  CHECK(w.nodes[2].messages.size() == 3);
}

TEST_CASE("SimNetwork reports an unregistered destination as unreachable", "[sim_network]") {
  World w({});
  w.network.Unregister(2);
  w.SendProbes(1, 2, 1);
  w.scheduler.RunUntilIdle(1000);
  CHECK(w.nodes[1].unreachable == std::vector<NodeId>{2});
  CHECK(w.network.stats().dropped_node_down == 1);
}

TEST_CASE("SimNetwork refuses sends beyond its limits and bad registrations", "[sim_network]") {
  World w({.max_in_flight_messages = 2});
  w.SendProbes(1, 2, 2);
  CHECK(absl::IsResourceExhausted(w.network.Send(Probe(1, 2, 3))));
  w.scheduler.RunUntilIdle(1000);
  CHECK(w.network.Send(Probe(1, 2, 4)).ok());

  SnapshotChunk huge;
  huge.data.assign(5 << 20, 'x');
  CHECK(absl::IsInvalidArgument(w.network.Send(Message{.from = 1, .to = 2, .body = huge})));
  CHECK(w.network.stats().refused == 2);

  Recorder r;
  CHECK(absl::IsAlreadyExists(w.network.Register(1, &r)));
  CHECK(absl::IsInvalidArgument(w.network.Register(0, &r)));
  CHECK(absl::IsInvalidArgument(w.network.SetOptions({.drop_probability = 1.5})));
  CHECK(absl::IsInvalidArgument(
      w.network.SetOptions({.min_latency_micros = 10, .max_latency_micros = 5})));
}

}  // namespace
}  // namespace toydb::sim
