#include "src/storage/datalog/segment_file_pool.h"

#include <fmt/format.h>

namespace toydb {
namespace {
constexpr std::string_view kPrefix = "recycle-";
constexpr std::string_view kSuffix = ".seg";
}  // namespace

bool SegmentFilePool::IsPoolFileName(std::string_view name) {
  return name.starts_with(kPrefix) && name.ends_with(kSuffix);
}

void SegmentFilePool::Give(const std::string& path) {
  MutexLock lock(&mu_);
  if (files_.size() < kMaxFiles) {
    const std::string pooled = JoinPath(dir_, fmt::format("{}{}{}", kPrefix, next_++, kSuffix));
    if (env_->RenameFile(path, pooled).ok()) {
      files_.push_back(pooled);
      return;
    }
  }
  env_->RemoveFile(path).IgnoreError();
}

bool SegmentFilePool::TakeAs(const std::string& path) {
  MutexLock lock(&mu_);
  while (!files_.empty()) {
    const std::string pooled = files_.back();
    files_.pop_back();
    if (env_->RenameFile(pooled, path).ok()) return true;
    env_->RemoveFile(pooled).IgnoreError();
  }
  return false;
}

size_t SegmentFilePool::size() {
  MutexLock lock(&mu_);
  return files_.size();
}

}  // namespace toydb
