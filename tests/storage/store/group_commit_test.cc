// Tests of GroupCommitQueue (src/storage/store/group_commit.h): the writer at the
// front leads, groups are bounded in bytes, the queue goes to the next
// writer, members are woken as a tree, and the gathering wait is bounded and
// reads real time only when gathering is on.
#include "src/storage/store/group_commit.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "src/util/mutex.h"

namespace toydb {
namespace {

using Writer = GroupCommitQueue::Writer;

// A clock the test moves by hand, counting its reads.
class ManualClock : public Clock {
 public:
  int64_t NowMicros() override {
    ++reads;
    const int64_t t = now;
    now += step;
    return t;
  }
  int64_t now = 1'000'000;
  int64_t step = 0;  // Added after each read.
  int reads = 0;
};

std::vector<std::unique_ptr<Writer>> MakeWriters(int n, uint64_t bytes = 10, bool sync = true) {
  std::vector<std::unique_ptr<Writer>> writers;
  for (int i = 0; i < n; ++i) {
    writers.push_back(std::make_unique<Writer>());
    writers.back()->bytes = bytes;
    writers.back()->sync = sync;
  }
  return writers;
}

// The state a writer's word holds now, without sleeping on it.
uint32_t StateOf(Writer& w) {
  constexpr uint32_t kProbe = 99;  // No real state: WaitWhile returns at once.
  return w.state.WaitWhile(kProbe);
}

TEST_CASE("GroupCommitQueue: the writer at the front leads, the others follow", "[group_commit]") {
  GroupCommitQueue queue({});
  auto w = MakeWriters(3);
  CHECK(queue.Join(w[0].get()));
  CHECK_FALSE(queue.Join(w[1].get()));
  CHECK_FALSE(queue.Join(w[2].get()));
  CHECK(queue.size() == 3);
  std::span<Writer* const> group = queue.TakeGroup();
  REQUIRE(group.size() == 3);
  CHECK(group[0] == w[0].get());  // The leader is first.
  CHECK(group[2] == w[2].get());
}

TEST_CASE("GroupCommitQueue: the queue goes to the first writer after the group",
          "[group_commit]") {
  GroupCommitQueue::Options options;
  options.max_group_bytes = 25;
  GroupCommitQueue queue(options);
  auto w = MakeWriters(4, /*bytes=*/10);
  for (auto& writer : w) queue.Join(writer.get());
  REQUIRE(queue.TakeGroup().size() == 2);  // 10 + 10; a third would pass 25.
  GroupCommitQueue::Handoff handoff = queue.FinishGroup();
  CHECK(queue.size() == 2);
  CHECK(handoff.next_leader() == w[2].get());
  CHECK(StateOf(*w[2]) == Writer::kWaiting);
  handoff.Run();
  CHECK(StateOf(*w[2]) == Writer::kLead);
  CHECK(StateOf(*w[1]) == Writer::kDone);
  CHECK(StateOf(*w[3]) == Writer::kWaiting);  // Not in the group: still queued.
  // The new leader's group is what is left.
  std::span<Writer* const> next = queue.TakeGroup();
  REQUIRE(next.size() == 2);
  CHECK(next[0] == w[2].get());
  queue.FinishGroup().Run();
  CHECK(queue.size() == 0);
}

TEST_CASE("GroupCommitQueue: a group is bounded in bytes but always holds its leader",
          "[group_commit]") {
  GroupCommitQueue::Options options;
  options.max_group_bytes = 100;
  GroupCommitQueue queue(options);
  auto big = MakeWriters(1, /*bytes=*/500);
  auto small = MakeWriters(12, /*bytes=*/10);
  queue.Join(big[0].get());
  for (auto& w : small) queue.Join(w.get());
  CHECK(queue.TakeGroup().size() == 1);  // The leader alone is over the bound.
  queue.FinishGroup().Run();
  std::span<Writer* const> group = queue.TakeGroup();
  CHECK(group.size() == 10);  // 10 x 10 bytes: exactly the bound.
  uint64_t bytes = 0;
  for (Writer* w : group) bytes += w->bytes;
  CHECK(bytes <= options.max_group_bytes);
}

TEST_CASE("GroupCommitQueue: members are woken as a binary tree, each once", "[group_commit]") {
  for (int size : {1, 2, 3, 4, 7, 16, 33}) {
    CAPTURE(size);
    GroupCommitQueue queue({});
    auto w = MakeWriters(size);
    for (auto& writer : w) queue.Join(writer.get());
    REQUIRE(static_cast<int>(queue.TakeGroup().size()) == size);
    GroupCommitQueue::Handoff handoff = queue.FinishGroup();
    CHECK(handoff.next_leader() == nullptr);
    // The leader (w[0]) wakes members 1 and 2; member i (w[i + 1]) wakes
    // members 2i + 2 and 2i + 3.
    const int members = size - 1;
    CHECK(handoff.root(0) == (members > 0 ? w[1].get() : nullptr));
    CHECK(handoff.root(1) == (members > 1 ? w[2].get() : nullptr));
    for (int i = 0; i < members; ++i) {
      Writer& member = *w[i + 1];
      CHECK(member.wakes_next[0] == (2 * i + 2 < members ? w[2 * i + 3].get() : nullptr));
      CHECK(member.wakes_next[1] == (2 * i + 3 < members ? w[2 * i + 4].get() : nullptr));
    }
    // Running the tree breadth first wakes every member exactly once.
    handoff.Run();
    std::multiset<Writer*> woken;
    std::vector<Writer*> frontier = {handoff.root(0), handoff.root(1)};
    while (!frontier.empty()) {
      Writer* next = frontier.front();
      frontier.erase(frontier.begin());
      if (next == nullptr) continue;
      CHECK(StateOf(*next) == Writer::kDone);
      woken.insert(next);
      next->WakeNext();
      frontier.push_back(next->wakes_next[0]);
      frontier.push_back(next->wakes_next[1]);
    }
    CHECK(static_cast<int>(woken.size()) == members);
    for (int i = 1; i < size; ++i) CHECK(woken.count(w[i].get()) == 1);
    CHECK(StateOf(*w[0]) == Writer::kWaiting);  // The leader is never woken.
  }
}

// Commits one synced group whose WAL write took `wal_micros` on `clock`, and
// leaves `queued` writers of that group expected back.
void CommitTimedGroup(GroupCommitQueue& queue, ManualClock& clock, int64_t wal_micros,
                      std::vector<std::unique_ptr<Writer>>& writers) {
  for (auto& w : writers) queue.Join(w.get());
  queue.TakeGroup();
  queue.WalWriteStarting();
  clock.now += wal_micros;
  queue.WalWriteFinished();
  queue.FinishGroup().Run();
}

TEST_CASE("GroupCommitQueue: the gathering wait is bounded when the writers do not return",
          "[group_commit]") {
  ManualClock clock;
  GroupCommitQueue::Options options;
  options.real_clock = &clock;
  options.max_gather_wait_micros = 200;
  GroupCommitQueue queue(options);
  Mutex mu;
  auto first = MakeWriters(8);
  auto leader = MakeWriters(1);
  MutexLock lock(&mu);
  SECTION("bounded by the last WAL write") {
    CommitTimedGroup(queue, clock, /*wal_micros=*/150, first);
    REQUIRE(queue.Join(leader[0].get()));
    clock.step = 40;  // Each read moves time on, as waiting would.
    const int reads_before = clock.reads;
    const int64_t start = clock.now;
    queue.AwaitReturningWriters(&mu);
    // It gave up once 150 µs had passed: a handful of reads, not a spin.
    CHECK(clock.now - start >= 150);
    CHECK(clock.now - start <= 150 + 2 * clock.step);
    CHECK(clock.reads - reads_before <= 6);
  }
  SECTION("and never over max_gather_wait_micros") {
    CommitTimedGroup(queue, clock, /*wal_micros=*/50'000, first);
    REQUIRE(queue.Join(leader[0].get()));
    clock.step = 40;
    const int64_t start = clock.now;
    queue.AwaitReturningWriters(&mu);
    CHECK(clock.now - start >= 200);
    CHECK(clock.now - start <= 200 + 2 * clock.step);
  }
  SECTION("no wait after a fast WAL write") {
    CommitTimedGroup(queue, clock, /*wal_micros=*/10, first);
    REQUIRE(queue.Join(leader[0].get()));
    const int reads_before = clock.reads;
    queue.AwaitReturningWriters(&mu);
    CHECK(clock.reads == reads_before);
  }
  SECTION("no wait when as many writers are queued as last time") {
    CommitTimedGroup(queue, clock, /*wal_micros=*/150, first);
    auto again = MakeWriters(8);
    for (auto& w : again) queue.Join(w.get());
    const int reads_before = clock.reads;
    queue.AwaitReturningWriters(&mu);
    CHECK(clock.reads == reads_before);
  }
}

TEST_CASE("GroupCommitQueue: without gathering it never reads real time", "[group_commit]") {
  ManualClock clock;
  GroupCommitQueue::Options options;
  options.gather = false;
  options.real_clock = &clock;
  GroupCommitQueue queue(options);
  Mutex mu;
  MutexLock lock(&mu);
  for (int round = 0; round < 3; ++round) {
    auto w = MakeWriters(5);
    for (auto& writer : w) queue.Join(writer.get());
    queue.AwaitReturningWriters(&mu);
    queue.TakeGroup();
    queue.WalWriteStarting();
    queue.WalWriteFinished();
    queue.FinishGroup().Run();
  }
  CHECK(clock.reads == 0);
  CHECK(queue.real_time_reads() == 0);
}

TEST_CASE("GroupCommitQueue: the gathering wait takes in a writer that returns",
          "[group_commit][threads]") {
  // Real time: the leader waits up to 200 ms here, far longer than a thread
  // needs to join, so it can only have returned early because of the join.
  GroupCommitQueue::Options options;
  options.max_gather_wait_micros = 200'000;
  GroupCommitQueue queue(options);
  Mutex mu;
  auto first = MakeWriters(2);
  auto leader = MakeWriters(1);
  auto returning = MakeWriters(1);
  {
    MutexLock lock(&mu);
    for (auto& w : first) queue.Join(w.get());
    queue.TakeGroup();
    queue.WalWriteStarting();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // A "sync" of 300 ms.
  std::thread joiner;
  {
    MutexLock lock(&mu);
    queue.WalWriteFinished();
    queue.FinishGroup().Run();
    REQUIRE(queue.Join(leader[0].get()));
    joiner = std::thread([&] {
      MutexLock joiner_lock(&mu);
      queue.Join(returning[0].get());
    });
    queue.AwaitReturningWriters(&mu);  // Waits for the second writer.
    CHECK(queue.size() == 2);
    CHECK(queue.TakeGroup().size() == 2);
    queue.FinishGroup().Run();
  }
  joiner.join();
}

}  // namespace
}  // namespace toydb
