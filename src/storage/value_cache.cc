#include "src/storage/value_cache.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "src/util/checksum.h"
#include "src/util/huge_pages.h"

namespace toydb {
namespace {

constexpr size_t kInitialSlots = 16;
// The table doubles before it is more than 7/10 full.
constexpr size_t kMaxLoadNumerator = 7, kMaxLoadDenominator = 10;
// A hit prefetches at most this many bytes of its entry.
constexpr uint32_t kMaxPrefetchBytes = 256;

}  // namespace

void ValueCache::FreeSlots::operator()(Slot* slots) const { FreeLarge(slots); }

uint32_t ValueCache::Hash(std::string_view key) {
  const uint64_t h = KeyHash(key);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

std::unique_ptr<ValueCache::Slot[], ValueCache::FreeSlots> ValueCache::AllocateSlots(size_t count) {
  return std::unique_ptr<Slot[], FreeSlots>(
      static_cast<Slot*>(AllocateLarge(count * sizeof(Slot), /*zero=*/true)));
}

ValueCache::ValueCache(uint64_t capacity_bytes)
    : capacity_bytes_(capacity_bytes),
      slots_(AllocateSlots(kInitialSlots)),
      mask_(kInitialSlots - 1) {
  head_.newer = head_.older = &head_;
  head_.stamp = 0;
  head_.hash = head_.key_len = head_.value_len = 0;
}

ValueCache::~ValueCache() {
  for (Entry* e = head_.newer; e != &head_;) {
    Entry* next = e->newer;
    entry_memory_.Free(e, sizeof(Entry) + e->key_len + e->value_len);
    e = next;
  }
}

size_t ValueCache::FindSlot(std::string_view key, uint32_t hash) const {
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    const Slot& slot = slots_[i];
    if (slot.entry == nullptr) return npos;
    if (slot.hash != hash) continue;
    // Fetch the whole entry (header, key, value) in parallel with the compare.
    const uintptr_t first = reinterpret_cast<uintptr_t>(slot.entry);
    const uintptr_t last = first + std::min(slot.entry_bytes, kMaxPrefetchBytes) - 1;
    for (uintptr_t line = (first | 63) + 1; line <= last; line += 64) {
      __builtin_prefetch(reinterpret_cast<const void*>(line));
    }
    if (slot.entry->key() == key) return i;
  }
}

size_t ValueCache::SlotOf(const Entry* e) const {
  size_t i = e->hash & mask_;
  while (slots_[i].entry != e) i = (i + 1) & mask_;
  return i;
}

void ValueCache::PlaceInTable(Slot slot) {
  size_t i = slot.hash & mask_;
  while (slots_[i].entry != nullptr) i = (i + 1) & mask_;
  slots_[i] = slot;
}

// Backward-shift deletion: later slots of the run move into the hole when
// their home position allows, so lookups never need tombstones.
void ValueCache::EraseSlot(size_t hole) {
  for (size_t i = (hole + 1) & mask_; slots_[i].entry != nullptr; i = (i + 1) & mask_) {
    const size_t home = slots_[i].hash & mask_;
    if (((i - home) & mask_) >= ((i - hole) & mask_)) {
      slots_[hole] = slots_[i];
      hole = i;
    }
  }
  slots_[hole] = Slot{};
  --used_;
}

void ValueCache::GrowTable() {
  const size_t old_count = mask_ + 1;
  std::unique_ptr<Slot[], FreeSlots> old = std::move(slots_);
  slots_ = AllocateSlots(old_count * 2);
  mask_ = old_count * 2 - 1;
  for (size_t i = 0; i < old_count; ++i) {
    if (old[i].entry != nullptr) PlaceInTable(old[i]);
  }
}

std::optional<std::string_view> ValueCache::Lookup(std::string_view key) {
  const size_t i = FindSlot(key, Hash(key));
  if (i == npos) return std::nullopt;
  Entry* e = slots_[i].entry;
  // Promote unless the entry is already among the newest eighth (at least
  // the newest one, so a small cache keeps exact LRU order).
  if (promotions_ - e->stamp >= std::max<uint64_t>(1, used_ / 8)) {
    Unlink(e);
    PushNewest(e);
  }
  return e->value();
}

void ValueCache::Insert(std::string_view key, std::string_view value) {
  Erase(key);
  const uint64_t charge = key.size() + value.size() + kEntryOverheadBytes;
  if (charge > capacity_bytes_) return;
  const size_t entry_bytes = sizeof(Entry) + key.size() + value.size();
  void* memory;
  try {
    memory = entry_memory_.Allocate(entry_bytes);
  } catch (const std::bad_alloc&) {
    return;  // A cache may always decline.
  }
  const uint32_t hash = Hash(key);
  Entry* e = new (memory) Entry{nullptr,
                                nullptr,
                                0,
                                hash,
                                static_cast<uint32_t>(key.size()),
                                static_cast<uint32_t>(value.size())};
  std::memcpy(e->data(), key.data(), key.size());
  std::memcpy(e->data() + key.size(), value.data(), value.size());
  if ((used_ + 1) * kMaxLoadDenominator > (mask_ + 1) * kMaxLoadNumerator) GrowTable();
  PlaceInTable(Slot{
      hash,
      static_cast<uint32_t>(std::min<size_t>(entry_bytes, std::numeric_limits<uint32_t>::max())),
      e});
  ++used_;
  PushNewest(e);
  bytes_ += charge;
  while (bytes_ > capacity_bytes_) Remove(head_.newer);
}

void ValueCache::Erase(std::string_view key) {
  if (used_ == 0) return;
  const size_t i = FindSlot(key, Hash(key));
  if (i != npos) Remove(slots_[i].entry);
}

void ValueCache::Unlink(Entry* e) {
  e->newer->older = e->older;
  e->older->newer = e->newer;
}

void ValueCache::PushNewest(Entry* e) {
  // head_.older is the newest; e goes between it and the sentinel.
  Entry* previous_newest = head_.older;
  e->newer = &head_;
  e->older = previous_newest;
  previous_newest->newer = e;
  head_.older = e;
  e->stamp = ++promotions_;
}

void ValueCache::Remove(Entry* e) {
  EraseSlot(SlotOf(e));
  Unlink(e);
  bytes_ -= e->Charge();
  const size_t entry_bytes = sizeof(Entry) + e->key_len + e->value_len;
  e->~Entry();
  entry_memory_.Free(e, entry_bytes);
}

}  // namespace toydb
