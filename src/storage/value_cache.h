#ifndef TOYDB_STORAGE_VALUE_CACHE_H_
#define TOYDB_STORAGE_VALUE_CACHE_H_

// ValueCache: an LRU cache of values, bounded in bytes (keys, values and a
// fixed per-entry overhead), not in entries, so that a few large values cannot
// blow the memory budget. The store erases a key's entry whenever the key is
// written. Owned by the Store; not thread-safe (the store's mutex guards it).
//
// Each entry is one allocation holding its list links, key and value, found
// through a table of pointers: a hit touches the table and the entry, and
// little else, which matters when a million entries do not fit in CPU caches.

#include <cstdint>
#include <optional>
#include <string_view>

#include "absl/container/flat_hash_set.h"

namespace toydb {

class ValueCache {
 public:
  // Bytes charged per entry beyond its key and value: links, lengths, the
  // table slot and allocator overhead.
  static constexpr uint64_t kEntryOverheadBytes = 64;

  explicit ValueCache(uint64_t capacity_bytes);
  ~ValueCache();
  ValueCache(const ValueCache&) = delete;
  ValueCache& operator=(const ValueCache&) = delete;

  // The cached value (valid until the next call), marked most recently used;
  // or nullopt.
  std::optional<std::string_view> Lookup(std::string_view key);
  // Inserts or replaces, then evicts least recently used entries until the
  // cache fits. A value larger than the whole cache is not kept.
  void Insert(std::string_view key, std::string_view value);
  void Erase(std::string_view key);

  uint64_t bytes() const { return bytes_; }
  uint64_t capacity_bytes() const { return capacity_bytes_; }
  size_t entries() const { return table_.size(); }

 private:
  struct Entry {
    Entry* newer;
    Entry* older;
    uint32_t key_len;
    uint32_t value_len;
    // Followed by key_len + value_len bytes.
    char* data() { return reinterpret_cast<char*>(this + 1); }
    std::string_view key() { return {data(), key_len}; }
    std::string_view value() { return {data() + key_len, value_len}; }
    uint64_t Charge() const { return key_len + value_len + kEntryOverheadBytes; }
  };
  struct EntryHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const;
    size_t operator()(Entry* e) const { return (*this)(e->key()); }
  };
  struct EntryEq {
    using is_transparent = void;
    bool operator()(Entry* a, Entry* b) const { return a == b; }
    bool operator()(Entry* a, std::string_view b) const { return a->key() == b; }
    bool operator()(std::string_view a, Entry* b) const { return b->key() == a; }
  };

  void Unlink(Entry* e);
  void PushNewest(Entry* e);
  void Remove(Entry* e);

  const uint64_t capacity_bytes_;
  uint64_t bytes_ = 0;
  // A circular list through a sentinel: head_.older is the newest entry,
  // head_.newer the oldest.
  Entry head_;
  absl::flat_hash_set<Entry*, EntryHash, EntryEq> table_;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_VALUE_CACHE_H_
