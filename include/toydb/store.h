#ifndef TOYDB_STORE_H_
#define TOYDB_STORE_H_

// Store: a durable single-node key-value engine. Writes go to a write-ahead
// log, then to an append-only data log; reads go through an in-memory index
// of every key and a value cache (CLOCK eviction, an approximation of LRU);
// compaction rewrites data segments without garbage. Every write gets a log
// sequence number (LSN); a key's version is the LSN of its last write.
//
// Open() returns the store; the caller owns it, and destroying it closes it.
// A Store is thread-safe: any number of threads may call it at once.
// Errors are the codes of status.h; background failures, which no caller
// waits for, reach the host through StoreStats and an EventListener
// (event_listener.h).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "toydb/options.h"
#include "toydb/status.h"
#include "toydb/types.h"
#include "toydb/write_batch.h"

namespace toydb {

// A value and its version (the LSN of the write that stored it).
struct VersionedValue {
  std::string value;
  Lsn version = 0;
};

// Counters for monitoring and tests. A copy, taken under the store's lock.
struct StoreStats {
  uint64_t keys = 0;
  Lsn last_lsn = 0;        // Last LSN assigned.
  Lsn checkpoint_lsn = 0;  // Applied LSN of the last checkpoint.
  uint64_t data_segments = 0;
  uint64_t data_bytes = 0;     // Bytes in data segments.
  uint64_t garbage_bytes = 0;  // Of which overwritten or deleted.
  uint64_t index_memory_bytes = 0;
  uint64_t cache_bytes = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t compactions = 0;
  uint64_t compaction_input_bytes = 0;   // Bytes of the segments compactions replaced.
  uint64_t compaction_output_bytes = 0;  // Bytes they wrote instead.
  uint64_t checkpoints = 0;
  uint64_t wal_syncs = 0;
  uint64_t write_groups = 0;  // Group commits; writes / groups = group size.
  uint64_t writes = 0;
  bool read_only = false;  // After a failed sync or write: see Store.
  // Background steps that failed (see EventListener::OnBackgroundError),
  // and the last such failure, prefixed with its step ("compaction: ...").
  // A failure the host's own call met (Checkpoint(), Compact()) is returned
  // to it and not counted here.
  uint64_t background_errors = 0;
  Status last_background_error;
};

// A consistent, point-in-time view of the whole store, at an LSN. Keeps the
// files it needs alive until destroyed. Used to seed replicas. Not thread-safe.
class Snapshot {
 public:
  virtual ~Snapshot() = default;
  // Every write with an LSN at or below lsn() is visible; none above.
  virtual Lsn lsn() const = 0;
  // Visits every live key once, in no particular order. Stops early, with
  // that status, when `visit` returns a non-OK status.
  using Visitor = std::function<Status(std::string_view key, std::string_view value, Lsn version)>;
  [[nodiscard]] virtual Status ForEach(const Visitor& visit) = 0;
};

// What Store::Repair found and did.
struct RepairReport {
  uint64_t segments_kept = 0;     // Data segments the new checkpoint names.
  uint64_t segments_dropped = 0;  // Left out: replaced by a compaction, or empty.
  uint64_t records_kept = 0;      // Valid data records in the kept segments.
  // Bytes of data segments left out of the new checkpoint (after a damaged
  // record, or records past the end of the WAL). They are copied to lost/
  // in the store's directory before anything else happens.
  uint64_t bytes_not_kept = 0;
  uint64_t applied_lsn = 0;  // The new checkpoint's; the WAL is replayed after it.
  uint64_t wal_first_lsn = 0;
  uint64_t wal_last_lsn = 0;
  // One line per decision, for a human to read.
  std::string summary;
};

class Store {
 public:
  // Opens or creates the store in options.dir and recovers it: loads the
  // index (from hint files where present) and replays the WAL from the last
  // checkpoint. Damage before the WAL's tail is DataLoss.
  // An Open that fails changes nothing on disk: files are removed or cut only
  // after the WAL replay that covers them has succeeded. A CHECKPOINT that is
  // missing, damaged or older than the data (restored from a backup) is
  // DataLoss when the WAL no longer holds every write after it; putting the
  // right CHECKPOINT back, or Repair(), then opens the store.
  [[nodiscard]] static StatusOr<std::unique_ptr<Store>> Open(const StoreOptions& options);

  // Rebuilds CHECKPOINT from what is on disk, for a store that Open refuses
  // because its checkpoint is lost, damaged or stale (as LevelDB's RepairDB
  // does). Data segments describe themselves (every record has its LSN and a
  // checksum), so Repair scans each one and keeps its longest prefix of valid
  // records; the WAL, opened and recovered as Open does, supplies every
  // write after its first LSN, and the new checkpoint's applied LSN is the
  // one just before the WAL's first, so that Open replays all of it.
  //
  // Keeps: every valid record of every data segment, and the whole WAL.
  // Drops: a segment that the old checkpoint (if it can still be read) shows
  // was replaced by a compaction; the bytes of a segment after its first
  // damaged record; records whose LSN lies past the WAL's last (never
  // durable in the log, so never acknowledged under kEveryWrite). Repair
  // deletes no file and cuts none: the bytes it leaves out are first copied
  // to lost/<segment>.<offset> in the store's directory; the next Open
  // removes what the new checkpoint shows to be garbage, after its replay.
  // Hint files of kept segments are removed (derived data; rebuilt).
  // Limits: a key deleted before a compaction whose input files a crash left
  // behind may come back if the old checkpoint is lost too; writes between
  // the data segments' newest LSN and the WAL's first are gone if both the
  // segment holding them and the checkpoint were lost (the report says so).
  // FailedPrecondition if the store is open; errors of the WAL (DataLoss
  // inside it) are returned as Open would.
  static StatusOr<RepairReport> Repair(const StoreOptions& options);

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store() = default;

  // Each write returns the LSN it was given. A write over a limit is
  // InvalidArgument and changes nothing. Once a sync or a write to disk has
  // failed, the store is read-only: every later write reports the first
  // error, a FailedPrecondition for which IsStoreReadOnly() is true, because
  // it cannot vouch for durability; reopening recovers what is on disk. A full
  // disk met by the WAL append is ResourceExhausted, changes nothing and
  // leaves the store writable.
  //
  // A failed write changed nothing, except when the failure came after its
  // WAL record was written; then its status says so, with the write's LSN
  // (GetWriteOutcome and GetWriteOutcomeLsn in toydb/status.h):
  //   kCommitted  the record is in the WAL but the data log could not take it
  //               (a full disk): the write is not visible in this store, which
  //               is read-only, and the next Open applies it. Not to be retried.
  //   kUnknown    the WAL's write or sync failed: after the next Open the
  //               write is there if and only if the key's version is the LSN.
  // Under SyncPolicy::kEveryWrite a kCommitted write is as durable as an
  // acknowledged one; under the other policies, as durable as theirs are.
  [[nodiscard]] virtual StatusOr<Lsn> Put(const WriteOptions& options, std::string_view key,
                                          std::string_view value) = 0;
  // Deleting an absent key succeeds (and still gets an LSN).
  [[nodiscard]] virtual StatusOr<Lsn> Delete(const WriteOptions& options, std::string_view key) = 0;
  [[nodiscard]] virtual StatusOr<Lsn> Write(const WriteOptions& options,
                                            const WriteBatch& batch) = 0;
  // Stores `value` only if the key's version is `expected_version` (0: the key
  // must be absent). Aborted, with the current version in the message, if not.
  [[nodiscard]] virtual StatusOr<Lsn> CompareAndSet(const WriteOptions& options,
                                                    std::string_view key, Lsn expected_version,
                                                    std::string_view value) = 0;

  // NotFound if the key is absent.
  [[nodiscard]] virtual StatusOr<std::string> Get(std::string_view key) = 0;
  // The same into `*value`, whose buffer is reused: a caller reading in a
  // loop with one string allocates nothing per read of a cached value.
  [[nodiscard]] virtual Status Get(std::string_view key, std::string* value) = 0;
  [[nodiscard]] virtual StatusOr<VersionedValue> GetVersioned(std::string_view key) = 0;

  // A consistent view of the store at its last applied LSN.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<Snapshot>> GetSnapshot() = 0;

  // Records the applied LSN and the live data segments durably, and lets the
  // WAL drop what it no longer needs. Runs by itself in the background. A
  // failure is returned here, not counted as a background error.
  [[nodiscard]] virtual Status Checkpoint() = 0;
  // Compacts every sealed data segment whose garbage ratio reaches the
  // threshold (all sealed segments with any garbage when `force`).
  [[nodiscard]] virtual Status Compact(bool force = false) = 0;
  // For stores opened with background_threads = false: performs the work the
  // background thread would (interval sync, checkpoint, compaction) that is
  // due at the injected clock's time, and delivers the events it raised to
  // the EventListener. Deterministic. A failed step is returned, counted in
  // StoreStats and reported to the listener, exactly as in the background;
  // once the store is read-only it does nothing and returns the cause.
  [[nodiscard]] virtual Status RunBackgroundWork() = 0;

  virtual StoreStats GetStats() = 0;
};

}  // namespace toydb

#endif  // TOYDB_STORE_H_
