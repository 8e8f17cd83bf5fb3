#ifndef TOYDB_REPLICATION_WIRE_MESSAGES_H_
#define TOYDB_REPLICATION_WIRE_MESSAGES_H_

// The translation between the replica core's messages (replica_types.h) and
// the wire's (toydb/message.h), and the size bound that keeps an append
// inside one codec frame. Stateless functions; thread-safe.
//
// Kinds map onto bodies as follows; a core field that its kind does not use
// (replica_types.h lists them) is not carried and arrives as zero.
//   kPreVote, kVote                  -> VoteRequest (pre_vote tells them apart)
//   kPreVoteResponse, kVoteResponse  -> VoteResponse (pre_vote tells them apart)
//   kAppend                          -> AppendEntries
//   kAppendResponse                  -> AppendEntriesResponse
//   kHeartbeat                       -> Heartbeat
//   kHeartbeatResponse               -> HeartbeatResponse
//   kTimeoutNow                      -> TransferLeadership

#include <cstdint>
#include <utility>

#include "src/replication/replica_types.h"
#include "src/transport/codec.h"
#include "toydb/message.h"
#include "toydb/status.h"

namespace toydb::replication {

// The wire form of `m`, a message of `partition`'s replica group.
toydb::Message ToWire(PartitionId partition, const Message& m);

// True for a message between replicas (a protocol message, a snapshot chunk
// or answer); sets *partition to the group it belongs to.
bool PartitionOf(const toydb::Message& m, PartitionId* partition);

// The core message a wire message carries, and its partition.
// InvalidArgument if the body is not a replication message the core speaks
// (snapshots, client and health messages), or if it could not have come from
// a correct peer: a leader, candidate or target that disagrees with the
// envelope, an entry type the core does not know, or entries whose LSNs do
// not follow prev_lsn densely or whose terms fall outside [prev_term, term]
// or decrease. The core trusts these shapes (some are TOYDB_CHECKed there),
// so they are refused here, before a damaged or buggy peer can reach it.
[[nodiscard]] StatusOr<std::pair<PartitionId, Message>> FromWire(const toydb::Message& m);

// Frame bytes of an append that carries no entries: the frame header, the
// envelope and AppendEntries' fixed fields (partition, term, leader,
// prev_lsn, prev_term, commit_lsn, entry count).
inline constexpr uint64_t kAppendFrameFixedBytes =
    kFrameHeaderBytes + kFrameEnvelopeBytes + 4 + 5 * 8 + 4;

// One LogEntry costs term, lsn, type, payload length and the payload on the
// wire: no more than the EntryBytes() the core budgets for it.
inline constexpr uint64_t kLogEntryWireOverheadBytes = 8 + 8 + 1 + 4;
static_assert(kLogEntryWireOverheadBytes <= 24,
              "EntryBytes() must bound an entry's wire size (replica_types.h)");

// An upper bound on the frame size of an append whose entries' EntryBytes()
// sum to `entry_bytes`. Exact for an append without entries.
constexpr uint64_t AppendFrameBytesBound(uint64_t entry_bytes) {
  return kAppendFrameFixedBytes + entry_bytes;
}

// The largest sum of EntryBytes() one append may carry and still fit one frame.
inline constexpr uint64_t kMaxAppendEntryBytes = kMaxFrameBytes - kAppendFrameFixedBytes;

// OK if every append the core may build under `config` fits one frame and the
// codec's entry-count limit. The core takes entries up to max_append_bytes,
// but always at least one, so a batch may reach max_entry_bytes + 24 when that
// is larger. InvalidArgument naming the limit otherwise. The host calls this
// besides ReplicaConfig::Validate(): an append that cannot be encoded would
// be retried forever and its follower would never catch up.
[[nodiscard]] Status ValidateWireLimits(const ReplicaConfig& config);

}  // namespace toydb::replication

#endif  // TOYDB_REPLICATION_WIRE_MESSAGES_H_
