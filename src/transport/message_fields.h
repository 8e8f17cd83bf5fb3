#ifndef TOYDB_TRANSPORT_MESSAGE_FIELDS_H_
#define TOYDB_TRANSPORT_MESSAGE_FIELDS_H_

// The wire order of every message's fields, in one place. Fields(m) returns a
// std::tie of m's members (const references for a const m), so the encoder,
// the decoder and the tests' random message generator share one list and
// cannot disagree. The order is the wire format: see docs/WIRE_FORMAT.md.

#include <concepts>
#include <tuple>
#include <type_traits>

#include "toydb/message.h"

namespace toydb {

template <typename M, typename T>
concept MessageOf = std::same_as<std::remove_const_t<M>, T>;

template <MessageOf<LogEntry> M>
auto Fields(M& m) {
  return std::tie(m.term, m.lsn, m.type, m.payload);
}

template <MessageOf<WriteConcern> M>
auto Fields(M& m) {
  return std::tie(m.kind, m.count);
}

template <MessageOf<BatchOp> M>
auto Fields(M& m) {
  return std::tie(m.type, m.key, m.value);
}

template <MessageOf<AppendEntries> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.leader, m.prev_lsn, m.prev_term, m.commit_lsn, m.entries);
}

template <MessageOf<AppendEntriesResponse> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.reject, m.match_lsn, m.accepted_lsn, m.rejected_prev_lsn,
                  m.hint_last_lsn, m.hint_conflict_term, m.hint_conflict_first_lsn);
}

template <MessageOf<VoteRequest> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.candidate, m.last_lsn, m.last_term, m.pre_vote,
                  m.transfer);
}

template <MessageOf<VoteResponse> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.granted, m.pre_vote);
}

template <MessageOf<Heartbeat> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.leader, m.commit_lsn, m.context);
}

template <MessageOf<HeartbeatResponse> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.context, m.match_lsn, m.accepted_lsn);
}

template <MessageOf<SnapshotChunk> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.leader, m.snapshot_lsn, m.snapshot_term, m.offset, m.data,
                  m.snapshot_bytes, m.snapshot_checksum, m.last);
}

template <MessageOf<SnapshotResponse> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.snapshot_lsn, m.next_offset, m.result);
}

template <MessageOf<TransferLeadership> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.term, m.leader, m.target);
}

template <MessageOf<ClientRequest> M>
auto Fields(M& m) {
  return std::tie(m.client_id, m.sequence, m.partition, m.op, m.key, m.value, m.expected_version,
                  m.batch, m.consistency, m.min_lsn, m.concern);
}

template <MessageOf<ClientResponse> M>
auto Fields(M& m) {
  return std::tie(m.client_id, m.sequence, m.code, m.message, m.leader_hint, m.found, m.value,
                  m.version, m.lsn, m.acks, m.replicas);
}

template <MessageOf<HealthProbe> M>
auto Fields(M& m) {
  return std::tie(m.probe_id, m.sent_micros);
}

template <MessageOf<HealthProbeResponse> M>
auto Fields(M& m) {
  return std::tie(m.probe_id, m.sent_micros, m.healthy);
}

template <MessageOf<StatsPeer> M>
auto Fields(M& m) {
  return std::tie(m.node, m.match_lsn, m.lag_entries, m.lag_ticks);
}

template <MessageOf<StatsReplica> M>
auto Fields(M& m) {
  return std::tie(m.partition, m.node, m.role, m.term, m.leader, m.last_lsn, m.synced_lsn,
                  m.commit_lsn, m.applied_lsn, m.peers, m.elections_started, m.elections_won,
                  m.snapshots_sent, m.snapshots_received, m.failure_code, m.failure_message);
}

template <MessageOf<StatsCounter> M>
auto Fields(M& m) {
  return std::tie(m.name, m.value);
}

template <MessageOf<StatsRequest> M>
auto Fields(M& m) {
  return std::tie(m.request_id);
}

template <MessageOf<StatsResponse> M>
auto Fields(M& m) {
  return std::tie(m.request_id, m.node, m.replicas, m.counters);
}

template <MessageOf<AdminRequest> M>
auto Fields(M& m) {
  return std::tie(m.request_id, m.op, m.partition, m.target);
}

template <MessageOf<AdminResponse> M>
auto Fields(M& m) {
  return std::tie(m.request_id, m.code, m.message, m.leader_hint);
}

// Largest valid value of each enum field; the decoder refuses larger ones.
inline constexpr uint8_t MaxEnumValue(LogEntryType) { return kMaxLogEntryType; }
inline constexpr uint8_t MaxEnumValue(SnapshotResult) { return kMaxSnapshotResult; }
inline constexpr uint8_t MaxEnumValue(OpType) { return kMaxOpType; }
inline constexpr uint8_t MaxEnumValue(ReadConsistency) { return kMaxReadConsistency; }
inline constexpr uint8_t MaxEnumValue(WriteConcernKind) { return kMaxWriteConcernKind; }
inline constexpr uint8_t MaxEnumValue(AdminOp) { return kMaxAdminOp; }

// Largest element count of each repeated field's element type.
inline constexpr uint32_t MaxRepeated(const LogEntry*) { return kMaxEntriesPerAppend; }
inline constexpr uint32_t MaxRepeated(const BatchOp*) { return kMaxOpsPerBatch; }
inline constexpr uint32_t MaxRepeated(const StatsReplica*) { return kMaxReplicasPerStats; }
inline constexpr uint32_t MaxRepeated(const StatsPeer*) { return kMaxPeersPerReplicaStats; }
inline constexpr uint32_t MaxRepeated(const StatsCounter*) { return kMaxCountersPerStats; }

}  // namespace toydb

#endif  // TOYDB_TRANSPORT_MESSAGE_FIELDS_H_
