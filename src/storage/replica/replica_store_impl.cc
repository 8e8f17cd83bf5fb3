// ReplicaStoreImpl (replica_store_impl.h): opening, the hard state, appends
// and snapshots. The log and apply are StoreImpl's (store_replica.cc).
#include "src/storage/replica/replica_store_impl.h"

#include <fmt/format.h>

#include "src/storage/replica/command_codec.h"
#include "src/storage/replica/hard_state.h"
#include "src/storage/replica/snapshot_install.h"
#include "src/storage/replica/snapshot_source.h"
#include "src/storage/replica/state_dir.h"

namespace toydb {
namespace {
constexpr std::string_view kOutgoingPrefix = "outgoing-";
}  // namespace

StatusOr<std::unique_ptr<ReplicaStore>> ReplicaStore::Open(const ReplicaStoreOptions& options) {
  return ReplicaStoreImpl::Open(options);
}

ReplicaStoreImpl::ReplicaStoreImpl(const ReplicaStoreOptions& options, Env* env)
    : options_(options), env_(env), dir_(options.store.dir), staging_(env, options.store.dir) {}

StatusOr<std::unique_ptr<ReplicaStore>> ReplicaStoreImpl::Open(const ReplicaStoreOptions& options) {
  if (Status s = options.store.Validate(); !s.ok()) return s;
  if (options.session_count_max < 1) {
    return absl::InvalidArgumentError("ReplicaStoreOptions.session_count_max must be at least 1");
  }
  Env* env = options.store.env != nullptr ? options.store.env : Env::Default();
  std::unique_ptr<ReplicaStoreImpl> replica(new ReplicaStoreImpl(options, env));
  if (Status s = replica->Recover(); !s.ok()) return s;
  return std::unique_ptr<ReplicaStore>(std::move(replica));
}

// CURRENT names the live state; anything else in the directory is an
// install or a transfer that did not finish, or is finished with.
Status ReplicaStoreImpl::Recover() {
  if (Status s = env_->CreateDir(dir_); !s.ok()) return s;
  StatusOr<std::unique_ptr<FileLock>> lock = env_->LockFile(JoinPath(dir_, "LOCK"));
  if (!lock.ok()) return lock.status();
  lock_ = std::move(*lock);
  StatusOr<std::string> current = ReadCurrent(env_, dir_);
  const bool new_replica = absl::IsNotFound(current.status());
  if (new_replica) current = StateDirName(1);
  if (!current.ok()) return current.status();
  current_ = *current;
  // Checked before anything is written: an Open that fails changes nothing.
  if (Status s = CheckCurrentExists(new_replica); !s.ok()) return s;
  if (new_replica) {
    // The state directory is created by its store's Open.
    if (Status s = WriteCurrent(env_, dir_, current_); !s.ok()) return s;
  }
  StatusOr<ReplicaHardState> hard_state = ReadHardState(env_, dir_);
  if (!hard_state.ok()) return hard_state.status();
  hard_state_ = *hard_state;
  StatusOr<std::unique_ptr<StoreImpl>> store = OpenState(current_);
  if (!store.ok()) return store.status();
  front_ = std::make_unique<ReplicaStoreFront>(std::move(*store));
  staging_.DropUpTo(impl()->AppliedLsn());
  return RemoveLeftovers();
}

// CURRENT is written before the store creates its directory, so a missing
// directory is a new replica's, unless a state directory exists: then
// CURRENT is wrong (or lost), and opening would start an empty state (or an
// old one) and remove the real one as a leftover.
Status ReplicaStoreImpl::CheckCurrentExists(bool new_replica) const {
  const bool current_exists = env_->FileExists(JoinPath(dir_, kCurrentFileName));
  if (!new_replica && env_->FileExists(JoinPath(dir_, current_))) return absl::OkStatus();
  StatusOr<std::vector<std::string>> names = env_->GetChildren(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    uint64_t number = 0;
    if (ParseStateDirName(name, &number)) {
      if (!current_exists) {
        return absl::DataLossError(
            fmt::format("{}/CURRENT is missing while the state directory {} exists; nothing was "
                        "changed (restore CURRENT, or rebuild the replica from its group)",
                        dir_, name));
      }
      return absl::DataLossError(fmt::format(
          "{}/CURRENT names {}, which does not exist, while {} does; nothing was changed", dir_,
          current_, name));
    }
  }
  return absl::OkStatus();
}

Status ReplicaStoreImpl::RemoveLeftovers() {
  StatusOr<std::vector<std::string>> names = env_->GetChildren(dir_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    uint64_t number = 0;
    const bool garbage = (ParseStateDirName(name, &number) && name != current_) ||
                         name.starts_with(kOutgoingPrefix) || name.ends_with(".tmp");
    if (!garbage) continue;
    if (Status s = RemoveTree(env_, JoinPath(dir_, name)); !s.ok()) return s;
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<StoreImpl>> ReplicaStoreImpl::OpenState(
    const std::string& state_dir_name) const {
  StoreOptions options = options_.store;
  options.dir = JoinPath(dir_, state_dir_name);
  options.env = env_;
  StoreImpl::ReplicaMode mode;
  mode.session_count_max = options_.session_count_max;
  mode.commit_lsn = hard_state_.commit_lsn;
  StatusOr<std::unique_ptr<StoreImpl>> store = StoreImpl::OpenReplica(options, mode);
  if (store.ok()) (*store)->SetWalRetentionFloor(retention_floor_);
  return store;
}

Status ReplicaStoreImpl::SaveHardState(const ReplicaHardState& state) {
  if (Status s = WriteHardState(env_, dir_, state); !s.ok()) return s;
  hard_state_ = state;
  return absl::OkStatus();
}

// Checked here, before the log sees them, so that a bad record is refused
// whole and never reaches apply, where it could only be DataLoss.
Status ReplicaStoreImpl::AppendLog(std::span<const WalRecord> records) {
  if (records.empty()) return absl::OkStatus();
  for (const WalRecord& record : records) {
    Status s;
    if (record.type == kWalRecordNoop) {
      if (!record.payload.empty()) s = absl::InvalidArgumentError("a no-op record has a payload");
    } else if (record.type == kWalRecordCommand) {
      StatusOr<CommandView> command = DecodeCommandView(record.payload);
      s = command.ok() ? ValidateCommand(*command, options_.store)
                       : absl::InvalidArgumentError(std::string(command.status().message()));
    } else {
      s = absl::InvalidArgumentError(
          fmt::format("record type {} is not a replica's", static_cast<int>(record.type)));
    }
    if (!s.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("log record at LSN {} refused, nothing "
                      "appended: {}",
                      record.lsn, std::string(s.message())));
    }
  }
  return impl()->ReplicaAppend(records);
}

StatusOr<std::unique_ptr<SnapshotSource>> ReplicaStoreImpl::MakeSnapshot() {
  StatusOr<StoreImpl::ReplicaSnapshot> snapshot = impl()->MakeReplicaSnapshot();
  if (!snapshot.ok()) return snapshot.status();
  const std::string path =
      JoinPath(dir_, fmt::format("{}{}-{}.snap", kOutgoingPrefix, snapshot->lsn, next_outgoing_++));
  return WriteSnapshotFile(env_, path, std::move(*snapshot));
}

Status ReplicaStoreImpl::CheckSnapshotIsNewer(Lsn lsn) const {
  const Lsn applied = impl()->AppliedLsn();
  if (lsn > applied) return absl::OkStatus();
  return absl::FailedPreconditionError(
      fmt::format("snapshot at LSN {} is not past the applied LSN {}: it would take the state back",
                  lsn, applied));
}

Status ReplicaStoreImpl::ReceiveSnapshotChunk(Lsn lsn, Term term, uint64_t offset,
                                              std::string_view data) {
  if (Status s = CheckSnapshotIsNewer(lsn); !s.ok()) return s;
  return staging_.Receive(lsn, term, offset, data);
}

Status ReplicaStoreImpl::InstallSnapshot(Lsn lsn, Term term, uint64_t size, uint64_t checksum) {
  if (Status s = CheckSnapshotIsNewer(lsn); !s.ok()) {
    staging_.DropUpTo(lsn);
    return s;
  }
  if (Status s = staging_.Verify(lsn, term, size, checksum); !s.ok()) return s;
  uint64_t number = 0;
  ParseStateDirName(current_, &number);
  const std::string next_name = StateDirName(number + 1);
  StoreOptions options = options_.store;
  options.dir = JoinPath(dir_, next_name);
  options.env = env_;
  Status s = BuildStateDirFromSnapshot(options, staging_.PathFor(lsn, term), size, lsn, term,
                                       options_.session_count_max);
  // The new directory's entry durable before CURRENT may name it.
  if (s.ok()) s = env_->SyncDir(dir_);
  StatusOr<std::unique_ptr<StoreImpl>> next =
      s.ok() ? OpenState(next_name) : StatusOr<std::unique_ptr<StoreImpl>>(s);
  if (!next.ok()) {
    // Not live: the old state is untouched. A malformed stream is dropped.
    RemoveTree(env_, options.dir).IgnoreError();
    if (absl::IsDataLoss(next.status())) staging_.DropAll();
    return next.status();
  }
  return SwitchTo(next_name, std::move(*next));
}

Status ReplicaStoreImpl::SwitchTo(const std::string& next_name, std::unique_ptr<StoreImpl> next) {
  const Status switched = WriteCurrent(env_, dir_, next_name);
  if (!switched.ok()) {
    // The rename may have happened without its directory sync: whatever
    // CURRENT now names is live, and a crash may still bring back the old.
    StatusOr<std::string> current = ReadCurrent(env_, dir_);
    if (!current.ok() || *current != next_name) {
      next.reset();
      RemoveTree(env_, JoinPath(dir_, next_name)).IgnoreError();
      return switched;
    }
  }
  const std::string old_name = current_;
  current_ = next_name;
  front_->Swap(std::move(next)).reset();
  staging_.DropAll();
  // While the switch may not be durable, the old state must stay. Else
  // best effort: the next Open removes what is left.
  if (!switched.ok()) return switched;
  RemoveTree(env_, JoinPath(dir_, old_name)).IgnoreError();
  return absl::OkStatus();
}

}  // namespace toydb
