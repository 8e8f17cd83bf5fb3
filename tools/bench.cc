// Each client is a chain of callbacks: a finished request records its
// latency and starts the client's next one, until the run's end. The
// counters are shared by the Router's callback threads and the main thread
// (progress lines), under one mutex.
#include "tools/bench.h"

#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <thread>

#include "src/util/mutex.h"
#include "tools/cli_common.h"
#include "tools/latency_histogram.h"

namespace toydb::tools {
namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  LatencyHistogram latency;
  uint64_t errors = 0;
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t misses = 0;  // reads of absent keys (not errors)
};

class Load {
 public:
  Load(Router& router, const BenchOptions& options)
      : router_(router), options_(options), value_(options.value_size, 'v') {
    for (size_t i = 0; i < value_.size(); ++i) value_[i] = static_cast<char>('a' + i % 26);
  }

  void Start() {
    for (uint32_t c = 0; c < options_.clients; ++c) {
      rngs_.emplace_back(RandomSeed() + c);
    }
    for (uint32_t c = 0; c < options_.clients; ++c) Issue(c);
  }
  void Stop() { stopping_.store(true); }
  // Waits until every client's last request finished.
  void Drain() {
    MutexLock lock(&mu_);
    while (finished_clients_ < options_.clients) cv_.WaitFor(&mu_, std::chrono::milliseconds(50));
  }
  // The totals since the last call (for a progress line).
  Totals TakeInterval() {
    MutexLock lock(&mu_);
    Totals interval = interval_;
    interval_ = Totals();
    return interval;
  }
  Totals Total() {
    MutexLock lock(&mu_);
    return total_;
  }

 private:
  void Issue(uint32_t client) {
    if (stopping_.load()) {
      MutexLock lock(&mu_);
      ++finished_clients_;
      cv_.SignalAll();
      return;
    }
    std::mt19937_64& rng = rngs_[client];  // used by this client's chain only
    const std::string key = fmt::format("key:{:012}", rng() % options_.keys);
    const bool read = std::uniform_real_distribution<double>(0, 1)(rng) < options_.read_ratio;
    const Clock::time_point start = Clock::now();
    if (read) {
      RouterReadOptions read_options;
      read_options.consistency = options_.consistency;
      router_.GetAsync(key, read_options, [this, client, start](StatusOr<VersionedValue> value) {
        const bool miss = absl::IsNotFound(value.status());
        Record(start, /*read=*/true, value.ok() || miss, miss);
        Issue(client);
      });
    } else {
      RouterWriteOptions write_options;
      write_options.concern = options_.concern;
      router_.PutAsync(key, value_, write_options, [this, client, start](WriteResult result) {
        Record(start, /*read=*/false, result.ok(), false);
        Issue(client);
      });
    }
  }

  void Record(Clock::time_point start, bool read, bool ok, bool miss) {
    const uint64_t micros =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    MutexLock lock(&mu_);
    for (Totals* t : {&interval_, &total_}) {
      if (!ok) {
        ++t->errors;
        continue;
      }
      t->latency.Add(micros);
      ++(read ? t->reads : t->writes);
      if (miss) ++t->misses;
    }
  }

  Router& router_;
  const BenchOptions options_;
  std::string value_;
  std::vector<std::mt19937_64> rngs_;
  std::atomic<bool> stopping_{false};
  Mutex mu_;
  CondVar cv_;
  Totals interval_ ABSL_GUARDED_BY(mu_);
  Totals total_ ABSL_GUARDED_BY(mu_);
  uint32_t finished_clients_ ABSL_GUARDED_BY(mu_) = 0;
};

double Ms(uint64_t micros) { return static_cast<double>(micros) / 1000.0; }

}  // namespace

int RunBench(Router& router, const BenchOptions& options) {
  std::printf(
      "toydb bench: %u clients, %u-byte values, %llu keys, read ratio %.2f, write concern %s, "
      "consistency %s, %.0f s\n",
      options.clients, options.value_size, static_cast<unsigned long long>(options.keys),
      options.read_ratio, WriteConcernName(options.concern).c_str(),
      ReadConsistencyName(options.consistency), options.duration_s);
  std::fflush(stdout);
  Load load(router, options);
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::microseconds(static_cast<int64_t>(options.duration_s * 1e6));
  load.Start();
  Clock::time_point next = start + std::chrono::seconds(1);
  while (next <= end) {
    std::this_thread::sleep_until(next);
    const Totals t = load.TakeInterval();
    if (options.progress) {
      std::fprintf(stderr, "%5.1f s  %8llu ops/s  p50 %.2f ms  p99 %.2f ms  errors %llu\n",
                   std::chrono::duration<double>(Clock::now() - start).count(),
                   static_cast<unsigned long long>(t.latency.count()),
                   Ms(t.latency.Percentile(0.5)), Ms(t.latency.Percentile(0.99)),
                   static_cast<unsigned long long>(t.errors));
    }
    next += std::chrono::seconds(1);
  }
  std::this_thread::sleep_until(end);
  load.Stop();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  load.Drain();
  const Totals t = load.Total();
  const uint64_t ops = t.latency.count();
  std::printf(
      "  requests: %llu (%llu writes, %llu reads of which %llu found no key), errors: %llu\n",
      static_cast<unsigned long long>(ops), static_cast<unsigned long long>(t.writes),
      static_cast<unsigned long long>(t.reads), static_cast<unsigned long long>(t.misses),
      static_cast<unsigned long long>(t.errors));
  std::printf("  throughput: %.0f ops/s\n", ops / seconds);
  std::printf("  latency ms: p50 %.3f  p99 %.3f  p999 %.3f  max %.3f\n",
              Ms(t.latency.Percentile(0.5)), Ms(t.latency.Percentile(0.99)),
              Ms(t.latency.Percentile(0.999)), Ms(t.latency.max()));
  // One line for scripts.
  std::printf("RESULT clients=%u ops_per_s=%.0f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f errors=%llu\n",
              options.clients, ops / seconds, Ms(t.latency.Percentile(0.5)),
              Ms(t.latency.Percentile(0.99)), Ms(t.latency.Percentile(0.999)),
              static_cast<unsigned long long>(t.errors));
  return ops == 0 ? kExitFailed : kExitOk;
}

}  // namespace toydb::tools
