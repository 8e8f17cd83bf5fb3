#include "sim/kv_node.h"

#include <fmt/format.h>

#include <utility>
#include <variant>

#include "src/replication/wire_messages.h"

namespace toydb::sim {
namespace {

// A WAL file whose Sync() lies: it reports success and syncs nothing.
class LyingSyncFile final : public WritableFile {
 public:
  explicit LyingSyncFile(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}
  Status Append(std::string_view data) override { return file_->Append(data); }
  Status Sync() override { return absl::OkStatus(); }
  Status Close() override { return file_->Close(); }
  uint64_t Position() const override { return file_->Position(); }

 private:
  std::unique_ptr<WritableFile> file_;
};

// The broken disk of KvClusterConfig::log_sync_lies: WAL files (under a
// store's wal/ directory) get LyingSyncFiles; everything else is honest.
class LyingLogSyncEnv final : public EnvWrapper {
 public:
  explicit LyingLogSyncEnv(Env* disk) : EnvWrapper(disk) {}
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return Wrap(p, EnvWrapper::NewWritableFile(p));
  }
  StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& p) override {
    return Wrap(p, EnvWrapper::NewAppendableFile(p));
  }
  StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(const std::string& p,
                                                            uint64_t offset) override {
    return Wrap(p, EnvWrapper::ReuseWritableFile(p, offset));
  }

 private:
  static StatusOr<std::unique_ptr<WritableFile>> Wrap(
      const std::string& path, StatusOr<std::unique_ptr<WritableFile>> file) {
    if (!file.ok() || path.find("/wal/") == std::string::npos) return file;
    return std::unique_ptr<WritableFile>(new LyingSyncFile(std::move(*file)));
  }
};

}  // namespace

std::vector<PartitionConfig> SpreadPartitions(uint32_t partitions, uint32_t replicas,
                                              uint32_t nodes) {
  std::vector<PartitionConfig> out;
  for (uint32_t p = 0; p < partitions; ++p) {
    PartitionConfig config{.id = p + 1};
    for (uint32_t r = 0; r < replicas; ++r) config.members.push_back((p + r) % nodes + 1);
    out.push_back(std::move(config));
  }
  return out;
}

KvNode::KvNode(const NodeContext& ctx, int64_t tick_micros, KvObserver* observer)
    : ctx_(ctx), tick_micros_(tick_micros), observer_(observer) {}

// A power cut gives the replicas no chance to answer their clients: the
// requests die with the process, as they would with a real machine.
KvNode::~KvNode() = default;

StatusOr<std::unique_ptr<SimProcess>> KvNode::Create(const NodeContext& ctx,
                                                     const KvClusterConfig& config,
                                                     int64_t tick_micros, KvObserver* observer) {
  std::unique_ptr<KvNode> node(new KvNode(ctx, tick_micros, observer));
  if (config.log_sync_lies) node->lying_disk_ = std::make_unique<LyingLogSyncEnv>(ctx.disk);
  if (Status s = node->OpenReplicas(config); !s.ok()) return s;
  if (Status s = node->ArmTick(); !s.ok()) return s;
  return std::unique_ptr<SimProcess>(std::move(node));
}

Status KvNode::OpenReplicas(const KvClusterConfig& config) {
  for (const PartitionConfig& partition : config.partitions) {
    if (!partition.Has(ctx_.id)) continue;
    ReplicaStoreOptions store_options;
    store_options.store = config.store;
    store_options.store.dir = fmt::format("/kv/partition-{}", partition.id);
    store_options.store.env = lying_disk_ ? lying_disk_.get() : ctx_.disk;
    store_options.store.clock = ctx_.clock;
    store_options.store.background_threads = false;
    if (Status s = ctx_.disk->CreateDir("/kv"); !s.ok()) return s;
    // Each incarnation draws new election timeouts, from its own stream.
    const uint64_t seed = ctx_.rng->Next();
    StatusOr<std::unique_ptr<replication::Replica>> replica =
        replication::Replica::Open(partition, ctx_.id, config.replica, store_options, seed,
                                   [this](const Message& message) { SendReplication(message); });
    if (!replica.ok()) {
      return Status(replica.status().code(),
                    fmt::format("node {} partition {}: {}", ctx_.id, partition.id,
                                std::string(replica.status().message())));
    }
    observer_->OnReplicaOpened(ctx_.id, **replica);
    replicas_[partition.id] = std::move(*replica);
  }
  return absl::OkStatus();
}

Status KvNode::ArmTick() { return ctx_.timers->SetTimer(tick_micros_, kTickTimer); }

bool KvNode::AnyReplicaFailed() const {
  for (const auto& [id, replica] : replicas_) {
    // A store that turned read-only in background work (a failed sync of a
    // checkpoint or compaction) fails the replica at its next write: count
    // it now, so the heal restarts its node as an operator would.
    if (!replica->failure().ok() || replica->store()->GetStats().read_only) return true;
  }
  return false;
}

void KvNode::SendReplication(const Message& message) {
  // A refused send is a lost message: the protocol's retries cover it.
  (void)ctx_.transport->Send(message);
}

void KvNode::OnMessage(const Message& message) {
  if (const auto* request = std::get_if<ClientRequest>(&message.body)) {
    return Serve(message, *request);
  }
  PartitionId partition = 0;
  if (!replication::PartitionOf(message, &partition)) return;  // not for a replica
  auto it = replicas_.find(partition);
  if (it == replicas_.end()) return;
  // A message the replica refuses (damaged past the codec, or from a
  // non-member) is dropped, as the real Node drops it.
  (void)it->second->Receive(message);
  Process(*it->second);
}

void KvNode::Serve(const Message& message, const ClientRequest& request) {
  const NodeId sender = message.from;
  Transport* transport = ctx_.transport;
  const NodeId self = ctx_.id;
  auto reply = [transport, self, sender](ClientResponse response) {
    (void)transport->Send(Message{.from = self, .to = sender, .body = std::move(response)});
  };
  auto it = replicas_.find(request.partition);
  if (it == replicas_.end()) {
    ClientResponse response{.client_id = request.client_id, .sequence = request.sequence};
    response.code = static_cast<uint8_t>(absl::StatusCode::kNotFound);
    response.message =
        fmt::format("node {} hosts no replica of partition {}", self, request.partition);
    return reply(std::move(response));
  }
  it->second->Submit(request, reply);
  Process(*it->second);
}

void KvNode::OnTimer(uint64_t timer_id) {
  if (timer_id != kTickTimer) {
    return observer_->OnNodeError(ctx_.id, fmt::format("unknown timer {}", timer_id));
  }
  for (auto& [id, replica] : replicas_) {
    replica->Tick();
    // Checkpoints, WAL release and compaction, on simulated time. A failure
    // turns the store read-only; the replica meets it at its next write.
    if (replica->failure().ok()) (void)replica->replica_store()->RunBackgroundWork();
  }
  ProcessAll();
  if (Status s = ArmTick(); !s.ok()) observer_->OnNodeError(ctx_.id, s.ToString());
}

void KvNode::ProcessAll() {
  for (auto& [id, replica] : replicas_) Process(*replica);
}

void KvNode::Process(replication::Replica& replica) {
  replica.Process();
  observer_->OnReplicaProcessed(ctx_.id, replica);
}

}  // namespace toydb::sim
