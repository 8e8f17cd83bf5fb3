// ReplicaStoreFront (replica_store_front.h).
#include "src/storage/replica/replica_store_front.h"

namespace toydb {

std::unique_ptr<StoreImpl> ReplicaStoreFront::Swap(std::unique_ptr<StoreImpl> next) {
  WriterLock lock(&mu_);
  std::swap(store_, next);
  return next;
}

StatusOr<Lsn> ReplicaStoreFront::Put(const WriteOptions& options, std::string_view key,
                                     std::string_view value) {
  ReaderLock lock(&mu_);
  return store_->Put(options, key, value);
}

StatusOr<Lsn> ReplicaStoreFront::Delete(const WriteOptions& options, std::string_view key) {
  ReaderLock lock(&mu_);
  return store_->Delete(options, key);
}

StatusOr<Lsn> ReplicaStoreFront::Write(const WriteOptions& options, const WriteBatch& batch) {
  ReaderLock lock(&mu_);
  return store_->Write(options, batch);
}

StatusOr<Lsn> ReplicaStoreFront::CompareAndSet(const WriteOptions& options, std::string_view key,
                                               Lsn expected_version, std::string_view value) {
  ReaderLock lock(&mu_);
  return store_->CompareAndSet(options, key, expected_version, value);
}

StatusOr<std::string> ReplicaStoreFront::Get(std::string_view key) {
  ReaderLock lock(&mu_);
  return store_->Get(key);
}

Status ReplicaStoreFront::Get(std::string_view key, std::string* value) {
  ReaderLock lock(&mu_);
  return store_->Get(key, value);
}

StatusOr<VersionedValue> ReplicaStoreFront::GetVersioned(std::string_view key) {
  ReaderLock lock(&mu_);
  return store_->GetVersioned(key);
}

StatusOr<std::unique_ptr<Snapshot>> ReplicaStoreFront::GetSnapshot() {
  ReaderLock lock(&mu_);
  return store_->GetSnapshot();
}

Status ReplicaStoreFront::Checkpoint() {
  ReaderLock lock(&mu_);
  return store_->Checkpoint();
}

Status ReplicaStoreFront::Compact(bool force) {
  ReaderLock lock(&mu_);
  return store_->Compact(force);
}

Status ReplicaStoreFront::RunBackgroundWork() {
  ReaderLock lock(&mu_);
  return store_->RunBackgroundWork();
}

StoreStats ReplicaStoreFront::GetStats() {
  ReaderLock lock(&mu_);
  return store_->GetStats();
}

}  // namespace toydb
