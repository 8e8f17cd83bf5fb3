// Node: the event loop that hosts a node's replicas. Every input (a message
// from the transport, a client request, a stats query) becomes a closure
// queued for the loop thread; the loop runs them, ticks the replicas when a
// tick is due, and lets each replica process what they caused. The replicas
// are therefore touched by the loop thread only.
#include "toydb/node.h"

#include <fmt/format.h>

#include <future>
#include <map>
#include <thread>

#include "src/replication/replica.h"
#include "src/replication/wire_messages.h"
#include "src/util/mutex.h"
#include "toydb/env.h"

namespace toydb {

using replication::Replica;

static_assert(static_cast<uint8_t>(ReplicaRole::kPrimary) == kMaxStatsRole,
              "StatsReplica.role carries a ReplicaRole");

struct Node::State final : public Transport::Handler {
  NodeOptions options;
  Clock* clock = nullptr;
  std::map<PartitionId, std::unique_ptr<Replica>> replicas;  // loop thread only

  Mutex mu;
  CondVar cv;
  std::vector<std::function<void()>> tasks ABSL_GUARDED_BY(mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // The loop sleeps on cv: only then does a Post need to wake it.
  bool loop_waiting ABSL_GUARDED_BY(mu) = false;
  std::thread loop;

  // Transport::Handler: from the transport's delivery thread.
  void OnMessage(const Message& message) override {
    Post([this, message] { Dispatch(message); });
  }
  void OnPeerUnreachable(NodeId) override {}

  void Post(std::function<void()> task) ABSL_LOCKS_EXCLUDED(mu) {
    MutexLock lock(&mu);
    tasks.push_back(std::move(task));
    if (loop_waiting) cv.Signal();
  }

  void Run() ABSL_LOCKS_EXCLUDED(mu);
  void AnswerStats(const Message& message, const StatsRequest& request);
  void AnswerAdmin(const Message& message, const AdminRequest& request);
  void Reply(NodeId to, MessageBody body);
  void TickAll();
  void ProcessAll();
  void Dispatch(const Message& message);
  void Serve(ClientRequest request, Callback done);
  void Send(const Message& message);
  void Log(const std::string& line) {
    if (options.log) options.log(fmt::format("node {}: {}", options.id, line));
  }
  Replica* Find(PartitionId partition) {
    auto it = replicas.find(partition);
    return it == replicas.end() ? nullptr : it->second.get();
  }
};

namespace {

ClientResponse ErrorFor(const ClientRequest& request, const Status& status) {
  ClientResponse response;
  response.client_id = request.client_id;
  response.sequence = request.sequence;
  response.code = static_cast<uint8_t>(status.code());
  response.message = std::string(status.message());
  return response;
}

}  // namespace

void Node::State::Run() {
  const int64_t tick_micros = int64_t{options.tick_ms} * 1000;
  int64_t next_tick = clock->NowMicros() + tick_micros;
  std::vector<std::function<void()>> batch;
  while (true) {
    {
      MutexLock lock(&mu);
      while (!stopping && tasks.empty()) {
        const int64_t wait = next_tick - clock->NowMicros();
        if (wait <= 0) break;
        loop_waiting = true;
        cv.WaitFor(&mu, std::chrono::microseconds(wait));
        loop_waiting = false;
      }
      if (stopping) return;
      batch.swap(tasks);
    }
    for (std::function<void()>& task : batch) task();
    batch.clear();
    const int64_t now = clock->NowMicros();
    if (now >= next_tick) {
      TickAll();
      // One tick per period: a loop that fell far behind does not burst.
      next_tick = std::max(next_tick + tick_micros, now + tick_micros / 2);
    }
    ProcessAll();
  }
}

void Node::State::TickAll() {
  for (auto& [id, replica] : replicas) replica->Tick();
}

void Node::State::ProcessAll() {
  for (auto& [id, replica] : replicas) replica->Process();
}

void Node::State::Send(const Message& message) {
  // A refused send (a full queue, an unknown peer) is a lost message, which
  // the protocol recovers from by its timeouts and retries.
  (void)options.transport->Send(message);
}

void Node::State::Dispatch(const Message& message) {
  if (const auto* request = std::get_if<ClientRequest>(&message.body)) {
    const NodeId sender = message.from;
    Serve(*request, [this, sender](ClientResponse response) {
      Message reply;
      reply.from = options.id;
      reply.to = sender;
      reply.body = std::move(response);
      (void)options.transport->Send(reply);
    });
    return;
  }
  if (const auto* probe = std::get_if<HealthProbe>(&message.body)) {
    // Healthy: this node's loop is running and no replica it hosts has
    // stopped after a storage failure.
    HealthProbeResponse answer;
    answer.probe_id = probe->probe_id;
    answer.sent_micros = probe->sent_micros;
    answer.healthy = true;
    for (auto& [id, replica] : replicas) answer.healthy = answer.healthy && replica->failure().ok();
    Message reply;
    reply.from = options.id;
    reply.to = message.from;
    reply.body = answer;
    (void)options.transport->Send(reply);
    return;
  }
  if (const auto* stats = std::get_if<StatsRequest>(&message.body)) {
    AnswerStats(message, *stats);
    return;
  }
  if (const auto* admin = std::get_if<AdminRequest>(&message.body)) {
    AnswerAdmin(message, *admin);
    return;
  }
  PartitionId partition = 0;
  if (!replication::PartitionOf(message, &partition)) {
    if (!std::holds_alternative<ClientResponse>(message.body)) {
      Log(fmt::format("ignored a {} from node {}", MessageTypeName(TypeOf(message)), message.from));
    }
    return;
  }
  Replica* replica = Find(partition);
  if (replica == nullptr) {
    Log(fmt::format("refused a {} from node {} for partition {}, which this node does not host",
                    MessageTypeName(TypeOf(message)), message.from, partition));
    return;
  }
  (void)replica->Receive(message);  // the replica logs what it refuses
}

void Node::State::Reply(NodeId to, MessageBody body) {
  Message reply;
  reply.from = options.id;
  reply.to = to;
  reply.body = std::move(body);
  (void)options.transport->Send(reply);
}

void Node::State::AnswerStats(const Message& message, const StatsRequest& request) {
  StatsResponse answer;
  answer.request_id = request.request_id;
  answer.node = options.id;
  for (auto& [id, replica] : replicas) {
    if (answer.replicas.size() == kMaxReplicasPerStats) break;
    answer.replicas.push_back(ToStatsReplica(replica->GetStats()));
  }
  if (options.counters) answer.counters = options.counters();
  if (answer.counters.size() > kMaxCountersPerStats) answer.counters.resize(kMaxCountersPerStats);
  Reply(message.from, std::move(answer));
}

void Node::State::AnswerAdmin(const Message& message, const AdminRequest& request) {
  AdminResponse answer;
  answer.request_id = request.request_id;
  Status status;
  Replica* replica = Find(request.partition);
  if (replica == nullptr) {
    status = absl::NotFoundError(
        fmt::format("node {} hosts no replica of partition {}", options.id, request.partition));
  } else if (request.op == AdminOp::kCampaign) {
    replica->Campaign();
    Log(fmt::format("partition {}: campaigning at the request of node {}", request.partition,
                    message.from));
  } else {
    status = replica->TransferLeadership(request.target);
    if (absl::IsFailedPrecondition(status)) answer.leader_hint = replica->GetStats().leader;
    if (status.ok()) {
      Log(fmt::format("partition {}: handing the primary role to node {} at the request of node {}",
                      request.partition, request.target, message.from));
    }
  }
  answer.code = static_cast<uint8_t>(status.code());
  answer.message = std::string(status.message());
  Reply(message.from, std::move(answer));
}

void Node::State::Serve(ClientRequest request, Callback done) {
  Replica* replica = Find(request.partition);
  if (replica == nullptr) {
    done(ErrorFor(request,
                  absl::NotFoundError(fmt::format("node {} hosts no replica of partition {}",
                                                  options.id, request.partition))));
    return;
  }
  replica->Submit(request, std::move(done));
}

StatusOr<std::unique_ptr<Node>> Node::Open(const NodeOptions& options) {
  if (options.id == 0) return absl::InvalidArgumentError("NodeOptions.id 0 is reserved");
  if (options.dir.empty()) return absl::InvalidArgumentError("NodeOptions.dir is empty");
  if (options.transport == nullptr)
    return absl::InvalidArgumentError("NodeOptions.transport is null");
  if (options.tick_ms == 0)
    return absl::InvalidArgumentError("NodeOptions.tick_ms must be at least 1");
  if (!options.store.background_threads) {
    return absl::InvalidArgumentError(
        "NodeOptions.store.background_threads must be true: a node runs on real time");
  }
  auto state = std::make_unique<State>();
  state->options = options;
  state->clock = options.clock != nullptr ? options.clock : Clock::Default();
  Env* env = options.store.env != nullptr ? options.store.env : Env::Default();
  if (Status s = env->CreateDir(options.dir); !s.ok()) return s;
  const uint64_t seed = options.seed != 0 ? options.seed
                                          : static_cast<uint64_t>(state->clock->NowMicros()) ^
                                                (options.id * 0x9e3779b97f4a7c15ULL);
  State* raw = state.get();
  for (const PartitionConfig& partition : options.partitions) {
    if (!partition.Has(options.id)) continue;
    if (raw->replicas.count(partition.id) != 0) {
      return absl::InvalidArgumentError(fmt::format("partition {} is listed twice", partition.id));
    }
    ReplicaStoreOptions store_options;
    store_options.store = options.store;
    store_options.store.dir = JoinPath(options.dir, fmt::format("partition-{}", partition.id));
    StatusOr<std::unique_ptr<Replica>> replica = Replica::Open(
        partition, options.id, options.replica, store_options, seed * 31 + partition.id,
        [raw](const Message& message) { raw->Send(message); },
        [raw](const std::string& line) { raw->Log(line); });
    if (!replica.ok()) {
      return Status(replica.status().code(), fmt::format("partition {}: {}", partition.id,
                                                         std::string(replica.status().message())));
    }
    raw->replicas[partition.id] = std::move(*replica);
  }
  if (Status s = options.transport->Register(options.id, raw); !s.ok()) return s;
  raw->loop = std::thread([raw] { raw->Run(); });
  return std::unique_ptr<Node>(new Node(std::move(state)));
}

Node::Node(std::unique_ptr<State> state) : state_(std::move(state)) {}

Node::~Node() {
  state_->options.transport->Unregister(state_->options.id);
  {
    MutexLock lock(&state_->mu);
    state_->stopping = true;
    state_->cv.Signal();
  }
  state_->loop.join();
  // The loop has stopped: this thread is now the only one to touch the
  // replicas. Requests still queued are served (queued in their replica),
  // then every request waiting in a replica is answered.
  std::vector<std::function<void()>> left;
  {
    MutexLock lock(&state_->mu);
    left.swap(state_->tasks);
  }
  for (std::function<void()>& task : left) task();
  const Status closing =
      absl::UnavailableError(fmt::format("node {} is closing", state_->options.id));
  for (auto& [id, replica] : state_->replicas) replica->AbandonRequests(closing);
  state_->replicas.clear();
}

void Node::Submit(ClientRequest request, Callback done) {
  State* state = state_.get();
  state->Post([state, request = std::move(request), done = std::move(done)]() mutable {
    state->Serve(std::move(request), std::move(done));
  });
}

ClientResponse Node::Call(ClientRequest request) {
  auto promise = std::make_shared<std::promise<ClientResponse>>();
  std::future<ClientResponse> future = promise->get_future();
  Submit(std::move(request),
         [promise](ClientResponse response) { promise->set_value(std::move(response)); });
  return future.get();
}

StatsReplica ToStatsReplica(const ReplicaStats& stats) {
  StatsReplica wire;
  wire.partition = stats.partition;
  wire.node = stats.node;
  wire.role = static_cast<uint8_t>(stats.role);
  wire.term = stats.term;
  wire.leader = stats.leader;
  wire.last_lsn = stats.last_lsn;
  wire.synced_lsn = stats.synced_lsn;
  wire.commit_lsn = stats.commit_lsn;
  wire.applied_lsn = stats.applied_lsn;
  for (const ReplicaPeerStats& peer : stats.peers) {
    if (wire.peers.size() == kMaxPeersPerReplicaStats) break;
    wire.peers.push_back(StatsPeer{.node = peer.node,
                                   .match_lsn = peer.match_lsn,
                                   .lag_entries = peer.lag_entries,
                                   .lag_ticks = peer.lag_ticks});
  }
  wire.elections_started = stats.elections_started;
  wire.elections_won = stats.elections_won;
  wire.snapshots_sent = stats.snapshots_sent;
  wire.snapshots_received = stats.snapshots_received;
  wire.failure_code = static_cast<uint8_t>(stats.failure.code());
  wire.failure_message = std::string(stats.failure.message());
  return wire;
}

ReplicaStats FromStatsReplica(const StatsReplica& wire) {
  ReplicaStats stats;
  stats.partition = wire.partition;
  stats.node = wire.node;
  stats.role = static_cast<ReplicaRole>(std::min<uint8_t>(wire.role, kMaxStatsRole));
  stats.term = wire.term;
  stats.leader = wire.leader;
  stats.last_lsn = wire.last_lsn;
  stats.synced_lsn = wire.synced_lsn;
  stats.commit_lsn = wire.commit_lsn;
  stats.applied_lsn = wire.applied_lsn;
  for (const StatsPeer& peer : wire.peers) {
    stats.peers.push_back(ReplicaPeerStats{.node = peer.node,
                                           .match_lsn = peer.match_lsn,
                                           .lag_entries = peer.lag_entries,
                                           .lag_ticks = peer.lag_ticks});
  }
  stats.elections_started = wire.elections_started;
  stats.elections_won = wire.elections_won;
  stats.snapshots_sent = wire.snapshots_sent;
  stats.snapshots_received = wire.snapshots_received;
  stats.failure = Status(static_cast<absl::StatusCode>(wire.failure_code), wire.failure_message);
  return stats;
}

Status StatusOfResponse(const ClientResponse& response) {
  if (response.code == 0) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(response.code);
  if (code == absl::StatusCode::kFailedPrecondition && response.leader_hint != 0) {
    return NotPrimaryError(response.message, response.leader_hint);
  }
  return Status(code, response.message);
}

namespace {

ClientRequest WriteRequest(PartitionId partition, OpType op, std::string_view key,
                           const WriteConcern& concern) {
  ClientRequest request;
  request.partition = partition;
  request.op = op;
  request.key = std::string(key);
  request.concern = concern;
  return request;
}

StatusOr<Lsn> WriteResult(const ClientResponse& response) {
  if (Status s = StatusOfResponse(response); !s.ok()) return s;
  return response.version;
}

}  // namespace

StatusOr<Lsn> Node::Put(PartitionId partition, std::string_view key, std::string_view value) {
  ClientRequest request =
      WriteRequest(partition, OpType::kPut, key, state_->options.replica.default_concern);
  request.value = std::string(value);
  return WriteResult(Call(std::move(request)));
}

StatusOr<Lsn> Node::Delete(PartitionId partition, std::string_view key) {
  return WriteResult(
      Call(WriteRequest(partition, OpType::kDelete, key, state_->options.replica.default_concern)));
}

StatusOr<Lsn> Node::CompareAndSet(PartitionId partition, std::string_view key, Lsn expected_version,
                                  std::string_view value) {
  ClientRequest request =
      WriteRequest(partition, OpType::kCompareAndSet, key, state_->options.replica.default_concern);
  request.expected_version = expected_version;
  request.value = std::string(value);
  return WriteResult(Call(std::move(request)));
}

StatusOr<VersionedValue> Node::Get(PartitionId partition, std::string_view key,
                                   ReadConsistency consistency) {
  ClientRequest request;
  request.partition = partition;
  request.op = OpType::kGet;
  request.key = std::string(key);
  request.consistency = consistency;
  const ClientResponse response = Call(std::move(request));
  if (Status s = StatusOfResponse(response); !s.ok()) return s;
  if (!response.found) return absl::NotFoundError(fmt::format("key not found: {}", key));
  return VersionedValue{response.value, response.version};
}

Status Node::TransferLeadership(PartitionId partition, NodeId to) {
  State* state = state_.get();
  std::promise<Status> promise;
  std::future<Status> future = promise.get_future();
  state->Post([state, partition, to, &promise] {
    Replica* replica = state->Find(partition);
    promise.set_value(replica == nullptr ? absl::NotFoundError(
                                               fmt::format("no replica of partition {}", partition))
                                         : replica->TransferLeadership(to));
  });
  return future.get();
}

Status Node::Campaign(PartitionId partition) {
  State* state = state_.get();
  std::promise<Status> promise;
  std::future<Status> future = promise.get_future();
  state->Post([state, partition, &promise] {
    Replica* replica = state->Find(partition);
    if (replica == nullptr) {
      promise.set_value(absl::NotFoundError(fmt::format("no replica of partition {}", partition)));
      return;
    }
    replica->Campaign();
    promise.set_value(absl::OkStatus());
  });
  return future.get();
}

std::vector<ReplicaStats> Node::GetStats() {
  State* state = state_.get();
  std::promise<std::vector<ReplicaStats>> promise;
  std::future<std::vector<ReplicaStats>> future = promise.get_future();
  state->Post([state, &promise] {
    std::vector<ReplicaStats> stats;
    for (auto& [id, replica] : state->replicas) stats.push_back(replica->GetStats());
    promise.set_value(std::move(stats));
  });
  return future.get();
}

NodeId Node::id() const { return state_->options.id; }

}  // namespace toydb
