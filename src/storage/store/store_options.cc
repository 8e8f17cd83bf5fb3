// StoreOptions::Validate: every field against the range options.h gives it.
// Limits are checked against the formats they end up in, in 64 bits, so that
// no combination of valid options overflows a length or an offset.
#include <fmt/format.h>

#include "src/storage/datalog/data_format.h"
#include "src/storage/index/key_index.h"
#include "src/storage/store/batch_codec.h"
#include "src/storage/wal/wal_format.h"
#include "toydb/options.h"

namespace toydb {
namespace {

constexpr uint64_t kKiB = 1ull << 10;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;
constexpr uint64_t kMaxValueBytes = 256 * kMiB;
constexpr uint64_t kMaxBatchBytes = 512 * kMiB;
constexpr uint64_t kMaxWalWriteBufferBytes = kGiB;
constexpr uint64_t kMaxWalPreallocateBytes = kGiB;
constexpr uint64_t kMinSegmentBytes = 4 * kKiB;
constexpr uint64_t kMaxWalSegmentBytes = 4 * kGiB;
// Index and hint offsets are 32 bits: a segment plus one batch stays below 4 GiB.
constexpr uint64_t kMaxDataSegmentBytes = kGiB;
// A batch's records are written back to back into one data segment, at
// 32-bit offsets.
constexpr uint64_t kMaxBatchDataBytes = UINT32_MAX;

// The largest record stays within what an index entry can hold.
static_assert(data_format::kHeaderBytes + KeyIndex::kMaxKeyBytes + kMaxValueBytes <=
              KeyIndex::kMaxRecordBytes);
static_assert(kMaxDataSegmentBytes <= UINT32_MAX);

Status Bad(std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("StoreOptions.{} {}", field, why));
}

Status InRange(std::string_view field, uint64_t value, uint64_t min, uint64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return Bad(field, fmt::format("is {}; it must be in [{}, {}]", value, min, max));
}

Status ValidateLimits(const StoreOptions& o) {
  if (Status s = InRange("key_bytes_max", o.key_bytes_max, 1, KeyIndex::kMaxKeyBytes); !s.ok())
    return s;
  if (Status s = InRange("value_bytes_max", o.value_bytes_max, 0, kMaxValueBytes); !s.ok())
    return s;
  if (o.batch_ops_max == 0) return Bad("batch_ops_max", "is 0; it must be at least 1");
  // A write of one maximal key and value must fit.
  const uint64_t one_write = uint64_t{o.key_bytes_max} + o.value_bytes_max;
  return InRange("batch_bytes_max", o.batch_bytes_max, one_write, kMaxBatchBytes);
}

// With every single limit in range, a batch of many tiny operations can
// still outgrow a 32-bit length or offset.
Status ValidateBatchFormats(const StoreOptions& o) {
  const uint64_t wal_payload = MaxBatchPayloadBytes(o.batch_ops_max, o.batch_bytes_max);
  if (wal_payload > wal::kRecordPayloadMax) {
    return Bad(
        "batch_ops_max",
        fmt::format("is {}: with batch_bytes_max {} a batch's WAL record could reach {} "
                    "bytes, over the format's {}",
                    o.batch_ops_max, o.batch_bytes_max, wal_payload, wal::kRecordPayloadMax));
  }
  const uint64_t ops = std::min<uint64_t>(o.batch_ops_max, o.batch_bytes_max);
  const uint64_t data_bytes = ops * data_format::kHeaderBytes + o.batch_bytes_max;
  if (data_bytes > kMaxBatchDataBytes) {
    return Bad("batch_ops_max",
               fmt::format("is {}: with batch_bytes_max {} a batch's data records could reach {} "
                           "bytes, over a data segment's 32-bit offsets",
                           o.batch_ops_max, o.batch_bytes_max, data_bytes));
  }
  return absl::OkStatus();
}

Status ValidateDurability(const StoreOptions& o) {
  switch (o.sync_policy) {
    case SyncPolicy::kEveryWrite:
    case SyncPolicy::kNone:
      break;
    case SyncPolicy::kInterval:
      if (o.sync_interval_ms == 0) {
        return Bad("sync_interval_ms", "is 0; it must be at least 1 with SyncPolicy::kInterval");
      }
      break;
    default:
      return Bad("sync_policy",
                 fmt::format("is {}, not a SyncPolicy", static_cast<int>(o.sync_policy)));
  }
  return InRange("wal_write_buffer_bytes", o.wal_write_buffer_bytes, 0, kMaxWalWriteBufferBytes);
}

Status ValidateFiles(const StoreOptions& o) {
  if (Status s = InRange("wal_segment_bytes_max", o.wal_segment_bytes_max, kMinSegmentBytes,
                         kMaxWalSegmentBytes);
      !s.ok()) {
    return s;
  }
  if (Status s =
          InRange("wal_preallocate_bytes", o.wal_preallocate_bytes, 0, kMaxWalPreallocateBytes);
      !s.ok()) {
    return s;
  }
  return InRange("data_segment_bytes_max", o.data_segment_bytes_max, kMinSegmentBytes,
                 kMaxDataSegmentBytes);
}

Status ValidateBackgroundWork(const StoreOptions& o) {
  if (o.checkpoint_wal_bytes == 0)
    return Bad("checkpoint_wal_bytes", "is 0; it must be at least 1");
  // Written so that NaN fails too.
  if (!(o.compaction_garbage_ratio > 0.0 && o.compaction_garbage_ratio <= 1.0)) {
    return Bad("compaction_garbage_ratio",
               fmt::format("is {}; it must be in (0, 1]", o.compaction_garbage_ratio));
  }
  return absl::OkStatus();
}

}  // namespace

// env, clock, event_listener (any pointer, nullptr included), cache_bytes_max
// and wal_retention_bytes (any value) and background_threads have no range.
Status StoreOptions::Validate() const {
  if (dir.empty()) return Bad("dir", "is empty");
  // In order: the batch formats assume the limits are in range.
  for (auto check : {ValidateLimits, ValidateBatchFormats, ValidateDurability, ValidateFiles,
                     ValidateBackgroundWork}) {
    if (Status s = check(*this); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace toydb
