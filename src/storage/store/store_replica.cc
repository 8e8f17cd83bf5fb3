// StoreImpl in replica mode (store_impl.h, ReplicaMode): the log written at
// the protocol's (term, LSN), apply up to a commit LSN with compare-and-set
// and sessions evaluated at apply, and the session table kept with the
// checkpoint. The same index, data log, checkpoint and recovery as the
// single-node store; only who picks LSNs and when records are applied differ.
#include <fmt/format.h>

#include <algorithm>

#include "src/storage/replica/command_codec.h"
#include "src/storage/replica/replica_store.h"
#include "src/storage/replica/session_table.h"
#include "src/storage/store/store_impl.h"
#include "src/util/check.h"

namespace toydb {
namespace {
// Records read from the log per hold of the WAL lock while applying.
constexpr uint64_t kApplyChunkBytes = 4u << 20;
}  // namespace

StatusOr<std::unique_ptr<StoreImpl>> StoreImpl::OpenReplica(const StoreOptions& options,
                                                            const ReplicaMode& mode) {
  if (mode.session_count_max < 1) {
    return absl::InvalidArgumentError("ReplicaStoreOptions.session_count_max must be at least 1");
  }
  return OpenImpl(options, mode);
}

Status StoreImpl::RefuseReplicaWrite() const {
  return absl::FailedPreconditionError(
      "this store holds a replica's state, which changes only by applying the replicated log; "
      "write through the replica group's primary");
}

Status StoreImpl::LoadSessions(const CheckpointState& state) {
  if (!replica_.has_value()) return absl::OkStatus();
  StatusOr<SessionTable> table =
      SessionTable::Decode(state.replica_state, replica_->session_count_max, state.applied_lsn);
  if (!table.ok()) return table.status();
  sessions_ = std::make_unique<SessionTable>(std::move(*table));
  return absl::OkStatus();
}

// A replica applies on Open only what it had applied or knew committed:
// later records may belong to a suffix the new primary cuts.
Lsn StoreImpl::ReplayLimit() {
  if (!replica_.has_value()) return wal_->last_lsn();
  return std::min(std::max(applied_lsn_, replica_->commit_lsn), wal_->last_lsn());
}

StoreImpl::LogPosition StoreImpl::ReplicaLogPosition() {
  MutexLock wal_lock(&wal_mu_);
  return LogPosition{wal_->first_lsn(), wal_->last_lsn(), wal_->last_term(), wal_->synced_lsn()};
}

Lsn StoreImpl::AppliedLsn() {
  MutexLock lock(&mu_);
  return applied_lsn_;
}

Status StoreImpl::ReplicaAppend(std::span<const WalRecord> records) {
  {
    MutexLock lock(&mu_);
    if (!read_only_cause_.ok()) return read_only_cause_;
  }
  Status s;
  bool appended_any = false;
  {
    MutexLock wal_lock(&wal_mu_);
    const Lsn before = wal_->last_lsn();
    s = wal_->Append(records);
    appended_any = wal_->last_lsn() != before;
  }
  if (s.ok()) return s;
  // A refusal (a gap, an oversized record, a full disk) left the log as it
  // was; anything else leaves its state unknown.
  if (!appended_any && (absl::IsInvalidArgument(s) || absl::IsResourceExhausted(s))) return s;
  {
    MutexLock lock(&mu_);
    SetReadOnly(s);
  }
  QueueReadOnlyEvent();
  DeliverEvents();
  return s;
}

Status StoreImpl::ReplicaSync() {
  Status s;
  {
    MutexLock wal_lock(&wal_mu_);
    if (wal_->synced_lsn() == wal_->last_lsn()) return s;
    s = wal_->Sync();
    last_wal_sync_micros_ = clock_->NowMicros();
  }
  {
    MutexLock lock(&mu_);
    stats_.wal_syncs++;
    if (!s.ok()) SetReadOnly(s);
  }
  if (!s.ok()) {
    QueueReadOnlyEvent();
    DeliverEvents();
  }
  return s;
}

Status StoreImpl::ReplicaRead(Lsn from, Lsn to, uint64_t max_bytes, std::vector<WalRecord>* out) {
  MutexLock wal_lock(&wal_mu_);
  if (from < wal_->first_lsn() || to > wal_->last_lsn()) {
    return absl::OutOfRangeError(fmt::format("log read of LSNs {} to {}: the log holds {} to {}",
                                             from, to, wal_->first_lsn(), wal_->last_lsn()));
  }
  if (from > to) return absl::OkStatus();
  std::vector<WalRecord> records;
  if (Status s = wal_->Read(from, max_bytes, &records); !s.ok()) return s;
  for (WalRecord& record : records) {
    if (record.lsn > to) break;
    out->push_back(std::move(record));
  }
  return absl::OkStatus();
}

StatusOr<Term> StoreImpl::ReplicaTermAt(Lsn lsn) {
  MutexLock wal_lock(&wal_mu_);
  if (lsn + 1 < wal_->first_lsn() || lsn > wal_->last_lsn()) {
    return absl::OutOfRangeError(fmt::format("no term for LSN {}: the log holds {} to {}", lsn,
                                             wal_->first_lsn(), wal_->last_lsn()));
  }
  return wal_->TermAt(lsn);
}

Status StoreImpl::ReplicaTruncateAfter(Lsn lsn) {
  Status s;
  {
    // mu_ keeps apply out while the suffix goes.
    MutexLock lock(&mu_);
    if (!read_only_cause_.ok()) return read_only_cause_;
    if (lsn < applied_lsn_) {
      return absl::FailedPreconditionError(
          fmt::format("cannot cut the log after LSN {}: records up to {} are applied, so committed",
                      lsn, applied_lsn_));
    }
    MutexLock wal_lock(&wal_mu_);
    if (lsn >= wal_->last_lsn()) return absl::OkStatus();
    s = wal_->TruncateAfter(lsn);
    if (s.ok()) return s;
    SetReadOnly(s);
  }
  QueueReadOnlyEvent();
  DeliverEvents();
  return s;
}

void StoreImpl::SetWalRetentionFloor(Lsn lsn) {
  MutexLock wal_lock(&wal_mu_);
  wal_retention_floor_ = lsn;
}

Status StoreImpl::ReplicaApplyUpTo(Lsn commit_lsn, std::vector<ApplyResult>* results) {
  {
    MutexLock wal_lock(&wal_mu_);
    if (commit_lsn > wal_->last_lsn()) {
      return absl::InvalidArgumentError(fmt::format("cannot apply up to LSN {}: the log ends at {}",
                                                    commit_lsn, wal_->last_lsn()));
    }
  }
  std::vector<WalRecord> records;
  Status s;
  while (s.ok()) {
    Lsn next = 0;
    {
      MutexLock lock(&mu_);
      if (!read_only_cause_.ok()) return read_only_cause_;
      next = applied_lsn_ + 1;
    }
    if (next > commit_lsn) break;
    {
      // Read without mu_: readers of the store need not wait for the disk.
      MutexLock wal_lock(&wal_mu_);
      s = wal_->Read(next, kApplyChunkBytes, &records);
    }
    if (s.ok() && records.empty()) {
      s = absl::DataLossError(fmt::format("the log holds no record at LSN {}", next));
    }
    MutexLock lock(&mu_);
    for (size_t i = 0; s.ok() && i < records.size() && records[i].lsn <= commit_lsn; ++i) {
      ApplyResult result;
      s = ApplyReplicated(records[i], &result);
      if (s.ok()) results->push_back(std::move(result));
    }
  }
  QueueReadOnlyEvent();
  DeliverEvents();
  return s;
}

Status StoreImpl::ApplyReplicated(const WalRecord& record, ApplyResult* result) {
  // Records are applied once each, in LSN order, with none skipped.
  TOYDB_CHECK(record.lsn == applied_lsn_ + 1,
              fmt::format("applying LSN {} after LSN {}", record.lsn, applied_lsn_));
  ApplyResult local;
  ApplyResult& r = result != nullptr ? *result : local;
  r = ApplyResult{};
  r.lsn = record.lsn;
  r.type = record.type;
  if (record.type == kWalRecordNoop && record.payload.empty()) {
    SkipLsn(record.lsn);
    return absl::OkStatus();
  }
  if (record.type == kWalRecordCommand) return ApplyCommand(record, &r);
  return absl::DataLossError(fmt::format(
      "replica log record at LSN {} has type {} ({} payload bytes); a replica's log holds only "
      "commands and empty no-ops",
      record.lsn, static_cast<int>(record.type), record.payload.size()));
}

Status StoreImpl::ApplyCommand(const WalRecord& record, ApplyResult* r) {
  StatusOr<CommandView> command = DecodeCommandView(record.payload);
  if (!command.ok()) return command.status();
  // AppendLog refused commands over the limits: one here is damage, and
  // applying it could break the index (16-bit key lengths).
  if (Status s = ValidateCommand(*command, options_); !s.ok()) {
    return absl::DataLossError(
        fmt::format("replica log record at LSN {}: {}", record.lsn, std::string(s.message())));
  }
  r->client_id = command->client_id;
  r->sequence = command->sequence;
  const SessionTable::Entry* session =
      command->client_id == 0 ? nullptr : sessions_->Find(command->client_id);
  if (session != nullptr && command->sequence <= session->sequence) {
    if (command->sequence == session->sequence) {
      r->status = session->status;
      r->version = session->version;
      r->duplicate = true;
    } else {
      r->status = absl::FailedPreconditionError(fmt::format(
          "command {} of client {} is older than the session's last applied command, {}",
          command->sequence, command->client_id, session->sequence));
    }
    SkipLsn(record.lsn);
    return absl::OkStatus();
  }
  if (command->expected_version.has_value()) {
    const std::optional<IndexEntry> entry = index_.Find(command->ops.front().key);
    const Lsn current = entry.has_value() ? entry->lsn : 0;
    if (current != *command->expected_version) {
      r->status = absl::AbortedError(
          fmt::format("compare-and-set failed: expected version {}, current version {}",
                      *command->expected_version, current));
      r->version = current;
    }
  }
  if (r->status.ok()) {
    if (Status s = ApplyOps(record.lsn, command->ops); !s.ok()) {
      // The record stays in the log; the next Open applies it again.
      SetReadOnly(s);
      return read_only_cause_;
    }
    last_lsn_ = applied_lsn_;
    r->version = record.lsn;
    stats_.writes++;
  } else {
    SkipLsn(record.lsn);
  }
  if (command->client_id != 0) {
    sessions_->Record(command->client_id, command->sequence, record.lsn, r->status, r->version);
  }
  return absl::OkStatus();
}

void StoreImpl::SkipLsn(Lsn lsn) {
  TOYDB_CHECK(lsn == applied_lsn_ + 1,
              fmt::format("skipping LSN {} after LSN {}", lsn, applied_lsn_));
  applied_lsn_ = lsn;
  last_lsn_ = lsn;
}

StatusOr<StoreImpl::ReplicaSnapshot> StoreImpl::MakeReplicaSnapshot() {
  ReplicaSnapshot snapshot;
  MutexLock lock(&mu_);
  StatusOr<std::unique_ptr<Snapshot>> data = GetSnapshotLocked();
  if (!data.ok()) return data.status();
  snapshot.data = std::move(*data);
  snapshot.lsn = applied_lsn_;
  snapshot.sessions = sessions_ != nullptr ? sessions_->Encode() : std::string();
  // Under mu_ too: a checkpoint cannot release the record at lsn meanwhile.
  MutexLock wal_lock(&wal_mu_);
  StatusOr<Term> term = wal_->TermAt(snapshot.lsn);
  if (!term.ok()) return term.status();
  snapshot.term = *term;
  return snapshot;
}

std::string StoreImpl::EncodedSessionsForTesting() {
  MutexLock lock(&mu_);
  return sessions_ != nullptr ? sessions_->Encode() : std::string();
}

}  // namespace toydb
