// Tests of SimNode crash and restart: memory and unsynced bytes are lost,
// synced bytes survive, old timers die, and the process is rebuilt from disk.
#include "sim/sim_node.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "sim/simulator.h"
#include "toydb/store.h"

namespace toydb::sim {
namespace {

// Remembers messages in memory, writes "synced" durably and "unsynced"
// without a sync, and logs the timers it sees.
class DiskProcess : public SimProcess {
 public:
  DiskProcess(const NodeContext& ctx, std::vector<std::string>* log) : ctx_(ctx), log_(log) {
    recovered = ctx.disk->FileExists("/synced") ? *ctx.disk->ReadFileToString("/synced") : "";
    unsynced_recovered =
        ctx.disk->FileExists("/unsynced") ? *ctx.disk->ReadFileToString("/unsynced") : "";
  }
  void OnMessage(const Message& m) override { received.push_back(m); }
  void OnTimer(uint64_t id) override { log_->push_back(fmt::format("timer {}", id)); }
  void Write(const std::string& synced, const std::string& unsynced) {
    REQUIRE(ctx_.disk->WriteFileAtomically("/synced", synced).ok());
    auto file = ctx_.disk->NewAppendableFile("/unsynced");
    REQUIRE(file.ok());
    REQUIRE((*file)->Append(unsynced).ok());
    REQUIRE(ctx_.disk->SyncDir("/").ok());  // the name is durable, the bytes are not
  }
  NodeContext ctx_;
  std::vector<std::string>* log_;
  std::string recovered, unsynced_recovered;
  std::vector<Message> received;
};

struct Fixture {
  Fixture() {
    auto factory = [this](const NodeContext& ctx) -> StatusOr<std::unique_ptr<SimProcess>> {
      return std::make_unique<DiskProcess>(ctx, &log);
    };
    node = *sim.AddNode(1, factory);
    REQUIRE(sim.AddNode(2, factory).ok());
  }
  DiskProcess* process() { return static_cast<DiskProcess*>(node->process()); }
  Simulator sim{1};
  std::vector<std::string> log;
  SimNode* node = nullptr;
};

TEST_CASE("SimNode crash loses memory and unsynced bytes; restart reads the disk", "[sim_node]") {
  Fixture f;
  f.process()->Write("durable", "volatile");
  REQUIRE(f.sim.network().Send(Message{.from = 2, .to = 1, .body = HealthProbe{}}).ok());
  f.sim.scheduler().RunUntilIdle(100);
  CHECK(f.process()->received.size() == 1);

  f.node->Crash(CrashMode::kDropUnsynced);
  CHECK_FALSE(f.node->up());
  CHECK(f.node->process() == nullptr);
  REQUIRE(f.node->Start().ok());
  CHECK(f.node->incarnation() == 2);
  CHECK(f.process()->received.empty());
  CHECK(f.process()->recovered == "durable");
  CHECK(f.process()->unsynced_recovered.empty());
  CHECK(absl::IsFailedPrecondition(f.node->Start()));
}

TEST_CASE("SimNode torn-write crash keeps a prefix of the unsynced bytes", "[sim_node]") {
  Fixture f;
  const std::string write = "0123456789";
  std::string durable;  // what the disk held before each write
  int torn = 0;
  for (int i = 0; i < 40; ++i) {
    f.process()->Write("durable", write);
    f.node->Crash(CrashMode::kTornWrite);
    REQUIRE(f.node->Start().ok());
    const std::string now = f.process()->unsynced_recovered;
    REQUIRE(now.starts_with(durable));
    const std::string kept = now.substr(durable.size());
    REQUIRE(write.starts_with(kept));
    torn += !kept.empty() && kept.size() < write.size();
    durable = now;
  }
  CHECK(torn > 10);
}

TEST_CASE("SimNode timers of a crashed incarnation never fire", "[sim_node]") {
  Fixture f;
  REQUIRE(f.node->SetTimer(1000, 7).ok());
  REQUIRE(f.node->SetTimer(100, 8).ok());
  f.sim.scheduler().RunUntil(500);
  f.node->Crash(CrashMode::kDropUnsynced);
  REQUIRE(f.node->Start().ok());
  REQUIRE(f.node->SetTimer(1000, 9).ok());
  f.sim.scheduler().RunUntil(5000);
  CHECK(f.log == std::vector<std::string>{"timer 8", "timer 9"});
}

TEST_CASE("SimNode messages to a crashed node are lost; a restarted node receives again",
          "[sim_node]") {
  Fixture f;
  f.node->Crash(CrashMode::kDropUnsynced);
  REQUIRE(f.sim.network().Send(Message{.from = 2, .to = 1, .body = HealthProbe{}}).ok());
  f.sim.scheduler().RunUntilIdle(100);
  CHECK(f.sim.network().stats().dropped_node_down == 1);
  REQUIRE(f.node->Start().ok());
  REQUIRE(f.sim.network().Send(Message{.from = 2, .to = 1, .body = HealthProbe{}}).ok());
  f.sim.scheduler().RunUntilIdle(100);
  CHECK(f.process()->received.size() == 1);
}

TEST_CASE("SimNode limits pending timers", "[sim_node]") {
  Fixture f;
  for (uint64_t i = 0; i < SimNode::kMaxPendingTimers; ++i) {
    REQUIRE(f.node->SetTimer(10, i).ok());
  }
  CHECK(absl::IsResourceExhausted(f.node->SetTimer(10, 0)));
  f.sim.scheduler().RunUntil(10);
  CHECK(f.node->SetTimer(10, 0).ok());
}

// A node that runs a Store on its simulated disk, as replicas will: no
// background threads, time from the simulated clock, nothing synced per write.
class StoreProcess : public SimProcess {
 public:
  static StatusOr<std::unique_ptr<SimProcess>> Open(const NodeContext& ctx) {
    StoreOptions options;
    options.dir = "/store";
    options.env = ctx.disk;
    options.clock = ctx.clock;
    options.background_threads = false;
    options.sync_policy = SyncPolicy::kNone;
    StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
    if (!store.ok()) return store.status();
    auto process = std::make_unique<StoreProcess>();
    process->store = std::move(*store);
    return process;
  }
  void OnMessage(const Message&) override {}
  void OnTimer(uint64_t) override {}
  std::unique_ptr<Store> store;
};

TEST_CASE("A crashed store-backed node loses its unsynced writes; its destructor writes nothing",
          "[sim_node]") {
  Simulator sim(7);
  const auto mode = GENERATE(CrashMode::kDropUnsynced, CrashMode::kTornWrite);
  SimNode* node = *sim.AddNode(1, StoreProcess::Open);
  auto store = [&] { return static_cast<StoreProcess*>(node->process())->store.get(); };
  WriteOptions synced;
  synced.force_sync = true;
  REQUIRE(store()->Put(synced, "durable", "1").ok());
  for (int i = 0; i < 100; ++i) {
    REQUIRE(store()->Put({}, fmt::format("volatile-{}", i), std::string(100, 'v')).ok());
  }
  IncarnationEnv* dying = node->incarnation_env();
  node->Crash(mode);
  // The store's destructor runs after the power cut: whatever it tried (a
  // flush, a sync, a checkpoint) failed, and the disk kept only what was
  // synced before the crash.
  CHECK(dying->dead());
  REQUIRE(node->Start().ok());
  CHECK(*store()->Get("durable") == "1");
  // A torn write may keep a prefix of the log, never more: whatever came
  // back is a prefix of the unsynced writes, in order.
  int recovered = 0;
  while (recovered < 100 && store()->Get(fmt::format("volatile-{}", recovered)).ok()) ++recovered;
  for (int i = recovered; i < 100; ++i) {
    CHECK(absl::IsNotFound(store()->Get(fmt::format("volatile-{}", i)).status()));
  }
  if (mode == CrashMode::kDropUnsynced) CHECK(recovered == 0);
}

TEST_CASE("Simulator refuses bad node ids", "[sim_node]") {
  Fixture f;
  auto factory = [](const NodeContext&) -> StatusOr<std::unique_ptr<SimProcess>> {
    return absl::InternalError("never built");
  };
  CHECK(absl::IsInvalidArgument(f.sim.AddNode(0, factory).status()));
  CHECK(absl::IsAlreadyExists(f.sim.AddNode(1, factory).status()));
  CHECK(absl::IsInternal(f.sim.AddNode(3, factory).status()));
  CHECK(f.sim.node_ids() == std::vector<NodeId>{1, 2, 3});
  CHECK(f.sim.down_node_ids() == std::vector<NodeId>{3});
}

}  // namespace
}  // namespace toydb::sim
