#include "toydb/message.h"

namespace toydb {

const char* ReadConsistencyName(ReadConsistency consistency) {
  switch (consistency) {
    case ReadConsistency::kLinearizable:
      return "linearizable";
    case ReadConsistency::kSession:
      return "session";
    case ReadConsistency::kQuorum:
      return "quorum";
    case ReadConsistency::kAny:
      return "any";
  }
  return "?";
}

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kAppendEntries:
      return "AppendEntries";
    case MessageType::kAppendEntriesResponse:
      return "AppendEntriesResponse";
    case MessageType::kVoteRequest:
      return "VoteRequest";
    case MessageType::kVoteResponse:
      return "VoteResponse";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResponse:
      return "HeartbeatResponse";
    case MessageType::kSnapshotChunk:
      return "SnapshotChunk";
    case MessageType::kSnapshotResponse:
      return "SnapshotResponse";
    case MessageType::kTransferLeadership:
      return "TransferLeadership";
    case MessageType::kClientRequest:
      return "ClientRequest";
    case MessageType::kClientResponse:
      return "ClientResponse";
    case MessageType::kHealthProbe:
      return "HealthProbe";
    case MessageType::kHealthProbeResponse:
      return "HealthProbeResponse";
    case MessageType::kStatsRequest:
      return "StatsRequest";
    case MessageType::kStatsResponse:
      return "StatsResponse";
    case MessageType::kAdminRequest:
      return "AdminRequest";
    case MessageType::kAdminResponse:
      return "AdminResponse";
  }
  return "Unknown";
}

}  // namespace toydb
