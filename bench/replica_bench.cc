// ReplicaStore benchmarks, each beside the single-node Store doing the same
// work in the same run: applying committed log records (AppendLog +
// ApplyUpTo, commands carrying a session) against Store::Put, both without
// a sync per write; and a snapshot's round trip (MakeSnapshot, transfer in
// 1 MiB chunks, InstallSnapshot on a second replica). 16-byte keys, 100-byte
// values. Files go to $TOYDB_BENCH_DIR (default ./bench-data);
// TOYDB_BENCH_KEYS overrides the key count (default 200,000).
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "bench/bench_util.h"
#include "src/storage/replica/replica_store.h"
#include "toydb/store.h"

namespace toydb {
namespace {

using bench::BenchDir;
using bench::Check;

constexpr size_t kValueBytes = 100;
constexpr Lsn kRecordsPerAppend = 64;

uint64_t KeyCount() {
  const char* v = std::getenv("TOYDB_BENCH_KEYS");
  return v != nullptr ? std::strtoull(v, nullptr, 10) : 200'000;
}

std::string Key(uint64_t i) { return fmt::format("{:016}", i); }

StoreOptions Options(const std::string& name) {
  StoreOptions options;
  options.dir = JoinPath(BenchDir(), name);
  options.sync_policy = SyncPolicy::kNone;
  options.cache_bytes_max = 64u << 20;
  std::filesystem::remove_all(options.dir);
  return options;
}

std::unique_ptr<ReplicaStore> OpenReplica(const std::string& name) {
  ReplicaStoreOptions options;
  options.store = Options(name);
  auto replica = ReplicaStore::Open(options);
  Check(replica.status(), "ReplicaStore::Open");
  return std::move(*replica);
}

// Appends and applies every key once, kRecordsPerAppend records at a time.
void FillReplica(ReplicaStore* replica, const std::string& value) {
  std::vector<WalRecord> records;
  std::vector<ApplyResult> results;
  for (uint64_t i = 0; i < KeyCount(); i += kRecordsPerAppend) {
    records.clear();
    for (uint64_t j = i; j < std::min(KeyCount(), i + kRecordsPerAppend); ++j) {
      ReplicatedCommand command;
      command.client_id = 1 + j % 1000;
      command.sequence = 1 + j / 1000;
      command.ops.push_back({WriteBatch::OpType::kPut, Key(j), value});
      records.push_back(WalRecord{1, j + 1, kWalRecordCommand, EncodeCommand(command)});
    }
    Check(replica->AppendLog(records), "AppendLog");
    results.clear();
    Check(replica->ApplyUpTo(records.back().lsn, &results), "ApplyUpTo");
  }
}

void BM_StorePut(benchmark::State& state) {
  const std::string value(kValueBytes, 'v');
  for (auto _ : state) {
    state.PauseTiming();
    auto store = Store::Open(Options("store"));
    Check(store.status(), "Store::Open");
    state.ResumeTiming();
    for (uint64_t i = 0; i < KeyCount(); ++i)
      Check((*store)->Put({}, Key(i), value).status(), "Put");
    state.PauseTiming();
    store->reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * KeyCount());
}

void BM_ReplicaAppendApply(benchmark::State& state) {
  const std::string value(kValueBytes, 'v');
  for (auto _ : state) {
    state.PauseTiming();
    auto replica = OpenReplica("replica");
    state.ResumeTiming();
    FillReplica(replica.get(), value);
    state.PauseTiming();
    replica.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * KeyCount());
}

void BM_ReplicaSnapshotRoundTrip(benchmark::State& state) {
  auto source = OpenReplica("snapshot-source");
  FillReplica(source.get(), std::string(kValueBytes, 'v'));
  uint64_t bytes = 0;
  std::string chunk;
  for (auto _ : state) {
    state.PauseTiming();
    auto target = OpenReplica("snapshot-target");
    state.ResumeTiming();
    auto snapshot = source->MakeSnapshot();
    Check(snapshot.status(), "MakeSnapshot");
    SnapshotSource& s = **snapshot;
    for (uint64_t offset = 0; offset < s.size(); offset += chunk.size()) {
      Check(s.Read(offset, 1u << 20, &chunk), "Read");
      Check(target->ReceiveSnapshotChunk(s.lsn(), s.term(), offset, chunk), "Receive");
    }
    Check(target->InstallSnapshot(s.lsn(), s.term(), s.size(), s.checksum()), "Install");
    bytes += s.size();
    state.PauseTiming();
    target.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * KeyCount());
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

BENCHMARK(BM_StorePut)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplicaAppendApply)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReplicaSnapshotRoundTrip)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace toydb

// Each benchmark runs five repetitions interleaved at random with the
// others; the median is the figure to quote.
int main(int argc, char** argv) {
  return toydb::bench::RunBenchmarks(
      argc, argv,
      {"--benchmark_repetitions=5", "--benchmark_enable_random_interleaving=true",
       "--benchmark_report_aggregates_only=true"});
}
