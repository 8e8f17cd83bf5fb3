#include "tests/replication/replica_group.h"

#include <fmt/format.h>

#include "src/transport/codec.h"

namespace toydb::replication::testing {

ReplicaOptions ReplicaGroup::DefaultOptions() {
  ReplicaOptions options;
  options.election_ticks = 10;
  options.heartbeat_ticks = 2;
  options.write_timeout_ticks = 50;
  options.read_timeout_ticks = 50;
  return options;
}

ReplicaGroup::ReplicaGroup(size_t size, ReplicaOptions options, SyncPolicy sync)
    : options_(options), sync_(sync) {
  partition_.id = 7;
  for (NodeId id = 1; id <= size; ++id) partition_.members.push_back(id);
  for (NodeId id = 1; id <= size; ++id) {
    disks_[id] = std::make_unique<MemEnv>();
    Status s = Start(id);
    if (!s.ok()) throw std::runtime_error(std::string(s.message()));
  }
}

StoreOptions ReplicaGroup::StoreOptionsFor(NodeId id) {
  StoreOptions store;
  store.dir = "/replica";
  store.env = incarnation_envs_.at(id).get();
  store.background_threads = false;
  store.sync_policy = sync_;
  store.wal_segment_bytes_max = 64 << 10;
  store.data_segment_bytes_max = 64 << 10;
  store.checkpoint_wal_bytes = 128 << 10;
  store.wal_retention_bytes = 256 << 10;
  store.wal_preallocate_bytes = 0;
  return store;
}

Status ReplicaGroup::Start(NodeId id) {
  incarnation_envs_[id] =
      std::make_unique<sim::IncarnationEnv>(disks_.at(id).get(), id, ++incarnations_);
  ReplicaStoreOptions store_options;
  store_options.store = StoreOptionsFor(id);
  StatusOr<std::unique_ptr<Replica>> replica = Replica::Open(
      partition_, id, options_, store_options, 1000 + id * 7 + 13 * incarnations_,
      [this](const toydb::Message& message) {
        StatusOr<std::string> frame = EncodeFrame(message);
        if (!frame.ok()) throw std::runtime_error(std::string(frame.status().message()));
        queue_.push_back({message.from, message.to, std::move(*frame)});
      },
      [this](const std::string& line) { logs_.push_back(line); });
  if (!replica.ok()) return replica.status();
  replicas_[id] = std::move(*replica);
  return absl::OkStatus();
}

std::vector<toydb::Message> ReplicaGroup::InFlight() const {
  std::vector<toydb::Message> messages;
  for (const Queued& queued : queue_) {
    StatusOr<toydb::Message> message = DecodeFrame(queued.frame);
    if (message.ok()) messages.push_back(std::move(*message));
  }
  return messages;
}

void ReplicaGroup::Stop(NodeId id) {
  if (!up(id)) return;
  replicas_.at(id)->AbandonRequests(absl::UnavailableError("stopped"));
  replicas_.erase(id);
}

void ReplicaGroup::Crash(NodeId id) {
  if (!up(id)) return;
  // Cut the process off its disk first, so that the closing store can
  // write or sync nothing more, then forget what was not synced.
  incarnation_envs_.at(id)->Kill();
  disks_.at(id)->CrashDropUnsynced();
  replicas_.at(id)->AbandonRequests(absl::UnavailableError("crashed"));
  replicas_.erase(id);
}

void ReplicaGroup::Cut(NodeId a, NodeId b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void ReplicaGroup::Deliver() {
  for (int round = 0; round < 100000; ++round) {
    for (auto& [id, replica] : replicas_) replica->Process();
    if (queue_.empty()) return;
    std::vector<Queued> batch;
    batch.swap(queue_);
    for (Queued& queued : batch) {
      if (!up(queued.to) || cut_.count({queued.from, queued.to}) != 0) continue;
      StatusOr<toydb::Message> message = DecodeFrame(queued.frame);
      if (!message.ok()) throw std::runtime_error(std::string(message.status().message()));
      (void)replicas_.at(queued.to)->Receive(*message);
    }
  }
  throw std::runtime_error("messages kept flowing for 100000 rounds");
}

void ReplicaGroup::Tick() {
  for (auto& [id, replica] : replicas_) replica->Tick();
  for (auto& [id, replica] : replicas_) (void)replica->replica_store()->RunBackgroundWork();
  Deliver();
}

std::optional<NodeId> ReplicaGroup::Primary() const {
  std::optional<NodeId> primary;
  Term best = 0;
  for (const auto& [id, replica] : replicas_) {
    if (replica->is_primary() && replica->GetStats().term >= best) {
      best = replica->GetStats().term;
      primary = id;
    }
  }
  return primary;
}

std::optional<NodeId> ReplicaGroup::ElectWithin(uint64_t max_ticks) {
  for (uint64_t i = 0; i < max_ticks; ++i) {
    Tick();
    std::optional<NodeId> primary = Primary();
    if (!primary) continue;
    size_t following = 0;
    for (const auto& [id, replica] : replicas_) {
      if (replica->leader() == *primary) ++following;
    }
    if (following * 2 > partition_.members.size()) return primary;
  }
  return std::nullopt;
}

void ReplicaGroup::Submit(NodeId id, const ClientRequest& request) {
  const uint64_t sequence = request.sequence;
  replicas_.at(id)->Submit(request, [this, sequence](ClientResponse response) {
    replies_[sequence] = std::move(response);
  });
}

std::optional<ClientResponse> ReplicaGroup::Call(NodeId id, const ClientRequest& request,
                                                 uint64_t max_ticks) {
  std::optional<ClientResponse> reply;
  replicas_.at(id)->Submit(request, [&reply](ClientResponse response) { reply = response; });
  Deliver();
  for (uint64_t i = 0; !reply && i < max_ticks; ++i) Tick();
  return reply;
}

std::map<std::string, std::pair<std::string, Lsn>> ReplicaGroup::Contents(NodeId id) {
  std::map<std::string, std::pair<std::string, Lsn>> contents;
  StatusOr<std::unique_ptr<Snapshot>> snapshot = replicas_.at(id)->store()->GetSnapshot();
  if (!snapshot.ok()) throw std::runtime_error(std::string(snapshot.status().message()));
  Status s = (*snapshot)->ForEach([&](std::string_view key, std::string_view value, Lsn version) {
    contents[std::string(key)] = {std::string(value), version};
    return absl::OkStatus();
  });
  if (!s.ok()) throw std::runtime_error(std::string(s.message()));
  return contents;
}

ClientRequest ReplicaGroup::Put(std::string key, std::string value, WriteConcern concern) {
  ClientRequest request;
  request.partition = 7;
  request.op = OpType::kPut;
  request.key = std::move(key);
  request.value = std::move(value);
  request.concern = concern;
  return request;
}

ClientRequest ReplicaGroup::Read(std::string key, ReadConsistency consistency) {
  ClientRequest request;
  request.partition = 7;
  request.op = OpType::kGet;
  request.key = std::move(key);
  request.consistency = consistency;
  return request;
}

}  // namespace toydb::replication::testing
