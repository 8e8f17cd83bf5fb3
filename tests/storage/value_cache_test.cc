// Tests of ValueCache: LRU order and the byte bound.
#include "src/storage/value_cache.h"

#include <catch2/catch.hpp>

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

TEST_CASE("ValueCache evicts in exact least-recently-used order", "[value_cache]") {
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

}  // namespace
}  // namespace toydb
