#ifndef TOYDB_STORAGE_REPLICA_SNAPSHOT_INSTALL_H_
#define TOYDB_STORAGE_REPLICA_SNAPSHOT_INSTALL_H_

// Builds a replica's state directory from a verified snapshot stream, in the
// store's own formats: each entry becomes a data record with its original
// version, in sealed data segments; CHECKPOINT names them at the snapshot's
// LSN with its session table; the WAL restarts empty after (lsn, term)
// (Wal::Reset). Everything is synced before it returns, so the directory can
// become the live state by one atomic switch of CURRENT (state_dir.h). The
// directory is not live while this runs: a failure or a crash leaves
// garbage that Open removes, never a change to the replica's state.

#include <string>

#include "toydb/env.h"
#include "toydb/options.h"
#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

// `options.dir` is the new state directory (emptied first). The stream in
// `snapshot_path` must be of (lsn, term) and hold `size` bytes. DataLoss if
// it is malformed (a sender's bug; the checksum matched).
[[nodiscard]] Status BuildStateDirFromSnapshot(const StoreOptions& options,
                                               const std::string& snapshot_path, uint64_t size,
                                               Lsn lsn, Term term, uint32_t session_count_max);

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_SNAPSHOT_INSTALL_H_
