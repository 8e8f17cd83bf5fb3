#ifndef TOYDB_STORAGE_INDEX_KEY_INDEX_H_
#define TOYDB_STORAGE_INDEX_KEY_INDEX_H_

// KeyIndex: the in-memory map from every key to the location of its latest
// record in the data log. Every key lives here, so memory per key matters:
// keys are packed into 64 KiB arena chunks and each entry is a 28-byte slot in
// an open-addressing table (about 60 bytes per key beyond the key bytes at the
// table's lowest load). Owned by the Store; not thread-safe (the store's mutex
// guards it).

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "src/util/huge_pages.h"

namespace toydb {

struct IndexEntry {
  uint32_t segment = 0;
  uint32_t offset = 0;
  uint32_t length = 0;  // Record bytes; at most kMaxRecordBytes.
  bool tombstone = false;
  uint64_t lsn = 0;

  friend bool operator==(const IndexEntry&, const IndexEntry&) = default;
};

class KeyIndex {
 public:
  static constexpr size_t kMaxKeyBytes = 65535;
  static constexpr uint32_t kMaxRecordBytes = (1u << 31) - 1;

  KeyIndex();
  ~KeyIndex();
  KeyIndex(const KeyIndex&) = delete;
  KeyIndex& operator=(const KeyIndex&) = delete;

  std::optional<IndexEntry> Find(std::string_view key) const;
  // Like Find, but without reading the key's bytes: returns the entry of the
  // first slot on `key`'s probe path whose 7 control-byte hash bits match, so
  // a lookup touches the control bytes and the slot only (one cache miss fewer
  // than Find). The entry is usually `key`'s, but may be another key's (about
  // one lookup in a hundred), and a result for an absent key may be non-empty.
  // The caller must confirm the key from the record it points at, and call
  // Find when it does not match.
  std::optional<IndexEntry> FindCandidate(std::string_view key) const;
  // Inserts or replaces the entry of `key`; returns the one it replaced.
  // REQUIRES: key.size() <= kMaxKeyBytes, entry.length <= kMaxRecordBytes.
  std::optional<IndexEntry> Upsert(std::string_view key, const IndexEntry& entry);
  // Inserts `entry` if `key` is absent, or replaces the key's entry if
  // `replace(existing)` says so, in one probe. Returns the entry that lost:
  // the replaced one, or `entry` itself if it was not stored.
  std::optional<IndexEntry> UpsertIf(std::string_view key, const IndexEntry& entry,
                                     absl::FunctionRef<bool(const IndexEntry&)> replace);
  // Replaces the entry of `key` with `entry` only if the key's record is at
  // (segment, offset) now; true if it replaced it. A location holds one
  // record, so a slot pointing at it can only be this key's: the probe
  // compares locations, not key bytes, and does not read the key arena (one
  // cache miss fewer). REQUIRES: the record at (segment, offset) has key `key`.
  bool ReplaceIfAt(std::string_view key, uint32_t segment, uint32_t offset,
                   const IndexEntry& entry);
  // Removes `key`; returns its entry if it had one.
  std::optional<IndexEntry> Erase(std::string_view key);

  // Starts loading the memory a lookup of `key` will touch. Callers that
  // look up many keys (compaction) prefetch a few ahead, so the cache misses
  // of several lookups overlap instead of following one another.
  void Prefetch(std::string_view key) const { table_.prefetch(key); }

  size_t size() const { return table_.size(); }
  // Bytes held: the table's slots and control bytes plus the key arena.
  uint64_t MemoryBytes() const;

  // Visits every entry, in no particular order. `visit` must not modify the index.
  void ForEach(const std::function<void(std::string_view key, const IndexEntry&)>& visit) const;
  // Removes every entry for which `drop` returns true.
  void EraseIf(const std::function<bool(std::string_view key, const IndexEntry&)>& drop);

 private:
  // Where a key's bytes are in the arena, and its entry, packed to 28 bytes.
  // Fields are mutable because the set's elements are const to it; only the
  // key's bytes (not where they live) feed the hash.
  struct Slot {
    mutable uint32_t key_chunk;
    mutable uint16_t key_offset;
    uint16_t key_len;
    mutable uint32_t segment;
    mutable uint32_t offset;
    mutable uint32_t length_and_tombstone;  // Bit 31: tombstone.
    mutable uint32_t lsn_low;
    mutable uint32_t lsn_high;
  };
  static_assert(sizeof(Slot) == 28);

  class Arena;
  // A lookup by key hash that matches the slot pointing at a location.
  struct LocationProbe {
    std::string_view key;
    uint32_t segment;
    uint32_t offset;
  };
  // A lookup by key hash that matches any slot whose control byte matches:
  // the set compares it with a slot only after the control byte's 7 hash bits did.
  // Like LocationProbe, it relies on the set calling SlotEq only for slots on
  // the probe's path (true of Debian 12's abseil); an abseil that checks hash
  // and equality against each other would break it, and key_index_test's
  // candidate test would say so.
  struct CandidateProbe {
    std::string_view key;
  };
  struct SlotHash {
    using is_transparent = void;
    const Arena* arena;
    size_t operator()(const Slot& slot) const;
    size_t operator()(std::string_view key) const;
    size_t operator()(const LocationProbe& probe) const { return (*this)(probe.key); }
    size_t operator()(const CandidateProbe& probe) const { return (*this)(probe.key); }
  };
  struct SlotEq {
    using is_transparent = void;
    const Arena* arena;
    bool operator()(const Slot& a, const Slot& b) const;
    bool operator()(const Slot& a, std::string_view b) const;
    bool operator()(std::string_view a, const Slot& b) const { return (*this)(b, a); }
    bool operator()(const Slot& a, const LocationProbe& b) const {
      return a.segment == b.segment && a.offset == b.offset;
    }
    bool operator()(const LocationProbe& a, const Slot& b) const { return (*this)(b, a); }
    bool operator()(const Slot&, const CandidateProbe&) const { return true; }
    bool operator()(const CandidateProbe&, const Slot&) const { return true; }
  };
  // On huge pages: a million keys make a table of about 60 MB, probed at random.
  using Table = absl::flat_hash_set<Slot, SlotHash, SlotEq, HugePageAllocator<Slot>>;

  static IndexEntry ToEntry(const Slot& slot);
  static void SetEntry(const Slot& slot, const IndexEntry& entry);
  void MaybeCompactArena();

  std::unique_ptr<Arena> arena_;
  Table table_;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_INDEX_KEY_INDEX_H_
