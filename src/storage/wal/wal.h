#ifndef TOYDB_STORAGE_WAL_WAL_H_
#define TOYDB_STORAGE_WAL_WAL_H_

// Wal: the write-ahead log, which is also the replication log. A sequence of
// records, each with a (term, LSN), stored in numbered segment files in one
// directory. LSNs are contiguous: every append continues at last_lsn() + 1.
//
// Owned by the Store (later by the replica's storage). Not thread-safe: the
// owner serializes every call (the Store's group-commit leader is the only
// writer at a time), except PrepareAhead() and PrepareWanted(), which may run
// on another thread at any time between Open and destruction. The byte format is in wal_format.h
// and docs/wal_format.md.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "src/storage/wal/wal_format.h"
#include "toydb/env.h"
#include "toydb/status.h"

namespace toydb {

struct WalOptions {
  std::string dir;
  // A segment is sealed and the next begun once it reaches this size.
  uint64_t segment_bytes_max = 64u << 20;
  // Largest payload accepted by Append; larger is InvalidArgument.
  uint64_t record_bytes_max = 80u << 20;
  // Bytes of sealed segments kept below the release point (see ReleaseUpTo).
  uint64_t retention_bytes = 256u << 20;
  // Released segments are kept (up to this many) and reused for new segments:
  // overwriting allocated blocks makes fdatasync cheaper than appending.
  uint32_t recycled_segments_max = 2;
  // Appended records are collected in memory and written to the file once this
  // many bytes are pending, and always before Sync, a segment roll, a read or
  // a truncation. 0 writes every Append through at once. Buffering saves a
  // write() per record when the owner does not sync each write, at the price
  // that a process crash (not only a power cut) loses what is pending.
  uint64_t write_buffer_bytes = 0;
  // The active segment is kept zero-filled and synced this many bytes past
  // its write offset (by PrepareAhead), so a synced append overwrites
  // allocated blocks within the file size, as in a recycled segment, instead
  // of growing the file. A new log's first segment gets its first chunk when
  // it is created. 0 disables it.
  uint64_t preallocate_bytes = 0;
  // Zeros are written and synced this many bytes at a time.
  uint64_t preallocate_chunk_bytes = 1u << 20;
  // Open verifies every record of the segments that hold LSNs at or after
  // this one (the owner's recovery needs them). Older sealed segments are
  // only checked for their header and continuity; their records are
  // verified when first read (Read, TermAt, TruncateAfter), and damage there
  // is DataLoss on that call, not on Open. 0 verifies everything at Open.
  uint64_t verify_from_lsn = 0;
};

// What Open found, for logs and tests.
struct WalRecoveryReport {
  uint64_t segments = 0;
  uint64_t records = 0;
  // Bytes cut from the end of the last segment (a torn or unsynced tail, or
  // the stale bytes past the end of a recycled file), plus the size of a last
  // segment dropped because its creation was torn.
  uint64_t truncated_tail_bytes = 0;
  // Sealed segments wholly below WalOptions::verify_from_lsn, whose records
  // were left to be verified when first read.
  uint64_t segments_not_verified = 0;
};

class Wal {
 public:
  // Opens (or creates) the log in options.dir and recovers it: scans the
  // segments, truncates a torn or corrupt record at the end of the log, and
  // reports DataLoss, naming file and offset, for damage anywhere before it.
  static StatusOr<std::unique_ptr<Wal>> Open(Env* env, const WalOptions& options,
                                             WalRecoveryReport* report = nullptr);
  // What the segment headers alone say about the log in options.dir, read
  // without changing anything (Open may cut a torn tail): whether it has a
  // segment, and the first LSN it holds, if the first header verifies. The
  // owner checks this before Open so that a refused recovery leaves the
  // files as they were.
  struct Peek {
    bool has_segments = false;
    std::optional<uint64_t> first_lsn;
  };
  static StatusOr<Peek> PeekAtHeaders(Env* env, const WalOptions& options);
  virtual ~Wal() = default;

  // The first LSN still stored (the base + 1 when the log is empty) and the
  // last one appended (the base when empty).
  virtual uint64_t first_lsn() const = 0;
  virtual uint64_t last_lsn() const = 0;
  virtual uint64_t last_term() const = 0;
  // The last LSN known durable (every Sync() raises it to last_lsn()).
  virtual uint64_t synced_lsn() const = 0;

  // Appends records; record[i].lsn must be last_lsn() + 1 + i and terms must
  // not decrease. Buffered or written, but not durable until Sync(). On error
  // nothing is appended (the log is left as before the call).
  [[nodiscard]] virtual Status Append(std::span<const WalRecord> records) = 0;
  // Makes every appended record durable (one fdatasync).
  [[nodiscard]] virtual Status Sync() = 0;

  // Reads records with lsn >= `from_lsn`, in order, stopping after
  // `max_bytes` of payload (at least one record is returned if any exists).
  // NotFound if `from_lsn` < first_lsn() (released: the reader needs a
  // snapshot); an empty result if from_lsn > last_lsn().
  [[nodiscard]] virtual Status Read(uint64_t from_lsn, uint64_t max_bytes,
                                    std::vector<WalRecord>* out) = 0;
  // The term of the record at `lsn`; for lsn == first_lsn() - 1 the base term.
  // NotFound outside [first_lsn() - 1, last_lsn()].
  virtual StatusOr<uint64_t> TermAt(uint64_t lsn) = 0;

  // Removes every record after `lsn` (a conflicting uncommitted suffix),
  // durably. REQUIRES: first_lsn() - 1 <= lsn <= last_lsn().
  [[nodiscard]] virtual Status TruncateAfter(uint64_t lsn) = 0;

  // Records up to `lsn` are checkpointed and no longer needed for recovery.
  // Sealed segments wholly at or below it, beyond the retention window, are
  // deleted (or kept for recycling).
  [[nodiscard]] virtual Status ReleaseUpTo(uint64_t lsn) = 0;

  // Discards the whole log and restarts it empty after (`lsn`, `term`):
  // the next append is lsn + 1. Used after installing a snapshot. Durable.
  [[nodiscard]] virtual Status Reset(uint64_t lsn, uint64_t term) = 0;

  // Bytes written to the log since it was opened (drives checkpoints).
  virtual uint64_t bytes_written() const = 0;

  // Zero-fills and syncs the active segment up to preallocate_bytes past its
  // write offset, a chunk at a time. Thread-safe, unlike the calls above: run
  // it on a background thread; appends inside the prepared region do not
  // wait for it. A failed zero write only stops the preparation; a failed
  // sync turns the Wal failed at its next Sync.
  [[nodiscard]] virtual Status PrepareAhead() = 0;
  // True if less than half of preallocate_bytes is prepared ahead of the
  // write offset: PrepareAhead() has work. Thread-safe and cheap.
  virtual bool PrepareWanted() const = 0;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_WAL_WAL_H_
