#include "src/storage/datalog/data_segment.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

#include "src/util/coding.h"

namespace toydb {

namespace {
// Scans read this much at a time; a record larger than it is read whole.
constexpr uint64_t kScanChunkBytes = 4u << 20;
// Appends are written to the file once this many bytes are buffered.
constexpr uint64_t kWriteBufferBytes = 256u << 10;
}  // namespace

std::string DataSegmentFileName(uint32_t id) { return fmt::format("data-{:010}.seg", id); }
std::string HintFileName(uint32_t id) { return fmt::format("data-{:010}.hint", id); }

bool ParseDataSegmentFileName(std::string_view name, uint32_t* id) {
  constexpr std::string_view kPrefix = "data-", kSuffix = ".seg";
  if (name.size() != kPrefix.size() + 10 + kSuffix.size()) return false;
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  if (name.substr(name.size() - kSuffix.size()) != kSuffix) return false;
  uint64_t value = 0;
  for (char c : name.substr(kPrefix.size(), 10)) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  if (value > UINT32_MAX) return false;
  *id = static_cast<uint32_t>(value);
  return true;
}

DataSegment::DataSegment(Env* env, std::string path, uint32_t id, uint64_t size)
    : env_(env), path_(std::move(path)), id_(id), size_(size), written_(size), synced_(size) {}

DataSegment::~DataSegment() {
  // The background writer's job uses this segment until it is done.
  AwaitBackgroundWrite().IgnoreError();
  if (writer_ != nullptr) {
    Flush().IgnoreError();
    writer_->Close().IgnoreError();
  }
  reader_.reset();
  mapped_.store(nullptr, std::memory_order_relaxed);
  mapping_.reset();
  // Best effort: a file left behind is not in the checkpoint and is removed
  // at the next Open. The hint file (if any) goes with its segment.
  if (obsolete_) {
    if (pool_ != nullptr) {
      pool_->Give(path_);
    } else {
      env_->RemoveFile(path_).IgnoreError();
    }
    const std::string hint = JoinPath(DirName(path_), HintFileName(id_));
    if (env_->FileExists(hint)) env_->RemoveFile(hint).IgnoreError();
  }
}

StatusOr<std::shared_ptr<DataSegment>> DataSegment::Create(Env* env, const std::string& dir,
                                                           uint32_t id,
                                                           std::shared_ptr<SegmentFilePool> pool) {
  const std::string path = JoinPath(dir, DataSegmentFileName(id));
  StatusOr<std::unique_ptr<WritableFile>> writer = pool != nullptr && pool->TakeAs(path)
                                                       ? env->ReuseWritableFile(path, 0)
                                                       : env->NewWritableFile(path);
  if (!writer.ok()) return writer.status();
  auto reader = env->NewRandomAccessFile(path);
  if (!reader.ok()) return reader.status();
  std::shared_ptr<DataSegment> segment(new DataSegment(env, path, id, 0));
  segment->pool_ = std::move(pool);
  segment->writer_ = std::move(*writer);
  segment->reader_ = std::move(*reader);
  return segment;
}

StatusOr<std::shared_ptr<DataSegment>> DataSegment::OpenExisting(
    Env* env, const std::string& dir, uint32_t id, uint64_t length, bool writable,
    std::shared_ptr<SegmentFilePool> pool) {
  const std::string path = JoinPath(dir, DataSegmentFileName(id));
  auto file_size = env->GetFileSize(path);
  if (!file_size.ok()) {
    return absl::DataLossError(
        fmt::format("data segment {} listed in the checkpoint is missing: {}", path,
                    file_size.status().ToString()));
  }
  if (*file_size < length) {
    return absl::DataLossError(fmt::format(
        "data segment {} has {} bytes, the checkpoint recorded {}", path, *file_size, length));
  }
  // Bytes past `length` are never read. Open cuts them only once its replay
  // has succeeded; an appendable segment must end exactly at `length`.
  if (writable && *file_size != length) {
    return absl::FailedPreconditionError(
        fmt::format("data segment {} has {} bytes past its length {}: it cannot take appends", path,
                    *file_size - length, length));
  }
  std::shared_ptr<DataSegment> segment(new DataSegment(env, path, id, length));
  segment->pool_ = std::move(pool);
  segment->sealed_ = !writable;
  if (writable) {
    auto writer = env->NewAppendableFile(path);
    if (!writer.ok()) return writer.status();
    segment->writer_ = std::move(*writer);
  }
  auto reader = env->NewRandomAccessFile(path);
  if (!reader.ok()) return reader.status();
  segment->reader_ = std::move(*reader);
  if (!writable) segment->MapImmutableBytes();
  return segment;
}

void DataSegment::MapImmutableBytes() {
  if (mapping_ != nullptr || size_ == 0) return;
  StatusOr<std::unique_ptr<MappedFile>> mapped = env_->MapReadOnly(path_, size_);
  if (!mapped.ok()) return;
  mapping_ = std::move(*mapped);
  mapped_.store(mapping_.get(), std::memory_order_release);
}

StatusOr<uint64_t> DataSegment::Append(std::string_view encoded_records) {
  if (sealed_) {
    return absl::FailedPreconditionError(fmt::format("data segment {} is sealed", path_));
  }
  const uint64_t offset = size_;
  buffer_.append(encoded_records);
  size_ += encoded_records.size();
  if (buffer_.size() >= kWriteBufferBytes) {
    if (Status s = Flush(); !s.ok()) return s;
  }
  return offset;
}

StatusOr<uint64_t> DataSegment::AppendRecord(uint64_t lsn, bool tombstone, std::string_view key,
                                             std::string_view value) {
  if (sealed_) {
    return absl::FailedPreconditionError(fmt::format("data segment {} is sealed", path_));
  }
  const uint64_t offset = size_;
  const size_t before = buffer_.size();
  data_format::EncodeRecord(lsn, tombstone, key, value, &buffer_);
  size_ += buffer_.size() - before;
  return offset;
}

Status DataSegment::FlushIfFull() {
  if (buffer_.size() < kWriteBufferBytes) return absl::OkStatus();
  if (background_ == nullptr) return Flush();
  // Usually done long ago: 256 KiB of appends take far longer than the write.
  if (Status s = AwaitBackgroundWrite(); !s.ok()) return s;
  flight_start_ = size_ - buffer_.size();
  flight_.swap(buffer_);
  buffer_.clear();
  {
    MutexLock lock(&flight_mu_);
    in_flight_ = true;
  }
  background_->Submit([this] { WriteFlight(); });
  return absl::OkStatus();
}

void DataSegment::WriteFlight() {
  Status s = writer_->Append(flight_);
  if (s.ok()) writer_->StartWriteback();
  MutexLock lock(&flight_mu_);
  if (s.ok()) {
    written_.store(flight_start_ + flight_.size(), std::memory_order_release);
  } else {
    flight_failure_ = s;
  }
  in_flight_ = false;
  // Under the lock: the waiter may free the segment once it sees in_flight_.
  flight_cv_.SignalAll();
}

Status DataSegment::AwaitBackgroundWrite() {
  MutexLock lock(&flight_mu_);
  while (in_flight_) flight_cv_.Wait(&flight_mu_);
  return flight_failure_;
}

Status DataSegment::Flush() {
  // A failed background write leaves the file short of its bytes: nothing
  // may be written after them.
  if (Status s = AwaitBackgroundWrite(); !s.ok()) return s;
  if (buffer_.empty()) return absl::OkStatus();
  if (Status s = writer_->Append(buffer_); !s.ok()) return s;
  buffer_.clear();
  written_.store(size_, std::memory_order_release);
  writer_->StartWriteback();
  return absl::OkStatus();
}

Status DataSegment::Sync() {
  if (Status s = Flush(); !s.ok()) return s;
  return SyncWritten();
}

Status DataSegment::Seal() {
  if (sealed_) return absl::OkStatus();
  if (Status s = Flush(); !s.ok()) return s;
  {
    MutexLock lock(&file_mu_);
    sealed_ = true;
  }
  MapImmutableBytes();
  return absl::OkStatus();
}

Status DataSegment::SyncWritten() {
  MutexLock lock(&file_mu_);
  if (writer_ == nullptr) return absl::OkStatus();  // Sealed and synced before.
  // Bytes written by now are covered by the sync; later ones may not be.
  const uint64_t written = written_.load(std::memory_order_acquire);
  if (Status s = writer_->Sync(); !s.ok()) return s;
  synced_.store(std::max(synced_.load(std::memory_order_relaxed), written),
                std::memory_order_release);
  if (!sealed_) return absl::OkStatus();
  // Nothing more will be written: the file is done with.
  Status s = writer_->Close();
  if (s.ok()) writer_.reset();
  return s;
}

Status DataSegment::ReadRecord(uint64_t offset, uint64_t length, std::string* scratch,
                               data_format::Record* record) const {
  if (const MappedFile* mapped = mapped_.load(std::memory_order_acquire); mapped != nullptr) {
    const std::string_view bytes = mapped->bytes();
    if (offset <= bytes.size() && length <= bytes.size() - offset) {
      return DecodeWhole(offset, length, bytes.substr(offset, length), record);
    }
  }
  Status s = reader_->Read(offset, length, scratch);
  if (!s.ok()) return s;
  return DecodeWhole(offset, length, *scratch, record);
}

Status DataSegment::ReadBufferedRecord(uint64_t offset, uint64_t length, std::string* scratch,
                                       data_format::Record* record) const {
  const uint64_t buffer_start = size_ - buffer_.size();
  if (offset >= buffer_start && offset + length <= size_) {
    scratch->assign(buffer_, offset - buffer_start, length);
  } else if (offset >= flight_start_ && offset + length <= flight_start_ + flight_.size()) {
    // The background writer only reads flight_; it changes under the store's
    // mutex, which the caller holds.
    scratch->assign(flight_, offset - flight_start_, length);
  } else {
    return absl::InternalError(
        fmt::format("data segment {}: record at {} ({} bytes) is in neither write buffer", path_,
                    offset, length));
  }
  return DecodeWhole(offset, length, *scratch, record);
}

Status DataSegment::DecodeWhole(uint64_t offset, uint64_t length, std::string_view bytes,
                                data_format::Record* record) const {
  uint64_t decoded_bytes = 0;
  if (bytes.size() != length ||
      data_format::DecodeRecord(bytes, record, &decoded_bytes) != data_format::DecodeResult::kOk ||
      decoded_bytes != length) {
    return absl::DataLossError(
        fmt::format("data segment {}: bad record at offset {} ({} bytes)", path_, offset, length));
  }
  return absl::OkStatus();
}

Status DataSegment::Scan(const ScanVisitor& visit) const {
  assert(buffer_.empty());
  std::string buffer;
  uint64_t offset = 0;
  while (offset < size_) {
    const uint64_t want = std::min<uint64_t>(kScanChunkBytes, size_ - offset);
    Status s = reader_->Read(offset, want, &buffer);
    if (!s.ok()) return s;
    std::string_view pending = buffer;
    uint64_t consumed = 0;
    while (!pending.empty()) {
      data_format::Record record;
      uint64_t bytes = 0;
      auto result = data_format::DecodeRecord(pending, &record, &bytes);
      if (result == data_format::DecodeResult::kTruncated &&
          offset + consumed + pending.size() < size_) {
        break;  // The record continues in the next chunk.
      }
      if (result != data_format::DecodeResult::kOk) {
        return absl::DataLossError(
            fmt::format("data segment {}: damaged record at offset {}", path_, offset + consumed));
      }
      visit(offset + consumed, bytes, record);
      consumed += bytes;
      pending.remove_prefix(bytes);
    }
    if (consumed == 0) {
      // One record larger than a chunk: read exactly its bytes.
      const uint64_t header_len = data_format::kHeaderBytes;
      if (buffer.size() < header_len) {
        return absl::DataLossError(
            fmt::format("data segment {}: truncated record at offset {}", path_, offset));
      }
      const uint64_t total =
          data_format::RecordBytes(DecodeFixed32(buffer.data() + data_format::kKeyLenOffset),
                                   DecodeFixed32(buffer.data() + data_format::kValueLenOffset));
      if (offset + total > size_) {
        return absl::DataLossError(
            fmt::format("data segment {}: record at offset {} runs past the end", path_, offset));
      }
      s = reader_->Read(offset, total, &buffer);
      if (!s.ok()) return s;
      data_format::Record record;
      uint64_t bytes = 0;
      if (data_format::DecodeRecord(buffer, &record, &bytes) != data_format::DecodeResult::kOk) {
        return absl::DataLossError(
            fmt::format("data segment {}: damaged record at offset {}", path_, offset));
      }
      visit(offset, bytes, record);
      consumed = bytes;
    }
    offset += consumed;
  }
  return absl::OkStatus();
}

}  // namespace toydb
