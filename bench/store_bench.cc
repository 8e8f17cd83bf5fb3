// Store benchmarks with 16-byte keys and 100-byte values over 1,000,000 keys:
// sequential and random Put without a sync per write, random Get of cached
// and uncached keys, a 90/10 read/write mix, compaction throughput beside the
// disk's raw sequential write bandwidth, and Open time with and without hint
// files plus the index's memory per key. Files go to $TOYDB_BENCH_DIR
// (default ./bench-data). TOYDB_BENCH_KEYS overrides the key count.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "bench/bench_util.h"
#include "src/storage/cache/value_cache.h"
#include "toydb/env.h"
#include "toydb/store.h"

namespace toydb {
namespace {

constexpr size_t kValueBytes = 100;

using bench::BenchDir;
using bench::Check;
using bench::RandomKeyStream;

uint64_t KeyCount() {
  const char* v = std::getenv("TOYDB_BENCH_KEYS");
  return v != nullptr ? std::strtoull(v, nullptr, 10) : 1'000'000;
}

// 16 bytes, zero-padded, so that keys sort and hash like real ids.
std::string Key(uint64_t i) { return fmt::format("{:016}", i); }

// Every key, formatted once into one contiguous buffer, so that the timed
// loops measure the store and not the formatting or fetching of keys.
class KeySet {
 public:
  KeySet() {
    bytes_.reserve(KeyCount() * 16);
    for (uint64_t i = 0; i < KeyCount(); ++i) bytes_ += Key(i);
  }
  std::string_view operator[](uint64_t i) const {
    return std::string_view(bytes_).substr(i * 16, 16);
  }
  uint64_t size() const { return bytes_.size() / 16; }

 private:
  std::string bytes_;
};

const KeySet& AllKeys() {
  static const KeySet keys;
  return keys;
}

// Random keys from the first `range` keys of AllKeys() (bench_util.h). Built
// once per use (it takes about a second).
RandomKeyStream KeyStream(uint64_t seed, uint64_t range = AllKeys().size()) {
  return RandomKeyStream(seed, range, [](uint64_t i) { return AllKeys()[i]; });
}

StoreOptions BenchOptions(const std::string& name) {
  StoreOptions options;
  options.dir = JoinPath(BenchDir(), name);
  options.sync_policy = SyncPolicy::kNone;
  options.cache_bytes_max = 512u << 20;
  return options;
}

std::unique_ptr<Store> OpenFresh(const StoreOptions& options) {
  std::filesystem::remove_all(options.dir);
  auto store = Store::Open(options);
  Check(store.status(), "Open");
  return std::move(*store);
}

void Load(Store& store, uint64_t keys) {
  const std::string value(kValueBytes, 'v');
  for (uint64_t i = 0; i < keys; ++i) Check(store.Put({}, AllKeys()[i], value).status(), "Put");
}

void BM_SequentialPut(benchmark::State& state) {
  auto store = OpenFresh(BenchOptions("seq-put"));
  const std::string value(kValueBytes, 'v');
  uint64_t i = 0;
  const auto& keys = AllKeys();
  for (auto _ : state) Check(store->Put({}, keys[i++ % keys.size()], value).status(), "Put");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_RandomPut(benchmark::State& state) {
  auto store = OpenFresh(BenchOptions("random-put"));
  const std::string value(kValueBytes, 'v');
  static RandomKeyStream keys = KeyStream(1);
  for (auto _ : state) Check(store->Put({}, keys.Next(), value).status(), "Put");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// Arg 1: every key cached (the cache holds them all and was warmed), reads
// uniform over all keys; arg 2: the same, reads from a hot set of 65,536 keys;
// arg 3: a hot set of 1,024 keys, small enough for the CPU's L2 (the floor
// of a read's own work, without memory misses);
// arg 0: a 1 MiB cache, so reads go to the data files (the OS page cache).
// kIntoBuffer reads with Get(key, &value) into one reused string instead of
// Get(key), which returns a new string each time.
template <bool kIntoBuffer>
void BM_RandomGet(benchmark::State& state) {
  StoreOptions options = BenchOptions("random-get");
  const bool cached = state.range(0) >= 1;
  if (!cached) options.cache_bytes_max = 1u << 20;
  auto store = OpenFresh(options);
  Load(*store, KeyCount());
  const auto& keys = AllKeys();
  if (cached) {
    for (uint64_t i = 0; i < keys.size(); ++i) Check(store->Get(keys[i]).status(), "warm");
  }
  // Args 2 and 3 draw from a hot set, arg 1 from all keys.
  const uint64_t hot = state.range(0) == 3 ? 1024 : 65536;
  const uint64_t range = state.range(0) >= 2 ? std::min<uint64_t>(keys.size(), hot) : keys.size();
  // Drawn in advance, like the put benchmarks' keys: a random pick from the
  // key set itself (1 MiB for the 65,536-key hot set, 16 MiB for all keys)
  // missed the CPU caches on the benchmark's side of the call.
  RandomKeyStream stream = KeyStream(2, range);
  const StoreStats before = store->GetStats();
  std::string value;
  for (auto _ : state) {
    if constexpr (kIntoBuffer) {
      Status s = store->Get(stream.Next(), &value);
      benchmark::DoNotOptimize(s);
      benchmark::DoNotOptimize(value.data());
    } else {
      auto v = store->Get(stream.Next());
      benchmark::DoNotOptimize(v);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  const StoreStats after = store->GetStats();
  const double hits = static_cast<double>(after.cache_hits - before.cache_hits);
  const double misses = static_cast<double>(after.cache_misses - before.cache_misses);
  state.counters["cache_hit_ratio"] = hits / (hits + misses);
}

// Entries of 16 + 100 bytes that fill the default cache: one per 128-byte
// slot, at most 7/10 of the slots (at most every key).
uint64_t CacheEntries() {
  const uint64_t slots = StoreOptions().cache_bytes_max / ValueCache::kSlotBytes;
  return std::min<uint64_t>(AllKeys().size(), slots * 7 / 10);
}

// The steady state of a cache smaller than the data: the default 64 MiB cache
// (about 366,000 entries of 16 + 100 bytes) under random reads of all
// KeyCount() keys, so that most reads miss and insert into a full cache.
// Warmed with one read each of as many keys as the cache holds. The store is
// loaded once per process, and later runs go on from where the earlier ones
// left the cache (the benchmark sizes its last run by the first). Counters: the longest single read
// (max_read_us) and the cache's probe statistics at the end.
void BM_RandomGetCacheSteadyState(benchmark::State& state) {
  static std::unique_ptr<Store> store = [] {
    StoreOptions options = BenchOptions("random-get-steady");
    options.cache_bytes_max = StoreOptions().cache_bytes_max;
    auto opened = OpenFresh(options);
    Load(*opened, KeyCount());
    std::string value;
    for (uint64_t i = 0; i < CacheEntries(); ++i) Check(opened->Get(AllKeys()[i], &value), "warm");
    return opened;
  }();
  static RandomKeyStream stream = KeyStream(4);
  std::string value;
  const StoreStats before = store->GetStats();
  std::chrono::nanoseconds longest{0};
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    Status s = store->Get(stream.Next(), &value);
    longest = std::max(longest, std::chrono::steady_clock::now() - start);
    benchmark::DoNotOptimize(s);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  const StoreStats after = store->GetStats();
  const double hits = static_cast<double>(after.cache_hits - before.cache_hits);
  const double misses = static_cast<double>(after.cache_misses - before.cache_misses);
  state.counters["cache_hit_ratio"] = hits / (hits + misses);
  state.counters["max_read_us"] = static_cast<double>(longest.count()) / 1e3;
}

// The same steady state on the cache alone: a lookup of a random key of
// KeyCount(), and an insert of its 100-byte value when it misses. Counters:
// the hit ratio and the longest probe and run of occupied slots at the end.
void BM_ValueCacheSteadyState(benchmark::State& state) {
  const std::string value(kValueBytes, 'v');
  static ValueCache cache(StoreOptions().cache_bytes_max);
  static RandomKeyStream stream = KeyStream(5);
  if (cache.entries() == 0) {
    for (uint64_t i = 0; i < CacheEntries(); ++i) cache.Insert(AllKeys()[i], value);
  }
  uint64_t hits = 0;
  for (auto _ : state) {
    const std::string_view key = stream.Next();
    if (std::optional<std::string_view> cached = cache.Lookup(key)) {
      ++hits;
      benchmark::DoNotOptimize(cached->data());
    } else {
      cache.Insert(key, value);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.counters["cache_hit_ratio"] =
      static_cast<double>(hits) / static_cast<double>(state.iterations());
  const ValueCache::ProbeStats probes = cache.ProbeStatsForTesting();
  state.counters["longest_probe_slots"] = static_cast<double>(probes.longest_probe);
  state.counters["longest_run_slots"] = static_cast<double>(probes.longest_run);
}

void BM_Mixed90Get10Put(benchmark::State& state) {
  auto store = OpenFresh(BenchOptions("mixed"));
  Load(*store, KeyCount());
  const std::string value(kValueBytes, 'w');
  static RandomKeyStream keys = KeyStream(3);
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    const std::string_view key = keys.Next();
    if (rng() % 10 == 0) {
      Check(store->Put({}, key, value).status(), "Put");
    } else {
      auto v = store->Get(key);
      benchmark::DoNotOptimize(v);
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The disk's sequential write bandwidth: 1 MiB writes, one fdatasync at the end.
void BM_RawSequentialWrite(benchmark::State& state) {
  const std::string path = JoinPath(BenchDir(), "raw-sequential");
  const std::string block(1u << 20, 's');
  constexpr int kBlocks = 256;
  for (auto _ : state) {
    int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) std::abort();
    for (int i = 0; i < kBlocks; ++i) {
      if (::write(fd, block.data(), block.size()) != static_cast<ssize_t>(block.size()))
        std::abort();
    }
    if (::fdatasync(fd) != 0) std::abort();
    ::close(fd);
  }
  ::unlink(path.c_str());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kBlocks * block.size());
}

// Compaction of a store where every key was written twice (half the data is
// garbage). Bytes processed are the bytes of the segments compacted.
void BM_Compaction(benchmark::State& state) {
  uint64_t compacted = 0;
  for (auto _ : state) {
    state.PauseTiming();
    StoreOptions options = BenchOptions("compaction");
    options.background_threads = false;
    auto store = OpenFresh(options);
    Load(*store, KeyCount() / 2);
    Load(*store, KeyCount() / 2);
    Check(store->Checkpoint(), "Checkpoint");
    const uint64_t before = store->GetStats().compaction_input_bytes;
    state.ResumeTiming();
    Check(store->Compact(/*force=*/true), "Compact");
    state.PauseTiming();
    compacted += store->GetStats().compaction_input_bytes - before;
    store.reset();
    std::filesystem::remove_all(options.dir);
    state.ResumeTiming();
  }
  state.SetBytesProcessed(static_cast<int64_t>(compacted));
}

// Empties the OS page cache so that Open reads from the disk. Needs root;
// returns false (and Open is measured warm) where that is not allowed.
bool DropPageCache() {
  ::sync();
  int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, "3", 1) == 1;
  ::close(fd);
  return ok;
}

// Open of a store of KeyCount() keys; arg 1 with hint files, arg 0 without.
// Counter cold_page_cache says whether the files had to come from the disk.
void BM_Open(benchmark::State& state) {
  const bool hints = state.range(0) == 1;
  StoreOptions options = BenchOptions(hints ? "open-hints" : "open-scan");
  options.background_threads = false;
  {
    auto store = OpenFresh(options);
    Load(*store, KeyCount());
    if (hints) Check(store->RunBackgroundWork(), "hints");
    while (hints) {
      const auto before = std::distance(std::filesystem::directory_iterator(options.dir), {});
      Check(store->RunBackgroundWork(), "hints");
      if (std::distance(std::filesystem::directory_iterator(options.dir), {}) == before) break;
    }
  }
  if (!hints) {
    for (const auto& entry : std::filesystem::directory_iterator(options.dir)) {
      if (entry.path().extension() == ".hint") std::filesystem::remove(entry.path());
    }
  }
  double bytes_per_key = 0;
  bool cold = true;
  for (auto _ : state) {
    state.PauseTiming();
    cold = cold && DropPageCache();
    state.ResumeTiming();
    auto store = Store::Open(options);
    Check(store.status(), "reopen");
    state.PauseTiming();
    const StoreStats stats = (*store)->GetStats();
    bytes_per_key = static_cast<double>(stats.index_memory_bytes) / stats.keys - 16.0;
    if (stats.keys != KeyCount()) std::abort();
    store->reset();
    state.ResumeTiming();
  }
  state.counters["index_bytes_per_key_beyond_key"] = bytes_per_key;
  state.counters["cold_page_cache"] = cold ? 1 : 0;
  state.counters["keys"] = static_cast<double>(KeyCount());
  std::filesystem::remove_all(options.dir);
}

// Rates are per second of wall-clock time: background compaction and
// checkpoints run on another thread and their cost belongs in the figure.
BENCHMARK(BM_SequentialPut)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_RandomPut)->MinTime(2.0)->UseRealTime();
BENCHMARK_TEMPLATE(BM_RandomGet, false)
    ->ArgName("cached")
    ->Arg(2)
    ->Arg(1)
    ->Arg(0)
    ->MinTime(1.0)
    ->UseRealTime();
BENCHMARK_TEMPLATE(BM_RandomGet, true)
    ->ArgName("cached")
    ->Arg(2)
    ->Arg(1)
    ->Arg(3)
    ->MinTime(1.0)
    ->UseRealTime();
BENCHMARK(BM_RandomGetCacheSteadyState)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_ValueCacheSteadyState)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_Mixed90Get10Put)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_RawSequentialWrite)->Iterations(3)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Compaction)->Iterations(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Open)->ArgName("hints")->Arg(1)->Arg(0)->Iterations(3)->UseRealTime()->Unit(
    benchmark::kMillisecond);

}  // namespace
}  // namespace toydb

int main(int argc, char** argv) {
  benchmark::AddCustomContext("keys", std::to_string(toydb::KeyCount()));
  return toydb::bench::RunBenchmarks(argc, argv, {});
}
