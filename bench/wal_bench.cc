// WAL benchmarks: the raw cost of a synced 128-byte append on this disk, and
// what Wal::Append and Wal::Append + Wal::Sync achieve on the same disk, on a
// fresh log (growing files) and on one whose segments are recycled
// (overwritten in place). Files go to $TOYDB_BENCH_DIR (default
// ./bench-data), which is created and cleaned. The raw POSIX calls are here
// only to measure the floor: toydb code reaches files through Env.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "src/storage/wal/wal.h"
#include "toydb/env.h"
#include "toydb/store.h"

namespace toydb {
namespace {

constexpr size_t kRecordBytes = 128;
// Preallocated file for the raw pwrite benchmark; wraps around when full.
constexpr size_t kPreallocatedBytes = 32 << 20;

using bench::BenchDir;
using bench::Check;

void ReportRecords(benchmark::State& state) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kRecordBytes));
}

// (a) write() + fdatasync() of 128 bytes appended to a growing file: every
// sync also commits the new file size (a journal write on most file systems).
void BM_RawAppendFdatasync(benchmark::State& state) {
  const std::string path = JoinPath(BenchDir(), "raw-append");
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  Check(fd >= 0, "open raw-append");
  const std::string record(kRecordBytes, 'r');
  for (auto _ : state) {
    Check(::write(fd, record.data(), record.size()) == static_cast<ssize_t>(record.size()),
          "write");
    Check(::fdatasync(fd) == 0, "fdatasync");
  }
  ::close(fd);
  ::unlink(path.c_str());
  ReportRecords(state);
}

// (b) pwrite() + fdatasync() of 128 bytes into a file zero-filled and synced
// beforehand: no size change, so fdatasync flushes only the data block.
void BM_RawPreallocatedPwriteFdatasync(benchmark::State& state) {
  const std::string path = JoinPath(BenchDir(), "raw-preallocated");
  int fd = ::open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
  Check(fd >= 0, "open raw-preallocated");
  const std::string zeros(1 << 20, '\0');
  for (size_t done = 0; done < kPreallocatedBytes; done += zeros.size()) {
    Check(::write(fd, zeros.data(), zeros.size()) == static_cast<ssize_t>(zeros.size()),
          "preallocate");
  }
  Check(::fsync(fd) == 0, "fsync");
  const std::string record(kRecordBytes, 'p');
  uint64_t offset = 0;
  for (auto _ : state) {
    Check(::pwrite(fd, record.data(), record.size(), static_cast<off_t>(offset)) ==
              static_cast<ssize_t>(record.size()),
          "pwrite");
    Check(::fdatasync(fd) == 0, "fdatasync");
    offset = (offset + kRecordBytes) % kPreallocatedBytes;
  }
  ::close(fd);
  ::unlink(path.c_str());
  ReportRecords(state);
}

void RemoveTree(const std::string& dir) {
  Env* env = Env::Default();
  StatusOr<std::vector<std::string>> names = env->GetChildren(dir);
  if (!names.ok()) return;
  for (const std::string& n : *names) {
    if (n != "." && n != "..") env->RemoveFile(JoinPath(dir, n)).IgnoreError();
  }
  env->RemoveDir(dir).IgnoreError();
}

// A WAL in its own directory under the bench dir, removed afterwards.
class BenchWal {
 public:
  BenchWal(std::string name, uint64_t segment_bytes_max, uint32_t recycled_segments_max) {
    options_.dir = JoinPath(BenchDir(), name);
    RemoveTree(options_.dir);
    options_.segment_bytes_max = segment_bytes_max;
    options_.retention_bytes = 0;
    options_.recycled_segments_max = recycled_segments_max;
    StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(Env::Default(), options_);
    Check(wal.status(), "Wal::Open");
    wal_ = std::move(*wal);
    record_.payload.assign(kRecordBytes, 'w');
  }
  ~BenchWal() {
    wal_.reset();
    RemoveTree(options_.dir);
  }

  void Append() {
    record_.lsn = wal_->last_lsn() + 1;
    Check(wal_->Append({&record_, 1}), "Wal::Append");
  }
  Wal& wal() { return *wal_; }

 private:
  WalOptions options_;
  std::unique_ptr<Wal> wal_;
  WalRecord record_;
};

// (c) Wal::Append of 128-byte records, never synced: the CPU and write()
// cost of the log (one write per Append call).
void BM_WalAppendNoSync(benchmark::State& state) {
  BenchWal bench("wal-nosync", 64u << 20, 0);
  for (auto _ : state) bench.Append();
  ReportRecords(state);
}

// (d) Wal::Append + Wal::Sync per record, one writer. Arg 0: a fresh log
// whose segments are new, growing files. Arg 1: a log whose released
// segments are recycled, so appends overwrite allocated blocks. Segments are
// small (1 MiB) so that the run rolls over several of them, releasing the
// log every 1000 records as a checkpointing owner would.
void BM_WalAppendSync(benchmark::State& state) {
  const bool recycle = state.range(0) != 0;
  constexpr uint64_t kSegmentBytes = 1 << 20;
  BenchWal bench(recycle ? "wal-sync-recycled" : "wal-sync-fresh", kSegmentBytes, recycle ? 8 : 0);
  if (recycle) {
    // Fill and release eight segments so that every segment of the run is
    // a recycled file.
    while (bench.wal().bytes_written() < 9 * kSegmentBytes) bench.Append();
    Check(bench.wal().Sync(), "Wal::Sync");
    Check(bench.wal().ReleaseUpTo(bench.wal().last_lsn()), "Wal::ReleaseUpTo");
  }
  uint64_t n = 0;
  for (auto _ : state) {
    bench.Append();
    Check(bench.wal().Sync(), "Wal::Sync");
    if (++n % 1000 == 0) Check(bench.wal().ReleaseUpTo(bench.wal().last_lsn()), "release");
  }
  ReportRecords(state);
}

// (e) Group commit: Store::Put with sync-every-write from 1, 4 and 16 threads
// at once. Each group of queued writers shares one WAL write and one
// fdatasync, so the rate should grow with the writers while the raw rate of
// (a)/(b) bounds a single writer.
std::unique_ptr<Store>& SharedStore() {
  static std::unique_ptr<Store> store;
  return store;
}

// A fresh store each time; `preallocate` false turns off the zero-filling of
// the WAL ahead of the writes (StoreOptions::wal_preallocate_bytes).
void StoreSyncedPut(benchmark::State& state, bool preallocate) {
  const std::string dir = JoinPath(BenchDir(), "group-commit");
  if (state.thread_index() == 0) {
    StoreOptions options;
    options.dir = dir;
    options.sync_policy = SyncPolicy::kEveryWrite;
    if (!preallocate) options.wal_preallocate_bytes = 0;
    auto store = Store::Open(options);
    Check(store.status(), "Store::Open");
    SharedStore() = std::move(*store);
  }
  const std::string value(kRecordBytes, 'v');
  uint64_t i = 0;
  for (auto _ : state) {
    const std::string key = fmt::format("t{:02}-{:012}", state.thread_index(), i++);
    Check(SharedStore()->Put({}, key, value).status(), "Store::Put");
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  if (state.thread_index() == 0) {
    const StoreStats stats = SharedStore()->GetStats();
    state.counters["writes_per_group"] =
        static_cast<double>(stats.writes) / static_cast<double>(stats.write_groups);
    SharedStore().reset();
    std::filesystem::remove_all(dir);
  }
}

void BM_StoreSyncedPut(benchmark::State& state) { StoreSyncedPut(state, /*preallocate=*/true); }
// The same without WAL preallocation: the fresh store's WAL segment grows.
void BM_StoreSyncedPutGrowingWal(benchmark::State& state) {
  StoreSyncedPut(state, /*preallocate=*/false);
}

// Store::Open of a brand-new store (what creating its first WAL segment,
// with its first preallocated chunk, costs), and its close.
void BM_StoreOpenFresh(benchmark::State& state) {
  const std::string dir = JoinPath(BenchDir(), "open-fresh");
  for (auto _ : state) {
    StoreOptions options;
    options.dir = dir;
    options.background_threads = false;
    if (state.range(0) == 0) options.wal_preallocate_bytes = 0;
    auto store = Store::Open(options);
    Check(store.status(), "Store::Open");
    state.PauseTiming();
    store->reset();
    std::filesystem::remove_all(dir);
    state.ResumeTiming();
  }
}

// Store::Open of a store with 1,725 keys and about 269 MB of WAL kept in its
// retention window below the checkpoint (the case of the storage issue), and
// its close. Built once, reused by every run. Open used to read and verify
// every retained segment; it now verifies the log from the checkpoint on.
const std::string& RetainedLogStore() {
  static const std::string dir = [] {
    const std::string d = JoinPath(BenchDir(), "open-retained");
    std::filesystem::remove_all(d);
    StoreOptions options;
    options.dir = d;
    options.background_threads = false;
    options.sync_policy = SyncPolicy::kNone;
    options.wal_retention_bytes = 512u << 20;
    options.checkpoint_wal_bytes = 1u << 30;
    auto store = Store::Open(options);
    Check(store.status(), "Store::Open");
    const std::string value(16 << 10, 'v');
    for (int i = 0; i < 269 * 64; ++i) {  // 269 MB of 16 KiB values.
      Check((*store)->Put({}, fmt::format("key{}", i % 1725), value).status(), "Put");
    }
    // Compacted, with hint files, so that Open's time is the WAL's and
    // not a scan of 269 MB of overwritten data records.
    Check((*store)->Compact(/*force=*/true), "Compact");
    Check((*store)->Checkpoint(), "Checkpoint");
    return d;
  }();
  return dir;
}

void BM_StoreOpenRetainedLog(benchmark::State& state) {
  StoreOptions options;
  options.dir = RetainedLogStore();
  options.background_threads = false;
  options.wal_retention_bytes = 512u << 20;
  for (auto _ : state) {
    auto store = Store::Open(options);
    Check(store.status(), "Store::Open");
    store->reset();
  }
}

// Wal::Open of that store's log alone, verifying every record (verify=1, as
// Open did before) or from the checkpoint on (verify=0), side by side.
void BM_WalOpenRetainedLog(benchmark::State& state) {
  WalOptions options;
  options.dir = JoinPath(RetainedLogStore(), "wal");
  options.verify_from_lsn = state.range(0) == 1 ? 0 : 269 * 64;
  uint64_t unverified = 0;
  for (auto _ : state) {
    WalRecoveryReport report;
    auto wal = Wal::Open(Env::Default(), options, &report);
    Check(wal.status(), "Wal::Open");
    unverified = report.segments_not_verified;
  }
  state.counters["segments_not_verified"] = static_cast<double>(unverified);
}

// Sync latency on a shared disk drifts by 10x within a minute, so each
// benchmark runs three shorter repetitions, interleaved at random with the
// others (see main), and the median is the figure to quote.
BENCHMARK(BM_RawAppendFdatasync)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_RawPreallocatedPwriteFdatasync)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_WalAppendNoSync)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_WalAppendSync)->ArgName("recycled")->Arg(0)->Arg(1)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_StoreSyncedPut)->Threads(1)->Threads(4)->Threads(16)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_StoreSyncedPutGrowingWal)->Threads(1)->MinTime(1.0)->UseRealTime();
BENCHMARK(BM_StoreOpenFresh)->ArgName("preallocate")->Arg(0)->Arg(1)->MinTime(0.5)->UseRealTime();
BENCHMARK(BM_StoreOpenRetainedLog)->MinTime(0.5)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WalOpenRetainedLog)
    ->ArgName("verify")
    ->Arg(0)
    ->Arg(1)
    ->MinTime(0.5)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace toydb

// Sync latency drifts, so each benchmark runs three repetitions interleaved
// at random with the others, and the median is the figure to quote.
int main(int argc, char** argv) {
  return toydb::bench::RunBenchmarks(
      argc, argv,
      {"--benchmark_repetitions=3", "--benchmark_enable_random_interleaving=true",
       "--benchmark_report_aggregates_only=true"});
}
