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
  REQUIRE(cache.Lookup("a") != nullptr);  // "b" is now the oldest.
  cache.Insert("d", std::string(10, 'd'));
  CHECK(cache.Lookup("b") == nullptr);
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
  CHECK(cache.Lookup("big") != nullptr);
  CHECK(cache.bytes() <= cache.capacity_bytes());
}

TEST_CASE("ValueCache replaces, erases, and refuses a value larger than itself", "[value_cache]") {
  ValueCache cache(1000);
  cache.Insert("k", "one");
  cache.Insert("k", "two");
  CHECK(*cache.Lookup("k") == "two");
  CHECK(cache.bytes() == kOverhead + 1 + 3);
  cache.Erase("k");
  CHECK(cache.Lookup("k") == nullptr);
  CHECK(cache.bytes() == 0);
  cache.Insert("huge", std::string(2000, 'x'));
  CHECK(cache.Lookup("huge") == nullptr);
  CHECK(cache.bytes() == 0);
}

}  // namespace
}  // namespace toydb
