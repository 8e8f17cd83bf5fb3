#ifndef TOYDB_STORAGE_DATALOG_SEGMENT_FILE_POOL_H_
#define TOYDB_STORAGE_DATALOG_SEGMENT_FILE_POOL_H_

// SegmentFilePool: data-segment files that compaction made obsolete, kept
// (renamed "recycle-<n>.seg") to be overwritten by the next new segments
// instead of being unlinked. Unlinking a 64 MiB file frees its blocks, which
// on a file system mounted with `discard` costs a discard at the journal
// commit (about 100 ms here) and stalls every writer waiting on that commit;
// overwriting reuses allocated blocks and frees nothing. A reused file may
// hold old records past the new segment's end: nothing reads past a
// segment's recorded length, and Open truncates to it. Open deletes any pool
// files left over (a crash or a clean close). Shared by the store and its
// segments; thread-safe.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/util/mutex.h"
#include "toydb/env.h"

namespace toydb {

class SegmentFilePool {
 public:
  static constexpr size_t kMaxFiles = 2;

  SegmentFilePool(Env* env, std::string dir) : env_(env), dir_(std::move(dir)) {}

  // Takes an obsolete segment's file: keeps it if the pool has room (the file
  // is renamed), else removes it. Best effort: a file left under its old name
  // is an orphan that the next Open removes.
  void Give(const std::string& path);
  // Renames a pooled file to `path` and returns true, or returns false if the
  // pool is empty (or the rename failed).
  bool TakeAs(const std::string& path);

  static bool IsPoolFileName(std::string_view name);
  size_t size();

 private:
  Env* const env_;
  const std::string dir_;
  Mutex mu_;
  std::vector<std::string> files_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_DATALOG_SEGMENT_FILE_POOL_H_
