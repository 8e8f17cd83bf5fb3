// store_demo: opens a Store, writes, reopens it and reads back, printing each
// step. Usage: store_demo [DIR] (default ./toydb-demo-data, wiped first).
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "toydb/store.h"

namespace {

void Check(const toydb::Status& status, const char* what) {
  if (status.ok()) return;
  std::fprintf(stderr, "store_demo: %s failed: %s\n", what, status.ToString().c_str());
  std::exit(1);
}

std::unique_ptr<toydb::Store> OpenStore(const std::string& dir) {
  toydb::StoreOptions options;
  options.dir = dir;
  auto store = toydb::Store::Open(options);
  Check(store.status(), "Open");
  return std::move(*store);
}

void PrintStats(toydb::Store& store) {
  toydb::StoreStats s = store.GetStats();
  std::printf("  stats: %llu keys, last LSN %llu, %llu data bytes, index %llu bytes\n",
              (unsigned long long)s.keys, (unsigned long long)s.last_lsn,
              (unsigned long long)s.data_bytes, (unsigned long long)s.index_memory_bytes);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : "toydb-demo-data";
  std::filesystem::remove_all(dir);
  std::printf("Opening a new store in %s\n", dir.c_str());
  {
    auto store = OpenStore(dir);
    for (int i = 0; i < 1000; ++i) {
      Check(store->Put({}, "user:" + std::to_string(i), "name-" + std::to_string(i)).status(),
            "Put");
    }
    std::printf("  put user:0 .. user:999 (each fdatasync'ed before it returned)\n");
    toydb::WriteBatch batch;
    batch.Put("account:alice", "90");
    batch.Put("account:bob", "110");
    auto lsn = store->Write({}, batch);
    Check(lsn.status(), "Write");
    std::printf("  atomic batch moved 10 from alice to bob at LSN %llu\n",
                (unsigned long long)*lsn);
    auto cas = store->CompareAndSet({}, "account:alice", *lsn, "80");
    Check(cas.status(), "CompareAndSet");
    auto stale = store->CompareAndSet({}, "account:alice", *lsn, "70");
    std::printf("  compare-and-set at version %llu: ok; again with the old version: %s\n",
                (unsigned long long)*lsn, stale.status().ToString().c_str());
    auto too_big = store->Put({}, std::string(5000, 'k'), "v");
    std::printf("  a 5000-byte key: %s\n", too_big.status().ToString().c_str());
    Check(store->Delete({}, "user:13").status(), "Delete");
    std::printf("  deleted user:13\n");
    PrintStats(*store);
    std::printf("Closing the store\n");
  }
  std::printf("Reopening %s\n", dir.c_str());
  auto store = OpenStore(dir);
  PrintStats(*store);
  for (const char* key : {"user:0", "user:13", "user:999", "account:alice", "account:bob"}) {
    auto v = store->GetVersioned(key);
    if (v.ok()) {
      std::printf("  get %-14s -> %-10s (version %llu)\n", key, v->value.c_str(),
                  (unsigned long long)v->version);
    } else {
      std::printf("  get %-14s -> %s\n", key, v.status().ToString().c_str());
    }
  }
  auto snapshot_or = store->GetSnapshot();
  Check(snapshot_or.status(), "GetSnapshot");
  auto& snapshot = *snapshot_or;
  int count = 0;
  Check(snapshot->ForEach([&](std::string_view, std::string_view, uint64_t) {
    count++;
    return toydb::Status();
  }),
        "snapshot");
  std::printf("  a snapshot at LSN %llu holds %d keys\n", (unsigned long long)snapshot->lsn(),
              count);
  return 0;
}
