#ifndef TOYDB_EVENT_LISTENER_H_
#define TOYDB_EVENT_LISTENER_H_

// EventListener: how a Store tells its host what happens in the background,
// where no caller is waiting for a Status: a background step that failed, a
// checkpoint or a compaction that completed, the store turning read-only.
//
// Owned by the host, which passes a pointer in StoreOptions::event_listener;
// it must outlive every Store that uses it (the store's destructor may still
// call it: a failed checkpoint on close is reported). The store calls it from
// its own threads (the background thread) and from the threads of callers of
// Checkpoint(), Compact(), RunBackgroundWork() and of the store's destructor,
// never holding a store lock, and one call at a time per store, in the order
// the events happened. A callback may call the store (GetStats, reads and
// writes, even Checkpoint or Compact: events those raise are delivered after
// the current callback returns), but it runs on a thread the store needs:
// keep it short, and hand slow work to a thread of the host's.

#include <cstdint>
#include <string_view>

#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

// The background steps of a Store.
enum class BackgroundJob : uint8_t {
  kWalPreparation = 0,     // Zero-filling the WAL ahead of writes.
  kIntervalSync = 1,       // The WAL sync of SyncPolicy::kInterval.
  kHintFile = 2,           // Syncing a sealed data segment and writing its hint file.
  kCheckpoint = 3,         // A checkpoint due after checkpoint_wal_bytes.
  kCompaction = 4,         // Compacting sealed segments (and its checkpoint).
  kCheckpointOnClose = 5,  // The checkpoint of the store's destructor.
};

// "checkpoint", "compaction", ...
std::string_view BackgroundJobName(BackgroundJob job);

struct BackgroundErrorInfo {
  BackgroundJob job = BackgroundJob::kCheckpoint;
  // What failed. A failed step is retried at the next round of background
  // work, unless it made the store read-only (IsStoreReadOnly(status)).
  Status status;
};

struct CheckpointInfo {
  // Every write up to this LSN is in the data log and the checkpoint.
  Lsn applied_lsn = 0;
  uint64_t data_segments = 0;  // Segments the checkpoint names.
};

struct CompactionInfo {
  uint64_t input_segments = 0;
  uint64_t output_segments = 0;
  uint64_t input_bytes = 0;   // Bytes of the segments replaced.
  uint64_t output_bytes = 0;  // Bytes written instead.
};

class EventListener {
 public:
  virtual ~EventListener() = default;

  // A background step failed. Counted in StoreStats::background_errors too.
  virtual void OnBackgroundError(const BackgroundErrorInfo& /*info*/) {}
  // A checkpoint was written (by the background, Checkpoint(), a compaction
  // or the close).
  virtual void OnCheckpointCompleted(const CheckpointInfo& /*info*/) {}
  // A compaction swapped its outputs in.
  virtual void OnCompactionCompleted(const CompactionInfo& /*info*/) {}
  // The store turned read-only: every later write fails with `cause` (a
  // StoreReadOnlyError, see status.h). Called once per open store, at the
  // next round of background work after the failure (the failure itself is
  // returned to the write or call that met it).
  virtual void OnStoreReadOnly(const Status& /*cause*/) {}
};

}  // namespace toydb

#endif  // TOYDB_EVENT_LISTENER_H_
