#ifndef TOYDB_TESTS_STORAGE_STORE_TEST_UTIL_H_
#define TOYDB_TESTS_STORAGE_STORE_TEST_UTIL_H_

// Helpers shared by the Store tests: options on a MemEnv with no background
// thread (the test drives everything), and open-or-fail.

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "toydb/mem_env.h"
#include "toydb/store.h"

namespace toydb::testing {

inline StoreOptions MemStoreOptions(MemEnv* env, std::string dir = "/db") {
  StoreOptions options;
  options.dir = std::move(dir);
  options.env = env;
  options.background_threads = false;
  options.data_segment_bytes_max = 64 * 1024;
  options.wal_segment_bytes_max = 64 * 1024;
  options.wal_retention_bytes = 0;
  options.cache_bytes_max = 16 * 1024;
  return options;
}

inline std::unique_ptr<Store> OpenOrDie(const StoreOptions& options) {
  StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

// Simulates a power cut: the store's process dies (its handles go dead, so
// closing it writes nothing) and the disk keeps what `keep` allows.
inline void CrashStore(MemEnv* env, std::unique_ptr<Store>* store,
                       const MemEnv::KeepUnsynced& keep) {
  env->Crash(keep);
  store->reset();
}

inline void CrashStore(MemEnv* env, std::unique_ptr<Store>* store) {
  CrashStore(env, store, [](const std::string&, uint64_t) { return uint64_t{0}; });
}

}  // namespace toydb::testing

#endif  // TOYDB_TESTS_STORAGE_STORE_TEST_UTIL_H_
