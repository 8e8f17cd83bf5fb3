#ifndef TOYDB_STORAGE_VALUE_CACHE_H_
#define TOYDB_STORAGE_VALUE_CACHE_H_

// ValueCache: a cache of values, bounded in bytes (keys, values and a fixed
// per-entry overhead), not in entries, so that a few large values cannot blow
// the memory budget. Eviction takes the least recently used entry. The store
// erases a key's entry whenever the key is written. Owned by the Store; not
// thread-safe (the store's mutex guards it).
//
// Built so that a hit costs about two cache-line misses when a million entries
// do not fit in the CPU caches:
// - Each entry is one allocation holding its list links, key and value, from
//   a slab allocator on huge pages (src/util/slab_allocator.h): line-aligned,
//   and covered by few TLB entries.
// - The table is open addressing with linear probing, and each 16-byte slot
//   holds the key's 32-bit hash, the entry's size and the entry pointer: a
//   probe reads one line of slots and touches an entry only when the hash
//   matches, and it prefetches every line of that entry at once, so the key
//   compare and the value copy wait for one miss, not three. A large table
//   lives on huge pages (src/util/huge_pages.h).
// - A hit moves the entry to the newest end of the recency list only if it is
//   not already among the newest eighth of the entries. Relinking writes to two
//   neighbour entries (two more misses); skipping it for recently promoted
//   entries keeps a hot set's hits read-only. The eviction order is LRU except
//   among entries hit while in that newest eighth, which keep their place there.

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "src/util/slab_allocator.h"

namespace toydb {

class ValueCache {
 public:
  // Bytes charged per entry beyond its key and value: the entry's header
  // (40), the slab's rounding up to 64 bytes (32 on average) and its share of
  // the table (16-byte slots at a load of 35% to 70%).
  static constexpr uint64_t kEntryOverheadBytes = 96;

  explicit ValueCache(uint64_t capacity_bytes);
  ~ValueCache();
  ValueCache(const ValueCache&) = delete;
  ValueCache& operator=(const ValueCache&) = delete;

  // The cached value (valid until the next non-const call), or nullopt.
  std::optional<std::string_view> Lookup(std::string_view key);
  // Inserts or replaces, then evicts least recently used entries until the
  // cache fits. A value larger than the whole cache is not kept.
  void Insert(std::string_view key, std::string_view value);
  void Erase(std::string_view key);

  uint64_t bytes() const { return bytes_; }
  uint64_t capacity_bytes() const { return capacity_bytes_; }
  size_t entries() const { return used_; }

 private:
  struct Entry {
    Entry* newer;
    Entry* older;
    uint64_t stamp;  // promotions_ when the entry last became the newest.
    uint32_t hash;
    uint32_t key_len;
    uint32_t value_len;
    // Followed by key_len + value_len bytes.
    char* data() { return reinterpret_cast<char*>(this + 1); }
    std::string_view key() { return {data(), key_len}; }
    std::string_view value() { return {data() + key_len, value_len}; }
    uint64_t Charge() const { return key_len + value_len + kEntryOverheadBytes; }
  };
  // entry == nullptr marks an empty slot.
  struct Slot {
    uint32_t hash;
    uint32_t entry_bytes;  // sizeof(Entry) + key + value, capped at 2^32 - 1.
    Entry* entry;
  };
  static_assert(sizeof(Slot) == 16);
  struct FreeSlots {
    void operator()(Slot* slots) const;
  };

  static uint32_t Hash(std::string_view key);
  static std::unique_ptr<Slot[], FreeSlots> AllocateSlots(size_t count);
  // The index of the slot holding `key`, or npos.
  size_t FindSlot(std::string_view key, uint32_t hash) const;
  size_t SlotOf(const Entry* e) const;
  void PlaceInTable(Slot slot);
  void EraseSlot(size_t index);
  void GrowTable();
  void Unlink(Entry* e);
  void PushNewest(Entry* e);
  void Remove(Entry* e);

  static constexpr size_t npos = ~size_t{0};

  const uint64_t capacity_bytes_;
  uint64_t bytes_ = 0;
  SlabAllocator entry_memory_;  // Declared before anything that holds entries.
  std::unique_ptr<Slot[], FreeSlots> slots_;
  size_t mask_ = 0;  // Slot count - 1; the count is a power of two.
  size_t used_ = 0;
  // Counts moves to the newest end; an entry whose stamp is within
  // entries/8 of it is among the newest eighth.
  uint64_t promotions_ = 0;
  // A circular list through a sentinel: head_.older is the newest entry,
  // head_.newer the oldest.
  Entry head_;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_VALUE_CACHE_H_
