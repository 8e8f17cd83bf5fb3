#include "src/storage/index/key_index.h"

#include <cassert>
#include <cstring>

#include "src/util/checksum.h"

namespace toydb {

// Append-only storage for key bytes in fixed chunks, so that growing never
// moves existing keys. Erased keys leave garbage, reclaimed by
// KeyIndex::MaybeCompactArena, which copies the live keys into a new arena.
class KeyIndex::Arena {
 public:
  static constexpr size_t kChunkBytes = 64 * 1024;
  static_assert(kChunkBytes > kMaxKeyBytes);

  // Copies `key` in; returns its (chunk, offset).
  std::pair<uint32_t, uint16_t> Add(std::string_view key) {
    if (chunks_.empty() || used_ + key.size() > kChunkBytes) {
      chunks_.push_back(std::make_unique<char[]>(kChunkBytes));
      used_ = 0;
    }
    const auto offset = static_cast<uint16_t>(used_);
    std::memcpy(chunks_.back().get() + used_, key.data(), key.size());
    used_ += key.size();
    live_bytes_ += key.size();
    return {static_cast<uint32_t>(chunks_.size() - 1), offset};
  }
  std::string_view Get(uint32_t chunk, uint16_t offset, uint16_t len) const {
    return std::string_view(chunks_[chunk].get() + offset, len);
  }
  void Release(size_t len) {
    live_bytes_ -= len;
    garbage_bytes_ += len;
  }
  uint64_t garbage_bytes() const { return garbage_bytes_; }
  uint64_t live_bytes() const { return live_bytes_; }
  uint64_t allocated_bytes() const { return chunks_.size() * kChunkBytes; }

 private:
  std::vector<std::unique_ptr<char[]>> chunks_;
  size_t used_ = 0;
  uint64_t live_bytes_ = 0;
  uint64_t garbage_bytes_ = 0;
};

size_t KeyIndex::SlotHash::operator()(const Slot& slot) const {
  return (*this)(arena->Get(slot.key_chunk, slot.key_offset, slot.key_len));
}
size_t KeyIndex::SlotHash::operator()(std::string_view key) const {
  return static_cast<size_t>(KeyHash(key));
}
bool KeyIndex::SlotEq::operator()(const Slot& a, const Slot& b) const {
  return arena->Get(a.key_chunk, a.key_offset, a.key_len) ==
         arena->Get(b.key_chunk, b.key_offset, b.key_len);
}
bool KeyIndex::SlotEq::operator()(const Slot& a, std::string_view b) const {
  return arena->Get(a.key_chunk, a.key_offset, a.key_len) == b;
}

KeyIndex::KeyIndex()
    : arena_(std::make_unique<Arena>()), table_(0, SlotHash{arena_.get()}, SlotEq{arena_.get()}) {}

KeyIndex::~KeyIndex() = default;

IndexEntry KeyIndex::ToEntry(const Slot& slot) {
  IndexEntry entry;
  entry.segment = slot.segment;
  entry.offset = slot.offset;
  entry.length = slot.length_and_tombstone & kMaxRecordBytes;
  entry.tombstone = (slot.length_and_tombstone >> 31) != 0;
  entry.lsn = (static_cast<uint64_t>(slot.lsn_high) << 32) | slot.lsn_low;
  return entry;
}

void KeyIndex::SetEntry(const Slot& slot, const IndexEntry& entry) {
  assert(entry.length <= kMaxRecordBytes);
  slot.segment = entry.segment;
  slot.offset = entry.offset;
  slot.length_and_tombstone = entry.length | (entry.tombstone ? 1u << 31 : 0u);
  slot.lsn_low = static_cast<uint32_t>(entry.lsn);
  slot.lsn_high = static_cast<uint32_t>(entry.lsn >> 32);
}

std::optional<IndexEntry> KeyIndex::Find(std::string_view key) const {
  auto it = table_.find(key);
  if (it == table_.end()) return std::nullopt;
  return ToEntry(*it);
}

std::optional<IndexEntry> KeyIndex::FindCandidate(std::string_view key) const {
  auto it = table_.find(CandidateProbe{key});
  if (it == table_.end()) return std::nullopt;
  return ToEntry(*it);
}

std::optional<IndexEntry> KeyIndex::Upsert(std::string_view key, const IndexEntry& entry) {
  return UpsertIf(key, entry, [](const IndexEntry&) { return true; });
}

std::optional<IndexEntry> KeyIndex::UpsertIf(std::string_view key, const IndexEntry& entry,
                                             absl::FunctionRef<bool(const IndexEntry&)> replace) {
  assert(key.size() <= kMaxKeyBytes);
  bool inserted = false;
  // One probe for both cases: lazy_emplace builds the slot only if absent.
  auto it = table_.lazy_emplace(key, [&](const Table::constructor& construct) {
    auto [chunk, offset] = arena_->Add(key);
    construct(Slot{chunk, offset, static_cast<uint16_t>(key.size()), 0, 0, 0, 0, 0});
    inserted = true;
  });
  if (inserted) {
    SetEntry(*it, entry);
    return std::nullopt;
  }
  const IndexEntry existing = ToEntry(*it);
  if (!replace(existing)) return entry;
  SetEntry(*it, entry);
  return existing;
}

bool KeyIndex::ReplaceIfAt(std::string_view key, uint32_t segment, uint32_t offset,
                           const IndexEntry& entry) {
  auto it = table_.find(LocationProbe{key, segment, offset});
  if (it == table_.end()) return false;
  SetEntry(*it, entry);
  return true;
}

std::optional<IndexEntry> KeyIndex::Erase(std::string_view key) {
  auto it = table_.find(key);
  if (it == table_.end()) return std::nullopt;
  IndexEntry previous = ToEntry(*it);
  arena_->Release(it->key_len);
  table_.erase(it);
  MaybeCompactArena();
  return previous;
}

uint64_t KeyIndex::MemoryBytes() const {
  return table_.capacity() * (sizeof(Slot) + 1) + arena_->allocated_bytes();
}

void KeyIndex::ForEach(
    const std::function<void(std::string_view key, const IndexEntry&)>& visit) const {
  for (const Slot& slot : table_) {
    visit(arena_->Get(slot.key_chunk, slot.key_offset, slot.key_len), ToEntry(slot));
  }
}

void KeyIndex::EraseIf(const std::function<bool(std::string_view key, const IndexEntry&)>& drop) {
  for (auto it = table_.begin(); it != table_.end();) {
    if (drop(arena_->Get(it->key_chunk, it->key_offset, it->key_len), ToEntry(*it))) {
      arena_->Release(it->key_len);
      table_.erase(it++);
    } else {
      ++it;
    }
  }
  MaybeCompactArena();
}

void KeyIndex::MaybeCompactArena() {
  // Reclaim erased key bytes once they outweigh the live ones (and a chunk):
  // a copy of the live keys, amortized over at least as many erases.
  const uint64_t garbage = arena_->garbage_bytes();
  if (garbage < Arena::kChunkBytes || garbage < arena_->live_bytes()) return;
  auto fresh = std::make_unique<Arena>();
  for (const Slot& slot : table_) {
    auto [chunk, offset] = fresh->Add(arena_->Get(slot.key_chunk, slot.key_offset, slot.key_len));
    slot.key_chunk = chunk;
    slot.key_offset = offset;
  }
  // The hash and equality functors point at the arena; rebuild the table so
  // they follow the new one. Slot positions do not depend on the arena.
  Table rebuilt(table_.size(), SlotHash{fresh.get()}, SlotEq{fresh.get()});
  for (const Slot& slot : table_) rebuilt.insert(slot);
  table_ = std::move(rebuilt);
  arena_ = std::move(fresh);
}

}  // namespace toydb
