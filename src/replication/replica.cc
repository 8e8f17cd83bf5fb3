// Replica: drives the protocol core on a ReplicaStore. This file keeps the
// Ready handling (persist, write, send, sync, apply) and the inputs;
// replica_requests.cc keeps the client side (proposals, reads, replies).
#include "src/replication/replica.h"

#include <fmt/format.h>

#include <algorithm>

#include "src/replication/wire_messages.h"
#include "src/util/check.h"

namespace toydb::replication {
namespace {
// Entries of the newest log tail kept in memory for streaming to followers.
constexpr uint64_t kLogCacheBytes = 64u << 20;
}  // namespace

ReplicaConfig Replica::CoreConfig(const PartitionConfig& partition, NodeId self,
                                  const ReplicaOptions& options, uint64_t seed) {
  ReplicaConfig config;
  config.id = self;
  config.members = partition.members;
  config.election_ticks = options.election_ticks;
  config.heartbeat_ticks = options.heartbeat_ticks;
  config.pre_vote = options.pre_vote;
  config.check_quorum = options.check_quorum;
  config.random_seed = seed;
  config.max_append_bytes = options.append_bytes_max;
  config.max_append_entries = options.append_entries_max;
  config.max_inflight_appends = options.inflight_appends_max;
  config.max_inflight_bytes = options.inflight_bytes_max;
  config.max_entry_bytes = options.append_bytes_max;
  config.max_uncommitted_entries = options.uncommitted_entries_max;
  return config;
}

StatusOr<std::unique_ptr<Replica>> Replica::Open(const PartitionConfig& partition, NodeId self,
                                                 const ReplicaOptions& options,
                                                 const ReplicaStoreOptions& store_options,
                                                 uint64_t seed, Outbox outbox, Logger log) {
  if (Status s = partition.Validate(); !s.ok()) return s;
  if (!partition.Has(self)) {
    return absl::InvalidArgumentError(
        fmt::format("node {} is not a member of partition {}", self, partition.id));
  }
  if (Status s = options.Validate(); !s.ok()) return s;
  const ReplicaConfig config = CoreConfig(partition, self, options, seed);
  if (Status s = config.Validate(); !s.ok()) return s;
  if (Status s = ValidateWireLimits(config); !s.ok()) return s;
  ReplicaStoreOptions opened = store_options;
  opened.session_count_max = options.session_count_max;
  StatusOr<std::unique_ptr<ReplicaStore>> store = ReplicaStore::Open(opened);
  if (!store.ok()) return store.status();
  std::unique_ptr<Replica> replica(new Replica(partition, self, options, store_options.store,
                                               std::move(*store), std::move(outbox)));
  const ReplicaHardState saved = replica->store_->hard_state();
  HardState hard_state{saved.term, saved.vote, saved.commit_lsn};
  StatusOr<std::unique_ptr<ReplicaCore>> core =
      ReplicaCore::Open(config, &replica->log_, hard_state, replica->store_->applied_lsn());
  if (!core.ok()) return core.status();
  replica->core_ = std::move(*core);
  replica->saved_hard_state_ = hard_state;
  replica->last_term_ = hard_state.term;
  replica->logger_ = std::move(log);
  replica->Log(fmt::format("opened: term {}, last LSN {}, applied LSN {}", hard_state.term,
                           replica->store_->last_lsn(), replica->store_->applied_lsn()));
  return replica;
}

Replica::Replica(const PartitionConfig& partition, NodeId self, const ReplicaOptions& options,
                 const StoreOptions& limits, std::unique_ptr<ReplicaStore> store, Outbox outbox)
    : partition_(partition),
      self_(self),
      options_(options),
      limits_(limits),
      store_(std::move(store)),
      log_(store_.get(), kLogCacheBytes),
      outbox_(std::move(outbox)) {}

Replica::~Replica() = default;

void Replica::Log(const std::string& line) const {
  if (logger_) logger_(fmt::format("partition {} replica {}: {}", partition_.id, self_, line));
}

Status Replica::Receive(const toydb::Message& wire) {
  if (!failure_.ok()) return absl::OkStatus();  // a failed replica is silent
  Status status = ReceiveWire(wire);
  if (!status.ok()) {
    Log(fmt::format("refused a {} from node {}: {}", MessageTypeName(TypeOf(wire)), wire.from,
                    std::string(status.message())));
  }
  return status;
}

Status Replica::ReceiveWire(const toydb::Message& wire) {
  if (const auto* chunk = std::get_if<SnapshotChunk>(&wire.body)) {
    if (chunk->partition != partition_.id) {
      return absl::InvalidArgumentError("a snapshot chunk for another partition");
    }
    return ReceiveSnapshotChunk(wire.from, *chunk);
  }
  if (const auto* response = std::get_if<SnapshotResponse>(&wire.body)) {
    if (response->partition != partition_.id) {
      return absl::InvalidArgumentError("a snapshot answer for another partition");
    }
    return ReceiveSnapshotResponse(wire.from, *response);
  }
  StatusOr<std::pair<PartitionId, Message>> message = FromWire(wire);
  if (!message.ok()) return message.status();
  if (message->first != partition_.id) {
    return absl::InvalidArgumentError(fmt::format("a message for partition {} reached partition {}",
                                                  message->first, partition_.id));
  }
  return core_->Step(message->second);
}

Status Replica::Step(const Message& message) {
  if (!failure_.ok()) return absl::OkStatus();  // a failed replica is silent
  return core_->Step(message);
}

void Replica::Tick() {
  if (!failure_.ok()) return;
  ++now_tick_;
  core_->Tick();
  TickSnapshots();
}

Status Replica::TransferLeadership(NodeId to) {
  if (!failure_.ok()) return failure_;
  return core_->TransferLeadership(to);
}

void Replica::Campaign() {
  if (failure_.ok()) core_->Campaign();
}

void Replica::AbandonRequests(const Status& status) {
  for (auto& [lsn, write] : writes_) {
    write.reply(
        ErrorResponse(write.request, WithWriteOutcome(status, WriteOutcome::kUnknown, lsn)));
  }
  writes_.clear();
  for (auto& [id, read] : reads_) read.reply(ErrorResponse(read.request, status));
  reads_.clear();
}

void Replica::Process() {
  while (failure_.ok()) {
    bool worked = core_->HasReady();
    HandleReadies();
    if (failure_.ok() && log_.HasUnsynced()) {
      StatusOr<uint64_t> durable = log_.Sync();
      if (!durable.ok()) {
        Fail(durable.status());
        break;
      }
      if (Status s = core_->OnLogDurable(*durable); !s.ok()) {
        Fail(s);
        break;
      }
      worked = true;
    }
    if (!worked) break;
  }
  TrackRole();
  AnswerWrites();
  AnswerReads();
  if (failure_.ok()) UpdateRetentionFloor();
}

void Replica::HandleReadies() {
  while (failure_.ok() && core_->HasReady()) HandleReady(core_->TakeReady());
}

// The Ready contract (replica_types.h): persist, write, send, apply, answer.
void Replica::HandleReady(Ready ready) {
  if (ready.hard_state) {
    if (Status s = PersistHardState(*ready.hard_state); !s.ok()) return Fail(s);
  }
  if (ready.log_write) {
    if (Status s = log_.Write(std::move(*ready.log_write)); !s.ok()) return Fail(s);
  }
  for (const Message& message : ready.messages) outbox_(ToWire(partition_.id, message));
  for (const SnapshotRequest& request : ready.snapshots) StartSnapshot(request);
  if (!ready.committed.empty()) {
    if (Status s = ApplyCommitted(ready.committed); !s.ok()) return Fail(s);
  }
  for (const ReadResult& result : ready.reads) {
    auto it = reads_.find(result.request_id);
    if (it == reads_.end()) continue;
    if (!result.status.ok()) {
      it->second.reply(ErrorResponse(it->second.request, result.status));
      reads_.erase(it);
      continue;
    }
    it->second.read_lsn = result.read_lsn;
    it->second.confirmed = true;
  }
}

// Term and vote must be durable before any message of the same Ready leaves
// (a vote forgotten in a crash could elect two primaries in one term). The
// commit LSN alone is not worth an fsync: a replica that restarts with an
// older one applies less at Open and learns the rest from the primary.
Status Replica::PersistHardState(const HardState& hard_state) {
  if (hard_state.term == saved_hard_state_.term && hard_state.vote == saved_hard_state_.vote) {
    return absl::OkStatus();
  }
  const ReplicaHardState state{hard_state.term, hard_state.vote, hard_state.commit_lsn};
  if (Status s = store_->SaveHardState(state); !s.ok()) return s;
  saved_hard_state_ = hard_state;
  return absl::OkStatus();
}

Status Replica::ApplyCommitted(std::vector<Entry>& committed) {
  std::vector<ApplyResult> results;
  results.reserve(committed.size());
  // The committed entries come from the log (its cached tail, mostly):
  // apply them as they are instead of reading them back.
  std::vector<WalRecord> records;
  records.reserve(committed.size());
  for (Entry& entry : committed) {
    records.push_back(WalRecord{entry.term, entry.lsn,
                                entry.type == EntryType::kNoop ? kWalRecordNoop : kWalRecordCommand,
                                std::move(entry.payload)});
  }
  if (Status s = store_->ApplyRecords(records, &results); !s.ok()) return s;
  TOYDB_CHECK(results.size() == committed.size() && results.front().lsn == committed.front().lsn,
              fmt::format("asked to apply LSNs [{}, {}], the store applied {} records",
                          committed.front().lsn, committed.back().lsn, results.size()));
  for (size_t i = 0; i < results.size(); ++i) {
    auto it = writes_.find(results[i].lsn);
    if (it == writes_.end()) continue;
    // An entry at this LSN from another term is another primary's: ours was
    // cut from the log before it committed.
    if (committed[i].term != it->second.term) continue;
    it->second.applied = true;
    it->second.result = std::move(results[i]);
  }
  return absl::OkStatus();
}

void Replica::TrackRole() {
  const Role role = core_->role();
  if (role != last_role_ || core_->term() != last_term_) {
    if (role == Role::kCandidate && last_role_ != Role::kCandidate) ++elections_started_;
    if (role == Role::kPrimary && last_role_ != Role::kPrimary) ++elections_won_;
    if (role == Role::kPrimary) {
      Log(fmt::format("primary in term {} (last LSN {}, commit LSN {})", core_->term(),
                      store_->last_lsn(), core_->commit_lsn()));
    } else if (role != last_role_) {
      Log(fmt::format("{} in term {}{}", RoleName(role), core_->term(),
                      core_->leader() != kNoNode ? fmt::format(", primary {}", core_->leader())
                                                 : std::string()));
    }
    last_role_ = role;
  }
  last_term_ = core_->term();
}

void Replica::UpdateRetentionFloor() {
  Lsn floor = store_->last_lsn() + 1;
  if (core_->role() == Role::kPrimary) {
    const ReplicaStatus status = core_->GetStatus();
    for (const auto& [peer, match] : status.peer_match_lsn) {
      if (match >= status.last_lsn) peer_caught_up_tick_[peer] = now_tick_;
      if (status.last_lsn - match <= options_.log_catchup_entries_max) {
        floor = std::min(floor, match + 1);
      }
    }
  }
  store_->SetRetentionFloor(floor);
}

void Replica::Fail(const Status& cause) {
  if (!failure_.ok()) return;
  failure_ = cause;
  Log(fmt::format("stopped after a storage failure: {}", std::string(cause.message())));
}

ReplicaStats Replica::GetStats() const {
  const ReplicaStatus status = core_->GetStatus();
  ReplicaStats stats;
  stats.partition = partition_.id;
  stats.node = self_;
  switch (status.role) {
    case Role::kPrimary:
      stats.role = ReplicaRole::kPrimary;
      break;
    case Role::kCandidate:
    case Role::kPreCandidate:
      stats.role = ReplicaRole::kCandidate;
      break;
    case Role::kFollower:
      stats.role = ReplicaRole::kFollower;
      break;
  }
  stats.term = status.term;
  stats.leader = status.leader;
  stats.last_lsn = store_->last_lsn();
  stats.synced_lsn = store_->synced_lsn();
  stats.commit_lsn = status.commit_lsn;
  stats.applied_lsn = store_->applied_lsn();
  for (const auto& [peer, match] : status.peer_match_lsn) {
    ReplicaPeerStats peer_stats;
    peer_stats.node = peer;
    peer_stats.match_lsn = match;
    peer_stats.lag_entries = stats.last_lsn > match ? stats.last_lsn - match : 0;
    auto it = peer_caught_up_tick_.find(peer);
    const uint64_t since = it == peer_caught_up_tick_.end() ? 0 : it->second;
    peer_stats.lag_ticks = peer_stats.lag_entries == 0 ? 0 : now_tick_ - since;
    stats.peers.push_back(peer_stats);
  }
  stats.elections_started = elections_started_;
  stats.elections_won = elections_won_;
  stats.snapshots_sent = snapshots_sent_;
  stats.snapshots_received = snapshots_received_;
  stats.failure = failure_;
  return stats;
}

}  // namespace toydb::replication
