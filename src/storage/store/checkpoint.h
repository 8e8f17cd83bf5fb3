#ifndef TOYDB_STORAGE_STORE_CHECKPOINT_H_
#define TOYDB_STORAGE_STORE_CHECKPOINT_H_

// The checkpoint: which data segments make up the store, how many bytes of
// each are valid, and the LSN up to which they hold every write. Recovery
// trusts exactly this and replays the WAL after applied_lsn. Written
// atomically (Env::WriteFileAtomically) to the file CHECKPOINT.
//
//   checkpoint := magic:u32 version:u8 applied_lsn:u64 next_segment_id:u32
//                 count:u32 segment{count} [replica_state] checksum:u64
//   segment    := id:u32 length:u64 min_lsn:u64 max_lsn:u64 sealed:u8
//   replica_state := length:u32 bytes   (version 2 only)
//
// checksum is XXH3-64 of every byte before it. Version 1 has no
// replica_state; version 2 is written only when it is not empty, so a
// single-node store's checkpoint keeps version 1.

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
  // State of a replica's store that must match applied_lsn exactly (its
  // session table, encoded by src/storage/replica/session_table.h): kept in
  // the same file so that one atomic rename records both. Empty otherwise.
  std::string replica_state;
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
