#include "src/storage/cache/value_cache.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <utility>

#include "src/util/checksum.h"
#include "src/util/huge_pages.h"

namespace toydb {
namespace {

constexpr size_t kInitialSlots = 16;
// The table grows before it is more than 7/10 full.
constexpr size_t kMaxLoadNumerator = 7, kMaxLoadDenominator = 10;
// Below 1/4 full, a table that stands in the way of the budget shrinks.
constexpr size_t kShrinkLoadDenominator = 4;
// Slots of a draining table each call visits. A growth from n slots ends
// after n / 16 calls, long before the new table (2n) is 7/10 full.
constexpr size_t kDrainSlotsPerCall = 16;

bool FitsInSlot(size_t key_bytes, size_t value_bytes) {
  return key_bytes <= 255 && key_bytes + value_bytes <= ValueCache::kInlineBytes;
}

void PrefetchSlot(const void* slot) {
  __builtin_prefetch(slot);
  __builtin_prefetch(static_cast<const char*>(slot) + 64);
}

void CopySlot(void* to, const void* from) { std::memcpy(to, from, ValueCache::kSlotBytes); }

}  // namespace

std::string_view ValueCache::Slot::key() const {
  if (flags & kInline) return {inline_bytes, key_len};
  return {outside.bytes, outside.key_len};
}

std::string_view ValueCache::Slot::value() const {
  if (flags & kInline) return {inline_bytes + key_len, value_len};
  return {outside.bytes + outside.key_len, outside.value_len};
}

void ValueCache::FreeSlots::operator()(Slot* slots) const {
  FreeLarge(slots, count * sizeof(Slot));
}

ValueCache::Table ValueCache::Table::Allocate(size_t count) {
  Table table;
  table.slots = std::unique_ptr<Slot[], FreeSlots>(
      static_cast<Slot*>(AllocateLarge(count * sizeof(Slot), /*zero=*/true)), FreeSlots{count});
  table.count = count;
  return table;
}

size_t ValueCache::Table::Find(std::string_view key, uint32_t hash) const {
  size_t i = Home(hash);
  PrefetchSlot(&slots[i]);
  PrefetchSlot(&slots[Next(i)]);
  for (size_t n = Reach(); n > 0; --n, i = Next(i)) {
    const Slot& slot = slots[i];
    if (slot.flags == 0) return npos;
    if (slot.hash == hash && slot.key() == key) return i;
  }
  return npos;
}

size_t ValueCache::Table::FreeSlotNear(size_t home) const {
  size_t i = home;
  for (size_t n = Reach(); n > 0; --n, i = Next(i)) {
    if (slots[i].flags == 0) return i;
  }
  return npos;
}

// Backward-shift deletion: later slots of the run move into the hole when
// their home position allows, so lookups never need tombstones. An entry
// only moves closer to its home. Since none is kMaxProbeSlots or more past
// its home, no entry that far past the hole can move into it, and the scan
// stops there even inside a longer run.
void ValueCache::Table::RemoveAt(size_t hole) {
  const auto distance = [this](size_t from, size_t to) {
    return to >= from ? to - from : to + count - from;
  };
  for (size_t i = Next(hole); slots[i].flags != 0 && distance(hole, i) < Reach(); i = Next(i)) {
    if (distance(Home(slots[i].hash), i) >= distance(hole, i)) {
      CopySlot(&slots[hole], &slots[i]);
      hole = i;
    }
  }
  slots[hole].flags = 0;
}

uint32_t ValueCache::Hash(std::string_view key) {
  const uint64_t h = KeyHash(key);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

uint64_t ValueCache::OutsideBytes(size_t key_bytes, size_t value_bytes) {
  if (FitsInSlot(key_bytes, value_bytes)) return 0;
  // The slab's 64-byte size classes; larger blocks come from malloc, which
  // rounds less, but the same charge keeps the count simple.
  return (key_bytes + value_bytes + 63) / 64 * 64;
}

ValueCache::ValueCache(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {
  const size_t initial = std::min(kInitialSlots, SlotBudget(0));
  if (initial >= kMinSlots) table_ = Table::Allocate(initial);
}

ValueCache::~ValueCache() {
  for (Table* table : {&table_, &draining_}) {
    for (size_t i = 0; i < table->count; ++i) {
      const Slot& slot = table->slots[i];
      if (slot.flags & kOutside) {
        outside_memory_.Free(slot.outside.bytes, slot.outside.key_len + slot.outside.value_len);
      }
    }
  }
}

size_t ValueCache::SlotBudget(uint64_t outside_bytes) const {
  if (outside_bytes >= capacity_bytes_) return 0;
  return static_cast<size_t>((capacity_bytes_ - outside_bytes) / kSlotBytes);
}

void ValueCache::FreeOutside(const Slot& slot) {
  if (!(slot.flags & kOutside)) return;
  outside_memory_.Free(slot.outside.bytes, slot.outside.key_len + slot.outside.value_len);
  outside_bytes_ -= OutsideBytes(slot.outside.key_len, slot.outside.value_len);
}

void ValueCache::EraseSlot(Table& table, size_t index) {
  FreeOutside(table.slots[index]);
  table.RemoveAt(index);
  --used_;
}

void ValueCache::Place(const Slot& slot) {
  const size_t home = table_.Home(slot.hash);
  size_t i = table_.FreeSlotNear(home);
  if (i == npos) {
    // Every slot within reach is taken: evict one of them and take its
    // place (no shift needed, and every entry stays within reach).
    i = ChooseVictim(table_, home);
    FreeOutside(table_.slots[i]);
    --used_;
  }
  CopySlot(&table_.slots[i], &slot);
}

bool ValueCache::Resize(size_t slot_count) {
  FinishDraining();
  Table resized;
  try {
    resized = Table::Allocate(slot_count);
  } catch (const std::bad_alloc&) {
    return false;
  }
  draining_ = std::exchange(table_, std::move(resized));
  // Visiting starts just past an empty slot (a full table has none only if
  // it has no slots), so that visits end at run boundaries.
  size_t start = 0;
  while (start < draining_.count && draining_.slots[start].flags != 0) ++start;
  drain_next_ = draining_.Next(start);
  drain_left_ = draining_.count;
  Drain(kDrainSlotsPerCall);
  return true;
}

// A run (maximal sequence of full slots) moves whole: the slots visited so
// far are then all empty and every run left is intact, so a lookup in the
// draining table probes it as usual; a key whose run moved finds its home
// slot empty there, and was found in table_.
void ValueCache::Drain(size_t slots) {
  size_t visited = 0;
  while (drain_left_ > 0) {
    Slot& slot = draining_.slots[drain_next_];
    const bool empty = slot.flags == 0;
    if (!empty) {
      Place(slot);
      slot.flags = 0;
    }
    drain_next_ = draining_.Next(drain_next_);
    --drain_left_;
    if (++visited >= slots && empty) break;
  }
  if (drain_left_ == 0 && draining_.count > 0) draining_ = Table{};
}

size_t ValueCache::ChooseVictim(Table& table, size_t start) {
  size_t first_passed = npos;
  size_t i = start;
  for (size_t n = table.Reach(); n > 0; --n, i = table.Next(i)) {
    Slot& slot = table.slots[i];
    if (slot.flags == 0) continue;
    if (!(slot.flags & kReferenced)) return i;
    slot.flags &= ~kReferenced;  // Its second chance.
    if (first_passed == npos) first_passed = i;
  }
  if (first_passed != npos) return first_passed;
  // A sparse table (one emptied to make room for large entries).
  while (table.slots[i].flags == 0) i = table.Next(i);
  return i;
}

void ValueCache::EvictNear(size_t start) {
  FinishDraining();
  EraseSlot(table_, ChooseVictim(table_, start));
}

size_t ValueCache::RandomSlot() {
  random_state_ ^= random_state_ << 13;
  random_state_ ^= random_state_ >> 7;
  random_state_ ^= random_state_ << 17;
  return table_.Home(static_cast<uint32_t>(random_state_ >> 32));
}

std::optional<std::string_view> ValueCache::Lookup(std::string_view key) {
  if (used_ == 0) return std::nullopt;
  if (draining_.count > 0) Drain(kDrainSlotsPerCall);
  const uint32_t hash = Hash(key);
  Table* table = &table_;
  size_t i = table_.Find(key, hash);
  if (i == npos && draining_.count > 0) {
    table = &draining_;
    i = draining_.Find(key, hash);
  }
  if (i == npos) return std::nullopt;
  Slot& slot = table->slots[i];
  // Written only when clear, so that a hot set's hits stay read-only.
  if (!(slot.flags & kReferenced)) slot.flags |= kReferenced;
  return slot.value();
}

void ValueCache::Insert(std::string_view key, std::string_view value) {
  Erase(key);
  const uint64_t outside = OutsideBytes(key.size(), value.size());
  if (SlotBudget(outside) < kMinSlots) return;
  Slot slot;
  slot.hash = Hash(key);
  slot.unused = 0;
  if (outside == 0) {
    slot.flags = kInline | kReferenced;
    slot.key_len = static_cast<uint8_t>(key.size());
    slot.value_len = static_cast<uint8_t>(value.size());
    std::memcpy(slot.inline_bytes, key.data(), key.size());
    std::memcpy(slot.inline_bytes + key.size(), value.data(), value.size());
  } else {
    slot.flags = kOutside | kReferenced;
    slot.key_len = slot.value_len = 0;
    char* bytes;
    try {
      bytes = static_cast<char*>(outside_memory_.Allocate(key.size() + value.size()));
    } catch (const std::bad_alloc&) {
      return;  // A cache may always decline.
    }
    std::memcpy(bytes, key.data(), key.size());
    std::memcpy(bytes + key.size(), value.data(), value.size());
    slot.outside = {bytes, static_cast<uint32_t>(key.size()), static_cast<uint32_t>(value.size())};
  }
  // Make room in bytes: shrink a mostly empty table, or evict.
  while (bytes() + outside > capacity_bytes_) {
    const size_t for_load =
        ((used_ + 1) * kMaxLoadDenominator + kMaxLoadNumerator - 1) / kMaxLoadNumerator;
    const size_t smaller = std::max({kMinSlots, table_.count / 2, for_load});
    const bool shrink = used_ * kShrinkLoadDenominator < table_.count && smaller < table_.count;
    if (shrink && Resize(smaller)) continue;
    if (used_ == 0) {
      // Only when memory for the smaller table could not be had: decline.
      if (outside > 0) {
        outside_memory_.Free(slot.outside.bytes, key.size() + value.size());
      }
      return;
    }
    // Any entry will do: a random start spreads evictions over the table.
    FinishDraining();
    EvictNear(RandomSlot());
  }
  // Make room in the table: grow within the budget, or evict.
  while ((used_ + 1) * kMaxLoadDenominator > table_.count * kMaxLoadNumerator) {
    const size_t larger = std::min(table_.count * 2, SlotBudget(outside_bytes_ + outside));
    const bool grow =
        larger > table_.count && (used_ + 1) * kMaxLoadDenominator <= larger * kMaxLoadNumerator;
    // Without memory for a larger table the cache makes room by evicting,
    // where the new entry goes.
    if (!grow || !Resize(larger)) {
      FinishDraining();
      EvictNear(table_.Home(slot.hash));
    }
  }
  ++used_;
  outside_bytes_ += outside;
  Place(slot);
}

void ValueCache::Erase(std::string_view key) {
  if (used_ == 0) return;
  if (draining_.count > 0) Drain(kDrainSlotsPerCall);
  const uint32_t hash = Hash(key);
  if (size_t i = table_.Find(key, hash); i != npos) {
    EraseSlot(table_, i);
  } else if (draining_.count > 0) {
    if (i = draining_.Find(key, hash); i != npos) EraseSlot(draining_, i);
  }
}

ValueCache::ProbeStats ValueCache::ProbeStatsForTesting() const {
  ProbeStats stats;
  for (const Table* table : {&table_, &draining_}) {
    size_t run = 0;
    // Twice round, so that a run across the wrap-around counts whole.
    for (size_t n = 0; n < 2 * table->count; ++n) {
      const size_t i = n % table->count;
      const Slot& slot = table->slots[i];
      if (slot.flags == 0) {
        run = 0;
        continue;
      }
      run = std::min(run + 1, table->count);
      stats.longest_run = std::max(stats.longest_run, run);
      const size_t home = table->Home(slot.hash);
      const size_t probe = (i >= home ? i - home : i + table->count - home) + 1;
      stats.longest_probe = std::max(stats.longest_probe, probe);
    }
  }
  return stats;
}

}  // namespace toydb
