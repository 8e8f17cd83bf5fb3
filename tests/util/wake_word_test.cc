// Tests of WakeWord: a sleeping waiter is woken by Set and sees what the
// setter wrote before it, and may free the word the moment it sees the new
// value (as a group-commit follower does) while the setter is still in Set.
#include "src/util/wake_word.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <thread>
#include <vector>

namespace toydb {
namespace {

TEST_CASE("WakeWord returns at once when the word already changed", "[wake_word]") {
  WakeWord word(0);
  word.Set(2);
  CHECK(word.WaitWhile(0) == 2);
  CHECK(word.WaitWhile(5) == 2);
}

TEST_CASE("WakeWord wakes sleeping waiters that free their word at once", "[wake_word][threads]") {
  // Each round, a waiter thread owns a heap word (as a follower owns its
  // Writer) and deletes it as soon as WaitWhile returns; the setter writes a
  // payload, then sets. ASan and TSan check that nobody touches the word or
  // the payload after the waiter lets go, or reads the payload unordered.
  constexpr int kRounds = 2000;
  struct Slot {
    WakeWord word{0};
    int payload = 0;
  };
  std::vector<std::atomic<Slot*>> slots(kRounds);
  std::atomic<int> seen_payloads{0};
  std::thread waiter([&] {
    for (int i = 0; i < kRounds; ++i) {
      auto* slot = new Slot;
      slots[i].store(slot, std::memory_order_release);
      const uint32_t value = slot->word.WaitWhile(0);
      if (value == 1 && slot->payload == i + 1) seen_payloads.fetch_add(1);
      delete slot;
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    Slot* slot;
    while ((slot = slots[i].load(std::memory_order_acquire)) == nullptr) std::this_thread::yield();
    // Every other round the waiter has likely gone to sleep by now.
    if (i % 2 == 0) std::this_thread::yield();
    slot->payload = i + 1;
    slot->word.Set(1);
  }
  waiter.join();
  CHECK(seen_payloads.load() == kRounds);
}

}  // namespace
}  // namespace toydb
