#ifndef TOYDB_STORAGE_CACHE_VALUE_CACHE_H_
#define TOYDB_STORAGE_CACHE_VALUE_CACHE_H_

// ValueCache: a cache of values, bounded in bytes (its table plus the values
// kept outside it), not in entries, so that a few large values cannot blow
// the memory budget. The store erases a key's entry whenever the key is
// written. Owned by the Store; not thread-safe (the store's mutex guards it).
//
// Built so that a hit costs one cache-line miss (two adjacent lines fetched
// together) when a million entries do not fit in the CPU caches:
// - The table is open addressing with linear probing over 128-byte slots, and
//   a small entry (key plus value up to kInlineBytes, such as a 16-byte key
//   with a 100-byte value) lives inside its slot: the probe that finds the
//   slot has already fetched the value. A larger entry keeps its bytes in a
//   block of its own (src/util/slab_allocator.h) and costs a second miss,
//   small beside the copy of its value.
// - A lookup prefetches its home slot and the next one at once, so a key
//   displaced by one slot is found within the same wait.
// - An entry lives at most kMaxProbeSlots slots from its home slot, so a
//   lookup visits at most that many slots however full the table is. An
//   insert that finds every slot within that reach taken replaces one of
//   them (chosen as below).
// - Eviction is CLOCK (second chance) inside a neighbourhood: each slot has
//   a referenced bit, set by an insert and by the first hit after it was
//   cleared. To make room, the cache looks at the slots from a starting
//   point on (at most kMaxProbeSlots of them), clears the bits it passes and
//   evicts the first entry whose bit was already clear (or, if every one was
//   set, the first it passed). The start is the inserted key's home slot
//   when the table is at its load limit, and a pseudo-random slot when bytes
//   must be freed. Evictions so land where inserts land, uniformly over the
//   table, and the table stays like one filled at random. (A single hand
//   sweeping the table in slot order, as page caches do, frees a stretch of
//   slots behind it while inserts land everywhere: the slots ahead of it
//   fill up, and with linear probing one run of occupied slots grew to over
//   half the table.) Exact LRU would need list links that a hit rewrites in
//   two other entries (two more misses).
// - The table grows (doubling, up to what the byte budget allows) before it
//   is 7/10 full, and shrinks when large values need the room. A resize moves
//   the entries over a run of slots at a time, a few at each call, instead of
//   all at once (at a million entries, the whole rehash held the store's lock
//   for about 70 ms). A large table lives on huge pages
//   (src/util/huge_pages.h).

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "src/util/slab_allocator.h"

namespace toydb {

class ValueCache {
 public:
  static constexpr size_t kSlotBytes = 128;
  // Key plus value bytes that fit inside a slot.
  static constexpr size_t kInlineBytes = 120;
  // The fewest slots a table has; a cache with room for fewer keeps nothing.
  static constexpr size_t kMinSlots = 4;
  // An entry is at most this many slots past its home slot (0 being the
  // home itself), and eviction looks at this many slots at a time.
  static constexpr size_t kMaxProbeSlots = 32;

  explicit ValueCache(uint64_t capacity_bytes);
  ~ValueCache();
  ValueCache(const ValueCache&) = delete;
  ValueCache& operator=(const ValueCache&) = delete;

  // The cached value (valid until the next non-const call), or nullopt.
  std::optional<std::string_view> Lookup(std::string_view key);
  // Inserts or replaces, evicting entries until the cache fits. A value that
  // cannot fit beside the smallest table is not kept.
  void Insert(std::string_view key, std::string_view value);
  void Erase(std::string_view key);

  // The table's bytes plus the blocks of entries kept outside it. While a
  // resize is draining the previous table, that table is held too (at most
  // half as large again when growing), and not counted.
  uint64_t bytes() const { return table_.count * kSlotBytes + outside_bytes_; }
  uint64_t capacity_bytes() const { return capacity_bytes_; }
  size_t entries() const { return used_; }
  // The table's slot count, and whether a previous table is still draining;
  // for tests.
  size_t slot_count() const { return table_.count; }
  bool draining() const { return draining_.count > 0; }

  // Bytes an entry's block outside the table is charged (0 if it fits in its slot).
  static uint64_t OutsideBytes(size_t key_bytes, size_t value_bytes);

  // How far lookups have to walk, measured by visiting every slot (slow:
  // tests and benchmarks only). A probe is the slots a lookup of an entry
  // visits, from its home slot to the slot holding it; a run is a maximal
  // sequence of occupied slots (a lookup of an absent key may walk one to
  // its end).
  struct ProbeStats {
    size_t longest_probe = 0;
    size_t longest_run = 0;
  };
  ProbeStats ProbeStatsForTesting() const;

 private:
  enum Flags : uint8_t {
    kInline = 1,      // Key and value are in the slot.
    kOutside = 2,     // Key and value are in a block the slot points to.
    kReferenced = 4,  // Read or inserted since an eviction last passed it.
  };
  struct OutsideEntry {
    char* bytes;  // Key, then value.
    uint32_t key_len;
    uint32_t value_len;
  };
  // flags == 0 marks an empty slot.
  struct alignas(64) Slot {
    uint32_t hash;
    uint8_t flags;
    uint8_t key_len;    // Inline entries only.
    uint8_t value_len;  // Inline entries only.
    uint8_t unused;
    union {
      char inline_bytes[kInlineBytes];
      OutsideEntry outside;
    };
    std::string_view key() const;
    std::string_view value() const;
  };
  static_assert(sizeof(Slot) == kSlotBytes);
  struct FreeSlots {
    size_t count;  // Slots in the block.
    void operator()(Slot* slots) const;
  };
  // An open-addressing table with linear probing, in which no entry is more
  // than kMaxProbeSlots - 1 slots past its home.
  struct Table {
    std::unique_ptr<Slot[], FreeSlots> slots;
    size_t count = 0;

    static Table Allocate(size_t count);
    size_t Home(uint32_t hash) const { return static_cast<size_t>((uint64_t{hash} * count) >> 32); }
    size_t Next(size_t i) const { return i + 1 == count ? 0 : i + 1; }
    // Slots a lookup visits at most.
    size_t Reach() const { return count < kMaxProbeSlots ? count : kMaxProbeSlots; }
    // The index of the slot holding `key`, or npos.
    size_t Find(std::string_view key, uint32_t hash) const;
    // The first empty slot within reach of `home`, or npos.
    size_t FreeSlotNear(size_t home) const;
    // Empties the slot and closes the gap (backward shift).
    void RemoveAt(size_t index);
  };

  static uint32_t Hash(std::string_view key);
  // Frees what the slot points to and removes it.
  void EraseSlot(Table& table, size_t index);
  // Frees the block of an entry kept outside the table (if it has one).
  void FreeOutside(const Slot& slot);
  // Puts an entry, already counted in used_, into table_: in the first empty
  // slot within reach of its home, else in place of an entry evicted there.
  void Place(const Slot& slot);
  // Starts moving every entry to a new table of `slot_count` slots; false
  // if the memory for it could not be had (the current table stays).
  bool Resize(size_t slot_count);
  // Moves entries of the draining table, a run at a time, until at least
  // `slots` of its slots were visited or it is empty (then freed).
  void Drain(size_t slots);
  void FinishDraining() { Drain(draining_.count); }
  // The entry to evict among the slots from `start` on (see the top): the
  // first not referenced, clearing the bits of those passed, else the first
  // passed; if none is within reach, the next entry after them. REQUIRES:
  // the table holds an entry.
  static size_t ChooseVictim(Table& table, size_t start);
  // Evicts one entry of table_ near `start`; the cache must not be empty.
  void EvictNear(size_t start);
  // A pseudo-random slot of table_ (xorshift; the same sequence every run).
  size_t RandomSlot();
  // The most slots the budget allows beside the entries kept outside.
  size_t SlotBudget(uint64_t outside_bytes) const;

  static constexpr size_t npos = ~size_t{0};

  const uint64_t capacity_bytes_;
  uint64_t outside_bytes_ = 0;
  SlabAllocator outside_memory_;  // Declared before the tables that point into it.
  Table table_;
  // After a resize, the previous table, until its entries have moved to
  // table_ (a few slots at each call), so that no call stalls for a whole
  // rehash. Lookups look here when table_ misses. Empty otherwise.
  Table draining_;
  size_t drain_next_ = 0;                       // The next slot of draining_ to visit.
  size_t drain_left_ = 0;                       // Slots of draining_ not yet visited.
  size_t used_ = 0;                             // Entries in both tables.
  uint64_t random_state_ = 0x9e3779b97f4a7c15;  // For RandomSlot.
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_CACHE_VALUE_CACHE_H_
