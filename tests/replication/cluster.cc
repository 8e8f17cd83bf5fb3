#include "tests/replication/cluster.h"

#include <fmt/format.h>

#include <algorithm>

namespace toydb::replication::testing {

Cluster::Cluster(size_t size, uint64_t seed, ReplicaConfig base)
    : base_(base), rng_(seed), snapshot_rng_(seed ^ 0x5eed5eed5eed5eedULL) {
  base_.members.clear();
  for (NodeId id = 1; id <= size; ++id) base_.members.push_back(id);
  for (NodeId id = 1; id <= size; ++id) {
    SimReplica& replica = replicas_[id];
    replica.id = id;
    auto core = ReplicaCore::Open(ConfigFor(id), &replica.log, {}, 0);
    if (!core.ok()) Fail(core.status().ToString());
    replica.core = std::move(*core);
  }
}

ReplicaConfig Cluster::ConfigFor(NodeId id) const {
  ReplicaConfig config = base_;
  config.id = id;
  config.random_seed = base_.random_seed * 1000003 + id + rng_seed_salt_;
  return config;
}

std::vector<NodeId> Cluster::ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, replica] : replicas_) out.push_back(id);
  return out;
}

void Cluster::Fail(std::string what) {
  if (violation_.empty()) violation_ = fmt::format("t={}: {}", now_, what);
}

// ---------------------------------------------------------------------------
// Driving.

void Cluster::Tick(NodeId id) {
  SimReplica& replica = replicas_.at(id);
  if (!replica.up) return;
  replica.core->Tick();
  Process(id);
}

void Cluster::TickAll() {
  for (NodeId id : ids()) Tick(id);
}

void Cluster::Sync(NodeId id) {
  SimReplica& replica = replicas_.at(id);
  if (!replica.up) return;
  uint64_t write_id = replica.log.Sync();
  Status status = replica.core->OnLogDurable(write_id);
  if (!status.ok()) Fail(fmt::format("replica {}: {}", id, status.ToString()));
  Process(id);
}

void Cluster::Process(NodeId id) {
  SimReplica& replica = replicas_.at(id);
  while (replica.up && replica.core->HasReady()) {
    Ready ready = replica.core->TakeReady();
    Persist(replica, ready);
    for (const Message& message : ready.messages) {
      RecordAck(replica, message);
      Enqueue(message);
    }
    Apply(replica, ready.committed);
    Compact(replica);
    StartTransfers(replica, ready.snapshots);
    for (ReadResult& read : ready.reads) {
      CheckRead(replica, read);
      replica.reads.push_back(std::move(read));
    }
    CheckPrimary(replica);
    if (auto_sync_ && ready.log_write) {
      uint64_t write_id = replica.log.Sync();
      Status status = replica.core->OnLogDurable(write_id);
      if (!status.ok()) Fail(fmt::format("replica {}: {}", id, status.ToString()));
    }
  }
}

// A host compacts only what it applied: the core never needs an entry below
// the base except to catch a peer up, and that is what snapshots are for.
void Cluster::Compact(SimReplica& replica) {
  if (!compact_keep_ || replica.applied.size() <= *compact_keep_) return;
  Lsn upto = replica.applied.size() - *compact_keep_;
  if (upto < replica.log.FirstLsn()) return;
  Status status = replica.log.Compact(upto);
  if (!status.ok()) Fail(fmt::format("replica {} compaction: {}", replica.id, status.ToString()));
}

void Cluster::Persist(SimReplica& replica, Ready& ready) {
  if (ready.hard_state) {
    if (ready.hard_state->term < replica.hard_state.term) {
      Fail(fmt::format("replica {} persisted term {} after term {}", replica.id,
                       ready.hard_state->term, replica.hard_state.term));
    }
    if (ready.hard_state->term == replica.hard_state.term && replica.hard_state.vote != kNoNode &&
        ready.hard_state->vote != replica.hard_state.vote) {
      Fail(fmt::format("replica {} voted twice in term {}", replica.id, ready.hard_state->term));
    }
    replica.hard_state = *ready.hard_state;
  }
  if (ready.log_write) {
    Status status = replica.log.Write(*ready.log_write);
    if (!status.ok()) Fail(fmt::format("replica {} log write: {}", replica.id, status.ToString()));
  }
}

void Cluster::Apply(SimReplica& replica, const std::vector<Entry>& entries) {
  for (const Entry& entry : entries) {
    if (entry.lsn != replica.applied.size() + 1) {
      Fail(fmt::format("replica {} applied LSN {} after {}", replica.id, entry.lsn,
                       replica.applied.size()));
      return;
    }
    auto [it, inserted] = committed_.emplace(entry.lsn, entry);
    if (!inserted && !(it->second == entry)) {
      Fail(fmt::format(
          "replica {} applied (term {}, '{}') at LSN {} where (term {}, '{}') was "
          "applied before",
          replica.id, entry.term, entry.payload, entry.lsn, it->second.term, it->second.payload));
    }
    replica.applied.push_back(entry);
    Term term = replica.core->term();
    auto [bound, fresh] = commit_term_bound_.emplace(entry.lsn, term);
    if (!fresh) bound->second = std::min(bound->second, term);
  }
}

// At most one primary per term, and a new primary holds every entry committed
// in an earlier term (a committed entry is never lost). A primary of an older
// term may still be elected late, by votes cast before the newer term began;
// Raft promises it nothing about entries committed in newer terms.
void Cluster::CheckPrimary(SimReplica& replica) {
  if (replica.core->role() != Role::kPrimary) return;
  Term term = replica.core->term();
  auto [it, inserted] = primaries_.emplace(term, replica.id);
  if (it->second != replica.id) {
    Fail(fmt::format("replicas {} and {} are both primary in term {}", it->second, replica.id,
                     term));
  }
  if (!inserted) return;
  for (const auto& [lsn, entry] : committed_) {
    if (commit_term_bound_.at(lsn) >= term) continue;
    StatusOr<Term> held = replica.core->TermAt(lsn);
    if (lsn < replica.log.FirstLsn() - 1 && lsn <= replica.applied.size()) {
      held = replica.applied[lsn - 1].term;  // compacted: in the applied state
    }
    if (!held.ok() || *held != entry.term) {
      Fail(fmt::format("new primary {} of term {} lacks committed LSN {}", replica.id, term, lsn));
      return;
    }
  }
}

void Cluster::RecordAck(SimReplica& replica, const Message& message) {
  if (message.kind != MessageKind::kAppendResponse || message.reject) return;
  if (message.match_lsn == 0) return;
  replica.acked_in_term = message.term;
  replica.acked_lsn = message.match_lsn;
  replica.acked_entry_term = replica.core->TermAt(message.match_lsn).value_or(0);
}

// Within one term a follower never truncates what matched the primary, so a
// crash must leave every entry it acknowledged as durable in that term.
void Cluster::CheckAckSurvived(SimReplica& replica) {
  if (replica.acked_in_term != replica.hard_state.term) return;
  StatusOr<Term> term = replica.log.TermAt(replica.acked_lsn);
  if (replica.acked_lsn < replica.log.FirstLsn() - 1 &&
      replica.acked_lsn <= replica.applied.size()) {
    term = replica.applied[replica.acked_lsn - 1].term;  // compacted: in the applied state
  }
  if (!term.ok() || *term != replica.acked_entry_term) {
    Fail(fmt::format("replica {} lost LSN {} that it acknowledged as durable in term {}",
                     replica.id, replica.acked_lsn, replica.acked_in_term));
  }
}

void Cluster::Enqueue(const Message& message) {
  if (on_send_) on_send_(message);
  if (rng_.Chance(faults_.drop)) return;
  int copies = rng_.Chance(faults_.duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    uint64_t delay = faults_.max_delay_ticks == 0 ? 0 : rng_.Uniform(faults_.max_delay_ticks + 1);
    in_flight_.push_back({now_ + delay, next_seq_++, message});
  }
}

bool Cluster::Linked(NodeId from, NodeId to) const { return cut_.count({from, to}) == 0; }

void Cluster::Deliver(const Message& message) {
  SimReplica& to = replicas_.at(message.to);
  if (!to.up || !Linked(message.from, message.to)) return;
  if (trace_) {
    fmt::print(
        "t={} {}->{} {} term {} prev ({}, {}) n {} commit {} reject {} match {} "
        "accepted {} hint ({}, {}, {}) granted {} ctx {} last ({}, {})\n",
        now_, message.from, message.to, MessageKindName(message.kind), message.term,
        message.prev_lsn, message.prev_term, message.entries.size(), message.commit_lsn,
        message.reject, message.match_lsn, message.accepted_lsn, message.hint_last_lsn,
        message.hint_conflict_term, message.hint_conflict_first_lsn, message.granted,
        message.context, message.last_lsn, message.last_term);
  }
  Status status = to.core->Step(message);
  if (!status.ok()) Fail(fmt::format("replica {} refused a message: {}", to.id, status.ToString()));
  Process(to.id);
}

void Cluster::DeliverDue() {
  for (int round = 0; round < 20000; ++round) {
    auto due =
        std::min_element(in_flight_.begin(), in_flight_.end(),
                         [](const InFlightMessage& a, const InFlightMessage& b) {
                           return std::tie(a.deliver_at, a.seq) < std::tie(b.deliver_at, b.seq);
                         });
    if (due == in_flight_.end() || due->deliver_at > now_) return;
    Message message = std::move(due->message);
    in_flight_.erase(due);
    Deliver(message);
  }
  Fail("messages kept flowing without time passing");
}

void Cluster::RunTick() {
  ++now_;
  TickAll();
  DeliverDue();
  StepTransfers();
}

void Cluster::Stabilize(int max_rounds) {
  for (int round = 0; round < max_rounds; ++round) {
    for (NodeId id : ids()) Sync(id);
    if (in_flight_.empty() && (transfers_.empty() || hold_snapshots_)) return;
    uint64_t next = now_;
    for (const InFlightMessage& m : in_flight_) next = std::max(next, m.deliver_at);
    for (const SnapshotTransfer& t : transfers_) next = std::max(next, t.next_at);
    now_ = next;  // deliver everything, even the delayed, without ticking
    DeliverDue();
    StepTransfers();
  }
}

// ---------------------------------------------------------------------------
// Snapshot transfers, as the hosts would run them.

// The sender snapshots its applied state at the LSN asked for, at its
// applied LSN (as the store's MakeSnapshot does), or in between.
void Cluster::StartTransfers(SimReplica& sender, const std::vector<SnapshotRequest>& requests) {
  for (const SnapshotRequest& request : requests) {
    snapshot_requests_.emplace_back(sender.id, request);
    StatusOr<Term> base_term = sender.core->TermAt(request.lsn);
    if (request.lsn > sender.applied.size() || !base_term.ok() || *base_term != request.term ||
        sender.core->role() != Role::kPrimary) {
      Fail(fmt::format("replica {} asked a snapshot at (LSN {}, term {}) with {} applied",
                       sender.id, request.lsn, request.term, sender.applied.size()));
      continue;
    }
    SnapshotTransfer transfer;
    transfer.from = sender.id;
    transfer.to = request.peer;
    transfer.from_incarnation = sender.incarnation;
    transfer.primary_term = sender.core->term();
    Lsn newest = sender.applied.size();
    switch (snapshot_rng_.Uniform(3)) {
      case 0:
        transfer.lsn = request.lsn;
        break;
      case 1:
        transfer.lsn = newest;
        break;
      default:
        transfer.lsn = request.lsn + snapshot_rng_.Uniform(newest - request.lsn + 1);
        break;
    }
    transfer.term = sender.core->TermAt(transfer.lsn).value_or(0);
    transfer.state.assign(sender.applied.begin(),
                          sender.applied.begin() + static_cast<ptrdiff_t>(transfer.lsn));
    transfer.chunks_left = 1 + static_cast<uint32_t>(snapshot_rng_.Uniform(
                                   std::max<uint32_t>(snapshot_faults_.max_chunks, 1)));
    transfer.next_at = now_ + snapshot_rng_.Uniform(snapshot_faults_.max_delay_ticks + 1);
    if (trace_) {
      fmt::print("t={} snapshot {}->{} at ({}, {}) asked ({}, {})\n", now_, transfer.from,
                 transfer.to, transfer.lsn, transfer.term, request.lsn, request.term);
    }
    transfers_.push_back(std::move(transfer));
  }
}

void Cluster::StepTransfers() {
  if (hold_snapshots_) return;
  // Transfers started while stepping wait for the next call.
  std::vector<SnapshotTransfer> due;
  for (auto it = transfers_.begin(); it != transfers_.end();) {
    if (it->next_at <= now_) {
      due.push_back(std::move(*it));
      it = transfers_.erase(it);
    } else {
      ++it;
    }
  }
  for (SnapshotTransfer& transfer : due) {
    if (StepTransfer(transfer)) transfers_.push_back(std::move(transfer));
  }
}

bool Cluster::StepTransfer(SnapshotTransfer& transfer) {
  SimReplica& sender = replicas_.at(transfer.from);
  // A crash of the sender ends its transfers, and nobody is left to report.
  if (!sender.up || sender.incarnation != transfer.from_incarnation) return false;
  SimReplica& receiver = replicas_.at(transfer.to);
  if (!receiver.up || !Linked(transfer.from, transfer.to) ||
      snapshot_rng_.Chance(snapshot_faults_.fail)) {
    ReportSnapshot(transfer, /*delivered=*/false);
    return false;
  }
  Status chunk = receiver.core->OnSnapshotChunk(transfer.from, transfer.primary_term, transfer.lsn,
                                                transfer.term);
  if (trace_) {
    fmt::print("t={} snapshot chunk {}->{} ({}, {}) term {}: {}\n", now_, transfer.from,
               transfer.to, transfer.lsn, transfer.term, transfer.primary_term, chunk.ToString());
  }
  Process(receiver.id);
  if (!chunk.ok()) {
    if (chunk.code() != absl::StatusCode::kAborted) {
      Fail(fmt::format("replica {} snapshot chunk: {}", receiver.id, chunk.ToString()));
    }
    ReportSnapshot(transfer, /*delivered=*/false);
    return false;
  }
  if (--transfer.chunks_left > 0) {
    transfer.next_at = now_ + snapshot_rng_.Uniform(snapshot_faults_.max_delay_ticks + 1);
    return true;
  }
  InstallSnapshot(receiver, transfer);
  ReportSnapshot(transfer, /*delivered=*/receiver.up);
  return false;
}

// The receiver's applied state must be a prefix of the snapshot's (a snapshot
// never rewinds or contradicts what was applied), and the snapshot holds only
// entries applied somewhere before.
void Cluster::InstallSnapshot(SimReplica& receiver, const SnapshotTransfer& transfer) {
  if (receiver.applied.size() > transfer.state.size() ||
      !std::equal(receiver.applied.begin(), receiver.applied.end(), transfer.state.begin())) {
    Fail(fmt::format("replica {} with {} applied got a snapshot at LSN {} that contradicts them",
                     receiver.id, receiver.applied.size(), transfer.lsn));
    return;
  }
  for (const Entry& entry : transfer.state) {
    auto committed = committed_.find(entry.lsn);
    if (committed == committed_.end() || !(committed->second == entry)) {
      Fail(fmt::format("snapshot at LSN {} holds an entry at LSN {} never committed", transfer.lsn,
                       entry.lsn));
      return;
    }
  }
  receiver.applied = transfer.state;
  receiver.log.InstallSnapshot(transfer.lsn, transfer.term);
  ++snapshots_installed_;
  if (snapshot_rng_.Chance(snapshot_faults_.crash_after_install)) {
    Crash(receiver.id);
    return;
  }
  Status status = receiver.core->OnSnapshotInstalled(transfer.lsn, transfer.term);
  if (!status.ok()) {
    Fail(fmt::format("replica {} snapshot install: {}", receiver.id, status.ToString()));
  }
  Process(receiver.id);
}

void Cluster::ReportSnapshot(const SnapshotTransfer& transfer, bool delivered) {
  if (!delivered) ++snapshots_failed_;
  SimReplica& sender = replicas_.at(transfer.from);
  if (!sender.up || sender.incarnation != transfer.from_incarnation) return;
  // A report reaching a replica that is no longer primary is refused; that is
  // fine, the transfer was for a term that is over.
  (void)sender.core->ReportSnapshot(transfer.to, delivered);
  Process(sender.id);
}

std::optional<NodeId> Cluster::ElectWithin(uint64_t max_ticks) {
  for (uint64_t i = 0; i < max_ticks; ++i) {
    if (auto primary = Primary();
        primary && core(*primary).commit_lsn() > 0 && core(*primary).CommittedInTerm()) {
      return primary;
    }
    RunTick();
    for (NodeId id : ids()) {
      if (rng_.Chance(0.5)) Sync(id);
    }
  }
  return Primary();
}

// ---------------------------------------------------------------------------
// Faults.

void Cluster::Crash(NodeId id) {
  SimReplica& replica = replicas_.at(id);
  if (!replica.up) return;
  replica.up = false;
  replica.core.reset();
  replica.log.Crash();
  CheckAckSurvived(replica);
}

void Cluster::Restart(NodeId id) {
  SimReplica& replica = replicas_.at(id);
  if (replica.up) return;
  ++rng_seed_salt_;
  auto core =
      ReplicaCore::Open(ConfigFor(id), &replica.log, replica.hard_state, replica.applied.size());
  if (!core.ok()) {
    Fail(fmt::format("replica {} failed to restart: {}", id, core.status().ToString()));
    return;
  }
  replica.core = std::move(*core);
  replica.up = true;
  ++replica.incarnation;
}

void Cluster::Cut(NodeId a, NodeId b) {
  cut_.insert({a, b});
  cut_.insert({b, a});
}

void Cluster::CutOneWay(NodeId from, NodeId to) { cut_.insert({from, to}); }

void Cluster::Isolate(NodeId id) {
  for (NodeId other : ids()) {
    if (other != id) Cut(id, other);
  }
}

void Cluster::Heal() { cut_.clear(); }

std::vector<Message> Cluster::InFlight() const {
  std::vector<Message> out;
  for (const InFlightMessage& m : in_flight_) out.push_back(m.message);
  return out;
}

void Cluster::DropIf(const std::function<bool(const Message&)>& predicate) {
  std::erase_if(in_flight_, [&](const InFlightMessage& m) { return predicate(m.message); });
}

std::optional<NodeId> Cluster::Primary() const {
  std::optional<NodeId> best;
  Term best_term = 0;
  for (const auto& [id, replica] : replicas_) {
    if (!replica.up || replica.core->role() != Role::kPrimary) continue;
    if (!best || replica.core->term() > best_term) {
      best = id;
      best_term = replica.core->term();
    }
  }
  return best;
}

StatusOr<Lsn> Cluster::Propose(std::string payload) {
  std::optional<NodeId> primary = Primary();
  if (!primary) return absl::UnavailableError("no primary");
  StatusOr<Lsn> lsn = core(*primary).Propose(std::move(payload));
  Process(*primary);
  return lsn;
}

Status Cluster::ReadIndex() {
  std::optional<NodeId> primary = Primary();
  if (!primary) return absl::UnavailableError("no primary");
  uint64_t id = next_read_id_++;
  Status status = core(*primary).ReadIndex(id);
  if (status.ok()) read_floors_[id] = committed_.empty() ? 0 : committed_.rbegin()->first;
  Process(*primary);
  return status;
}

void Cluster::CheckRead(SimReplica& replica, const ReadResult& read) {
  auto floor = read_floors_.find(read.request_id);
  if (floor == read_floors_.end()) return;  // a read a unit test issued itself
  if (read.status.ok()) {
    ++reads_served_;
    if (read.read_lsn < floor->second) {
      Fail(fmt::format("read {} served at LSN {} below LSN {} applied before it began",
                       read.request_id, read.read_lsn, floor->second));
    }
    if (read.read_lsn > replica.applied.size()) {
      Fail(fmt::format("read {} served at LSN {} before it was applied", read.request_id,
                       read.read_lsn));
    }
  }
  read_floors_.erase(floor);
}

std::string Cluster::CheckConverged() const {
  const SimReplica* reference = nullptr;
  for (const auto& [id, replica] : replicas_) {
    if (!replica.up) continue;
    if (reference == nullptr) {
      reference = &replica;
      continue;
    }
    if (replica.applied != reference->applied) {
      return fmt::format("replicas {} and {} applied different entries ({} and {})", reference->id,
                         id, reference->applied.size(), replica.applied.size());
    }
    Lsn commit = replica.core->commit_lsn();
    // Below the logs' bases, the applied states were compared above.
    Lsn first = std::max(replica.log.FirstLsn(), reference->log.FirstLsn());
    for (Lsn lsn = first; lsn <= commit; ++lsn) {
      if (replica.core->TermAt(lsn).value_or(0) != reference->core->TermAt(lsn).value_or(0)) {
        return fmt::format("replicas {} and {} disagree at committed LSN {}", reference->id, id,
                           lsn);
      }
    }
  }
  return "";
}

}  // namespace toydb::replication::testing
