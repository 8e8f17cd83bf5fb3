#ifndef TOYDB_STORAGE_STORE_BATCH_CODEC_H_
#define TOYDB_STORAGE_STORE_BATCH_CODEC_H_

// The payload of a WAL record of type kWalRecordWriteBatch: the operations of
// one atomic write, applied with the record's LSN.
//
//   payload := count:u32 op{count}
//   op      := type:u8 key:(len:u32 bytes) value:(len:u32 bytes)

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "toydb/status.h"
#include "toydb/write_batch.h"

namespace toydb {

// WAL record types written by the Store.
inline constexpr uint8_t kWalRecordWriteBatch = 1;

// Payload bytes beside the keys and values: the count, and per operation its
// type and two lengths.
inline constexpr uint64_t kBatchPayloadHeaderBytes = 4;
inline constexpr uint64_t kBatchOpOverheadBytes = 1 + 4 + 4;

// The largest payload of a batch of at most `max_ops` operations and
// `max_bytes` key and value bytes. Keys are never empty, so a batch has at
// most `max_bytes` operations. In 64 bits: does not overflow for any max_ops
// and any max_bytes below 2^59.
inline uint64_t MaxBatchPayloadBytes(uint32_t max_ops, uint64_t max_bytes) {
  const uint64_t ops = max_ops < max_bytes ? uint64_t{max_ops} : max_bytes;
  return kBatchPayloadHeaderBytes + kBatchOpOverheadBytes * ops + max_bytes;
}

// One operation of a batch; views point into the caller's batch or payload.
struct BatchOpView {
  WriteBatch::OpType type;
  std::string_view key;
  std::string_view value;
};

// Appends the payload of `ops` to `out`.
void EncodeBatchPayload(std::span<const BatchOpView> ops, std::string* out);
std::string EncodeBatchPayload(const WriteBatch& batch);

// DataLoss if the payload is malformed (its WAL record passed its checksum,
// so this means a bug or a format mismatch, never a torn write).
StatusOr<std::vector<BatchOpView>> DecodeBatchPayload(std::string_view payload);

}  // namespace toydb

#endif  // TOYDB_STORAGE_STORE_BATCH_CODEC_H_
