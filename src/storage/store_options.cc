#include <fmt/format.h>

#include "src/storage/key_index.h"
#include "toydb/options.h"

namespace toydb {
namespace {
constexpr uint64_t kGiB = 1ull << 30;
Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("StoreOptions.{} {}", field, why));
}
}  // namespace

Status StoreOptions::Validate() const {
  if (dir.empty()) return Bad("dir", "is empty");
  if (max_key_bytes == 0 || max_key_bytes > KeyIndex::kMaxKeyBytes) {
    return Bad("max_key_bytes", fmt::format("must be in [1, {}]", KeyIndex::kMaxKeyBytes));
  }
  if (max_value_bytes > kGiB / 4) return Bad("max_value_bytes", "must be at most 256 MiB");
  if (max_batch_ops == 0) return Bad("max_batch_ops", "must be positive");
  if (max_batch_bytes < uint64_t{max_key_bytes} + max_value_bytes || max_batch_bytes > kGiB / 2) {
    return Bad("max_batch_bytes", "must hold one maximal key and value and be at most 512 MiB");
  }
  if (sync_policy == SyncPolicy::kInterval && sync_interval_ms == 0) {
    return Bad("sync_interval_ms", "must be positive with SyncPolicy::kInterval");
  }
  if (wal_segment_bytes_max < (1u << 12) || wal_segment_bytes_max > 4 * kGiB) {
    return Bad("wal_segment_bytes_max", "must be in [4 KiB, 4 GiB]");
  }
  if (wal_preallocate_bytes > kGiB) return Bad("wal_preallocate_bytes", "must be at most 1 GiB");
  // Offsets in the index are 32 bits: a segment plus one batch must stay below 4 GiB.
  if (data_segment_bytes_max < (1u << 12) || data_segment_bytes_max > kGiB) {
    return Bad("data_segment_bytes_max", "must be in [4 KiB, 1 GiB]");
  }
  if (!(compaction_garbage_ratio > 0.0 && compaction_garbage_ratio <= 1.0)) {
    return Bad("compaction_garbage_ratio", "must be in (0, 1]");
  }
  if (checkpoint_wal_bytes == 0) return Bad("checkpoint_wal_bytes", "must be positive");
  return absl::OkStatus();
}

}  // namespace toydb
