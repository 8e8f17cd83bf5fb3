#ifndef TOYDB_BENCH_BENCH_UTIL_H_
#define TOYDB_BENCH_BENCH_UTIL_H_

// What every toydb benchmark program shares: the directory its files go to
// ($TOYDB_BENCH_DIR, default ./bench-data), a check that aborts with a message,
// and a main() body that applies default flags before the command line's.

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <string>
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

}  // namespace toydb::bench

#endif  // TOYDB_BENCH_BENCH_UTIL_H_
