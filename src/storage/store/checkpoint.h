#ifndef TOYDB_STORAGE_STORE_CHECKPOINT_H_
#define TOYDB_STORAGE_STORE_CHECKPOINT_H_

// The checkpoint: which data segments make up the store, how many bytes of
// each are valid, and the LSN up to which they hold every write. Recovery
// trusts exactly this and replays the WAL after applied_lsn. Written
// atomically (Env::WriteFileAtomically) to the file CHECKPOINT.
//
//   checkpoint := magic:u32 version:u8 applied_lsn:u64 next_segment_id:u32
//                 count:u32 segment{count} checksum:u64
//   segment    := id:u32 length:u64 min_lsn:u64 max_lsn:u64 sealed:u8
//
// checksum is XXH3-64 of every byte before it.

#include <cstdint>
#include <string>
#include <vector>

#include "toydb/env.h"
#include "toydb/status.h"

namespace toydb {

struct CheckpointSegment {
  uint32_t id = 0;
  uint64_t length = 0;
  uint64_t min_lsn = UINT64_MAX;
  uint64_t max_lsn = 0;
  bool sealed = false;
  friend bool operator==(const CheckpointSegment&, const CheckpointSegment&) = default;
};

struct CheckpointState {
  uint64_t applied_lsn = 0;
  uint32_t next_segment_id = 1;
  std::vector<CheckpointSegment> segments;  // The last one may be unsealed.
  friend bool operator==(const CheckpointState&, const CheckpointState&) = default;
};

inline constexpr char kCheckpointFileName[] = "CHECKPOINT";

std::string EncodeCheckpoint(const CheckpointState& state);
// DataLoss if the bytes are damaged or of an unknown version.
StatusOr<CheckpointState> DecodeCheckpoint(std::string_view bytes);

// Reads dir/CHECKPOINT; a store without one is new (an empty state).
StatusOr<CheckpointState> ReadCheckpoint(Env* env, const std::string& dir);
Status WriteCheckpoint(Env* env, const std::string& dir, const CheckpointState& state);

}  // namespace toydb

#endif  // TOYDB_STORAGE_STORE_CHECKPOINT_H_
