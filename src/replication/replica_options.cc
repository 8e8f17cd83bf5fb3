// PartitionConfig and ReplicaOptions: their checks; ReplicaRole's names.
#include <fmt/format.h>

#include <algorithm>

#include "src/transport/codec.h"
#include "toydb/partition.h"
#include "toydb/replica.h"

namespace toydb {

bool PartitionConfig::Has(NodeId node) const {
  return std::find(members.begin(), members.end(), node) != members.end();
}

Status PartitionConfig::Validate() const {
  if (members.empty()) {
    return absl::InvalidArgumentError(fmt::format("partition {} has no member", id));
  }
  std::vector<NodeId> sorted = members;
  std::sort(sorted.begin(), sorted.end());
  if (sorted.front() == 0) {
    return absl::InvalidArgumentError(fmt::format("partition {} lists node 0 (reserved)", id));
  }
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
    return absl::InvalidArgumentError(fmt::format("partition {} lists a node twice", id));
  }
  return absl::OkStatus();
}

Status ReplicaOptions::Validate() const {
  auto bad = [](std::string_view field, std::string_view rule) {
    return absl::InvalidArgumentError(fmt::format("ReplicaOptions.{} {}", field, rule));
  };
  if (heartbeat_ticks == 0) return bad("heartbeat_ticks", "must be at least 1");
  if (election_ticks < 2 || election_ticks <= heartbeat_ticks) {
    return bad("election_ticks", "must be at least 2 and above heartbeat_ticks");
  }
  if (write_timeout_ticks == 0) return bad("write_timeout_ticks", "must be at least 1");
  if (read_timeout_ticks == 0) return bad("read_timeout_ticks", "must be at least 1");
  // An append of one maximal entry must fit in one frame, with room for the
  // message's own fields.
  constexpr uint64_t kFrameRoom = 64u << 10;
  if (append_bytes_max < 1024 || append_bytes_max > kMaxFrameBytes - kFrameRoom) {
    return bad("append_bytes_max",
               fmt::format("must be in [1024, {}] (a frame is at most {} bytes)",
                           kMaxFrameBytes - kFrameRoom, kMaxFrameBytes));
  }
  if (append_entries_max == 0 || append_entries_max > kMaxEntriesPerAppend) {
    return bad("append_entries_max", fmt::format("must be in [1, {}]", kMaxEntriesPerAppend));
  }
  if (inflight_appends_max == 0) return bad("inflight_appends_max", "must be at least 1");
  if (inflight_bytes_max < append_bytes_max) {
    return bad("inflight_bytes_max", "must be at least append_bytes_max");
  }
  if (uncommitted_entries_max == 0) return bad("uncommitted_entries_max", "must be at least 1");
  if (snapshot_chunk_bytes < 1024 || snapshot_chunk_bytes > kMaxFrameBytes - kFrameRoom) {
    return bad("snapshot_chunk_bytes",
               fmt::format("must be in [1024, {}]", kMaxFrameBytes - kFrameRoom));
  }
  if (session_count_max == 0) return bad("session_count_max", "must be at least 1");
  if (default_concern.kind > WriteConcernKind::kAll) return bad("default_concern", "is unknown");
  return absl::OkStatus();
}

const char* ReplicaRoleName(ReplicaRole role) {
  switch (role) {
    case ReplicaRole::kFollower:
      return "follower";
    case ReplicaRole::kCandidate:
      return "candidate";
    case ReplicaRole::kPrimary:
      return "primary";
  }
  return "?";
}

}  // namespace toydb
