#ifndef TOYDB_STORAGE_REPLICA_REPLICA_STORE_FRONT_H_
#define TOYDB_STORAGE_REPLICA_REPLICA_STORE_FRONT_H_

// ReplicaStoreFront: the Store that ReplicaStore::store() hands out. It
// forwards every call to the replica's current StoreImpl, which a snapshot
// install replaces: readers on other threads keep one stable pointer, and a
// shared lock keeps the store they are in alive until their call returns.
// Writes are FailedPrecondition (a replica's state changes only by apply).
// Thread-safe.

#include <memory>

#include "src/storage/store/store_impl.h"
#include "src/util/mutex.h"
#include "toydb/store.h"

namespace toydb {

class ReplicaStoreFront final : public Store {
 public:
  explicit ReplicaStoreFront(std::unique_ptr<StoreImpl> store) : store_(std::move(store)) {}

  // The current store. REQUIRES: called by the replica's own thread (the
  // only one that swaps it).
  StoreImpl* impl() ABSL_NO_THREAD_SAFETY_ANALYSIS { return store_.get(); }
  // Installs `next` and returns the previous store, which the caller
  // destroys (once no reader is in it: the swap waits for them).
  std::unique_ptr<StoreImpl> Swap(std::unique_ptr<StoreImpl> next);

  StatusOr<Lsn> Put(const WriteOptions& options, std::string_view key,
                    std::string_view value) override;
  StatusOr<Lsn> Delete(const WriteOptions& options, std::string_view key) override;
  StatusOr<Lsn> Write(const WriteOptions& options, const WriteBatch& batch) override;
  StatusOr<Lsn> CompareAndSet(const WriteOptions& options, std::string_view key,
                              Lsn expected_version, std::string_view value) override;
  StatusOr<std::string> Get(std::string_view key) override;
  Status Get(std::string_view key, std::string* value) override;
  StatusOr<VersionedValue> GetVersioned(std::string_view key) override;
  StatusOr<std::unique_ptr<Snapshot>> GetSnapshot() override;
  Status Checkpoint() override;
  Status Compact(bool force) override;
  Status RunBackgroundWork() override;
  StoreStats GetStats() override;

 private:
  SharedMutex mu_;
  std::unique_ptr<StoreImpl> store_ ABSL_GUARDED_BY(mu_);
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_REPLICA_STORE_FRONT_H_
