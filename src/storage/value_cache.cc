#include "src/storage/value_cache.h"

#include <cstdlib>
#include <cstring>
#include <new>

#include "src/util/checksum.h"

namespace toydb {

size_t ValueCache::EntryHash::operator()(std::string_view key) const {
  return static_cast<size_t>(KeyHash(key));
}

ValueCache::ValueCache(uint64_t capacity_bytes) : capacity_bytes_(capacity_bytes) {
  head_.newer = head_.older = &head_;
  head_.key_len = head_.value_len = 0;
}

ValueCache::~ValueCache() {
  while (head_.newer != &head_) Remove(head_.newer);
}

std::optional<std::string_view> ValueCache::Lookup(std::string_view key) {
  auto it = table_.find(key);
  if (it == table_.end()) return std::nullopt;
  Entry* e = *it;
  if (head_.older != e) {
    Unlink(e);
    PushNewest(e);
  }
  return e->value();
}

void ValueCache::Insert(std::string_view key, std::string_view value) {
  Erase(key);
  const uint64_t charge = key.size() + value.size() + kEntryOverheadBytes;
  if (charge > capacity_bytes_) return;
  void* memory = std::malloc(sizeof(Entry) + key.size() + value.size());
  if (memory == nullptr) return;  // A cache may always decline.
  Entry* e = new (memory) Entry{nullptr, nullptr, static_cast<uint32_t>(key.size()),
                                static_cast<uint32_t>(value.size())};
  std::memcpy(e->data(), key.data(), key.size());
  std::memcpy(e->data() + key.size(), value.data(), value.size());
  table_.insert(e);
  PushNewest(e);
  bytes_ += charge;
  while (bytes_ > capacity_bytes_) Remove(head_.newer);
}

void ValueCache::Erase(std::string_view key) {
  auto it = table_.find(key);
  if (it != table_.end()) Remove(*it);
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
}

void ValueCache::Remove(Entry* e) {
  table_.erase(e);
  Unlink(e);
  bytes_ -= e->Charge();
  e->~Entry();
  std::free(e);
}

}  // namespace toydb
