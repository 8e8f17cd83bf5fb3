#ifndef TOYDB_TESTS_STORAGE_REPLICA_REPLICA_TEST_UTIL_H_
#define TOYDB_TESTS_STORAGE_REPLICA_REPLICA_TEST_UTIL_H_

// Helpers shared by the ReplicaStore tests: options on a MemEnv without
// background threads, records built from commands, and the applied state as
// a map for comparisons.

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/storage/replica/replica_store.h"
#include "tests/storage/store_test_util.h"
#include "toydb/mem_env.h"

namespace toydb::testing {

inline ReplicaStoreOptions MemReplicaOptions(Env* env, std::string dir = "/replica") {
  ReplicaStoreOptions options;
  options.store.dir = std::move(dir);
  options.store.env = env;
  options.store.background_threads = false;
  options.store.data_segment_bytes_max = 64 * 1024;
  options.store.wal_segment_bytes_max = 64 * 1024;
  options.store.wal_retention_bytes = 0;
  options.store.cache_bytes_max = 16 * 1024;
  return options;
}

inline std::unique_ptr<ReplicaStore> OpenReplicaOrDie(const ReplicaStoreOptions& options) {
  StatusOr<std::unique_ptr<ReplicaStore>> replica = ReplicaStore::Open(options);
  INFO(replica.status().ToString());
  REQUIRE(replica.ok());
  return std::move(*replica);
}

inline ReplicatedCommand PutCommand(std::string key, std::string value, uint64_t client_id = 0,
                                    uint64_t sequence = 0,
                                    std::optional<Lsn> expected = std::nullopt) {
  ReplicatedCommand command;
  command.client_id = client_id;
  command.sequence = sequence;
  command.expected_version = expected;
  command.ops.push_back({WriteBatch::OpType::kPut, std::move(key), std::move(value)});
  return command;
}

inline ReplicatedCommand DeleteCommand(std::string key) {
  ReplicatedCommand command;
  command.ops.push_back({WriteBatch::OpType::kDelete, std::move(key), ""});
  return command;
}

inline WalRecord CommandRecord(Term term, Lsn lsn, const ReplicatedCommand& command) {
  return WalRecord{term, lsn, kWalRecordCommand, EncodeCommand(command)};
}

inline WalRecord NoopRecord(Term term, Lsn lsn) { return WalRecord{term, lsn, kWalRecordNoop, ""}; }

// Appends, syncs and applies `records`; returns the results.
inline std::vector<ApplyResult> AppendAndApply(ReplicaStore* replica,
                                               std::vector<WalRecord> records) {
  REQUIRE(replica->AppendLog(records).ok());
  REQUIRE(replica->SyncLog().ok());
  std::vector<ApplyResult> results;
  const Status s = replica->ApplyUpTo(records.back().lsn, &results);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(results.size() == records.size());
  return results;
}

struct VersionedEntry {
  std::string value;
  Lsn version = 0;
  bool operator==(const VersionedEntry&) const = default;
};
using StateMap = std::map<std::string, VersionedEntry>;

inline StateMap ReadState(Store* store) {
  StatusOr<std::unique_ptr<Snapshot>> snapshot = store->GetSnapshot();
  REQUIRE(snapshot.ok());
  StateMap state;
  REQUIRE((*snapshot)
              ->ForEach([&](std::string_view key, std::string_view value, Lsn version) {
                state[std::string(key)] = VersionedEntry{std::string(value), version};
                return absl::OkStatus();
              })
              .ok());
  // Point reads agree with the iteration.
  for (const auto& [key, entry] : state) {
    StatusOr<VersionedValue> read = store->GetVersioned(key);
    REQUIRE(read.ok());
    CHECK(read->value == entry.value);
    CHECK(read->version == entry.version);
  }
  return state;
}

}  // namespace toydb::testing

#endif  // TOYDB_TESTS_STORAGE_REPLICA_REPLICA_TEST_UTIL_H_
