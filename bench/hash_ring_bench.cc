// Key-to-partition lookups on the HashRing, for several ring sizes, beside two
// baselines: hashing the key alone (what a lookup adds is the search over the
// ring's points), and the same lookup done with std::lower_bound over the
// ring's points (what the ring's branch-free search saves).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_util.h"
#include "src/routing/hash_ring.h"
#include "src/util/checksum.h"

namespace toydb {
namespace {

// 64Ki random 16-byte keys laid out back to back (1 MiB), read in order so
// the loop does not pay a cache miss per key that a real caller would not.
class Keys {
 public:
  static constexpr size_t kCount = 64 * 1024;
  static constexpr size_t kBytes = 16;
  Keys() {
    std::mt19937_64 engine(42);
    for (size_t i = 0; i < kCount; ++i) bytes_ += fmt::format("{:016x}", engine());
  }
  std::string_view At(size_t i) const {
    return std::string_view(bytes_).substr((i % kCount) * kBytes, kBytes);
  }

 private:
  std::string bytes_;
};

const Keys& TheKeys() {
  static const Keys keys;
  return keys;
}

void BM_KeyHashOnly(benchmark::State& state) {
  const Keys& keys = TheKeys();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(KeyHash(keys.At(i++)));
  state.SetItemsProcessed(state.iterations());
}

// Arguments: partitions, virtual nodes per partition.
routing::HashRing MakeRing(const benchmark::State& state) {
  std::vector<PartitionId> ids;
  for (int64_t p = 0; p < state.range(0); ++p) ids.push_back(static_cast<PartitionId>(p));
  StatusOr<routing::HashRing> ring =
      routing::HashRing::Create(ids, static_cast<uint32_t>(state.range(1)));
  bench::Check(ring.status(), "HashRing::Create");
  return *std::move(ring);
}

void BM_RingLookup(benchmark::State& state) {
  const routing::HashRing ring = MakeRing(state);
  const Keys& keys = TheKeys();
  size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(ring.Lookup(keys.At(i++)));
  state.SetItemsProcessed(state.iterations());
  state.counters["points"] = static_cast<double>(ring.points());
}

void BM_StdLowerBoundLookup(benchmark::State& state) {
  const routing::HashRing ring = MakeRing(state);
  const std::vector<uint64_t>& hashes = ring.point_hashes_for_testing();
  const std::vector<PartitionId>& owners = ring.point_owners_for_testing();
  const Keys& keys = TheKeys();
  size_t i = 0;
  for (auto _ : state) {
    const auto at = std::lower_bound(hashes.begin(), hashes.end(), KeyHash(keys.At(i++)));
    benchmark::DoNotOptimize(owners[at == hashes.end() ? 0 : at - hashes.begin()]);
  }
  state.SetItemsProcessed(state.iterations());
}

void RingSizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"partitions", "vnodes"})->Args({8, 256})->Args({8, 1024})->Args({64, 1024});
  b->Args({512, 1024})->MinTime(0.5);
}

BENCHMARK(BM_KeyHashOnly)->MinTime(0.5);
BENCHMARK(BM_RingLookup)->Apply(RingSizes);
BENCHMARK(BM_StdLowerBoundLookup)->Apply(RingSizes);

}  // namespace
}  // namespace toydb

// Three repetitions interleaved at random; quote the medians.
int main(int argc, char** argv) {
  return toydb::bench::RunBenchmarks(
      argc, argv,
      {"--benchmark_repetitions=3", "--benchmark_enable_random_interleaving=true",
       "--benchmark_report_aggregates_only=true"});
}
