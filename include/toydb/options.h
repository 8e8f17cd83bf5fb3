#ifndef TOYDB_OPTIONS_H_
#define TOYDB_OPTIONS_H_

// Options of a Store and of its writes. Every field has a default that suits a
// small server; units are last in the names. StoreOptions::Validate() is
// called by Store::Open and refuses, with InvalidArgument naming the field,
// any value outside the range its comment gives. Plain values: the store
// keeps its own copy, except of the objects the pointers name (see there).

#include <cstdint>
#include <string>

#include "toydb/status.h"

namespace toydb {

class Env;
class Clock;
class EventListener;

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
// Any other value is refused by Validate().

struct StoreOptions {
  // Directory of the store; created if missing. One Store per directory.
  // Must not be empty.
  std::string dir;
  // Files go through this Env; nullptr means Env::Default() (POSIX). Owned by
  // the caller; it must outlive the store, and be thread-safe (the store
  // calls it from its writers' and background threads at once).
  Env* env = nullptr;
  // Time comes from this clock; nullptr means Clock::Default(). Owned by the
  // caller; it must outlive the store, and be thread-safe.
  Clock* clock = nullptr;
  // Told of background failures, checkpoints, compactions and the store
  // turning read-only; nullptr: no one is told (StoreStats still counts
  // background errors). Owned by the caller; it must outlive the store, and
  // is called from the store's threads (see event_listener.h).
  EventListener* event_listener = nullptr;

  // --- Limits: a request over one gets InvalidArgument and changes nothing.
  // Key bytes, in [1, 65535] (the index keeps 16-bit key lengths).
  uint32_t key_bytes_max = 4096;
  // Value bytes, at most 256 MiB. 0 allows only empty values. A record larger
  // than data_segment_bytes_max is written to a data segment of its own.
  uint32_t value_bytes_max = 16u << 20;
  // Operations in one WriteBatch: at least 1. A batch is one WAL record and
  // lands in one data segment, both with 32-bit lengths and offsets: with
  // batch_bytes_max, it must keep the largest batch's WAL record (9 bytes per
  // operation beside its key and value) and data records (21 bytes per
  // operation) under 4 GiB. Every key takes at least a byte, so a batch never
  // has more operations than batch_bytes_max.
  uint32_t batch_ops_max = 10000;
  // Total key+value bytes of one WriteBatch (or Put): at least
  // key_bytes_max + value_bytes_max (a write of one maximal key and value must
  // fit), at most 512 MiB.
  uint64_t batch_bytes_max = 64u << 20;

  // --- Durability.
  SyncPolicy sync_policy = SyncPolicy::kEveryWrite;
  // Under SyncPolicy::kInterval: at least 1. Ignored otherwise.
  uint32_t sync_interval_ms = 100;
  // Under kInterval and kNone, WAL records collect in memory up to this many
  // bytes before a write(): one system call per many writes. What is pending
  // is lost if the process dies, as unsynced bytes are if the machine does;
  // it is written at every sync, checkpoint and close. 0 writes through.
  // Ignored under kEveryWrite, where every write is synced anyway. At most
  // 1 GiB (memory held by records not yet written).
  uint64_t wal_write_buffer_bytes = 64u << 10;

  // --- Files.
  // A WAL segment is sealed and a new one started past this size; a batch is
  // never split, so a segment exceeds it by at most one batch. In
  // [4 KiB, 4 GiB].
  uint64_t wal_segment_bytes_max = 64u << 20;
  // The active WAL segment is kept zero-filled and synced this far ahead of
  // its write offset (by background work), so that synced appends overwrite
  // allocated blocks instead of growing the file, which makes each fdatasync
  // cheaper. Costs one extra write of every WAL byte, off the write path.
  // Used with SyncPolicy::kEveryWrite only (other policies sync rarely, and
  // their appends would wait for the zero-filling). 0 disables it. At most
  // 1 GiB.
  uint64_t wal_preallocate_bytes = 4u << 20;
  // WAL bytes kept below the checkpoint so that lagging replicas can catch up
  // from the log instead of a snapshot. Any value; 0 keeps none.
  uint64_t wal_retention_bytes = 256u << 20;
  // A data-log (AoL) segment is sealed once the next write would take it past
  // this size; a write larger than it gets a segment of its own. In
  // [4 KiB, 1 GiB] (index offsets are 32 bits).
  uint64_t data_segment_bytes_max = 64u << 20;

  // --- Memory.
  // Bytes of the value cache: its table of 128-byte slots (a key and value of
  // up to 120 bytes together live in their slot) plus the blocks of larger
  // entries. Any value; one too small for the smallest table (4 slots)
  // caches nothing, so 0 disables the cache.
  uint64_t cache_bytes_max = 64u << 20;

  // --- Background work.
  // Runs group commit syncs, checkpoints and compaction on threads of the
  // store. When false, nothing happens in the background: the owner calls
  // Store::RunBackgroundWork() (deterministic simulation, tests).
  bool background_threads = true;
  // A checkpoint is taken once this many WAL bytes were written since the
  // last. At least 1.
  uint64_t checkpoint_wal_bytes = 64u << 20;
  // A sealed data segment is compacted when at least this fraction of its
  // bytes is garbage (overwritten or deleted records). In (0, 1].
  double compaction_garbage_ratio = 0.5;

  // Checks every field against the range its comment gives; InvalidArgument
  // ("StoreOptions.<field> ...") names the first bad one.
  [[nodiscard]] Status Validate() const;
};

// Per-write durability. Replication extends it with write concerns.
struct WriteOptions {
  // Overrides StoreOptions::sync_policy for this write when set.
  bool force_sync = false;
};

}  // namespace toydb

#endif  // TOYDB_OPTIONS_H_
