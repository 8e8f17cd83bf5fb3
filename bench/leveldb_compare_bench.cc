// Random reads of values that no cache of ours holds, beside LevelDB's
// readrandom on the same keys, in the same run and on the same disk.
//
// Both stores get the same KeyCount() keys (default 1,000,000; 16-byte keys,
// 100-byte values), written in the same random order. Then rounds of two
// benchmarks alternate: BM_ToydbGetUncached (Store::Get into one reused
// string, the value cache turned off, so every read goes to the data log)
// and BM_LevelDBReadRandom (DB::Get with default ReadOptions and LevelDB's
// default 8 MiB block cache, as db_bench's readrandom does). LevelDB's tables
// are compacted once after the load, which only helps its reads. Both read
// files that the OS page cache holds. After the rounds the program prints
// each round's ratio of read rates (ours / LevelDB's) and their median.
//
// Environment: TOYDB_BENCH_DIR (files, default ./bench-data),
// TOYDB_BENCH_KEYS (key count), TOYDB_BENCH_ROUNDS (default 5),
// TOYDB_BENCH_SECONDS (the least each benchmark of a round runs, default 1).
#include <benchmark/benchmark.h>
#include <fmt/format.h>
#include <leveldb/db.h>
#include <leveldb/options.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "toydb/env.h"
#include "toydb/store.h"

namespace toydb {
namespace {

using bench::BenchDir;
using bench::Check;
using bench::RandomKeyStream;

constexpr size_t kValueBytes = 100;

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

uint64_t KeyCount() { return EnvNumber("TOYDB_BENCH_KEYS", 1'000'000); }
uint64_t Rounds() { return EnvNumber("TOYDB_BENCH_ROUNDS", 5); }
// Seconds each benchmark of a round runs at least.
double MinSeconds() { return static_cast<double>(EnvNumber("TOYDB_BENCH_SECONDS", 1)); }

std::string Key(uint64_t i) { return fmt::format("{:016}", i); }

// 100 bytes that differ from key to key (so neither store can share them).
std::string ValueFor(uint64_t i, std::mt19937_64& rng) {
  std::string value(kValueBytes, '\0');
  for (size_t b = 0; b < kValueBytes; b += 8) {
    const uint64_t r = rng() ^ i;
    std::memcpy(value.data() + b, &r, std::min<size_t>(8, kValueBytes - b));
  }
  return value;
}

// The two stores, loaded once and shared by every round.
struct Stores {
  std::unique_ptr<Store> toydb;
  std::unique_ptr<leveldb::DB> leveldb;

  Stores() {
    const std::string toydb_dir = JoinPath(BenchDir(), "compare-toydb");
    const std::string leveldb_dir = JoinPath(BenchDir(), "compare-leveldb");
    std::filesystem::remove_all(toydb_dir);
    std::filesystem::remove_all(leveldb_dir);
    StoreOptions options;
    options.dir = toydb_dir;
    options.sync_policy = SyncPolicy::kNone;
    options.cache_bytes_max = 0;  // Every read goes to the data log.
    auto store = Store::Open(options);
    Check(store.status(), "Open toydb");
    toydb = std::move(*store);
    leveldb::Options ldb_options;
    ldb_options.create_if_missing = true;
    leveldb::DB* db = nullptr;
    Check(leveldb::DB::Open(ldb_options, leveldb_dir, &db).ok(), "Open leveldb");
    leveldb.reset(db);
    Load();
  }

  void Load() {
    std::vector<uint64_t> order(KeyCount());
    for (uint64_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(1);
    std::shuffle(order.begin(), order.end(), rng);
    for (uint64_t i : order) {
      const std::string key = Key(i), value = ValueFor(i, rng);
      Check(toydb->Put({}, key, value).status(), "toydb Put");
      Check(leveldb->Put(leveldb::WriteOptions(), key, value).ok(), "leveldb Put");
    }
    Check(toydb->Checkpoint(), "toydb Checkpoint");
    leveldb->CompactRange(nullptr, nullptr);
  }
};

// Loaded by the first benchmark that runs; closed before the files go.
std::unique_ptr<Stores>& StoresSlot() {
  static std::unique_ptr<Stores> stores;
  return stores;
}

Stores& TheStores() {
  if (StoresSlot() == nullptr) StoresSlot() = std::make_unique<Stores>();
  return *StoresSlot();
}

// One run's reads per second of wall-clock time, and per second of the
// reading thread's CPU time. On a machine shared with other work the thread
// waits for a core for much of the wall-clock time, so the CPU-time rate is
// the steadier measure of the read's own cost; both are reported.
struct Rate {
  double wall = 0;
  double cpu = 0;
};

// Rates of each benchmark by round (state.range(0)), for the ratio at the
// end. A later run of the same round replaces an earlier one: the first runs
// only size the last.
std::map<std::string, std::map<int64_t, Rate>>& Rates() {
  static std::map<std::string, std::map<int64_t, Rate>> rates;
  return rates;
}

double ThreadCpuSeconds() {
  timespec ts;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

// Runs `read` once per iteration over keys drawn at random; records the rate.
template <typename Read>
void RunReads(benchmark::State& state, const char* name, Read read) {
  static RandomKeyStream keys(2, KeyCount(), Key);
  std::string value;
  uint64_t found = 0;
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = ThreadCpuSeconds();
  for (auto _ : state) {
    found += read(keys.Next(), &value);
    benchmark::DoNotOptimize(value.data());
  }
  const double cpu = ThreadCpuSeconds() - cpu_start;
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  Check(found == static_cast<uint64_t>(state.iterations()), "every key found");
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  const auto reads = static_cast<double>(state.iterations());
  Rates()[name][state.range(0)] = {reads / elapsed.count(), reads / cpu};
}

void BM_ToydbGetUncached(benchmark::State& state) {
  Store& store = *TheStores().toydb;
  const uint64_t hits_before = store.GetStats().cache_hits;
  RunReads(state, "toydb",
           [&](std::string_view key, std::string* value) { return store.Get(key, value).ok(); });
  Check(store.GetStats().cache_hits == hits_before, "no read served by the cache");
}

void BM_LevelDBReadRandom(benchmark::State& state) {
  leveldb::DB& db = *TheStores().leveldb;
  RunReads(state, "leveldb", [&](std::string_view key, std::string* value) {
    return db.Get(leveldb::ReadOptions(), leveldb::Slice(key.data(), key.size()), value).ok();
  });
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

void PrintRatios() {
  std::vector<double> wall_ratios, cpu_ratios, ours_cpu, theirs_cpu;
  for (const auto& [round, ours] : Rates()["toydb"]) {
    if (!Rates()["leveldb"].contains(round)) continue;
    const Rate theirs = Rates()["leveldb"][round];
    wall_ratios.push_back(ours.wall / theirs.wall);
    cpu_ratios.push_back(ours.cpu / theirs.cpu);
    ours_cpu.push_back(ours.cpu);
    theirs_cpu.push_back(theirs.cpu);
    fmt::print(
        "round {}: per read, toydb {:.2f} us wall {:.2f} us cpu, leveldb {:.2f} us wall {:.2f} us "
        "cpu; ratio of rates (toydb / leveldb) {:.2f} wall {:.2f} cpu\n",
        round, 1e6 / ours.wall, 1e6 / ours.cpu, 1e6 / theirs.wall, 1e6 / theirs.cpu,
        wall_ratios.back(), cpu_ratios.back());
  }
  if (cpu_ratios.empty()) return;
  fmt::print(
      "median over {} rounds: toydb {:.2f} us cpu, leveldb {:.2f} us cpu; ratio of rates {:.2f} "
      "by wall-clock time, {:.2f} by cpu time\n",
      cpu_ratios.size(), 1e6 / Median(ours_cpu), 1e6 / Median(theirs_cpu), Median(wall_ratios),
      Median(cpu_ratios));
}

}  // namespace
}  // namespace toydb

int main(int argc, char** argv) {
  using toydb::BM_LevelDBReadRandom;
  using toydb::BM_ToydbGetUncached;
  namespace bench = toydb::bench;
  for (int64_t round = 0; round < static_cast<int64_t>(toydb::Rounds()); ++round) {
    // Alternated, so that a noisy moment of the machine hits both alike.
    benchmark::RegisterBenchmark("BM_ToydbGetUncached", BM_ToydbGetUncached)
        ->ArgName("round")
        ->Arg(round)
        ->MinTime(toydb::MinSeconds())
        ->UseRealTime();
    benchmark::RegisterBenchmark("BM_LevelDBReadRandom", BM_LevelDBReadRandom)
        ->ArgName("round")
        ->Arg(round)
        ->MinTime(toydb::MinSeconds())
        ->UseRealTime();
  }
  const char* dir = std::getenv("TOYDB_BENCH_DIR");
  bench::BenchDir() = dir != nullptr ? dir : "./bench-data";
  const bool created = !toydb::Env::Default()->FileExists(bench::BenchDir());
  bench::Check(toydb::Env::Default()->CreateDir(bench::BenchDir()), "create bench dir");
  benchmark::AddCustomContext("bench_dir", bench::BenchDir());
  benchmark::AddCustomContext("keys", std::to_string(toydb::KeyCount()));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  toydb::StoresSlot().reset();
  toydb::PrintRatios();
  std::filesystem::remove_all(toydb::JoinPath(bench::BenchDir(), "compare-toydb"));
  std::filesystem::remove_all(toydb::JoinPath(bench::BenchDir(), "compare-leveldb"));
  if (created) std::filesystem::remove_all(bench::BenchDir());
  return 0;
}
