#include "sim/kv_router_client.h"

#include <fmt/format.h>

#include <utility>
#include <variant>

namespace toydb::sim {
namespace {

KvOpKind KindOf(OpType op) {
  switch (op) {
    case OpType::kPut:
      return KvOpKind::kPut;
    case OpType::kDelete:
      return KvOpKind::kDelete;
    case OpType::kCompareAndSet:
      return KvOpKind::kCompareAndSet;
    default:
      return KvOpKind::kGet;
  }
}

}  // namespace

KvRouterClient::KvRouterClient(const NodeContext& ctx, const KvRouterClientConfig& config,
                               KvOracle* oracle, KvHistoryRecorder* history,
                               std::unique_ptr<routing::RouterCore> core)
    : ctx_(ctx), config_(config), oracle_(oracle), history_(history), core_(std::move(core)) {}

StatusOr<std::unique_ptr<SimProcess>> KvRouterClient::Create(const NodeContext& ctx,
                                                             const KvRouterClientConfig& config,
                                                             KvOracle* oracle,
                                                             KvHistoryRecorder* history) {
  if (config.sessions == 0 || config.keys == 0) {
    return absl::InvalidArgumentError("a router client needs sessions and keys");
  }
  RouterOptions options = config.router;
  options.id = ctx.id;
  options.partitions = config.partitions;
  options.seed = ctx.rng->Next() | 1;
  StatusOr<std::unique_ptr<routing::RouterCore>> core = routing::RouterCore::Create(options);
  if (!core.ok()) return core.status();
  std::unique_ptr<KvRouterClient> client(
      new KvRouterClient(ctx, config, oracle, history, std::move(*core)));
  for (uint32_t s = 0; s < config.sessions; ++s) client->Think(s);
  client->Pump();
  return std::unique_ptr<SimProcess>(std::move(client));
}

void KvRouterClient::Check(const Status& s) {
  if (!s.ok()) oracle_->Fail(fmt::format("router client {}: {}", ctx_.id, s.ToString()));
}

void KvRouterClient::Think(uint32_t session) {
  const int64_t think = ctx_.rng->Range(config_.min_think_micros, config_.max_think_micros);
  Check(ctx_.timers->SetTimer(think, kFirstSessionTimer + session));
}

void KvRouterClient::OnTimer(uint64_t timer_id) {
  if (timer_id >= kWakeTimerBase) {
    auto it = wakes_.find(static_cast<int64_t>(timer_id - kWakeTimerBase));
    if (it != wakes_.end()) wakes_.erase(it);
    core_->Tick(Now());
  } else if (timer_id >= kFirstSessionTimer) {
    StartCall(static_cast<uint32_t>(timer_id - kFirstSessionTimer));
  }
  Pump();
}

void KvRouterClient::OnMessage(const Message& message) {
  core_->Receive(message, Now());
  Pump();
}

void KvRouterClient::OnPeerUnreachable(NodeId peer) {
  core_->PeerUnreachable(peer, Now());
  Pump();
}

void KvRouterClient::StartCall(uint32_t session) {
  if (Now() >= config_.stop_micros) return;
  Call call;
  call.session = session;
  call.request = MakeRequest(session);
  call.invoke_micros = Now();
  const ClientRequest& r = call.request;
  auto own = own_acked_version_.find(r.key);
  call.own_min_version = own == own_acked_version_.end() ? 0 : own->second;
  const ReadConsistency promised =
      config_.any_reads_presented_as_linearizable && r.consistency == ReadConsistency::kAny
          ? ReadConsistency::kLinearizable
          : r.consistency;
  call.history =
      history_->Invoke(ctx_.id, KindOf(r.op), r.key, r.value, r.expected_version, promised, Now());
  if (r.op != OpType::kGet) {
    call.write = oracle_->BeginWrite(KvWrite{.partition = core_->PartitionOf(r.key),
                                             .op = r.op,
                                             .key = r.key,
                                             .value = r.value,
                                             .concern = r.concern.kind,
                                             .client = ctx_.id});
  }
  Submit(std::move(call));
}

void KvRouterClient::Submit(Call call) {
  routing::RouterRequest request{.body = call.request};
  const uint64_t op = core_->Submit(std::move(request), Now());
  calls_.emplace(op, std::move(call));
}

ClientRequest KvRouterClient::MakeRequest(uint32_t session) {
  ClientRequest request;
  request.key = fmt::format("r-k{}", ctx_.rng->Uniform(config_.keys));
  const uint64_t kind = ctx_.rng->Uniform(100);
  if (kind < 30) {
    request.op = OpType::kPut;
  } else if (kind < 38) {
    request.op = OpType::kDelete;
  } else if (kind < 50) {
    request.op = OpType::kCompareAndSet;
  } else {
    request.op = OpType::kGet;
    request.consistency = static_cast<ReadConsistency>(ctx_.rng->Uniform(kMaxReadConsistency + 1));
    return request;
  }
  const uint64_t concern = ctx_.rng->Uniform(100);
  if (concern < 10) {
    // Through the Router every write has a session, so the replicas
    // acknowledge even a kLeader write only once it is committed.
    request.concern.kind = WriteConcernKind::kLeader;
  } else if (concern < 20) {
    request.concern.kind = WriteConcernKind::kAll;
  } else if (concern < 25) {
    request.concern = WriteConcern{.kind = WriteConcernKind::kCount, .count = 1};
  } else {
    request.concern.kind = WriteConcernKind::kMajority;
  }
  if (request.op != OpType::kDelete) {
    const uint64_t padding = ctx_.rng->Uniform(config_.max_value_padding_bytes + 1);
    request.value = fmt::format("r{}-{}-", ctx_.id, next_value_++) + std::string(padding, 'x');
  }
  if (request.op == OpType::kCompareAndSet) {
    auto known = known_version_.find({session, request.key});
    request.expected_version = known == known_version_.end() ? 0 : known->second;
  }
  return request;
}

void KvRouterClient::Pump() {
  // Completions may submit new calls (a dead-letter retry), which may
  // produce more: loop until the core is quiet.
  for (;;) {
    routing::RouterReady ready = core_->TakeReady();
    if (ready.messages.empty() && ready.completions.empty()) break;
    for (const Message& message : ready.messages) {
      NoteSessions(message);
      // A refused send (a full network) is a lost message: the core's
      // attempt timeout retries.
      (void)ctx_.transport->Send(message);
    }
    for (const routing::RouterCompletion& completion : ready.completions) OnCompleted(completion);
  }
  const int64_t wake = std::max(core_->NextWakeMicros(), Now());
  if (wake == INT64_MAX || (!wakes_.empty() && *wakes_.begin() <= wake)) return;
  wakes_.insert(wake);
  Check(ctx_.timers->SetTimer(wake - Now(), kWakeTimerBase + static_cast<uint64_t>(wake)));
}

// The Router gives a write its session when it first sends it; the oracle
// needs it to find the write in the replicas' logs.
void KvRouterClient::NoteSessions(const Message& message) {
  const auto* request = std::get_if<ClientRequest>(&message.body);
  if (request == nullptr || request->op == OpType::kGet) return;
  auto call = calls_.find(core_->OpOfSession(request->client_id, request->sequence));
  if (call == calls_.end() || !call->second.write) return;
  const KvWrite& w = oracle_->write(*call->second.write);
  if (w.client_id == 0)
    oracle_->SetSession(*call->second.write, request->client_id, request->sequence);
}

void KvRouterClient::OnCompleted(const routing::RouterCompletion& completion) {
  auto it = calls_.find(completion.op);
  if (it == calls_.end()) {
    return oracle_->Fail(
        fmt::format("router client {}: a completion for unknown op {}", ctx_.id, completion.op));
  }
  Call call = std::move(it->second);
  calls_.erase(it);
  if (completion.read) {
    OnReadDone(call, completion.value);
  } else {
    OnWriteDone(call, completion.write);
  }
}

void KvRouterClient::OnWriteDone(Call& call, const WriteResult& result) {
  const ClientRequest& r = call.request;
  KvOutput output;
  if (result.ok() || result.outcome == WriteOutcome::kCommitted) {
    // Committed (a missed concern still committed it, at result.lsn).
    const Lsn version = result.version != 0 ? result.version : result.lsn;
    output.version = version;
    history_->Complete(call.history, KvOutcome::kOk, output, Now());
    oracle_->AckWrite(*call.write, version, Now());
    known_version_[{call.session, r.key}] = r.op == OpType::kDelete ? 0 : version;
    Lsn& own = own_acked_version_[r.key];
    own = std::max(own, version);
  } else if (result.outcome == WriteOutcome::kNotWritten) {
    const bool aborted = absl::IsAborted(result.status) && r.op == OpType::kCompareAndSet;
    output.aborted = aborted;
    history_->Complete(call.history, aborted ? KvOutcome::kOk : KvOutcome::kFailed, output, Now());
    oracle_->RefuseWrite(*call.write);
    if (aborted) known_version_.erase({call.session, r.key});
  } else {
    history_->Complete(call.history, KvOutcome::kUnknown, output, Now());
    if (!call.dead_letter_retry && RetryDeadLetter(call, result)) return;
    oracle_->GiveUpWrite(*call.write);
    known_version_.erase({call.session, r.key});
  }
  Think(call.session);
}

// Retries an unknown write from the dead-letter queue, with its session: the
// replicas apply it at most once, whatever became of the first try.
bool KvRouterClient::RetryDeadLetter(Call& call, const WriteResult& result) {
  if (result.dead_letter_id == 0 || Now() >= config_.stop_micros ||
      !ctx_.rng->Chance(config_.dead_letter_retry_probability)) {
    return false;
  }
  StatusOr<uint64_t> op = core_->RetryDeadLetter(result.dead_letter_id, 0, Now());
  if (!op.ok()) {
    Check(op.status());
    return false;
  }
  call.dead_letter_retry = true;
  calls_.emplace(*op, std::move(call));
  return true;
}

void KvRouterClient::OnReadDone(Call& call, const StatusOr<VersionedValue>& value) {
  const ClientRequest& r = call.request;
  KvOutput output;
  if (!value.ok() && !absl::IsNotFound(value.status())) {
    history_->Complete(call.history, KvOutcome::kFailed, output, Now());
    return Think(call.session);
  }
  ClientResponse response;
  if (value.ok()) {
    output.found = response.found = true;
    output.value = response.value = value->value;
    output.version = response.version = value->version;
  }
  history_->Complete(call.history, KvOutcome::kOk, output, Now());
  ClientRequest request = r;
  request.partition = core_->PartitionOf(r.key);
  oracle_->OnRead(ctx_.id, request, response, call.own_min_version, call.invoke_micros);
  known_version_[{call.session, r.key}] = output.found ? output.version : 0;
  Think(call.session);
}

}  // namespace toydb::sim
