#ifndef TOYDB_STORAGE_REPLICA_SNAPSHOT_FORMAT_H_
#define TOYDB_STORAGE_REPLICA_SNAPSHOT_FORMAT_H_

// The byte stream of a replica snapshot: the applied state at (lsn, term),
// every live key with its value and version, and the session table.
//
//   stream   := header entry* end
//   header   := magic:u32 "TDRS" version:u8(1) lsn:u64 term:u64
//               sessions:(len:u32 bytes)          (session_table.h)
//   entry    := tag:u8(1) version:u64 key:(len:u32 bytes) value:(len:u32 bytes)
//   end      := tag:u8(0) count:u64               (the number of entries)
//
// Little-endian. The stream's size and XXH3-64 checksum travel beside it
// (SnapshotSource); the receiver verifies both before it parses anything.
// Entries come in no particular order (the sender's data-log order).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "src/util/checksum.h"
#include "toydb/env.h"
#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

// Writes a stream to a file, counting its bytes and checksum as it goes.
// Not thread-safe.
class SnapshotWriter {
 public:
  explicit SnapshotWriter(std::unique_ptr<WritableFile> file) : file_(std::move(file)) {}
  [[nodiscard]] Status WriteHeader(Lsn lsn, Term term, std::string_view sessions);
  [[nodiscard]] Status WriteEntry(std::string_view key, std::string_view value, Lsn version);
  // Writes the end marker and closes the file.
  [[nodiscard]] Status Finish();
  uint64_t size() const { return size_; }
  uint64_t checksum() const { return checksum_.Digest(); }

 private:
  Status Add(std::string_view bytes);
  Status FlushBuffer();

  std::unique_ptr<WritableFile> file_;
  std::string buffer_;
  uint64_t size_ = 0;
  uint64_t entries_ = 0;
  Checksum64Stream checksum_;
};

// Reads a stream from a file front to back. Every malformed field is
// DataLoss (the bytes passed their checksum: a sender's bug or a format
// mismatch). Not thread-safe.
class SnapshotReader {
 public:
  struct Header {
    Lsn lsn = 0;
    Term term = 0;
    std::string sessions;
  };
  struct Entry {
    std::string_view key;  // Valid until the next call.
    std::string_view value;
    Lsn version = 0;
  };

  SnapshotReader(std::unique_ptr<RandomAccessFile> file, uint64_t size)
      : file_(std::move(file)), size_(size) {}
  [[nodiscard]] StatusOr<Header> ReadHeader();
  // The next entry; false at the end marker, after which the stream must end.
  // Keys and values longer than the limits are DataLoss.
  [[nodiscard]] StatusOr<bool> Next(uint64_t key_bytes_max, uint64_t value_bytes_max, Entry* entry);

 private:
  // The next `n` bytes, valid until the next call.
  Status Take(uint64_t n, std::string_view* out);
  Status TakeU64(uint64_t* v);
  Status TakeU32(uint32_t* v);

  std::unique_ptr<RandomAccessFile> file_;
  const uint64_t size_;
  uint64_t file_offset_ = 0;  // Of buffer_'s end.
  std::string buffer_;
  size_t buffer_pos_ = 0;
  std::string scratch_;
  uint64_t entries_ = 0;
};

// The XXH3-64 checksum and size of a whole file, read in chunks.
struct FileDigest {
  uint64_t size = 0;
  uint64_t checksum = 0;
};
StatusOr<FileDigest> DigestFile(Env* env, const std::string& path);

}  // namespace toydb

#endif  // TOYDB_STORAGE_REPLICA_SNAPSHOT_FORMAT_H_
