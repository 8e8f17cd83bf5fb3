// The RouterCore against a model of two replica groups over a lossy network,
// on simulated time, one seed per run: messages are lost and delayed, the
// primary moves (sometimes in the middle of a write, which then may or may
// not commit), and leader hints are sometimes missing. The model applies
// commands with a session table as the replicas do, so a retry that changed
// its session would show up as a write applied twice. Checked after every
// run:
//   - no write is applied twice, and no session is ever refused as stale;
//   - a write reported OK is in the log, one reported not written is not;
//   - a write whose outcome is unknown is in the dead-letter queue, and
//     retrying the queue with the network healed applies each write once.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "src/routing/router_core.h"

namespace toydb::routing {
namespace {

constexpr NodeId kRouter = 100;

struct Applied {
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  std::string value;
};

// One replica group as the router sees it.
struct Group {
  std::vector<NodeId> members;
  NodeId primary = 0;
  std::vector<Applied> log;                               // LSN i + 1 at index i
  std::map<uint64_t, std::pair<uint64_t, Lsn>> sessions;  // client -> (sequence, lsn)
  std::map<std::string, std::string> state;
};

class Model {
 public:
  Model(uint64_t seed, double drop) : rng_(seed), drop_(drop) {
    RouterOptions options;
    options.id = kRouter;
    options.partitions = {PartitionConfig{1, {1, 2, 3}}, PartitionConfig{2, {4, 5, 6}}};
    options.virtual_nodes = 16;
    options.seed = seed;
    options.deadline_ms = 300;
    options.attempt_timeout_ms = 40;
    options.backoff_initial_ms = 2;
    options.backoff_max_ms = 32;
    options.writes_in_flight_per_partition_max = 4;
    options.probe_interval_ms = 0;
    core_ = std::move(*RouterCore::Create(options));
    groups_[1] = Group{{1, 2, 3}, 1, {}, {}, {}};
    groups_[2] = Group{{4, 5, 6}, 5, {}, {}, {}};
  }

  RouterCore& core() { return *core_; }
  std::map<PartitionId, Group>& groups() { return groups_; }
  void set_drop(double drop) { drop_ = drop; }
  void set_moves(bool on) { moves_ = on; }

  uint64_t Put(const std::string& key, const std::string& value) {
    RouterRequest request;
    request.body.op = OpType::kPut;
    request.body.key = key;
    request.body.value = value;
    const uint64_t op = core_->Submit(std::move(request), now_);
    Pump();
    return op;
  }

  // Runs one millisecond: delivers what is due, ticks the core.
  void Step() {
    now_ += 1000;
    while (!wire_.empty() && wire_.begin()->first.first <= now_) {
      Message m = wire_.begin()->second;
      wire_.erase(wire_.begin());
      if (m.to == kRouter) {
        core_->Receive(m, now_);
      } else {
        Serve(m);
      }
      Pump();
    }
    core_->Tick(now_);
    Pump();
    // Now and then the primary moves on its own (an election).
    if (moves_ && Chance(0.01)) {
      Group& g = groups_[1 + rng_() % 2];
      g.primary = g.members[rng_() % 3];
    }
  }

  std::map<uint64_t, RouterCompletion>& done() { return done_; }
  bool Idle() const { return core_->held_requests() == 0; }
  uint64_t stale() const { return stale_; }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  void Send(Message m) {
    if (Chance(drop_)) return;
    const int64_t at = now_ + 1000 * static_cast<int64_t>(rng_() % 20);
    wire_.emplace(std::pair{at, seq_++}, std::move(m));
  }

  void Pump() {
    RouterReady ready = core_->TakeReady();
    for (Message& m : ready.messages) Send(std::move(m));
    for (RouterCompletion& c : ready.completions) done_[c.op] = std::move(c);
  }

  // A node answers a request as a replica would.
  void Serve(const Message& m) {
    const auto& request = std::get<ClientRequest>(m.body);
    Group& g = groups_.at(request.partition);
    ClientResponse r;
    r.client_id = request.client_id;
    r.sequence = request.sequence;
    r.replicas = 3;
    if (m.to != g.primary) {
      r.code = static_cast<uint8_t>(absl::StatusCode::kFailedPrecondition);
      r.message = "not the primary";
      r.leader_hint = Chance(0.7) ? g.primary : 0;
    } else if (request.op == OpType::kGet) {
      auto it = g.state.find(request.key);
      r.found = it != g.state.end();
      if (r.found) r.value = it->second;
      r.lsn = g.log.size();
    } else if (moves_ && Chance(0.1)) {
      // Proposed, then the primary lost its role: it may commit or not.
      if (Chance(0.5)) Apply(g, request);
      g.primary = g.members[rng_() % 3];
      r.code = static_cast<uint8_t>(absl::StatusCode::kUnavailable);
      r.message = "lost the primary role; the write may still commit";
      r.leader_hint = Chance(0.5) ? g.primary : 0;
    } else {
      const auto [code, lsn] = Apply(g, request);
      r.code = static_cast<uint8_t>(code);
      r.lsn = lsn;
      r.version = lsn;
      r.acks = 2;
    }
    Send(Message{m.to, kRouter, r});
  }

  // Applies a write under its session, as the replicas' apply does.
  std::pair<absl::StatusCode, Lsn> Apply(Group& g, const ClientRequest& request) {
    auto session = g.sessions.find(request.client_id);
    if (session != g.sessions.end()) {
      if (request.sequence == session->second.first) {
        return {absl::StatusCode::kOk, session->second.second};  // a duplicate
      }
      if (request.sequence < session->second.first) {
        stale_++;
        return {absl::StatusCode::kFailedPrecondition, g.log.size() + 1};
      }
    }
    g.log.push_back(Applied{request.client_id, request.sequence, request.value});
    g.state[request.key] = request.value;
    g.sessions[request.client_id] = {request.sequence, g.log.size()};
    return {absl::StatusCode::kOk, g.log.size()};
  }

  std::unique_ptr<RouterCore> core_;
  std::mt19937_64 rng_;
  double drop_;
  bool moves_ = true;
  int64_t now_ = 0;
  uint64_t seq_ = 0;
  std::map<std::pair<int64_t, uint64_t>, Message> wire_;
  std::map<PartitionId, Group> groups_;
  std::map<uint64_t, RouterCompletion> done_;
  uint64_t stale_ = 0;
};

// How many times each value is in the logs.
std::map<std::string, int> Counts(Model& model) {
  std::map<std::string, int> counts;
  for (auto& [id, g] : model.groups()) {
    for (const Applied& a : g.log) counts[a.value]++;
  }
  return counts;
}

void RunSeed(uint64_t seed) {
  INFO("seed " << seed);
  Model model(seed, /*drop=*/0.15);
  // Eight logical clients, each writing its own values one at a time.
  constexpr int kClients = 8;
  constexpr int kWrites = 40;
  std::map<uint64_t, std::string> value_of;  // op -> value
  std::vector<int> next(kClients, 0);
  std::vector<uint64_t> current(kClients, 0);
  for (int step = 0; step < 200'000; ++step) {
    bool all_done = true;
    for (int c = 0; c < kClients; ++c) {
      if (current[c] != 0 && model.done().count(current[c]) == 0) {
        all_done = false;
        continue;
      }
      if (next[c] == kWrites) continue;
      all_done = false;
      const std::string value = fmt::format("c{}-{}", c, next[c]++);
      current[c] = model.Put(fmt::format("key{}", c * 7 + next[c] % 5), value);
      value_of[current[c]] = value;
    }
    if (all_done && model.Idle()) break;
    model.Step();
  }
  REQUIRE(model.Idle());
  REQUIRE(model.done().size() == value_of.size());

  std::map<std::string, int> counts = Counts(model);
  std::set<std::string> unknown;
  for (const auto& [op, value] : value_of) {
    const WriteResult& r = model.done().at(op).write;
    CHECK(counts[value] <= 1);  // never applied twice
    if (r.ok()) {
      CHECK(counts[value] == 1);
    } else if (r.outcome == WriteOutcome::kNotWritten) {
      CHECK(counts[value] == 0);
    } else {
      REQUIRE(r.outcome == WriteOutcome::kUnknown);
      CHECK(r.dead_letter_id != 0);
      unknown.insert(value);
    }
  }
  CHECK(model.stale() == 0);

  // Heal the network, keep the primaries put, and retry every dead letter:
  // each write ends applied exactly once.
  model.set_drop(0);
  model.set_moves(false);
  const std::vector<DeadLetter> letters = model.core().DeadLetters();
  std::set<std::string> lettered;
  for (const DeadLetter& letter : letters) lettered.insert(letter.request.value);
  for (const std::string& value : unknown) CHECK(lettered.count(value) == 1);
  for (const DeadLetter& letter : letters) {
    StatusOr<uint64_t> op = model.core().RetryDeadLetter(letter.id, 1000, 0);
    REQUIRE(op.ok());
  }
  for (int step = 0; step < 10'000 && !model.Idle(); ++step) model.Step();
  REQUIRE(model.Idle());
  CHECK(model.core().DeadLetters().empty());
  counts = Counts(model);
  for (const std::string& value : lettered) CHECK(counts[value] == 1);
  for (const auto& [value, count] : counts) CHECK(count == 1);
  CHECK(model.stale() == 0);
}

TEST_CASE("RouterCore model: lossy network, moving primaries; writes applied once",
          "[router][model]") {
  for (uint64_t seed = 1; seed <= 40; ++seed) RunSeed(seed);
}

}  // namespace
}  // namespace toydb::routing
