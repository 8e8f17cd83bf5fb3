// RouterOptions::Validate (include/toydb/router.h).
#include <fmt/format.h>

#include <set>

#include "src/routing/hash_ring.h"
#include "toydb/router.h"

namespace toydb {
namespace {

Status Bad(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(fmt::format("RouterOptions.{} {}", field, problem));
}

}  // namespace

Status RouterOptions::Validate() const {
  if (id == 0) return Bad("id", "is 0, which is reserved");
  if (partitions.empty()) return Bad("partitions", "is empty");
  std::set<PartitionId> seen;
  for (const PartitionConfig& partition : partitions) {
    if (!seen.insert(partition.id).second) {
      return Bad("partitions", fmt::format("lists partition {} twice", partition.id));
    }
    if (Status s = partition.Validate(); !s.ok()) {
      return Bad("partitions",
                 fmt::format("partition {}: {}", partition.id, std::string(s.message())));
    }
    if (partition.Has(id)) {
      return Bad("id", fmt::format("{} is a member of partition {}", id, partition.id));
    }
  }
  if (virtual_nodes == 0 || virtual_nodes > routing::HashRing::kMaxVirtualNodes) {
    return Bad("virtual_nodes",
               fmt::format("must be 1 to {}", routing::HashRing::kMaxVirtualNodes));
  }
  if (deadline_ms == 0) return Bad("deadline_ms", "must be at least 1");
  if (attempt_timeout_ms == 0) return Bad("attempt_timeout_ms", "must be at least 1");
  if (backoff_initial_ms == 0) return Bad("backoff_initial_ms", "must be at least 1");
  if (backoff_max_ms < backoff_initial_ms) {
    return Bad("backoff_max_ms", "must be at least backoff_initial_ms");
  }
  if (writes_in_flight_per_partition_max == 0 || writes_in_flight_per_partition_max > 4096) {
    return Bad("writes_in_flight_per_partition_max", "must be 1 to 4096");
  }
  if (requests_max == 0) return Bad("requests_max", "must be at least 1");
  if (dead_letters_max == 0) return Bad("dead_letters_max", "must be at least 1");
  if (probe_timeout_ms == 0) return Bad("probe_timeout_ms", "must be at least 1");
  return absl::OkStatus();
}

}  // namespace toydb
