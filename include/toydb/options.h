#ifndef TOYDB_OPTIONS_H_
#define TOYDB_OPTIONS_H_

// Options of a Store and of its writes. Every field has a default that suits a
// small server; units are last in the names. StoreOptions::Validate() is
// called by Store::Open and refuses values that make no sense.

#include <cstdint>
#include <string>

#include "toydb/status.h"

namespace toydb {

class Env;
class Clock;

// When a write becomes durable before it is acknowledged.
enum class SyncPolicy : uint8_t {
  // Every write is fdatasync'ed before it is acknowledged; concurrent writers
  // share one write and one fdatasync (group commit). Never loses an
  // acknowledged write.
  kEveryWrite = 0,
  // The WAL is synced every `sync_interval_ms`; a crash may lose the writes of
  // the last interval.
  kInterval = 1,
  // Never synced explicitly; the OS decides. For tests and bulk loads.
  kNone = 2,
};

struct StoreOptions {
  // Directory of the store; created if missing. One Store per directory.
  std::string dir;
  // Files go through this Env; nullptr means Env::Default() (POSIX).
  Env* env = nullptr;
  // Time comes from this clock; nullptr means Clock::Default().
  Clock* clock = nullptr;

  // --- Limits: a request over one gets InvalidArgument and changes nothing.
  uint32_t max_key_bytes = 4096;
  uint32_t max_value_bytes = 16u << 20;
  // Operations in one WriteBatch, and their total key+value bytes.
  uint32_t max_batch_ops = 10000;
  uint64_t max_batch_bytes = 64u << 20;

  // --- Durability.
  SyncPolicy sync_policy = SyncPolicy::kEveryWrite;
  uint32_t sync_interval_ms = 100;
  // Under kInterval and kNone, WAL records collect in memory up to this many
  // bytes before a write(): one system call per many writes. What is pending
  // is lost if the process dies, as unsynced bytes are if the machine does;
  // it is written at every sync, checkpoint and close. 0 writes through.
  // Ignored under kEveryWrite, where every write is synced anyway.
  uint64_t wal_write_buffer_bytes = 64u << 10;

  // --- Files.
  // A WAL segment is sealed and a new one started past this size.
  uint64_t wal_segment_bytes_max = 64u << 20;
  // The active WAL segment is kept zero-filled and synced this far ahead of
  // its write offset (by background work), so that synced appends overwrite
  // allocated blocks instead of growing the file, which makes each fdatasync
  // cheaper. Costs one extra write of every WAL byte, off the write path.
  // Used with SyncPolicy::kEveryWrite only (other policies sync rarely, and
  // their appends would wait for the zero-filling). 0 disables it.
  uint64_t wal_preallocate_bytes = 4u << 20;
  // WAL bytes kept below the checkpoint so that lagging replicas can catch up
  // from the log instead of a snapshot.
  uint64_t wal_retention_bytes = 256u << 20;
  // A data-log (AoL) segment is sealed past this size.
  uint64_t data_segment_bytes_max = 64u << 20;

  // --- Memory.
  // Bytes of the value cache: its table of 128-byte slots (a key and value of
  // up to 120 bytes together live in their slot) plus the blocks of larger
  // entries.
  uint64_t cache_bytes_max = 64u << 20;

  // --- Background work.
  // Runs group commit syncs, checkpoints and compaction on threads of the
  // store. When false, nothing happens in the background: the owner calls
  // Store::RunBackgroundWork() (deterministic simulation, tests).
  bool background_threads = true;
  // A checkpoint is taken once this many WAL bytes were written since the last.
  uint64_t checkpoint_wal_bytes = 64u << 20;
  // A sealed data segment is compacted when at least this fraction of its
  // bytes is garbage (overwritten or deleted records).
  double compaction_garbage_ratio = 0.5;

  // Checks every field; InvalidArgument names the first bad one.
  Status Validate() const;
};

// Per-write durability. Replication extends it with write concerns.
struct WriteOptions {
  // Overrides StoreOptions::sync_policy for this write when set.
  bool force_sync = false;
};

}  // namespace toydb

#endif  // TOYDB_OPTIONS_H_
