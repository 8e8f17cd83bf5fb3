#ifndef TOYDB_WRITE_BATCH_H_
#define TOYDB_WRITE_BATCH_H_

// WriteBatch: puts and deletes applied atomically, as one WAL record with one
// LSN: after a crash either all of them are there or none. Later operations on
// the same key win. Built by one thread; a Store only reads it.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace toydb {

class WriteBatch {
 public:
  enum class OpType : uint8_t { kPut = 1, kDelete = 2 };
  struct Op {
    OpType type;
    std::string key;
    std::string value;  // Empty for deletes.
  };

  void Put(std::string_view key, std::string_view value) {
    bytes_ += key.size() + value.size();
    ops_.push_back(Op{OpType::kPut, std::string(key), std::string(value)});
  }
  void Delete(std::string_view key) {
    bytes_ += key.size();
    ops_.push_back(Op{OpType::kDelete, std::string(key), std::string()});
  }
  void Clear() {
    ops_.clear();
    bytes_ = 0;
  }

  const std::vector<Op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  // Key and value bytes of all operations (what StoreOptions::batch_bytes_max limits).
  uint64_t bytes() const { return bytes_; }

 private:
  std::vector<Op> ops_;
  uint64_t bytes_ = 0;
};

}  // namespace toydb

#endif  // TOYDB_WRITE_BATCH_H_
