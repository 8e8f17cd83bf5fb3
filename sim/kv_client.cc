#include "sim/kv_client.h"

#include <fmt/format.h>

#include <utility>
#include <variant>

namespace toydb::sim {
namespace {

absl::StatusCode CodeOf(const ClientResponse& response) {
  return static_cast<absl::StatusCode>(response.code);
}

}  // namespace

KvClient::KvClient(const NodeContext& ctx, const KvClientConfig& config, KvOracle* oracle)
    : ctx_(ctx), config_(config), oracle_(oracle) {}

StatusOr<std::unique_ptr<SimProcess>> KvClient::Create(const NodeContext& ctx,
                                                       const KvClientConfig& config,
                                                       KvOracle* oracle) {
  if (config.partitions.empty()) return absl::InvalidArgumentError("a client needs partitions");
  std::unique_ptr<KvClient> client(new KvClient(ctx, config, oracle));
  client->ScheduleNext();
  return std::unique_ptr<SimProcess>(std::move(client));
}

void KvClient::Check(const Status& s) {
  if (!s.ok()) oracle_->Fail(fmt::format("client {}: {}", ctx_.id, s.ToString()));
}

void KvClient::ScheduleNext() {
  const int64_t think = ctx_.rng->Range(config_.min_think_micros, config_.max_think_micros);
  Check(ctx_.timers->SetTimer(think, kNextOpTimer));
}

void KvClient::OnTimer(uint64_t timer_id) {
  if (timer_id == kNextOpTimer) return StartOp();
  if (op_ && timer_id == op_->retry_timer) return Attempt();
  // An attempt's timeout; an answered or superseded attempt's is stale.
  if (!op_ || timer_id != op_->attempt_timer) return;
  // No answer: the target may be down or cut off. A write without a session
  // may have been proposed, and a retry could apply it twice: give up.
  if (op_->write && op_->request.client_id == 0) {
    oracle_->GiveUpWrite(*op_->write);
    return Finish();
  }
  if (config_.avoid_unanswered_member) OnUnanswered(op_->request.partition, op_->target);
  Retry(RandomMember(op_->request.partition), /*backoff=*/false);
}

void KvClient::OnUnanswered(PartitionId partition, NodeId node) {
  unanswered_[partition] = node;
  auto leader = leader_.find(partition);
  if (leader != leader_.end() && leader->second == node) leader_.erase(leader);
}

bool KvClient::Unanswered(PartitionId partition, NodeId node) const {
  auto it = unanswered_.find(partition);
  return it != unanswered_.end() && it->second == node;
}

const PartitionConfig& KvClient::PartitionOf(PartitionId id) const {
  for (const PartitionConfig& p : config_.partitions) {
    if (p.id == id) return p;
  }
  return config_.partitions.front();
}

NodeId KvClient::RandomMember(PartitionId partition) {
  const std::vector<NodeId>& members = PartitionOf(partition).members;
  if (!config_.avoid_unanswered_member || members.size() < 2) {
    return members[ctx_.rng->Uniform(members.size())];
  }
  std::vector<NodeId> others;
  for (NodeId m : members) {
    if (!Unanswered(partition, m)) others.push_back(m);
  }
  return others[ctx_.rng->Uniform(others.size())];
}

std::string KvClient::KeyOf(PartitionId partition, uint32_t index) const {
  return fmt::format("p{}-k{}", partition, index);
}

void KvClient::StartOp() {
  if (op_ || ctx_.clock->NowMicros() >= config_.stop_micros) return;
  const PartitionConfig& partition =
      config_.partitions[ctx_.rng->Uniform(config_.partitions.size())];
  Op op;
  op.request = MakeRequest(partition);
  const bool to_primary = op.request.op != OpType::kGet ||
                          op.request.consistency == ReadConsistency::kLinearizable ||
                          op.request.consistency == ReadConsistency::kQuorum;
  auto leader = leader_.find(partition.id);
  op.target = to_primary && leader != leader_.end() ? leader->second : RandomMember(partition.id);
  if (op.request.op != OpType::kGet) {
    const ClientRequest& r = op.request;
    op.write = oracle_->BeginWrite(KvWrite{.partition = r.partition,
                                           .op = r.op,
                                           .key = r.key,
                                           .value = r.value,
                                           .concern = r.concern.kind,
                                           .client_id = r.client_id,
                                           .sequence = r.sequence,
                                           .client = ctx_.id});
  }
  op.issued_micros = ctx_.clock->NowMicros();
  op_ = std::move(op);
  Attempt();
}

ClientRequest KvClient::MakeRequest(const PartitionConfig& partition) {
  ClientRequest request;
  request.client_id = ctx_.id;
  request.sequence = next_sequence_++;
  request.partition = partition.id;
  request.key =
      KeyOf(partition.id, static_cast<uint32_t>(ctx_.rng->Uniform(config_.keys_per_partition)));
  // Kinds below 70 are writes.
  const uint64_t kind = ctx_.rng->Uniform(config_.majority_writes_only ? 70 : 100);
  if (kind < 45) {
    request.op = OpType::kPut;
  } else if (kind < 55) {
    request.op = OpType::kDelete;
  } else if (kind < 70) {
    request.op = OpType::kCompareAndSet;
  } else {
    request.op = OpType::kGet;
  }
  if (request.op == OpType::kGet) {
    SetRead(request);
  } else {
    SetWrite(request);
  }
  return request;
}

void KvClient::SetWrite(ClientRequest& request) {
  const uint64_t concern = config_.majority_writes_only ? 100 : ctx_.rng->Uniform(100);
  if (concern < 15 && request.op == OpType::kPut) {
    // kLeader is acknowledged early only without a session (replica.h).
    request.concern.kind = WriteConcernKind::kLeader;
    request.client_id = 0;
  } else if (concern < 25) {
    request.concern.kind = WriteConcernKind::kAll;
  } else if (concern < 30) {
    request.concern = WriteConcern{.kind = WriteConcernKind::kCount, .count = 1};
  } else {
    request.concern.kind = WriteConcernKind::kMajority;
  }
  if (request.op != OpType::kDelete) {
    const uint64_t padding = ctx_.rng->Uniform(config_.max_value_padding_bytes + 1);
    request.value = fmt::format("c{}-s{}-", ctx_.id, request.sequence) + std::string(padding, 'x');
  }
  if (request.op == OpType::kCompareAndSet) {
    auto known = known_version_.find(request.key);
    request.expected_version = known == known_version_.end() ? 0 : known->second;
  }
}

void KvClient::SetRead(ClientRequest& request) {
  request.consistency = static_cast<ReadConsistency>(ctx_.rng->Uniform(kMaxReadConsistency + 1));
  auto lsn = session_lsn_.find(request.partition);
  request.min_lsn = lsn == session_lsn_.end() ? 0 : lsn->second;
}

void KvClient::Attempt() {
  ++op_->attempts;
  op_->retry_timer = 0;
  op_->attempt_timer = next_timer_++;
  Check(ctx_.timers->SetTimer(config_.attempt_timeout_micros, op_->attempt_timer));
  // A refused send (a full network) is a lost request: the timeout retries.
  (void)ctx_.transport->Send(Message{.from = ctx_.id, .to = op_->target, .body = op_->request});
}

void KvClient::Retry(NodeId target, bool backoff) {
  if (op_->attempts >= config_.max_attempts) {
    if (op_->write) oracle_->GiveUpWrite(*op_->write);
    return Finish();
  }
  op_->target = target;
  // The attempt's own timeout no longer applies.
  op_->attempt_timer = 0;
  if (!backoff) return Attempt();
  // No primary known (an election is under way) or the group is busy: wait
  // a little instead of spinning through the attempts.
  op_->retry_timer = next_timer_++;
  const int64_t delay = ctx_.rng->Range(config_.min_backoff_micros, config_.max_backoff_micros);
  Check(ctx_.timers->SetTimer(delay, op_->retry_timer));
}

void KvClient::Finish() {
  op_.reset();
  ++completed_;
  ScheduleNext();
}

void KvClient::OnMessage(const Message& message) {
  const auto* response = std::get_if<ClientResponse>(&message.body);
  if (response == nullptr) {
    return oracle_->Fail(fmt::format("client {} got a {} from node {}", ctx_.id,
                                     MessageTypeName(TypeOf(message)), message.from));
  }
  // A member that answers anything is reachable again.
  std::erase_if(unanswered_, [&](const auto& entry) { return entry.second == message.from; });
  // Answers to an earlier attempt of the current request count (the same
  // session write, or a read); those of finished requests do not.
  if (!op_ || response->sequence != op_->request.sequence) return;
  OnResponse(*response, message.from);
}

void KvClient::OnResponse(const ClientResponse& response, NodeId from) {
  if (response.code == 0) return OnSuccess(response, from);
  OnFailure(response);
}

void KvClient::OnSuccess(const ClientResponse& response, NodeId from) {
  const ClientRequest& request = op_->request;
  Lsn& session = session_lsn_[request.partition];
  session = std::max(session, response.lsn);
  if (op_->write) {
    oracle_->AckWrite(*op_->write, response.version, ctx_.clock->NowMicros(), from);
    known_version_[request.key] = request.op == OpType::kDelete ? 0 : response.version;
    if (request.concern.kind != WriteConcernKind::kLeader) {
      own_acked_version_[request.key] = response.version;
    }
    session = std::max(session, response.version);
  } else {
    auto own = own_acked_version_.find(request.key);
    oracle_->OnRead(ctx_.id, request, response, own == own_acked_version_.end() ? 0 : own->second,
                    op_->issued_micros);
    known_version_[request.key] = response.found ? response.version : 0;
  }
  Finish();
}

void KvClient::OnFailure(const ClientResponse& response) {
  const absl::StatusCode code = CodeOf(response);
  const bool write = op_->write.has_value();
  if (code == absl::StatusCode::kAborted && write) {
    // A failed compare-and-set: applied as a no-op everywhere.
    oracle_->RefuseWrite(*op_->write);
    known_version_[op_->request.key] = response.version;
    return Finish();
  }
  if (code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kNotFound) {
    oracle_->Fail(fmt::format("client {} request {} refused: {}", ctx_.id, op_->request.sequence,
                              response.message));
    return Finish();
  }
  if (code == absl::StatusCode::kFailedPrecondition) {
    // Not the primary: it proposed nothing. Follow the hint if there is one.
    NodeId hint = response.leader_hint;
    if (Unanswered(op_->request.partition, hint)) hint = 0;  // a follower's stale view
    if (hint != 0) leader_[op_->request.partition] = hint;
    const bool follow = hint != 0 && hint != op_->target;
    return Retry(follow ? hint : RandomMember(op_->request.partition), !follow);
  }
  // Unavailable, DeadlineExceeded: the write may have been proposed.
  if (write && op_->request.client_id == 0) {
    oracle_->GiveUpWrite(*op_->write);
    return Finish();
  }
  NodeId hint = response.leader_hint;
  if (Unanswered(op_->request.partition, hint)) hint = 0;
  if (hint != 0) leader_[op_->request.partition] = hint;
  Retry(hint != 0 ? hint : RandomMember(op_->request.partition), /*backoff=*/true);
}

}  // namespace toydb::sim
