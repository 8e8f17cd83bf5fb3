// Tests of ValueCache: eviction order, the byte bound, and its hash table
// (growth and deletion) against a model.
#include "src/storage/value_cache.h"

#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>

namespace toydb {
namespace {

constexpr uint64_t kOverhead = ValueCache::kEntryOverheadBytes;

TEST_CASE("ValueCache evicts the least recently used entries to stay within its bytes",
          "[value_cache]") {
  ValueCache cache(3 * (kOverhead + 1 + 10));
  cache.Insert("a", std::string(10, 'a'));
  cache.Insert("b", std::string(10, 'b'));
  cache.Insert("c", std::string(10, 'c'));
  REQUIRE(cache.Lookup("a").has_value());  // "b" is now the oldest.
  cache.Insert("d", std::string(10, 'd'));
  CHECK_FALSE(cache.Lookup("b").has_value());
  CHECK(*cache.Lookup("a") == std::string(10, 'a'));
  CHECK(cache.entries() == 3);
  CHECK(cache.bytes() <= cache.capacity_bytes());
}

TEST_CASE("ValueCache bounds bytes, not entries: one large value evicts many small ones",
          "[value_cache]") {
  ValueCache cache(10 * (kOverhead + 3));  // "kN" + "v"
  for (int i = 0; i < 10; ++i) cache.Insert("k" + std::to_string(i), "v");
  CHECK(cache.entries() == 10);
  cache.Insert("big", std::string(5 * kOverhead, 'x'));
  CHECK(cache.entries() < 10);
  CHECK(cache.Lookup("big").has_value());
  CHECK(cache.bytes() <= cache.capacity_bytes());
}

TEST_CASE("ValueCache with fewer than 16 entries evicts in exact least-recently-used order",
          "[value_cache]") {
  ValueCache cache(5 * (kOverhead + 2));
  for (char c : std::string("abcde")) cache.Insert(std::string(1, c), "v");
  // Use order, oldest first: b d a e c.
  for (char c : std::string("bdaec")) REQUIRE(cache.Lookup(std::string(1, c)).has_value());
  cache.Insert("v", "v");  // Evicts b.
  cache.Insert("w", "v");  // Evicts d.
  CHECK(cache.entries() == 5);
  for (char c : std::string("bd")) CHECK_FALSE(cache.Lookup(std::string(1, c)).has_value());
  for (char c : std::string("aecvw")) CHECK(cache.Lookup(std::string(1, c)).has_value());
}

TEST_CASE("ValueCache replaces, erases, and refuses a value larger than itself", "[value_cache]") {
  ValueCache cache(1000);
  cache.Insert("k", "one");
  cache.Insert("k", "two");
  CHECK(*cache.Lookup("k") == "two");
  CHECK(cache.bytes() == kOverhead + 1 + 3);
  cache.Erase("k");
  CHECK_FALSE(cache.Lookup("k").has_value());
  CHECK(cache.bytes() == 0);
  cache.Insert("huge", std::string(2000, 'x'));
  CHECK_FALSE(cache.Lookup("huge").has_value());
  CHECK(cache.bytes() == 0);
}

TEST_CASE("ValueCache leaves a hit among the newest eighth in place and promotes an older one",
          "[value_cache]") {
  // 32 entries: the newest eighth is the 4 most recently promoted.
  ValueCache cache(32 * (kOverhead + 3 + 1));
  for (int i = 0; i < 32; ++i) cache.Insert(fmt::format("k{:02}", i), "v");
  REQUIRE(cache.Lookup("k30").has_value());  // Third newest: stays where it is.
  REQUIRE(cache.Lookup("k00").has_value());  // Oldest: becomes the newest.
  // Evicting 28 entries now removes k01..k28 and keeps k00, k29..k31, in
  // that order of age: k29, k30, k31, k00.
  for (int i = 0; i < 28; ++i) cache.Insert(fmt::format("n{:02}", i), "v");
  for (int i = 1; i <= 28; ++i) CHECK_FALSE(cache.Lookup(fmt::format("k{:02}", i)).has_value());
  CHECK(cache.entries() == 32);
  cache.Insert("x00", "v");  // The oldest left is k29.
  CHECK_FALSE(cache.Lookup("k29").has_value());
  CHECK(cache.Lookup("k30").has_value());
  CHECK(cache.Lookup("k00").has_value());
}

TEST_CASE("ValueCache agrees with a map through growth, erases and evictions", "[value_cache]") {
  std::mt19937_64 rng(7);
  // Room for about 3,000 of the 5,000 possible keys, so evictions happen.
  ValueCache cache(3000 * (kOverhead + 8 + 8));
  std::map<std::string, std::string> written;  // Every key's latest value.
  for (int step = 0; step < 200000; ++step) {
    const std::string key = fmt::format("key{:05}", rng() % 5000);
    switch (rng() % 4) {
      case 0:
      case 1: {
        const std::string value = fmt::format("{:08}", rng() % 100000000);
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
    REQUIRE(cache.bytes() == cache.entries() * (kOverhead + 8 + 8));
  }
  CHECK(cache.entries() > 2000);
  // Every entry still in the cache is found, with its latest value.
  size_t found = 0;
  for (const auto& [key, value] : written) {
    if (std::optional<std::string_view> got = cache.Lookup(key)) {
      CHECK(*got == value);
      ++found;
    }
  }
  CHECK(found == cache.entries());
}

}  // namespace
}  // namespace toydb
