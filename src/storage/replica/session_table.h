#ifndef TOYDB_STORAGE_REPLICA_SESSION_TABLE_H_
#define TOYDB_STORAGE_REPLICA_SESSION_TABLE_H_

// SessionTable: the client sessions of a replica's applied state. For each
// client id it keeps the last sequence applied, the LSN of that command and
// its result, so that a retried command is answered with its first result
// instead of being applied twice. Part of the replicated state: changed only
// by apply, in LSN order, by rules every replica follows alike, so every
// replica holds the same table at the same applied LSN. Persisted with the
// store's checkpoint and carried in snapshots (Encode/Decode).
//
// Bounded: a new client beyond `capacity` evicts the session with the lowest
// last-applied LSN (unique per session, since each LSN is one command's).
// Owned by the replica's StoreImpl, guarded by its mutex; not thread-safe.
//
//   table   := count:u32 session{count}        (ascending client_id)
//   session := client_id:u64 sequence:u64 lsn:u64 code:u8 version:u64
//              message:(len:u32 bytes)

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

class SessionTable {
 public:
  // The result a session remembers of its last command.
  struct Entry {
    uint64_t sequence = 0;
    Lsn lsn = 0;  // Of that command's record.
    Status status;
    Lsn version = 0;
    bool operator==(const Entry&) const = default;
  };

  explicit SessionTable(uint32_t capacity);

  // The session of `client_id`, if kept.
  const Entry* Find(uint64_t client_id) const;
  // Records the result of `client_id`'s command `sequence` at `lsn`,
  // evicting the session with the lowest LSN first if the table is full and
  // the client is new. REQUIRES: lsn above every LSN recorded.
  void Record(uint64_t client_id, uint64_t sequence, Lsn lsn, const Status& status, Lsn version);

  size_t size() const { return sessions_.size(); }
  uint32_t capacity() const { return capacity_; }

  // Empty for an empty table (a checkpoint then stays in version 1).
  std::string Encode() const;
  // The table of a state applied up to `applied_lsn`. DataLoss if malformed,
  // or if a session's LSN is above `applied_lsn` (later records could not be
  // recorded above it). Sessions beyond `capacity` (a replica whose limit
  // was lowered) are evicted by the same rule as at apply.
  [[nodiscard]] static StatusOr<SessionTable> Decode(std::string_view bytes, uint32_t capacity,
                                                     Lsn applied_lsn);

  bool operator==(const SessionTable& other) const { return sessions_ == other.sessions_; }

 private:
  void EvictOldest();

  uint32_t capacity_;
  absl::flat_hash_map<uint64_t, Entry> sessions_;
  std::map<Lsn, uint64_t> by_lsn_;  // Last LSN -> client id, for eviction.
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_SESSION_TABLE_H_
