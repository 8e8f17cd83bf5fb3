#include "src/storage/value_cache.h"

namespace toydb {

const std::string* ValueCache::Lookup(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second);
  return &it->second->value;
}

void ValueCache::Insert(std::string_view key, std::string_view value) {
  Erase(key);
  const uint64_t charge = key.size() + value.size() + kEntryOverheadBytes;
  if (charge > capacity_bytes_) return;
  lru_.push_front(Entry{std::string(key), std::string(value)});
  map_.emplace(lru_.front().key, lru_.begin());
  bytes_ += charge;
  while (bytes_ > capacity_bytes_) Remove(std::prev(lru_.end()));
}

void ValueCache::Erase(std::string_view key) {
  auto it = map_.find(key);
  if (it != map_.end()) Remove(it->second);
}

void ValueCache::Remove(List::iterator it) {
  bytes_ -= it->Charge();
  map_.erase(std::string_view(it->key));
  lru_.erase(it);
}

}  // namespace toydb
