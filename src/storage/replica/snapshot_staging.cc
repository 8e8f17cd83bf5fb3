// SnapshotStaging (snapshot_staging.h).
#include "src/storage/replica/snapshot_staging.h"

#include <fmt/format.h>

#include <charconv>

#include "src/storage/replica/snapshot_format.h"

namespace toydb {
namespace {
constexpr std::string_view kPrefix = "incoming-";
constexpr std::string_view kSuffix = ".snap";

bool ParseNumber(std::string_view text, uint64_t* v) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *v);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}
}  // namespace

std::string SnapshotStaging::PathFor(Lsn lsn, Term term) const {
  return JoinPath(dir_, fmt::format("{}{}-{}{}", kPrefix, lsn, term, kSuffix));
}

bool SnapshotStaging::ParseName(std::string_view name, Lsn* lsn, Term* term) {
  if (!name.starts_with(kPrefix) || !name.ends_with(kSuffix)) return false;
  name.remove_prefix(kPrefix.size());
  name.remove_suffix(kSuffix.size());
  const size_t dash = name.find('-');
  return dash != std::string_view::npos && ParseNumber(name.substr(0, dash), lsn) &&
         ParseNumber(name.substr(dash + 1), term);
}

uint64_t SnapshotStaging::ReceivedBytes(Lsn lsn, Term term) {
  StatusOr<uint64_t> size = env_->GetFileSize(PathFor(lsn, term));
  return size.ok() ? *size : 0;
}

Status SnapshotStaging::Receive(Lsn lsn, Term term, uint64_t offset, std::string_view data) {
  const uint64_t received = ReceivedBytes(lsn, term);
  if (offset != received) {
    return absl::InvalidArgumentError(fmt::format(
        "snapshot chunk at offset {}, but {} bytes of the snapshot at LSN {} (term {}) are staged",
        offset, received, lsn, term));
  }
  const std::string path = PathFor(lsn, term);
  if (open_path_ != path) {
    file_.reset();
    open_path_.clear();
    const bool created = !env_->FileExists(path);
    // Another snapshot replaces whatever was staged.
    if (created) DropAll();
    StatusOr<std::unique_ptr<WritableFile>> file = env_->NewAppendableFile(path);
    if (!file.ok()) return file.status();
    // The name must survive a crash as long as the bytes do.
    if (created) {
      if (Status s = env_->SyncDir(dir_); !s.ok()) return s;
    }
    file_ = std::move(*file);
    open_path_ = path;
  }
  Status s = file_->Append(data);
  if (s.ok()) s = file_->Sync();
  if (!s.ok()) {
    // What reached the file is a prefix of the stream; the next chunk is
    // asked for at the file's size.
    file_.reset();
    open_path_.clear();
  }
  return s;
}

Status SnapshotStaging::Verify(Lsn lsn, Term term, uint64_t size, uint64_t checksum) {
  const std::string path = PathFor(lsn, term);
  if (!env_->FileExists(path)) {
    return absl::FailedPreconditionError(
        fmt::format("no snapshot at LSN {} (term {}) is staged", lsn, term));
  }
  const uint64_t received = ReceivedBytes(lsn, term);
  if (received < size) {
    return absl::FailedPreconditionError(fmt::format(
        "snapshot at LSN {} (term {}): {} of its {} bytes received", lsn, term, received, size));
  }
  StatusOr<FileDigest> digest = DigestFile(env_, path);
  Status s = digest.status();
  if (s.ok() && digest->size != size) {
    s = absl::DataLossError(fmt::format(
        "staged snapshot at LSN {} (term {}) has {} bytes, the sender's has {}; dropped", lsn, term,
        digest->size, size));
  } else if (s.ok() && digest->checksum != checksum) {
    s = absl::DataLossError(fmt::format(
        "staged snapshot at LSN {} (term {}) has checksum {:016x}, the sender's is {:016x}; "
        "dropped",
        lsn, term, digest->checksum, checksum));
  }
  if (absl::IsDataLoss(s)) DropAll();
  return s;
}

}  // namespace toydb
