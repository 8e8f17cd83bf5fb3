#ifndef TOYDB_STORAGE_DATALOG_DATA_FORMAT_H_
#define TOYDB_STORAGE_DATALOG_DATA_FORMAT_H_

// Byte layout of data-log (AoL) records. A data segment file is a sequence of
// records with no file header (docs/ARCHITECTURE.md, "On-disk formats"):
//
//   record := checksum:u32 key_len:u32 value_len:u32 lsn:u64 flags:u8
//             key:key_len value:value_len
//
// All integers little-endian. `checksum` is the low 32 bits of XXH3-64 over
// every byte after it (header fields, key and value). flags bit 0 marks a
// tombstone (a delete; value_len is 0).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace toydb::data_format {

inline constexpr size_t kChecksumOffset = 0;
inline constexpr size_t kKeyLenOffset = 4;
inline constexpr size_t kValueLenOffset = 8;
inline constexpr size_t kLsnOffset = 12;
inline constexpr size_t kFlagsOffset = 20;
inline constexpr size_t kHeaderBytes = 21;
static_assert(kFlagsOffset + 1 == kHeaderBytes);
static_assert(kLsnOffset + sizeof(uint64_t) == kFlagsOffset);

inline constexpr uint8_t kFlagTombstone = 0x01;
inline constexpr uint8_t kKnownFlags = kFlagTombstone;

// A record decoded from a buffer; views point into that buffer.
struct Record {
  uint64_t lsn = 0;
  bool tombstone = false;
  std::string_view key;
  std::string_view value;
  std::string_view raw;  // The whole encoded record, checksum included.
};

// Appends one encoded record to `out`.
void EncodeRecord(uint64_t lsn, bool tombstone, std::string_view key, std::string_view value,
                  std::string* out);

inline uint64_t RecordBytes(size_t key_len, size_t value_len) {
  return kHeaderBytes + key_len + value_len;
}

// The outcome of decoding the record at the start of a buffer.
enum class DecodeResult {
  kOk,
  kTruncated,  // The buffer ends inside the record.
  kCorrupt,    // Checksum mismatch or impossible header.
};

// Decodes the record at the start of `input`. On kOk fills `record` and
// `record_bytes`. Never reads past input.
DecodeResult DecodeRecord(std::string_view input, Record* record, uint64_t* record_bytes);

}  // namespace toydb::data_format

#endif  // TOYDB_STORAGE_DATALOG_DATA_FORMAT_H_
