// Tests of KeyIndex: the packed key -> location map, against std::map.
#include "src/storage/index/key_index.h"

#include <catch2/catch.hpp>
#include <map>
#include <random>
#include <string>

namespace toydb {
namespace {

IndexEntry Entry(uint64_t lsn) {
  return IndexEntry{static_cast<uint32_t>(lsn % 7), static_cast<uint32_t>(lsn * 3),
                    static_cast<uint32_t>(lsn % 1000 + 21), lsn % 5 == 0, lsn};
}

TEST_CASE("KeyIndex upserts, finds and erases", "[key_index]") {
  KeyIndex index;
  CHECK_FALSE(index.Find("a").has_value());
  CHECK_FALSE(index.Upsert("a", Entry(1)).has_value());
  CHECK(index.Find("a") == Entry(1));
  CHECK(index.Upsert("a", Entry(2)) == Entry(1));
  CHECK(index.Find("a") == Entry(2));
  CHECK(index.size() == 1);
  CHECK(index.Erase("a") == Entry(2));
  CHECK_FALSE(index.Erase("a").has_value());
  CHECK(index.size() == 0);
}

TEST_CASE("KeyIndex UpsertIf inserts when absent and replaces only when asked", "[key_index]") {
  KeyIndex index;
  auto newer = [](uint64_t lsn) {
    return [lsn](const IndexEntry& existing) { return lsn > existing.lsn; };
  };
  CHECK_FALSE(index.UpsertIf("k", Entry(5), newer(5)).has_value());
  CHECK(index.UpsertIf("k", Entry(3), newer(3)) == Entry(3));  // Older: refused.
  CHECK(index.Find("k") == Entry(5));
  CHECK(index.UpsertIf("k", Entry(9), newer(9)) == Entry(5));  // Newer: replaces.
  CHECK(index.Find("k") == Entry(9));
  CHECK(index.size() == 1);
}

TEST_CASE("KeyIndex ReplaceIfAt replaces only an entry at the given place", "[key_index]") {
  KeyIndex index;
  CHECK_FALSE(index.ReplaceIfAt("k", 0, 0, Entry(1)));  // Absent: nothing inserted.
  CHECK(index.size() == 0);
  index.Upsert("k", Entry(5));
  CHECK_FALSE(index.ReplaceIfAt("k", Entry(5).segment, Entry(5).offset + 1, Entry(9)));
  CHECK(index.Find("k") == Entry(5));
  CHECK(index.ReplaceIfAt("k", Entry(5).segment, Entry(5).offset, Entry(9)));
  CHECK(index.Find("k") == Entry(9));
}

TEST_CASE("KeyIndex ReplaceIfAt matches by location among many keys", "[key_index]") {
  // Every key's record at a distinct location; each key must be found at its
  // own location only, whatever other slots share its probe sequence.
  KeyIndex index;
  auto at = [](int i) {
    return IndexEntry{static_cast<uint32_t>(i % 3), static_cast<uint32_t>(i * 40), 40, false,
                      static_cast<uint64_t>(i + 1)};
  };
  for (int i = 0; i < 20000; ++i) index.Upsert("key" + std::to_string(i), at(i));
  for (int i = 0; i < 20000; ++i) {
    const std::string key = "key" + std::to_string(i);
    // Replacing an entry with itself changes nothing but says whether it matched.
    REQUIRE(index.ReplaceIfAt(key, at(i).segment, at(i).offset, at(i)));
    REQUIRE_FALSE(index.ReplaceIfAt(key, at(i).segment, at(i).offset + 1, Entry(1)));
    REQUIRE_FALSE(index.ReplaceIfAt(key, at(i).segment + 3, at(i).offset, Entry(1)));
    REQUIRE(index.Find(key) == at(i));
  }
  CHECK_FALSE(index.ReplaceIfAt("absent", 0, 0, Entry(1)));
  CHECK_FALSE(index.Find("absent").has_value());
  // Moving every even key: the odd ones stay where they were.
  for (int i = 0; i < 20000; i += 2) {
    IndexEntry moved = at(i);
    moved.segment = 9;
    REQUIRE(index.ReplaceIfAt("key" + std::to_string(i), at(i).segment, at(i).offset, moved));
  }
  for (int i = 0; i < 20000; ++i) {
    const std::string key = "key" + std::to_string(i);
    CHECK(index.Find(key)->segment == (i % 2 == 0 ? 9u : at(i).segment));
    CHECK(index.Find(key)->offset == at(i).offset);
  }
}

TEST_CASE("KeyIndex keeps full 64-bit LSNs and maximal keys", "[key_index]") {
  KeyIndex index;
  IndexEntry big{UINT32_MAX, UINT32_MAX, KeyIndex::kMaxRecordBytes, true, UINT64_MAX - 1};
  std::string long_key(KeyIndex::kMaxKeyBytes, 'k');
  index.Upsert(long_key, big);
  index.Upsert("short", Entry(3));
  CHECK(index.Find(long_key) == big);
  CHECK(index.Find("short") == Entry(3));
}

TEST_CASE("KeyIndex matches a std::map under random operations, arena compaction included",
          "[key_index]") {
  const uint64_t seed = std::random_device{}();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  KeyIndex index;
  std::map<std::string, IndexEntry> model;
  for (uint64_t i = 1; i <= 200000; ++i) {
    std::string key = "key-" + std::to_string(rng() % 20000) + std::string(rng() % 40, 'x');
    if (rng() % 3 == 0) {
      auto erased = index.Erase(key);
      auto it = model.find(key);
      REQUIRE(erased.has_value() == (it != model.end()));
      if (it != model.end()) {
        REQUIRE(*erased == it->second);
        model.erase(it);
      }
    } else {
      index.Upsert(key, Entry(i));
      model[key] = Entry(i);
    }
  }
  REQUIRE(index.size() == model.size());
  size_t visited = 0;
  index.ForEach([&](std::string_view key, const IndexEntry& e) {
    visited++;
    REQUIRE(model.at(std::string(key)) == e);
  });
  CHECK(visited == model.size());
  index.EraseIf([](std::string_view, const IndexEntry& e) { return e.tombstone; });
  std::erase_if(model, [](const auto& kv) { return kv.second.tombstone; });
  REQUIRE(index.size() == model.size());
  for (const auto& [key, e] : model) REQUIRE(index.Find(key) == e);
}

// FindCandidate trusts the control byte's 7 hash bits: among many keys some
// lookups land on another key's slot, which a reader must catch by the key in
// the record. What must hold: a present key always gets an entry, either its
// own or a present key's, and an empty answer only ever means "absent".
TEST_CASE("KeyIndex FindCandidate returns a present key's entry and empty only for absent keys",
          "[key_index]") {
  KeyIndex index;
  constexpr uint64_t kKeys = 50000;
  std::map<uint64_t, std::string> key_of_lsn;
  for (uint64_t i = 1; i <= kKeys; ++i) {
    key_of_lsn[i] = "present-" + std::to_string(i);
    index.Upsert(key_of_lsn[i], Entry(i));
  }
  size_t others = 0;
  for (const auto& [lsn, key] : key_of_lsn) {
    std::optional<IndexEntry> candidate = index.FindCandidate(key);
    REQUIRE(candidate.has_value());
    REQUIRE(key_of_lsn.count(candidate->lsn) == 1);
    REQUIRE(*candidate == Entry(candidate->lsn));
    if (candidate->lsn != lsn) others++;
  }
  size_t absent_with_candidate = 0;
  for (uint64_t i = 1; i <= kKeys; ++i) {
    const std::string absent = "absent-" + std::to_string(i);
    REQUIRE_FALSE(index.Find(absent).has_value());
    if (std::optional<IndexEntry> candidate = index.FindCandidate(absent)) {
      REQUIRE(key_of_lsn.count(candidate->lsn) == 1);
      absent_with_candidate++;
    }
  }
  INFO("present keys given another's entry " << others << ", absent keys given an entry "
                                             << absent_with_candidate);
  CHECK(others > 0);           // The other-key case is real, so readers must check.
  CHECK(others < kKeys / 20);  // ...and rare: 7 bits leave about 1 in 100.
  // An absent key's probe passes a whole group of 16 control bytes, so about
  // 1 in 10 of them matches one.
  CHECK(absent_with_candidate > 0);
  CHECK(absent_with_candidate < kKeys / 5);
}

TEST_CASE("KeyIndex memory per key stays under 64 bytes beyond the key bytes", "[key_index]") {
  KeyIndex index;
  constexpr int kKeys = 100000;
  for (int i = 0; i < kKeys; ++i) {
    char key[17];
    std::snprintf(key, sizeof(key), "%016d", i);
    index.Upsert(std::string_view(key, 16), Entry(i + 1));
  }
  const double per_key = static_cast<double>(index.MemoryBytes()) / kKeys - 16;
  INFO("index bytes per key beyond the key: " << per_key);
  CHECK(per_key <= 64.0);
}

}  // namespace
}  // namespace toydb
