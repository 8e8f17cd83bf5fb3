// A replica with background threads: readers on other threads use store()
// while the replica's thread applies and installs a snapshot, which swaps
// the store under them.
#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "tests/storage/replica/replica_test_util.h"

namespace toydb {
namespace {

using testing::AppendAndApply;
using testing::CommandRecord;
using testing::MemReplicaOptions;
using testing::OpenReplicaOrDie;
using testing::PutCommand;

TEST_CASE("Readers of a replica's store run through apply and snapshot installs",
          "[replica][threads]") {
  MemEnv env;
  auto source_options = MemReplicaOptions(&env, "/source");
  source_options.store.background_threads = true;
  source_options.store.checkpoint_wal_bytes = 4096;
  auto source = OpenReplicaOrDie(source_options);
  auto options = MemReplicaOptions(&env, "/target");
  options.store.background_threads = true;
  options.store.checkpoint_wal_bytes = 4096;
  auto target = OpenReplicaOrDie(options);

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> bad_reads{0};
  Store* store = target->store();  // Stable across installs.
  std::thread reader([&] {
    while (!stop.load()) {
      StatusOr<VersionedValue> read = store->GetVersioned("k");
      // Whichever store answers, a present key has a version.
      if (!read.ok() ? !absl::IsNotFound(read.status()) : read->version == 0) bad_reads++;
      store->GetStats();
      reads++;
    }
  });
  Lsn lsn = 0;
  for (int round = 0; round < 5; ++round) {
    for (int i = 0; i < 50; ++i) {
      ++lsn;
      AppendAndApply(source.get(),
                     {CommandRecord(1, lsn, PutCommand("k", std::string(100, 'v'), 1, lsn))});
    }
    auto snapshot = *source->MakeSnapshot();
    std::string bytes;
    REQUIRE(snapshot->Read(0, snapshot->size(), &bytes).ok());
    REQUIRE(target->ReceiveSnapshotChunk(snapshot->lsn(), snapshot->term(), 0, bytes).ok());
    REQUIRE(target
                ->InstallSnapshot(snapshot->lsn(), snapshot->term(), snapshot->size(),
                                  snapshot->checksum())
                .ok());
    CHECK(target->store()->GetVersioned("k")->version == lsn);
  }
  stop = true;
  reader.join();
  CHECK(reads.load() > 0);
  CHECK(bad_reads.load() == 0);
}

}  // namespace
}  // namespace toydb
