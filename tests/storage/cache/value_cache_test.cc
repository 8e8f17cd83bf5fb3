// Tests of ValueCache: CLOCK eviction, the byte bound (table plus entries kept
// outside it), growth and shrinking of the table, and its hash table against
// a model.
#include "src/storage/cache/value_cache.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>

namespace toydb {
namespace {

constexpr uint64_t kSlot = ValueCache::kSlotBytes;
constexpr size_t kBoundedProbeSlots = 32;

// Inserts `count` small keys "k000".. with value "v".
void InsertSmallKeys(ValueCache& cache, int count, const char* prefix = "k") {
  for (int i = 0; i < count; ++i) cache.Insert(fmt::format("{}{:03}", prefix, i), "v");
}

TEST_CASE("ValueCache keeps keys read between inserts through a stream of keys read once",
          "[value_cache]") {
  // 100 slots: 70 entries, 10 of them hot.
  ValueCache cache(100 * kSlot);
  for (int i = 0; i < 1000; ++i) {
    cache.Insert(fmt::format("cold{:04}", i), "v");
    for (int h = 0; h < 10; ++h) {
      const std::string hot = fmt::format("hot{}", h);
      if (!cache.Lookup(hot).has_value()) {
        REQUIRE(i == 0);  // Only the first round finds them missing.
        cache.Insert(hot, "h");
      }
    }
  }
  CHECK(cache.entries() == 70);
  CHECK(cache.bytes() == 100 * kSlot);
}

TEST_CASE("ValueCache evicts an entry not read since eviction last passed it, not one read since",
          "[value_cache]") {
  // 10 slots, 7 entries: every eviction looks at the whole table.
  ValueCache cache(10 * kSlot);
  InsertSmallKeys(cache, 7);
  // The table is full: the insert passes all seven (each was referenced by
  // its insert), clearing their bits, and evicts the first it passed.
  cache.Insert("x", "v");
  CHECK(cache.entries() == 7);
  std::string kept;
  for (int i = 0; i < 7 && kept.empty(); ++i) {
    const std::string key = fmt::format("k{:03}", i);
    if (cache.Lookup(key).has_value()) kept = key;
  }
  REQUIRE_FALSE(kept.empty());
  // Five old entries besides `kept` have clear bits. Read between inserts,
  // `kept` is referenced whenever an eviction looks at it, and each of the
  // next four inserts finds an unread old entry to evict instead.
  for (int i = 0; i < 4; ++i) {
    REQUIRE(cache.Lookup(kept).has_value());
    cache.Insert(fmt::format("y{}", i), "v");
    CHECK(cache.entries() == 7);
  }
  CHECK(cache.Lookup(kept).has_value());
}

TEST_CASE("ValueCache keeps a small entry inside its slot and a large one outside it",
          "[value_cache]") {
  CHECK(ValueCache::OutsideBytes(16, 100) == 0);
  CHECK(ValueCache::OutsideBytes(20, 100) == 0);
  CHECK(ValueCache::OutsideBytes(21, 100) == 128);
  CHECK(ValueCache::OutsideBytes(300, 0) == 320);  // Key too long for a slot.
  ValueCache cache(64 * kSlot);
  const std::string small(100, 's'), large(1000, 'L');
  cache.Insert(std::string(16, 'a'), small);
  CHECK(cache.bytes() == cache.slot_count() * kSlot);
  cache.Insert(std::string(16, 'b'), large);
  CHECK(cache.bytes() == cache.slot_count() * kSlot + ValueCache::OutsideBytes(16, 1000));
  CHECK(*cache.Lookup(std::string(16, 'a')) == small);
  CHECK(*cache.Lookup(std::string(16, 'b')) == large);
  cache.Erase(std::string(16, 'b'));
  CHECK(cache.bytes() == cache.slot_count() * kSlot);
}

TEST_CASE("ValueCache bounds bytes, not entries: one large value evicts many small ones",
          "[value_cache]") {
  ValueCache cache(64 * kSlot);
  InsertSmallKeys(cache, 40);
  CHECK(cache.entries() == 40);
  cache.Insert("big", std::string(40 * kSlot, 'x'));
  CHECK(cache.entries() < 40);
  CHECK(cache.Lookup("big").has_value());
  CHECK(cache.bytes() <= cache.capacity_bytes());
  // The table shrank to make room rather than holding on to empty slots.
  CHECK(cache.slot_count() * kSlot + ValueCache::OutsideBytes(3, 40 * kSlot) <=
        cache.capacity_bytes());
}

TEST_CASE("ValueCache replaces, erases, and refuses a value larger than itself", "[value_cache]") {
  ValueCache cache(16 * kSlot);
  cache.Insert("k", "one");
  cache.Insert("k", "two");
  CHECK(*cache.Lookup("k") == "two");
  CHECK(cache.entries() == 1);
  cache.Erase("k");
  CHECK_FALSE(cache.Lookup("k").has_value());
  CHECK(cache.entries() == 0);
  // Larger than the budget left beside the smallest table.
  cache.Insert("huge", std::string(16 * kSlot, 'x'));
  CHECK_FALSE(cache.Lookup("huge").has_value());
  CHECK(cache.entries() == 0);
  CHECK(cache.bytes() <= cache.capacity_bytes());
}

TEST_CASE("ValueCache smaller than its smallest table keeps nothing", "[value_cache]") {
  ValueCache cache(ValueCache::kMinSlots * kSlot - 1);
  cache.Insert("k", "v");
  CHECK_FALSE(cache.Lookup("k").has_value());
  CHECK(cache.bytes() == 0);
  cache.Erase("k");
  CHECK(cache.entries() == 0);
}

TEST_CASE("ValueCache grows its table up to its budget, then evicts", "[value_cache]") {
  // 100 slots of budget: the table doubles 16 -> 32 -> 64, then takes 100.
  ValueCache cache(100 * kSlot);
  InsertSmallKeys(cache, 70);
  CHECK(cache.slot_count() == 100);
  CHECK(cache.entries() == 70);
  cache.Insert("one more", "v");
  CHECK(cache.slot_count() == 100);
  CHECK(cache.entries() == 70);
  CHECK(cache.bytes() == 100 * kSlot);
}

TEST_CASE("ValueCache moves entries to a grown table a few slots per call, finding all meanwhile",
          "[value_cache]") {
  ValueCache cache(1 << 20);
  // 716 entries fill 1,024 slots to 7/10; the next insert starts a growth
  // to 2,048 (earlier growths drain within a few calls).
  int inserted = 0;
  while (cache.slot_count() < 2048) {
    cache.Insert(fmt::format("key{:05}", inserted), fmt::format("value{}", inserted));
    ++inserted;
  }
  REQUIRE(cache.draining());
  CHECK(inserted == 717);
  CHECK(cache.entries() == static_cast<size_t>(inserted));
  // Erase every tenth key while the old table drains, and read the rest: each
  // call moves a few slots, so the early ones run before the drain is over.
  int calls_while_draining = 0;
  for (int i = 0; i < inserted; ++i) {
    calls_while_draining += cache.draining();
    const std::string key = fmt::format("key{:05}", i);
    if (i % 10 == 0) {
      cache.Erase(key);
      REQUIRE_FALSE(cache.Lookup(key).has_value());
    } else {
      REQUIRE(cache.Lookup(key) == std::optional<std::string_view>(fmt::format("value{}", i)));
    }
  }
  CHECK(calls_while_draining > 20);
  CHECK_FALSE(cache.draining());
  CHECK(cache.entries() == static_cast<size_t>(inserted - (inserted + 9) / 10));
}

TEST_CASE("ValueCache agrees with a map through growth, shrinking, erases and evictions",
          "[value_cache]") {
  std::mt19937_64 rng(7);
  // Room for about 2,000 small entries of the 5,000 possible keys, so
  // evictions happen; one key in 20 gets a value kept outside the table,
  // which makes the table shrink and grow again.
  ValueCache cache(3000 * kSlot);
  std::map<std::string, std::string> written;  // Every key's latest value.
  for (int step = 0; step < 200000; ++step) {
    const std::string key = fmt::format("key{:05}", rng() % 5000);
    switch (rng() % 4) {
      case 0:
      case 1: {
        const size_t length = rng() % 20 == 0 ? 200 + rng() % 3000 : rng() % 100;
        std::string value(length, 'a' + static_cast<char>(rng() % 26));
        if (!value.empty()) value[0] = static_cast<char>(step);
        cache.Insert(key, value);
        written[key] = value;
        REQUIRE(cache.Lookup(key) == std::optional<std::string_view>(value));
        break;
      }
      case 2:
        cache.Erase(key);
        written.erase(key);
        REQUIRE_FALSE(cache.Lookup(key).has_value());
        break;
      default: {
        // A hit must be the latest value; a miss is allowed (evicted).
        std::optional<std::string_view> got = cache.Lookup(key);
        if (got.has_value()) {
          REQUIRE(written.count(key) == 1);
          REQUIRE(*got == written[key]);
        }
      }
    }
    REQUIRE(cache.bytes() <= cache.capacity_bytes());
    REQUIRE(cache.entries() * 10 <= cache.slot_count() * 7);
  }
  CHECK(cache.entries() > 1000);
  // Every entry still in the cache is found, with its latest value, and the
  // bytes outside the table add up.
  size_t found = 0;
  uint64_t outside = 0;
  for (const auto& [key, value] : written) {
    if (std::optional<std::string_view> got = cache.Lookup(key)) {
      CHECK(*got == value);
      ++found;
      outside += ValueCache::OutsideBytes(key.size(), value.size());
    }
  }
  CHECK(found == cache.entries());
  CHECK(cache.bytes() == cache.slot_count() * kSlot + outside);
}

// The shape of a store whose data is several times the cache: every read
// misses and inserts a random key into a full cache. Eviction must not let
// the occupied slots bunch up (an earlier CLOCK hand freed slots in a row
// while inserts landed at random, so one run of occupied slots grew to over
// half the table and a lookup walked all of it).
TEST_CASE("ValueCache filled far past its capacity with random keys keeps probes short",
          "[value_cache]") {
  ValueCache cache(8u << 20);  // 65,536 slots: 45,875 entries of 16 + 100 bytes.
  std::mt19937_64 rng(11);
  const std::string value(100, 'v');
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 50'000; ++i) cache.Insert(fmt::format("{:016}", rng()), value);
    const ValueCache::ProbeStats stats = cache.ProbeStatsForTesting();
    INFO("round " << round << ": longest probe " << stats.longest_probe << ", longest run "
                  << stats.longest_run << " of " << cache.slot_count() << " slots");
    CHECK(cache.entries() * 10 >= cache.slot_count() * 6);  // Still nearly full.
    CHECK(stats.longest_probe <= kBoundedProbeSlots);
    // Evictions spread like the inserts keep the table like one filled at
    // random: runs of under 100 slots here (the hand that swept the table
    // in order let them grow past 1,000 in this test).
    CHECK(stats.longest_run <= 256);
  }
}

}  // namespace
}  // namespace toydb
