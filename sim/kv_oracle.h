#ifndef TOYDB_SIM_KV_ORACLE_H_
#define TOYDB_SIM_KV_ORACLE_H_

// KvOracle: the checker of the replicated key-value scenario. It watches
// every replica as the run goes (as the KvObserver of every KvNode) and keeps
// the clients' history of writes and reads, then judges the run:
//   during the run
//     - at most one primary per (partition, term);
//     - no two replicas apply different entries at one LSN of a partition
//       (each applied entry is read back from the replica's log and its
//       (term, LSN, type, payload) hashed and compared);
//     - a read returns only a value some client wrote to that key, with the
//       version its write was acknowledged at, and a client's kSession,
//       kQuorum or kLinearizable read never shows an older version of a key
//       than its own acknowledged kMajority/kAll write;
//   after the faults healed and the cluster settled (CheckFinal)
//     - every acknowledged write other than kLeader is the entry applied at
//       the LSN it was acknowledged at, and the key's final state holds it or
//       a later write (no acknowledged write lost);
//     - acknowledged kLeader writes that were lost are counted, not failed;
//     - every replica of a partition holds the same keys, values and versions
//       and has applied the same LSN.
// The first violation is kept as the run's failure. Owned by the scenario's
// run; single-threaded.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "sim/kv_node.h"
#include "src/storage/wal/wal_format.h"
#include "toydb/message.h"

namespace toydb::sim {

// One write a client issued, and what it learned of its outcome.
struct KvWrite {
  enum class Outcome : uint8_t {
    kPending,  // no answer yet
    kAcked,    // acknowledged with its concern met: `version` is its LSN
    kRefused,  // definitely not applied (a failed compare-and-set, a refusal)
    kUnknown,  // gave up: it may or may not have been applied
  };
  PartitionId partition = 0;
  OpType op = OpType::kPut;
  std::string key;
  std::string value;  // put and compare-and-set
  WriteConcernKind concern = WriteConcernKind::kMajority;
  uint64_t client_id = 0;  // 0: no session (kLeader writes)
  uint64_t sequence = 0;
  uint64_t client = 0;  // the issuing client's node id (client_id may be 0)
  Outcome outcome = Outcome::kPending;
  Lsn version = 0;
  int64_t acked_micros = 0;
  NodeId acked_by = 0;  // the server whose answer acknowledged it (0: unknown)

  // How the write appears in the log: "s:<client>.<seq>" for a session
  // write, "v:<value>" for a put without one.
  std::string Identity() const;
};

// A replica's applied state: key -> (value, version).
using KvContents = std::map<std::string, std::pair<std::string, Lsn>>;

struct KvOracleCounts {
  uint64_t writes_issued = 0;
  uint64_t writes_acked = 0;    // any concern
  uint64_t majority_acked = 0;  // kMajority, kAll and kCount
  uint64_t leader_acked = 0;
  uint64_t leader_lost = 0;  // acknowledged kLeader writes that vanished
  uint64_t writes_unknown = 0;
  uint64_t cas_refused = 0;
  uint64_t reads = 0;
  uint64_t entries_checked = 0;  // applied entries compared across replicas
  // Applied entries a replica no longer held when the oracle looked (a
  // snapshot installed them), and the times that happened.
  uint64_t entries_unobserved = 0;
  uint64_t applied_jumps = 0;
  uint64_t primaries = 0;  // (partition, term) pairs with a primary
};

class KvOracle final : public KvObserver {
 public:
  bool ok() const { return failure_.empty(); }
  const std::string& failure() const { return failure_; }
  // Keeps the first failure only: later ones are often its consequences.
  void Fail(std::string what);
  const KvOracleCounts& counts() const { return counts_; }

  // --- KvObserver ---
  void OnReplicaOpened(NodeId node, replication::Replica& replica) override;
  void OnReplicaProcessed(NodeId node, replication::Replica& replica) override;
  void OnNodeError(NodeId node, const std::string& what) override;

  // --- The clients' history ---
  // Returns the write's index for the calls below.
  size_t BeginWrite(KvWrite write);
  // The session a Router gave the write (it picks it after the write is
  // issued): how the write is found in the replicas' logs.
  void SetSession(size_t index, uint64_t client_id, uint64_t sequence);
  void AckWrite(size_t index, Lsn version, int64_t now_micros, NodeId acked_by = 0);
  void RefuseWrite(size_t index);
  void GiveUpWrite(size_t index);
  const KvWrite& write(size_t index) const { return writes_[index]; }
  size_t write_count() const { return writes_.size(); }
  // A read `client` got. `own_min_version`: the version of the client's own
  // latest acknowledged write to the key that the read's consistency must
  // show (0: none). `issued_micros`: when the client first sent it; a
  // kLinearizable or kQuorum read must show every write acknowledged before
  // (-1: unknown, not checked).
  void OnRead(NodeId client, const ClientRequest& request, const ClientResponse& response,
              Lsn own_min_version, int64_t issued_micros = -1);
  // kMajority writes of `partition` acknowledged at or after `since_micros`.
  uint64_t AckedSince(PartitionId partition, int64_t since_micros) const;

  // --- After the run ---
  // `contents[p]`: the converged state of partition p (the replicas were
  // already compared); `applied[p]` its applied LSN.
  void CheckFinal(const std::map<PartitionId, KvContents>& contents,
                  const std::map<PartitionId, Lsn>& applied);

  // Replica `node` of `partition` applied `record` (called for each entry
  // read back after a Process(); public for the oracle's own tests).
  void OnApplied(NodeId node, PartitionId partition, const WalRecord& record);
  // What the oracle saw applied at (partition, lsn), or "".
  std::string AppliedIdentity(PartitionId partition, Lsn lsn) const;

 private:
  struct AppliedEntry {
    uint64_t digest = 0;  // XXH3 of (term, lsn, type, payload)
    Term term = 0;
    std::string identity;
    NodeId node = 0;  // the first replica seen applying it
  };
  using ReplicaKey = std::pair<NodeId, PartitionId>;

  // Whether acknowledged write `w` can be what a key holds at `version`.
  bool VersionFits(const KvWrite& w, Lsn version) const;
  // The highest version of `key` acknowledged (not kLeader) before `micros`.
  Lsn AckedVersionBefore(PartitionId partition, const std::string& key, int64_t micros) const;
  void CheckPrimary(NodeId node, replication::Replica& replica);
  void ObserveApplied(NodeId node, replication::Replica& replica);
  void CheckAckedWrite(const KvWrite& write, const std::map<PartitionId, Lsn>& applied);
  void CheckKey(PartitionId partition, const std::string& key, const KvContents& contents);
  // Whether some issued write could have deleted `key` after LSN `after`.
  bool DeleteMayFollow(PartitionId partition, const std::string& key, Lsn after) const;

  std::string failure_;
  KvOracleCounts counts_;
  std::map<std::pair<PartitionId, Term>, NodeId> primaries_;
  std::map<PartitionId, std::map<Lsn, AppliedEntry>> applied_;
  std::map<ReplicaKey, Lsn> cursor_;  // last applied LSN observed per replica
  std::vector<KvWrite> writes_;
  // (partition, key) -> indexes of the writes issued to it.
  std::map<std::pair<PartitionId, std::string>, std::vector<size_t>> writes_by_key_;
  // (partition, key) -> (ack time, highest version acknowledged so far) of
  // its kMajority/kAll/kCount writes, in ack order.
  std::map<std::pair<PartitionId, std::string>, std::vector<std::pair<int64_t, Lsn>>>
      acked_versions_;
  // (partition, key, value) -> index of the write that carried it.
  std::map<std::tuple<PartitionId, std::string, std::string>, size_t> writes_by_value_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_KV_ORACLE_H_
