#ifndef TOYDB_BENCH_BENCH_UTIL_H_
#define TOYDB_BENCH_BENCH_UTIL_H_

// What every toydb benchmark program shares: the directory its files go to
// ($TOYDB_BENCH_DIR, default ./bench-data), a check that aborts with a message,
// a stream of random 16-byte keys drawn in advance, and a main() body that
// applies default flags before the command line's.

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "toydb/env.h"
#include "toydb/status.h"

namespace toydb::bench {

inline std::string& BenchDir() {
  static std::string dir;
  return dir;
}

inline void Check(bool ok, std::string_view what) {
  if (ok) return;
  fmt::print(stderr, "benchmark: {} failed\n", what);
  std::abort();
}

inline void Check(const Status& s, std::string_view what) {
  if (!s.ok()) fmt::print(stderr, "benchmark: {}: {}\n", what, s.ToString());
  Check(s.ok(), what);
}

// Runs the registered benchmarks. `defaults` are flags that the command
// line, which comes after them, may override. Removes the bench directory
// afterwards only if it created it.
inline int RunBenchmarks(int argc, char** argv, std::vector<std::string> defaults) {
  const char* dir = std::getenv("TOYDB_BENCH_DIR");
  BenchDir() = dir != nullptr ? dir : "./bench-data";
  const bool created = !Env::Default()->FileExists(BenchDir());
  Check(Env::Default()->CreateDir(BenchDir()), "create bench dir");
  benchmark::AddCustomContext("bench_dir", BenchDir());
  std::vector<char*> args = {argv[0]};
  for (std::string& d : defaults) args.push_back(d.data());
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (created) std::filesystem::remove_all(BenchDir());
  return 0;
}

// 16-byte keys drawn uniformly at random (with repeats) from key_at(0) ..
// key_at(range - 1) in advance and laid out in draw order, so that the timed
// loops read them sequentially: picking a random key from a large key set
// would cost the loop a memory miss that belongs to the benchmark, not to the
// store. 4M draws (64 MB); a longer run starts over.
class RandomKeyStream {
 public:
  static constexpr size_t kKeyBytes = 16;
  template <typename KeyAt>
  RandomKeyStream(uint64_t seed, uint64_t range, KeyAt key_at) {
    constexpr uint64_t kDraws = 4u << 20;
    std::mt19937_64 rng(seed);
    bytes_.reserve(kDraws * kKeyBytes);
    for (uint64_t i = 0; i < kDraws; ++i) bytes_ += key_at(rng() % range);
  }
  std::string_view Next() {
    const std::string_view key = std::string_view(bytes_).substr(next_, kKeyBytes);
    next_ = next_ + kKeyBytes == bytes_.size() ? 0 : next_ + kKeyBytes;
    return key;
  }

 private:
  std::string bytes_;
  size_t next_ = 0;
};

}  // namespace toydb::bench

#endif  // TOYDB_BENCH_BENCH_UTIL_H_
