#ifndef TOYDB_STORAGE_REPLICA_COMMAND_CODEC_H_
#define TOYDB_STORAGE_REPLICA_COMMAND_CODEC_H_

// The payload of a replica's kWalRecordCommand record (EncodeCommand and
// DecodeCommand are declared in replica_store.h):
//
//   command := flags:u8 client_id:u64 sequence:u64 [expected_version:u64]
//              batch                        (batch_codec.h: count:u32 op{count})
//   flags   := bit 0: expected_version present; other bits zero
//
// A command has at least one operation; one with an expected version has
// exactly one, a put (the compare-and-set's key).

#include <cstdint>

#include "src/storage/replica/replica_store.h"
#include "toydb/options.h"

namespace toydb {

inline constexpr uint8_t kCommandFlagExpectedVersion = 1;
// Bytes a command adds to the batch payload of its operations, at most.
inline constexpr uint64_t kCommandHeaderBytesMax = 1 + 8 + 8 + 8;

// InvalidArgument unless `command` is well formed (see above) and within the
// store's limits (key, value and batch sizes), as a Store write must be.
[[nodiscard]] Status ValidateCommand(const ReplicatedCommand& command, const StoreOptions& limits);

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_COMMAND_CODEC_H_
