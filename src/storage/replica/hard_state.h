#ifndef TOYDB_STORAGE_REPLICA_HARD_STATE_H_
#define TOYDB_STORAGE_REPLICA_HARD_STATE_H_

// The replica's hard state (term, vote, commit LSN) in the file HARDSTATE of
// its directory, replaced atomically and durably (Env::WriteFileAtomically).
//
//   hard_state := magic:u32 "TDHS" version:u8(1) term:u64 vote:u64
//                 commit_lsn:u64 checksum:u64 (XXH3-64 of the bytes before it)

#include <string>
#include <string_view>

#include "src/storage/replica/replica_store.h"
#include "toydb/env.h"

namespace toydb {

inline constexpr char kHardStateFileName[] = "HARDSTATE";

std::string EncodeHardState(const ReplicaHardState& state);
// DataLoss if damaged.
StatusOr<ReplicaHardState> DecodeHardState(std::string_view bytes);
// A missing file is the zero state (a new replica).
StatusOr<ReplicaHardState> ReadHardState(Env* env, const std::string& dir);
[[nodiscard]] Status WriteHardState(Env* env, const std::string& dir,
                                    const ReplicaHardState& state);

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_HARD_STATE_H_
