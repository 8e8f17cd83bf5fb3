// Tests of the HashRing: balance, minimal movement when a partition is added
// or removed, determinism, and bad input.
#include "src/routing/hash_ring.h"

#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "src/util/checksum.h"

namespace toydb::routing {
namespace {

// Keys from a seeded engine whose output the standard fixes (unlike its
// distributions), so every platform tests the same keys.
std::vector<std::string> RandomKeys(size_t n, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::vector<std::string> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) keys.push_back(fmt::format("user:{:016x}", engine()));
  return keys;
}

HashRing MakeRing(std::vector<PartitionId> partitions,
                  uint32_t virtual_nodes = HashRing::kDefaultVirtualNodes) {
  StatusOr<HashRing> ring = HashRing::Create(partitions, virtual_nodes);
  REQUIRE(ring.ok());
  return *std::move(ring);
}

std::vector<PartitionId> Owners(const HashRing& ring, const std::vector<std::string>& keys) {
  std::vector<PartitionId> owners;
  owners.reserve(keys.size());
  for (const std::string& key : keys) owners.push_back(ring.Lookup(key));
  return owners;
}

const std::vector<std::string>& MillionKeys() {
  static const std::vector<std::string> keys = RandomKeys(1'000'000, 20261203);
  return keys;
}

TEST_CASE("Eight partitions share a million keys within 10% of the mean", "[hash_ring]") {
  for (PartitionId first : {1u, 1000u, 4'000'000'000u}) {
    std::vector<PartitionId> ids;
    for (PartitionId i = 0; i < 8; ++i) ids.push_back(first + i);
    const HashRing ring = MakeRing(ids);
    CHECK(ring.points() == 8 * HashRing::kDefaultVirtualNodes);
    std::map<PartitionId, size_t> count;
    for (PartitionId owner : Owners(ring, MillionKeys())) ++count[owner];
    REQUIRE(count.size() == 8);
    const double mean = static_cast<double>(MillionKeys().size()) / 8;
    double worst = 0;
    for (const auto& [partition, n] : count) {
      INFO("partition " << partition << " has " << n << " keys; the mean is " << mean);
      CHECK(n >= 0.9 * mean);
      CHECK(n <= 1.1 * mean);
      worst = std::max(worst, std::abs(static_cast<double>(n) / mean - 1));
    }
    WARN(fmt::format("partitions {}..{}: worst share {:.1f}% off the mean", first, first + 7,
                     100 * worst));
  }
}

TEST_CASE("Adding a ninth partition moves about 1/9 of the keys, all into it", "[hash_ring]") {
  HashRing ring = MakeRing({1, 2, 3, 4, 5, 6, 7, 8});
  const std::vector<PartitionId> before = Owners(ring, MillionKeys());
  REQUIRE(ring.Add(9).ok());
  CHECK(ring.points() == 9 * HashRing::kDefaultVirtualNodes);
  const std::vector<PartitionId> after = Owners(ring, MillionKeys());
  size_t moved = 0;
  size_t moved_elsewhere = 0;
  for (size_t i = 0; i < before.size(); ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    if (after[i] != 9) ++moved_elsewhere;
  }
  CHECK(moved_elsewhere == 0);
  const double fraction = static_cast<double>(moved) / static_cast<double>(before.size());
  INFO("moved " << fraction << " of the keys");
  CHECK(std::abs(fraction - 1.0 / 9) < 0.015);

  // The same ring as one built with nine partitions from the start.
  CHECK(after == Owners(MakeRing({9, 1, 2, 3, 4, 5, 6, 7, 8}), MillionKeys()));
  // Removing it again puts every key back.
  REQUIRE(ring.Remove(9).ok());
  CHECK(Owners(ring, MillionKeys()) == before);
}

TEST_CASE("Removing a partition moves only its keys, spread over the others", "[hash_ring]") {
  const std::vector<std::string> keys = RandomKeys(200'000, 7);
  HashRing ring = MakeRing({1, 2, 3, 4, 5, 6, 7, 8});
  const std::vector<PartitionId> before = Owners(ring, keys);
  REQUIRE(ring.Remove(3).ok());
  CHECK_FALSE(ring.Contains(3));
  CHECK(ring.partitions() == std::vector<PartitionId>{1, 2, 4, 5, 6, 7, 8});
  const std::vector<PartitionId> after = Owners(ring, keys);
  std::map<PartitionId, size_t> received;
  size_t others_moved = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (before[i] != 3) {
      others_moved += after[i] != before[i];
    } else {
      ++received[after[i]];
    }
  }
  CHECK(others_moved == 0);
  // Partition 3's many small slices fall to many different neighbours.
  CHECK(received.size() == 7);
}

TEST_CASE("The ring depends only on its set of partitions and is stable", "[hash_ring]") {
  const std::vector<std::string> keys = RandomKeys(100'000, 11);
  const HashRing a = MakeRing({5, 3, 8, 1});
  const HashRing b = MakeRing({1, 3, 5, 8});
  CHECK(Owners(a, keys) == Owners(b, keys));
  const HashRing copy = a;
  CHECK(Owners(copy, keys) == Owners(a, keys));
  CHECK(a.partitions() == std::vector<PartitionId>{1, 3, 5, 8});

  // Placements pinned as first computed: a change to the point hashes, the
  // seed or the key hash would move stored data between partitions, so it
  // must fail here rather than pass silently.
  const HashRing ring = MakeRing({1, 2, 3, 4, 5, 6, 7, 8});
  std::vector<PartitionId> pinned;
  for (const char* key : {"", "a", "user:1", "user:2", "order:12345", "toydb"}) {
    pinned.push_back(ring.Lookup(key));
  }
  CHECK(pinned == std::vector<PartitionId>{6, 6, 5, 3, 6, 4});
}

TEST_CASE("Lookup wraps around past the last point", "[hash_ring]") {
  const HashRing ring = MakeRing({1, 2, 3}, 4);
  CHECK(ring.points() == 12);
  CHECK(ring.LookupHash(std::numeric_limits<uint64_t>::max()) == ring.LookupHash(0));
  CHECK(ring.Lookup("user:1") == ring.LookupHash(KeyHash("user:1")));
  const HashRing single = MakeRing({42}, 1);
  size_t elsewhere = 0;
  for (const std::string& key : RandomKeys(1000, 3)) elsewhere += single.Lookup(key) != 42;
  CHECK(elsewhere == 0);
}

// The owner by definition: the first point at or after the hash, else the
// first point.
PartitionId PlainLookup(const HashRing& ring, uint64_t hash) {
  const std::vector<uint64_t>& hashes = ring.point_hashes_for_testing();
  const auto at = std::lower_bound(hashes.begin(), hashes.end(), hash);
  const size_t index = at == hashes.end() ? 0 : static_cast<size_t>(at - hashes.begin());
  return ring.point_owners_for_testing()[index];
}

TEST_CASE("Lookup finds the first point at or after the key's hash", "[hash_ring]") {
  for (uint32_t partitions : {1u, 2u, 3u, 7u, 8u, 33u}) {
    std::vector<PartitionId> ids;
    for (PartitionId p = 0; p < partitions; ++p) ids.push_back(p * 10);
    for (uint32_t virtual_nodes : {1u, 3u, 64u, 1024u}) {
      const HashRing ring = MakeRing(ids, virtual_nodes);
      const std::vector<uint64_t>& hashes = ring.point_hashes_for_testing();
      REQUIRE(std::is_sorted(hashes.begin(), hashes.end()));
      std::vector<uint64_t> probes{0, 1, std::numeric_limits<uint64_t>::max()};
      for (uint64_t h : hashes) probes.insert(probes.end(), {h - 1, h, h + 1});
      std::mt19937_64 engine(partitions * 10000 + virtual_nodes);
      for (int i = 0; i < 1000; ++i) probes.push_back(engine());
      size_t wrong = 0;
      for (uint64_t probe : probes) wrong += ring.LookupHash(probe) != PlainLookup(ring, probe);
      INFO(partitions << " partitions, " << virtual_nodes << " virtual nodes");
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("Bad input is refused with a clear error and changes nothing", "[hash_ring]") {
  SECTION("no partitions") {
    const StatusOr<HashRing> ring = HashRing::Create({});
    CHECK(absl::IsInvalidArgument(ring.status()));
    CHECK(ring.status().message() == "hash ring: no partitions");
  }
  SECTION("a duplicate partition") {
    const std::vector<PartitionId> ids{4, 2, 4};
    const StatusOr<HashRing> ring = HashRing::Create(ids);
    CHECK(absl::IsInvalidArgument(ring.status()));
    CHECK(ring.status().message() == "hash ring: partition 4 is listed twice");
  }
  SECTION("virtual nodes out of range, or too many points") {
    const std::vector<PartitionId> ids{1, 2};
    CHECK(absl::IsInvalidArgument(HashRing::Create(ids, 0).status()));
    CHECK(absl::IsInvalidArgument(HashRing::Create(ids, HashRing::kMaxVirtualNodes + 1).status()));
    std::vector<PartitionId> many(HashRing::kMaxPoints / HashRing::kMaxVirtualNodes + 1);
    for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<PartitionId>(i);
    CHECK(absl::IsInvalidArgument(HashRing::Create(many, HashRing::kMaxVirtualNodes).status()));
    many.pop_back();
    StatusOr<HashRing> full = HashRing::Create(many, HashRing::kMaxVirtualNodes);
    REQUIRE(full.ok());
    CHECK(full->points() == HashRing::kMaxPoints);
    CHECK(absl::IsInvalidArgument(full->Add(1'000'000)));
    CHECK(full->points() == HashRing::kMaxPoints);
  }
  SECTION("adding a partition twice, removing one that is absent or the last") {
    HashRing ring = MakeRing({1, 2});
    const std::vector<std::string> keys = RandomKeys(10'000, 5);
    const std::vector<PartitionId> before = Owners(ring, keys);
    const Status added = ring.Add(2);
    CHECK(absl::IsInvalidArgument(added));
    CHECK(added.message() == "hash ring: partition 2 is already on the ring");
    CHECK(absl::IsNotFound(ring.Remove(3)));
    CHECK(Owners(ring, keys) == before);
    REQUIRE(ring.Remove(1).ok());
    CHECK(absl::IsInvalidArgument(ring.Remove(2)));
    CHECK(ring.partitions() == std::vector<PartitionId>{2});
  }
}

}  // namespace
}  // namespace toydb::routing
