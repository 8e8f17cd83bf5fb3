#ifndef TOYDB_STORAGE_REPLICA_REPLICA_STORE_IMPL_H_
#define TOYDB_STORAGE_REPLICA_REPLICA_STORE_IMPL_H_

// ReplicaStoreImpl: the ReplicaStore (replica_store.h) over a StoreImpl in
// replica mode. It keeps the replica's directory (state_dir.h): the hard
// state, the CURRENT pointer to the live state directory, staged and
// outgoing snapshots; the log, apply and sessions are the StoreImpl's.
// Owned by one Replica; one thread calls it (see ReplicaStore), and
// store() may be read from any thread.

#include <memory>
#include <string>

#include "src/storage/replica/replica_store.h"
#include "src/storage/replica/replica_store_front.h"
#include "src/storage/replica/snapshot_staging.h"
#include "src/storage/store/store_impl.h"

namespace toydb {

class ReplicaStoreImpl final : public ReplicaStore {
 public:
  static StatusOr<std::unique_ptr<ReplicaStore>> Open(const ReplicaStoreOptions& options);

  ReplicaHardState hard_state() const override { return hard_state_; }
  Status SaveHardState(const ReplicaHardState& state) override;

  Lsn first_lsn() const override { return impl()->ReplicaLogPosition().first_lsn; }
  Lsn last_lsn() const override { return impl()->ReplicaLogPosition().last_lsn; }
  Term last_term() const override { return impl()->ReplicaLogPosition().last_term; }
  Lsn synced_lsn() const override { return impl()->ReplicaLogPosition().synced_lsn; }
  StatusOr<Term> TermAt(Lsn lsn) override { return impl()->ReplicaTermAt(lsn); }
  Status ReadLog(Lsn from, Lsn to, uint64_t max_bytes, std::vector<WalRecord>* out) override {
    return impl()->ReplicaRead(from, to, max_bytes, out);
  }
  Status AppendLog(std::span<const WalRecord> records) override;
  Status SyncLog() override { return impl()->ReplicaSync(); }
  Status TruncateLogAfter(Lsn lsn) override { return impl()->ReplicaTruncateAfter(lsn); }
  void SetRetentionFloor(Lsn lsn) override {
    retention_floor_ = lsn;
    impl()->SetWalRetentionFloor(lsn);
  }

  Lsn applied_lsn() const override { return impl()->AppliedLsn(); }
  Status ApplyUpTo(Lsn commit_lsn, std::vector<ApplyResult>* results) override {
    return impl()->ReplicaApplyUpTo(commit_lsn, results);
  }

  Store* store() override { return front_.get(); }

  StatusOr<std::unique_ptr<SnapshotSource>> MakeSnapshot() override;
  uint64_t ReceivedSnapshotBytes(Lsn lsn, Term term) override {
    return staging_.ReceivedBytes(lsn, term);
  }
  Status ReceiveSnapshotChunk(Lsn lsn, Term term, uint64_t offset, std::string_view data) override;
  Status InstallSnapshot(Lsn lsn, Term term, uint64_t size, uint64_t checksum) override;

  Status RunBackgroundWork() override { return impl()->RunBackgroundWork(); }

  // For tests: the current store and its session table's encoding.
  StoreImpl* StoreForTesting() { return impl(); }

 private:
  ReplicaStoreImpl(const ReplicaStoreOptions& options, Env* env);
  Status Recover();
  // DataLoss if CURRENT is lost (`new_replica`) or names a missing
  // directory while some state directory exists.
  Status CheckCurrentExists(bool new_replica) const;
  Status RemoveLeftovers();
  StatusOr<std::unique_ptr<StoreImpl>> OpenState(const std::string& state_dir_name) const;
  // The (lsn, term) of a snapshot must be past what is applied.
  Status CheckSnapshotIsNewer(Lsn lsn) const;
  // Switches CURRENT to the built `next_name` and makes `next` the live store.
  Status SwitchTo(const std::string& next_name, std::unique_ptr<StoreImpl> next);
  StoreImpl* impl() const { return front_->impl(); }

  const ReplicaStoreOptions options_;
  Env* const env_;
  const std::string dir_;
  std::unique_ptr<FileLock> lock_;
  ReplicaHardState hard_state_;
  std::string current_;  // The live state directory's name.
  std::unique_ptr<ReplicaStoreFront> front_;
  SnapshotStaging staging_;
  uint64_t next_outgoing_ = 1;
  // Kept here too: a store opened by an install starts with it.
  Lsn retention_floor_ = 0;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_REPLICA_STORE_IMPL_H_
