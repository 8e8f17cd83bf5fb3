#include "sim/kv_oracle.h"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>
#include <limits>

#include "src/storage/replica/replica_store.h"
#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb::sim {
namespace {

uint64_t DigestOf(const WalRecord& record) {
  std::string bytes;
  PutFixed64(&bytes, record.term);
  PutFixed64(&bytes, record.lsn);
  bytes.push_back(static_cast<char>(record.type));
  bytes += record.payload;
  return Checksum64(bytes);
}

// How an applied log record appears to the history (KvWrite::Identity).
std::string IdentityOf(const WalRecord& record) {
  if (record.type == kWalRecordNoop) return "noop";
  StatusOr<ReplicatedCommand> command = DecodeCommand(record.payload);
  if (!command.ok()) return "undecodable";
  if (command->client_id != 0) return fmt::format("s:{}.{}", command->client_id, command->sequence);
  if (command->ops.empty()) return "empty";
  return "v:" + command->ops.front().value;
}

bool IsSessionRead(ReadConsistency c) { return c != ReadConsistency::kAny; }

}  // namespace

// A write without a session that the network delivered twice is proposed and
// applied twice (nothing deduplicates it), at LSNs in either order with
// respect to the one its answer names: its value may sit at any LSN where the
// same write was applied.
bool KvOracle::VersionFits(const KvWrite& w, Lsn version) const {
  if (w.client_id != 0) return version == w.version;
  const std::string seen = AppliedIdentity(w.partition, version);
  return seen.empty() || seen == w.Identity();
}

std::string KvWrite::Identity() const {
  if (client_id != 0) return fmt::format("s:{}.{}", client_id, sequence);
  return "v:" + value;
}

void KvOracle::Fail(std::string what) {
  if (failure_.empty()) failure_ = std::move(what);
}

void KvOracle::OnNodeError(NodeId node, const std::string& what) {
  Fail(fmt::format("node {}: {}", node, what));
}

void KvOracle::OnReplicaOpened(NodeId node, replication::Replica& replica) {
  // Entries applied at recovery were applied, and observed, before.
  cursor_[{node, replica.partition().id}] = replica.applied_lsn();
}

void KvOracle::OnReplicaProcessed(NodeId node, replication::Replica& replica) {
  if (!replica.failure().ok()) return;
  CheckPrimary(node, replica);
  ObserveApplied(node, replica);
}

void KvOracle::CheckPrimary(NodeId node, replication::Replica& replica) {
  if (!replica.is_primary()) return;
  const ReplicaStats stats = replica.GetStats();
  auto [it, inserted] = primaries_.try_emplace({stats.partition, stats.term}, node);
  if (inserted) ++counts_.primaries;
  if (it->second != node) {
    Fail(fmt::format("two primaries in partition {} term {}: nodes {} and {}", stats.partition,
                     stats.term, it->second, node));
  }
}

// Reads back from the replica's log every entry it applied since the last
// look. Entries it no longer holds (released below a checkpoint, or covered
// by an installed snapshot) are skipped: the final state check covers them.
void KvOracle::ObserveApplied(NodeId node, replication::Replica& replica) {
  const PartitionId partition = replica.partition().id;
  Lsn& cursor = cursor_[{node, partition}];
  const Lsn applied = replica.applied_lsn();
  if (applied <= cursor) {
    cursor = applied;
    return;
  }
  ReplicaStore* store = replica.replica_store();
  Lsn from = std::max(cursor + 1, store->first_lsn());
  if (from > cursor + 1) {
    // Applied by installing a snapshot (or applied, then released, between
    // two looks, which a look after every Process() should rule out).
    counts_.entries_unobserved += std::min(from, applied + 1) - (cursor + 1);
    ++counts_.applied_jumps;
  }
  while (from <= applied) {
    std::vector<WalRecord> records;
    Status s = store->ReadLog(from, applied, std::numeric_limits<uint64_t>::max(), &records);
    if (!s.ok() || records.empty()) {
      if (!absl::IsOutOfRange(s)) {
        Fail(fmt::format("node {} partition {}: reading applied LSNs [{}, {}] back: {}", node,
                         partition, from, applied, s.ToString()));
      }
      break;
    }
    for (const WalRecord& record : records) OnApplied(node, partition, record);
    from = records.back().lsn + 1;
  }
  cursor = applied;
}

void KvOracle::OnApplied(NodeId node, PartitionId partition, const WalRecord& record) {
  ++counts_.entries_checked;
  AppliedEntry entry{DigestOf(record), record.term, IdentityOf(record), node};
  auto [it, inserted] = applied_[partition].try_emplace(record.lsn, entry);
  if (inserted || it->second.digest == entry.digest) return;
  Fail(fmt::format(
      "partition {} LSN {}: node {} applied term {} entry {}, node {} applied term {} entry {}",
      partition, record.lsn, it->second.node, it->second.term, it->second.identity, node,
      entry.term, entry.identity));
}

std::string KvOracle::AppliedIdentity(PartitionId partition, Lsn lsn) const {
  auto p = applied_.find(partition);
  if (p == applied_.end()) return "";
  auto it = p->second.find(lsn);
  return it == p->second.end() ? "" : it->second.identity;
}

size_t KvOracle::BeginWrite(KvWrite write) {
  ++counts_.writes_issued;
  const size_t index = writes_.size();
  writes_by_key_[{write.partition, write.key}].push_back(index);
  if (write.op != OpType::kDelete) {
    writes_by_value_[{write.partition, write.key, write.value}] = index;
  }
  writes_.push_back(std::move(write));
  return index;
}

void KvOracle::SetSession(size_t index, uint64_t client_id, uint64_t sequence) {
  writes_[index].client_id = client_id;
  writes_[index].sequence = sequence;
}

void KvOracle::AckWrite(size_t index, Lsn version, int64_t now_micros, NodeId acked_by) {
  KvWrite& w = writes_[index];
  w.outcome = KvWrite::Outcome::kAcked;
  w.version = version;
  w.acked_micros = now_micros;
  w.acked_by = acked_by;
  ++counts_.writes_acked;
  if (w.concern == WriteConcernKind::kLeader) {
    ++counts_.leader_acked;
    return;
  }
  ++counts_.majority_acked;
  auto& history = acked_versions_[{w.partition, w.key}];
  const Lsn highest = history.empty() ? version : std::max(history.back().second, version);
  history.emplace_back(now_micros, highest);
}

Lsn KvOracle::AckedVersionBefore(PartitionId partition, const std::string& key,
                                 int64_t micros) const {
  auto it = acked_versions_.find({partition, key});
  if (it == acked_versions_.end()) return 0;
  const auto& history = it->second;
  auto after = std::lower_bound(history.begin(), history.end(), std::make_pair(micros, Lsn{0}));
  return after == history.begin() ? 0 : std::prev(after)->second;
}

void KvOracle::RefuseWrite(size_t index) {
  writes_[index].outcome = KvWrite::Outcome::kRefused;
  ++counts_.cas_refused;
}

void KvOracle::GiveUpWrite(size_t index) {
  writes_[index].outcome = KvWrite::Outcome::kUnknown;
  ++counts_.writes_unknown;
}

uint64_t KvOracle::AckedSince(PartitionId partition, int64_t since_micros) const {
  uint64_t n = 0;
  for (const KvWrite& w : writes_) {
    n += w.partition == partition && w.outcome == KvWrite::Outcome::kAcked &&
         w.concern != WriteConcernKind::kLeader && w.acked_micros >= since_micros;
  }
  return n;
}

void KvOracle::OnRead(NodeId client, const ClientRequest& request, const ClientResponse& response,
                      Lsn own_min_version, int64_t issued_micros) {
  ++counts_.reads;
  const std::string where =
      fmt::format("client {} {} read of {} (partition {})", client,
                  ReadConsistencyName(request.consistency), request.key, request.partition);
  if (response.found) {
    auto it = writes_by_value_.find({request.partition, request.key, response.value});
    if (it == writes_by_value_.end()) {
      return Fail(fmt::format("{} returned a value no client wrote to it (version {})", where,
                              response.version));
    }
    const KvWrite& w = writes_[it->second];
    if (w.outcome == KvWrite::Outcome::kAcked && !VersionFits(w, response.version)) {
      return Fail(fmt::format(
          "{} returned {} at version {}; it was acknowledged at version {} (applied there: {}, "
          "{})",
          where, w.Identity(), response.version, w.version,
          AppliedIdentity(request.partition, response.version),
          AppliedIdentity(request.partition, w.version)));
    }
    if (w.outcome == KvWrite::Outcome::kRefused) {
      return Fail(fmt::format("{} returned the value of a refused write {}", where, w.Identity()));
    }
  }
  if (IsSessionRead(request.consistency) && response.found && response.version < own_min_version) {
    return Fail(
        fmt::format("{} returned version {}, older than the client's own acknowledged write at {}",
                    where, response.version, own_min_version));
  }
  const bool fresh = request.consistency == ReadConsistency::kLinearizable ||
                     request.consistency == ReadConsistency::kQuorum;
  if (fresh && response.found && issued_micros >= 0) {
    const Lsn before = AckedVersionBefore(request.partition, request.key, issued_micros);
    if (response.version < before) {
      Fail(fmt::format(
          "{} issued at {} us returned version {}, older than a write acknowledged before it at {}",
          where, issued_micros, response.version, before));
    }
  }
}

void KvOracle::CheckFinal(const std::map<PartitionId, KvContents>& contents,
                          const std::map<PartitionId, Lsn>& applied) {
  for (const KvWrite& w : writes_) {
    if (w.outcome == KvWrite::Outcome::kAcked) CheckAckedWrite(w, applied);
  }
  for (const auto& [key, indexes] : writes_by_key_) {
    auto c = contents.find(key.first);
    if (c != contents.end()) CheckKey(key.first, key.second, c->second);
  }
}

// An acknowledged write must be the entry applied at its LSN. kLeader writes
// may be lost (that is their contract): those are counted.
void KvOracle::CheckAckedWrite(const KvWrite& w, const std::map<PartitionId, Lsn>& applied) {
  const std::string seen = AppliedIdentity(w.partition, w.version);
  auto a = applied.find(w.partition);
  const Lsn applied_lsn = a == applied.end() ? 0 : a->second;
  const bool lost = seen.empty() ? w.version > applied_lsn : seen != w.Identity();
  if (!lost) return;
  if (w.concern == WriteConcernKind::kLeader) {
    ++counts_.leader_lost;
    return;
  }
  Fail(fmt::format(
      "acknowledged write lost: client {} {} of {} (partition {}) acknowledged at LSN {}; the "
      "partition applied {} there (applied up to {})",
      w.client, w.Identity(), w.key, w.partition, w.version, seen.empty() ? "nothing" : seen,
      applied_lsn));
}

bool KvOracle::DeleteMayFollow(PartitionId partition, const std::string& key, Lsn after) const {
  auto it = writes_by_key_.find({partition, key});
  if (it == writes_by_key_.end()) return false;
  for (size_t index : it->second) {
    const KvWrite& w = writes_[index];
    if (w.op != OpType::kDelete || w.outcome == KvWrite::Outcome::kRefused) continue;
    if (w.outcome != KvWrite::Outcome::kAcked || w.version > after) return true;
  }
  return false;
}

// The key's final state holds its latest acknowledged (non-kLeader) write,
// or something a client wrote after it.
void KvOracle::CheckKey(PartitionId partition, const std::string& key, const KvContents& contents) {
  const KvWrite* latest = nullptr;
  for (size_t index : writes_by_key_.at({partition, key})) {
    const KvWrite& w = writes_[index];
    if (w.outcome != KvWrite::Outcome::kAcked || w.concern == WriteConcernKind::kLeader) continue;
    if (latest == nullptr || w.version > latest->version) latest = &w;
  }
  auto it = contents.find(key);
  const std::string where = fmt::format("key {} (partition {})", key, partition);
  if (it == contents.end()) {
    if (latest == nullptr || latest->op == OpType::kDelete) return;
    if (DeleteMayFollow(partition, key, latest->version)) return;
    return Fail(
        fmt::format("{} is absent, but {} was acknowledged at LSN {} and no delete followed", where,
                    latest->Identity(), latest->version));
  }
  const auto& [value, version] = it->second;
  auto v = writes_by_value_.find({partition, key, value});
  if (v == writes_by_value_.end()) {
    return Fail(fmt::format("{} holds a value no client wrote (version {})", where, version));
  }
  const KvWrite& holder = writes_[v->second];
  if (holder.outcome == KvWrite::Outcome::kAcked && !VersionFits(holder, version)) {
    return Fail(fmt::format("{} holds {} at version {}; it was acknowledged at {}", where,
                            holder.Identity(), version, holder.version));
  }
  if (latest != nullptr && version < latest->version) {
    Fail(fmt::format("{} holds version {} ({}), older than {} acknowledged at LSN {}", where,
                     version, holder.Identity(), latest->Identity(), latest->version));
  }
}

}  // namespace toydb::sim
