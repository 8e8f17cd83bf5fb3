#ifndef TOYDB_STORAGE_REPLICA_SNAPSHOT_SOURCE_H_
#define TOYDB_STORAGE_REPLICA_SNAPSHOT_SOURCE_H_

// The sending side of a snapshot: the stream (snapshot_format.h) is written
// once to a file in the replica's directory, so that its size and checksum
// are known before the first chunk leaves and any offset can be re-read
// while the store moves on. The file goes when the source is destroyed (and
// at the next Open after a crash).

#include <memory>
#include <string>

#include "src/storage/replica/replica_store.h"
#include "src/storage/store/store_impl.h"
#include "toydb/env.h"

namespace toydb {

// Writes `snapshot` to `path` and returns the source that serves it.
StatusOr<std::unique_ptr<SnapshotSource>> WriteSnapshotFile(Env* env, const std::string& path,
                                                            StoreImpl::ReplicaSnapshot snapshot);

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_SNAPSHOT_SOURCE_H_
