#ifndef TOYDB_REPLICA_H_
#define TOYDB_REPLICA_H_

// The knobs of a replica and the figures it reports. A replica is one member
// of a replica group (PartitionConfig): it owns its storage and takes part in
// the group's log replication, commit and elections. Replicas are hosted by a
// Node (node.h), which drives them; the host sees them through ReplicaOptions
// and ReplicaStats. Plain values; no thread-safety concerns.

#include <cstdint>
#include <string>
#include <vector>

#include "toydb/message.h"
#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

struct ReplicaOptions {
  // Time is counted in ticks of the hosting node (NodeOptions::tick_ms).
  // A follower that hears no primary for election_ticks (randomized up to
  // twice that) campaigns; a primary that hears no majority for as long steps
  // down. At least 2 and above heartbeat_ticks.
  uint32_t election_ticks = 10;
  uint32_t heartbeat_ticks = 1;
  // Ask for a pre-vote before raising the term (a partitioned replica that
  // returns does not disturb a working primary).
  bool pre_vote = true;
  // A primary steps down without a majority's contact for election_ticks.
  bool check_quorum = true;
  // Write concern of requests that do not set one. A ClientRequest always
  // carries one, so this default is for the Node's convenience calls.
  WriteConcern default_concern;
  // A write that has not met its concern after this many ticks is answered:
  // DeadlineExceeded, with the count of replicas that hold it when it is
  // committed. At least 1.
  uint32_t write_timeout_ticks = 100;
  // A read waiting for its read index or for a session LSN gives up after
  // this many ticks (DeadlineExceeded). At least 1.
  uint32_t read_timeout_ticks = 100;
  // Replication batches: entry bytes and entries per append message.
  uint64_t append_bytes_max = 1u << 20;
  uint32_t append_entries_max = 1024;
  // Unacknowledged appends and bytes in flight to one follower. Few appends
  // in flight batch better: proposals that arrive while the window is full
  // leave together in the next append (with 256 writes in flight, 4 appends
  // send 0.13 messages per write against 1.2 with 64, and 1.4x the writes/s).
  uint32_t inflight_appends_max = 4;
  uint64_t inflight_bytes_max = 16u << 20;
  // Proposals not yet committed; more are refused (Unavailable).
  uint64_t uncommitted_entries_max = 1u << 16;
  // A follower further behind than this many entries is caught up by a
  // snapshot; the log keeps the entries the others still need.
  uint64_t log_catchup_entries_max = 1u << 20;
  // Bytes of a snapshot chunk.
  uint64_t snapshot_chunk_bytes = 1u << 20;
  // Sessions (client ids) remembered for deduplication.
  uint32_t session_count_max = 100000;

  [[nodiscard]] Status Validate() const;
};

enum class ReplicaRole : uint8_t { kFollower, kCandidate, kPrimary };

const char* ReplicaRoleName(ReplicaRole role);

// What a primary knows of one of its followers.
struct ReplicaPeerStats {
  NodeId node = 0;
  Lsn match_lsn = 0;         // the last LSN it holds durably, as far as known
  uint64_t lag_entries = 0;  // the primary's last LSN minus match_lsn
  // Ticks since the follower last held every entry of the primary (0 when
  // it holds them now).
  uint64_t lag_ticks = 0;
};

struct ReplicaStats {
  PartitionId partition = 0;
  NodeId node = 0;
  ReplicaRole role = ReplicaRole::kFollower;
  Term term = 0;
  NodeId leader = 0;  // 0: unknown
  Lsn last_lsn = 0;
  Lsn synced_lsn = 0;
  Lsn commit_lsn = 0;
  Lsn applied_lsn = 0;
  std::vector<ReplicaPeerStats> peers;  // on the primary only
  uint64_t elections_started = 0;
  uint64_t elections_won = 0;
  uint64_t snapshots_sent = 0;
  uint64_t snapshots_received = 0;
  // Set once the replica's storage failed: it stopped taking part (see Node).
  Status failure;
};

}  // namespace toydb

#endif  // TOYDB_REPLICA_H_
