// A snapshot served from a file (snapshot_source.h).
#include "src/storage/replica/snapshot_source.h"

#include <fmt/format.h>

#include "src/storage/replica/snapshot_format.h"

namespace toydb {
namespace {

class FileSnapshotSource final : public SnapshotSource {
 public:
  FileSnapshotSource(Env* env, std::string path, std::unique_ptr<RandomAccessFile> file, Lsn lsn,
                     Term term, uint64_t size, uint64_t checksum)
      : env_(env),
        path_(std::move(path)),
        file_(std::move(file)),
        lsn_(lsn),
        term_(term),
        size_(size),
        checksum_(checksum) {}
  ~FileSnapshotSource() override {
    file_.reset();
    // A leftover is removed by the next Open.
    env_->RemoveFile(path_).IgnoreError();
  }

  Lsn lsn() const override { return lsn_; }
  Term term() const override { return term_; }
  uint64_t size() const override { return size_; }
  uint64_t checksum() const override { return checksum_; }

  Status Read(uint64_t offset, uint64_t max_bytes, std::string* out) override {
    out->clear();
    if (offset > size_) {
      return absl::OutOfRangeError(
          fmt::format("snapshot read at offset {} past its size, {}", offset, size_));
    }
    const uint64_t n = std::min(max_bytes, size_ - offset);
    if (n == 0) return absl::OkStatus();
    if (Status s = file_->Read(offset, n, out); !s.ok()) return s;
    if (out->size() != n) {
      return absl::DataLossError(fmt::format("snapshot file {} is shorter than written", path_));
    }
    return absl::OkStatus();
  }

 private:
  Env* const env_;
  const std::string path_;
  std::unique_ptr<RandomAccessFile> file_;
  const Lsn lsn_;
  const Term term_;
  const uint64_t size_;
  const uint64_t checksum_;
};

Status WriteStream(StoreImpl::ReplicaSnapshot* snapshot, SnapshotWriter* writer) {
  if (Status s = writer->WriteHeader(snapshot->lsn, snapshot->term, snapshot->sessions); !s.ok()) {
    return s;
  }
  Status s = snapshot->data->ForEach([&](std::string_view key, std::string_view value, Lsn v) {
    return writer->WriteEntry(key, value, v);
  });
  if (!s.ok()) return s;
  return writer->Finish();
}

}  // namespace

StatusOr<std::unique_ptr<SnapshotSource>> WriteSnapshotFile(Env* env, const std::string& path,
                                                            StoreImpl::ReplicaSnapshot snapshot) {
  StatusOr<std::unique_ptr<WritableFile>> out = env->NewWritableFile(path);
  if (!out.ok()) return out.status();
  SnapshotWriter writer(std::move(*out));
  Status s = WriteStream(&snapshot, &writer);
  // The data segments need not be held past the copy.
  snapshot.data.reset();
  StatusOr<std::unique_ptr<RandomAccessFile>> in =
      s.ok() ? env->NewRandomAccessFile(path) : StatusOr<std::unique_ptr<RandomAccessFile>>(s);
  if (!in.ok()) {
    env->RemoveFile(path).IgnoreError();
    return in.status();
  }
  return std::unique_ptr<SnapshotSource>(new FileSnapshotSource(
      env, path, std::move(*in), snapshot.lsn, snapshot.term, writer.size(), writer.checksum()));
}

}  // namespace toydb
