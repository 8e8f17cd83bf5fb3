#ifndef TOYDB_STORAGE_REPLICA_STATE_DIR_H_
#define TOYDB_STORAGE_REPLICA_STATE_DIR_H_

// The layout of a replica's directory:
//   LOCK                   held while the replica is open
//   CURRENT                names the live state directory (atomically
//                          replaced): "<name> <XXH3-64 of name, hex>\n"
//   HARDSTATE              term, vote, commit LSN (hard_state.h)
//   state-NNNNNNNNNN/      a Store directory in replica mode: the log (wal/),
//                          data segments, CHECKPOINT with the session table
//   incoming-<lsn>-<term>.snap   a snapshot being received (snapshot_staging.h)
//   outgoing-<n>.snap      a snapshot being sent (removed when its source goes)
// Installing a snapshot builds a new state directory beside the live one and
// switches CURRENT to it: the rename is the commit point. Open removes every
// state directory CURRENT does not name and every outgoing snapshot, but
// only once it has opened the one CURRENT names: a CURRENT that names a
// missing directory while others exist is DataLoss, and nothing is removed.

#include <cstdint>
#include <string>
#include <string_view>

#include "toydb/env.h"
#include "toydb/status.h"

namespace toydb {

inline constexpr char kCurrentFileName[] = "CURRENT";

std::string StateDirName(uint64_t number);
// False unless `name` is a state directory's name.
bool ParseStateDirName(std::string_view name, uint64_t* number);

// The state directory CURRENT names; NotFound if there is no CURRENT,
// DataLoss if it is damaged.
StatusOr<std::string> ReadCurrent(Env* env, const std::string& dir);
// Points CURRENT at `state_dir_name`, atomically and durably.
[[nodiscard]] Status WriteCurrent(Env* env, const std::string& dir,
                                  const std::string& state_dir_name);

// Removes `path`, a file or a directory with everything below it. OK if it
// does not exist.
[[nodiscard]] Status RemoveTree(Env* env, const std::string& path);
// Creates `path` if missing and removes whatever it holds.
[[nodiscard]] Status CreateEmptyDir(Env* env, const std::string& path);

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_STATE_DIR_H_
