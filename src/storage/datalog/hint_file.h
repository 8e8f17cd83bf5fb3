#ifndef TOYDB_STORAGE_DATALOG_HINT_FILE_H_
#define TOYDB_STORAGE_DATALOG_HINT_FILE_H_

// Hint files: for a sealed data segment, the list of its records without the
// values, so that Open builds the index without reading every value.
//
//   hint  := entry* count:u64 checksum:u64
//   entry := lsn:u64 offset:u32 length:u32 flags:u8 key_len:u16 key
//
// checksum is XXH3-64 of every byte before it. A hint is derived data: a
// damaged or missing hint is ignored and the segment scanned instead.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "toydb/env.h"
#include "toydb/status.h"

namespace toydb {

struct HintEntry {
  uint64_t lsn = 0;
  uint32_t offset = 0;
  uint32_t length = 0;
  bool tombstone = false;
  std::string_view key;
};

// Accumulates entries and writes the file atomically.
class HintFileBuilder {
 public:
  void Add(const HintEntry& entry);
  [[nodiscard]] Status Finish(Env* env, const std::string& path);

 private:
  std::string buffer_;
  uint64_t count_ = 0;
};

// Reads and verifies a hint file, then visits each entry in order. Returns a
// non-OK status (and visits nothing) if the file is missing or damaged.
[[nodiscard]] Status ReadHintFile(Env* env, const std::string& path,
                                  const std::function<void(const HintEntry&)>& visit);

}  // namespace toydb

#endif  // TOYDB_STORAGE_DATALOG_HINT_FILE_H_
