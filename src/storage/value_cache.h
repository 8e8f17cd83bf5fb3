#ifndef TOYDB_STORAGE_VALUE_CACHE_H_
#define TOYDB_STORAGE_VALUE_CACHE_H_

// ValueCache: an LRU cache of values, bounded in bytes (keys, values and a
// fixed per-entry overhead), not in entries, so that a few large values cannot
// blow the memory budget. Each entry remembers the LSN it was read at; the
// store erases an entry whenever its key is written. Owned by the Store; not
// thread-safe (the store's mutex guards it).

#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"

namespace toydb {

class ValueCache {
 public:
  // Bytes charged per entry beyond its key and value: list node, map slot.
  static constexpr uint64_t kEntryOverheadBytes = 96;

  explicit ValueCache(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {}

  // Returns the value and marks the entry most recently used.
  const std::string* Lookup(std::string_view key);
  // Inserts or replaces, then evicts least recently used entries until the
  // cache fits. A value larger than the whole cache is not kept.
  void Insert(std::string_view key, std::string_view value);
  void Erase(std::string_view key);

  uint64_t bytes() const { return bytes_; }
  uint64_t capacity_bytes() const { return capacity_bytes_; }
  size_t entries() const { return map_.size(); }

 private:
  struct Entry {
    std::string key;
    std::string value;
    uint64_t Charge() const { return key.size() + value.size() + kEntryOverheadBytes; }
  };
  using List = std::list<Entry>;  // Front: most recently used.

  void Remove(List::iterator it);

  const uint64_t capacity_bytes_;
  uint64_t bytes_ = 0;
  List lru_;
  // Keys view into the list entries, which never move.
  absl::flat_hash_map<std::string_view, List::iterator> map_;
};

}  // namespace toydb

#endif  // TOYDB_STORAGE_VALUE_CACHE_H_
