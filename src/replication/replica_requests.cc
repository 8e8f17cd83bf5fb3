// Replica: the client side. A write becomes a proposal, is answered once it
// is applied (its result is known) and its write concern is met, or when its
// deadline passes or the primary loses its role; a read is served from the
// applied state once its consistency rule allows.
#include <fmt/format.h>

#include "src/replication/replica.h"
#include "src/storage/replica/command_codec.h"

namespace toydb::replication {
namespace {

uint8_t CodeOf(const Status& status) { return static_cast<uint8_t>(status.code()); }

const char* ConcernName(const WriteConcern& concern) {
  switch (concern.kind) {
    case WriteConcernKind::kLeader:
      return "leader";
    case WriteConcernKind::kCount:
      return "count";
    case WriteConcernKind::kMajority:
      return "majority";
    case WriteConcernKind::kAll:
      return "all";
  }
  return "?";
}

}  // namespace

void Replica::Submit(const ClientRequest& request, Reply reply) {
  if (!failure_.ok()) {
    reply(ErrorResponse(request, absl::UnavailableError(fmt::format(
                                     "replica {} of partition {} stopped after a storage "
                                     "failure: {}",
                                     self_, partition_.id, std::string(failure_.message())))));
    return;
  }
  if (request.partition != partition_.id) {
    reply(ErrorResponse(request, absl::InvalidArgumentError(
                                     fmt::format("request for partition {} reached partition {}",
                                                 request.partition, partition_.id))));
    return;
  }
  if (request.op == OpType::kGet) {
    SubmitRead(request, std::move(reply));
  } else {
    SubmitWrite(request, std::move(reply));
  }
}

namespace {

// The command a write request asks for; InvalidArgument over a limit.
StatusOr<ReplicatedCommand> CommandOf(const ClientRequest& request, const StoreOptions& limits) {
  ReplicatedCommand command;
  command.client_id = request.client_id;
  command.sequence = request.sequence;
  switch (request.op) {
    case OpType::kPut:
      command.ops.push_back({WriteBatch::OpType::kPut, request.key, request.value});
      break;
    case OpType::kDelete:
      command.ops.push_back({WriteBatch::OpType::kDelete, request.key, {}});
      break;
    case OpType::kCompareAndSet:
      command.expected_version = request.expected_version;
      command.ops.push_back({WriteBatch::OpType::kPut, request.key, request.value});
      break;
    case OpType::kBatch:
      for (const BatchOp& op : request.batch) {
        if (op.type != OpType::kPut && op.type != OpType::kDelete) {
          return absl::InvalidArgumentError("a batch holds only puts and deletes");
        }
        command.ops.push_back(
            {op.type == OpType::kPut ? WriteBatch::OpType::kPut : WriteBatch::OpType::kDelete,
             op.key, op.type == OpType::kPut ? op.value : std::string()});
      }
      break;
    case OpType::kGet:
      return absl::InvalidArgumentError("a read is not a write");
  }
  if (command.ops.empty()) return absl::InvalidArgumentError("write batch is empty");
  // The same limits the store checks when the record is appended.
  CommandView view;
  for (const WriteBatch::Op& op : command.ops) view.ops.push_back({op.type, op.key, op.value});
  if (Status s = ValidateCommand(view, limits); !s.ok()) return s;
  return command;
}

}  // namespace

void Replica::SubmitWrite(const ClientRequest& request, Reply reply) {
  if (core_->role() != Role::kPrimary) {
    reply(ErrorResponse(request, NotPrimaryError(fmt::format("replica {} of partition {} is not "
                                                             "the primary",
                                                             self_, partition_.id),
                                                 core_->leader())));
    return;
  }
  StatusOr<ReplicatedCommand> command = CommandOf(request, limits_);
  if (!command.ok()) {
    reply(ErrorResponse(request, command.status()));
    return;
  }
  std::string payload = EncodeCommand(*command);
  if (payload.size() > options_.append_bytes_max) {
    reply(ErrorResponse(request, absl::InvalidArgumentError(fmt::format(
                                     "write of {} bytes exceeds the replication limit of {} "
                                     "(ReplicaOptions.append_bytes_max)",
                                     payload.size(), options_.append_bytes_max))));
    return;
  }
  StatusOr<Lsn> lsn = core_->Propose(std::move(payload));
  if (!lsn.ok()) {
    reply(ErrorResponse(request, lsn.status()));
    return;
  }
  PendingWrite& write = writes_[*lsn];
  write.request = request;
  write.request.value.clear();
  write.request.batch.clear();
  write.reply = std::move(reply);
  write.deadline_tick = now_tick_ + options_.write_timeout_ticks;
  write.term = core_->term();
}

void Replica::SubmitRead(const ClientRequest& request, Reply reply) {
  PendingRead read;
  read.request = request;
  read.reply = std::move(reply);
  read.deadline_tick = now_tick_ + options_.read_timeout_ticks;
  const uint64_t id = next_read_id_++;
  switch (request.consistency) {
    case ReadConsistency::kLinearizable:
    case ReadConsistency::kQuorum:
      // Both confirm with a majority that this replica is still primary
      // (read index) and read at its commit LSN.
      if (Status s = core_->ReadIndex(id); !s.ok()) {
        if (core_->role() != Role::kPrimary) {
          s = NotPrimaryError(
              fmt::format("replica {} of partition {} is not the primary", self_, partition_.id),
              core_->leader());
        }
        read.reply(ErrorResponse(request, s));
        return;
      }
      break;
    case ReadConsistency::kSession:
      read.read_lsn = request.min_lsn;
      read.confirmed = true;
      break;
    case ReadConsistency::kAny:
      read.confirmed = true;
      break;
  }
  reads_.emplace(id, std::move(read));
}

uint32_t Replica::AcksOf(Lsn lsn) const {
  if (core_->role() != Role::kPrimary) return core_->durable_lsn() >= lsn ? 1 : 0;
  return (core_->HoldsDurably(lsn) ? 1 : 0) + core_->DurableSecondaryCount(lsn);
}

bool Replica::ConcernMet(const PendingWrite& write, Lsn lsn) const {
  if (core_->role() != Role::kPrimary || core_->term() != write.term) return false;
  return WriteConcernMet(write.request.concern, core_->HoldsDurably(lsn),
                         core_->DurableSecondaryCount(lsn), core_->group_size(),
                         core_->commit_lsn() >= lsn);
}

ClientResponse Replica::ErrorResponse(const ClientRequest& request, const Status& status) const {
  ClientResponse response;
  response.client_id = request.client_id;
  response.sequence = request.sequence;
  response.code = CodeOf(status);
  response.message = std::string(status.message());
  if (IsNotPrimary(status)) response.leader_hint = LeaderHint(status).value_or(0);
  response.replicas = static_cast<uint32_t>(partition_.members.size());
  return response;
}

ClientResponse Replica::WriteResponse(const PendingWrite& write) const {
  ClientResponse response;
  response.client_id = write.request.client_id;
  response.sequence = write.request.sequence;
  response.code = CodeOf(write.result.status);
  response.message = std::string(write.result.status.message());
  response.version = write.result.version;
  response.lsn = write.result.lsn;
  response.acks = AcksOf(write.result.lsn);
  response.replicas = static_cast<uint32_t>(partition_.members.size());
  return response;
}

void Replica::AnswerWrites() {
  const bool primary = failure_.ok() && core_->role() == Role::kPrimary;
  for (auto it = writes_.begin(); it != writes_.end();) {
    const Lsn lsn = it->first;
    PendingWrite& write = it->second;
    const bool same_reign = primary && core_->term() == write.term;
    const bool expired = now_tick_ >= write.deadline_tick;
    std::optional<ClientResponse> response;
    if (!failure_.ok()) {
      response = ErrorResponse(write.request,
                               WithWriteOutcome(absl::UnavailableError(fmt::format(
                                                    "replica stopped after a storage failure "
                                                    "({}); the write at LSN {} may or may not "
                                                    "commit",
                                                    std::string(failure_.message()), lsn)),
                                                WriteOutcome::kUnknown, lsn));
    } else if (write.applied) {
      // Committed: its result is final. A failed condition needs no concern.
      if (!write.result.status.ok() || ConcernMet(write, lsn)) {
        response = WriteResponse(write);
      } else if (expired || !same_reign) {
        response = WriteResponse(write);
        response->code = CodeOf(absl::DeadlineExceededError(""));
        response->message = fmt::format(
            "write committed at LSN {} but its write concern ({}) was not met: acknowledged by {} "
            "of {} replicas",
            lsn, ConcernName(write.request.concern), response->acks, response->replicas);
      }
    } else if (same_reign && write.request.concern.kind == WriteConcernKind::kLeader &&
               write.request.op != OpType::kCompareAndSet && write.request.client_id == 0 &&
               core_->HoldsDurably(lsn)) {
      // kLeader: durable on the primary is enough, and a plain write's
      // result is known before it applies (its version is its LSN).
      write.result.lsn = lsn;
      write.result.version = lsn;
      response = WriteResponse(write);
    } else if (!same_reign) {
      response = ErrorResponse(
          write.request,
          WithWriteOutcome(absl::UnavailableError(fmt::format(
                               "replica {} lost the primary role before the write at LSN {} "
                               "committed; it may still commit (retry with the same session "
                               "to be safe)",
                               self_, lsn)),
                           WriteOutcome::kUnknown, lsn));
      response->leader_hint = core_->leader();
    } else if (expired) {
      response = ErrorResponse(
          write.request, WithWriteOutcome(absl::DeadlineExceededError(fmt::format(
                                              "the write at LSN {} did not commit in time; it "
                                              "may still commit",
                                              lsn)),
                                          WriteOutcome::kUnknown, lsn));
    }
    if (!response) {
      ++it;
      continue;
    }
    Reply reply = std::move(write.reply);
    it = writes_.erase(it);
    reply(std::move(*response));
  }
}

void Replica::AnswerReads() {
  for (auto it = reads_.begin(); it != reads_.end();) {
    PendingRead& read = it->second;
    if (!failure_.ok()) {
      read.reply(ErrorResponse(read.request, absl::UnavailableError(fmt::format(
                                                 "replica stopped after a storage failure: {}",
                                                 std::string(failure_.message())))));
    } else if (read.confirmed && store_->applied_lsn() >= read.read_lsn) {
      ServeRead(read);
    } else if (now_tick_ >= read.deadline_tick) {
      read.reply(ErrorResponse(
          read.request, absl::DeadlineExceededError(fmt::format(
                            "replica {} has applied up to LSN {}; the read needs LSN {}", self_,
                            store_->applied_lsn(), read.read_lsn))));
    } else {
      ++it;
      continue;
    }
    it = reads_.erase(it);
  }
}

void Replica::ServeRead(PendingRead& read) {
  ClientResponse response;
  response.client_id = read.request.client_id;
  response.sequence = read.request.sequence;
  response.replicas = static_cast<uint32_t>(partition_.members.size());
  response.lsn = store_->applied_lsn();
  StatusOr<VersionedValue> value = store_->store()->GetVersioned(read.request.key);
  if (value.ok()) {
    response.found = true;
    response.value = std::move(value->value);
    response.version = value->version;
  } else if (!absl::IsNotFound(value.status())) {
    response = ErrorResponse(read.request, value.status());
  }
  read.reply(std::move(response));
}

}  // namespace toydb::replication
