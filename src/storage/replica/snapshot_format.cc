// The snapshot stream (snapshot_format.h).
#include "src/storage/replica/snapshot_format.h"

#include <fmt/format.h>

#include <algorithm>

#include "src/util/coding.h"

namespace toydb {
namespace {
constexpr uint32_t kMagic = 0x53524454;  // "TDRS"
constexpr uint8_t kVersion = 1;
constexpr uint8_t kTagEntry = 1;
constexpr uint8_t kTagEnd = 0;
// Bytes collected before a write, and read per refill.
constexpr size_t kIoChunkBytes = 1u << 20;
// A session table larger than this is damage (100 bytes per session at
// more sessions than any limit allows).
constexpr uint64_t kSessionsBytesMax = 1u << 30;

Status Malformed(std::string_view why) {
  return absl::DataLossError(fmt::format("snapshot stream is malformed: {}", why));
}
}  // namespace

Status SnapshotWriter::WriteHeader(Lsn lsn, Term term, std::string_view sessions) {
  std::string header;
  PutFixed32(&header, kMagic);
  PutFixed8(&header, kVersion);
  PutFixed64(&header, lsn);
  PutFixed64(&header, term);
  PutBytes(&header, sessions);
  return Add(header);
}

Status SnapshotWriter::WriteEntry(std::string_view key, std::string_view value, Lsn version) {
  std::string head;
  PutFixed8(&head, kTagEntry);
  PutFixed64(&head, version);
  PutFixed32(&head, static_cast<uint32_t>(key.size()));
  if (Status s = Add(head); !s.ok()) return s;
  if (Status s = Add(key); !s.ok()) return s;
  std::string length;
  PutFixed32(&length, static_cast<uint32_t>(value.size()));
  if (Status s = Add(length); !s.ok()) return s;
  entries_++;
  return Add(value);
}

Status SnapshotWriter::Finish() {
  std::string end;
  PutFixed8(&end, kTagEnd);
  PutFixed64(&end, entries_);
  if (Status s = Add(end); !s.ok()) return s;
  if (Status s = FlushBuffer(); !s.ok()) return s;
  return file_->Close();
}

Status SnapshotWriter::Add(std::string_view bytes) {
  checksum_.Update(bytes);
  size_ += bytes.size();
  buffer_.append(bytes);
  return buffer_.size() >= kIoChunkBytes ? FlushBuffer() : absl::OkStatus();
}

Status SnapshotWriter::FlushBuffer() {
  Status s = file_->Append(buffer_);
  buffer_.clear();
  return s;
}

StatusOr<SnapshotReader::Header> SnapshotReader::ReadHeader() {
  std::string_view bytes;
  if (Status s = Take(4 + 1 + 8 + 8, &bytes); !s.ok()) return s;
  Decoder d(bytes);
  uint32_t magic = 0;
  uint8_t version = 0;
  Header header;
  d.U32(&magic);
  d.U8(&version);
  d.U64(&header.lsn);
  d.U64(&header.term);
  if (magic != kMagic) return Malformed("bad magic");
  if (version != kVersion) return Malformed(fmt::format("unknown version {}", version));
  uint32_t sessions_bytes = 0;
  if (Status s = TakeU32(&sessions_bytes); !s.ok()) return s;
  if (sessions_bytes > kSessionsBytesMax) return Malformed("session table too large");
  if (Status s = Take(sessions_bytes, &bytes); !s.ok()) return s;
  header.sessions.assign(bytes);
  return header;
}

StatusOr<bool> SnapshotReader::Next(uint64_t key_bytes_max, uint64_t value_bytes_max,
                                    Entry* entry) {
  std::string_view tag;
  if (Status s = Take(1, &tag); !s.ok()) return s;
  if (static_cast<uint8_t>(tag[0]) == kTagEnd) {
    uint64_t count = 0;
    if (Status s = TakeU64(&count); !s.ok()) return s;
    if (count != entries_) {
      return Malformed(
          fmt::format("end marker counts {} entries, the stream has {}", count, entries_));
    }
    if (file_offset_ - (buffer_.size() - buffer_pos_) != size_) {
      return Malformed("bytes after the end marker");
    }
    return false;
  }
  if (static_cast<uint8_t>(tag[0]) != kTagEntry) return Malformed("unknown tag");
  uint32_t key_bytes = 0, value_bytes = 0;
  if (Status s = TakeU64(&entry->version); !s.ok()) return s;
  if (Status s = TakeU32(&key_bytes); !s.ok()) return s;
  if (key_bytes == 0 || key_bytes > key_bytes_max) return Malformed("bad key length");
  std::string_view key;
  if (Status s = Take(key_bytes, &key); !s.ok()) return s;
  // Take() may move the buffer: keep the key while the value is read.
  scratch_.assign(key);
  if (Status s = TakeU32(&value_bytes); !s.ok()) return s;
  if (value_bytes > value_bytes_max) return Malformed("bad value length");
  if (Status s = Take(value_bytes, &entry->value); !s.ok()) return s;
  entry->key = scratch_;
  entries_++;
  return true;
}

Status SnapshotReader::Take(uint64_t n, std::string_view* out) {
  if (buffer_.size() - buffer_pos_ < n) {
    const uint64_t want = n - (buffer_.size() - buffer_pos_);
    if (want > size_ - file_offset_) return Malformed("truncated");
    buffer_.erase(0, buffer_pos_);
    buffer_pos_ = 0;
    const uint64_t read =
        std::min<uint64_t>(size_ - file_offset_, std::max<uint64_t>(want, kIoChunkBytes));
    std::string chunk;
    if (Status s = file_->Read(file_offset_, read, &chunk); !s.ok()) return s;
    if (chunk.size() != read) return Malformed("the file is shorter than its size");
    buffer_.append(chunk);
    file_offset_ += read;
  }
  *out = std::string_view(buffer_).substr(buffer_pos_, n);
  buffer_pos_ += n;
  return absl::OkStatus();
}

Status SnapshotReader::TakeU64(uint64_t* v) {
  std::string_view bytes;
  if (Status s = Take(8, &bytes); !s.ok()) return s;
  *v = DecodeFixed64(bytes.data());
  return absl::OkStatus();
}

Status SnapshotReader::TakeU32(uint32_t* v) {
  std::string_view bytes;
  if (Status s = Take(4, &bytes); !s.ok()) return s;
  *v = DecodeFixed32(bytes.data());
  return absl::OkStatus();
}

StatusOr<FileDigest> DigestFile(Env* env, const std::string& path) {
  StatusOr<uint64_t> size = env->GetFileSize(path);
  if (!size.ok()) return size.status();
  StatusOr<std::unique_ptr<RandomAccessFile>> file = env->NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  Checksum64Stream checksum;
  std::string chunk;
  for (uint64_t offset = 0; offset < *size; offset += chunk.size()) {
    if (Status s = (*file)->Read(offset, kIoChunkBytes, &chunk); !s.ok()) return s;
    if (chunk.empty()) return absl::DataLossError(fmt::format("{} ended early", path));
    checksum.Update(chunk);
  }
  return FileDigest{*size, checksum.Digest()};
}

}  // namespace toydb
