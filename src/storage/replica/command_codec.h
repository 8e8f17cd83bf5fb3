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
#include <optional>
#include <string_view>
#include <vector>

#include "src/storage/replica/replica_store.h"
#include "src/storage/store/batch_codec.h"
#include "toydb/options.h"

namespace toydb {

inline constexpr uint8_t kCommandFlagExpectedVersion = 1;
// Bytes a command adds to the batch payload of its operations, at most.
inline constexpr uint64_t kCommandHeaderBytesMax = 1 + 8 + 8 + 8;

// A decoded command whose keys and values point into its payload: what
// AppendLog checks and apply evaluates, without copying them.
struct CommandView {
  uint64_t client_id = 0;
  uint64_t sequence = 0;
  std::optional<Lsn> expected_version;
  std::vector<BatchOpView> ops;
};
// DataLoss as DecodeCommand.
StatusOr<CommandView> DecodeCommandView(std::string_view payload);

// InvalidArgument unless `command` is within the store's limits (key, value
// and batch sizes), as a Store write must be. (Its shape was checked by
// DecodeCommandView.)
[[nodiscard]] Status ValidateCommand(const CommandView& command, const StoreOptions& limits);

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_COMMAND_CODEC_H_
