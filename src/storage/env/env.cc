// Env helpers shared by every implementation.
#include "toydb/env.h"

#include <fmt/format.h>

namespace toydb {

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (dir.back() == '/') return fmt::format("{}{}", dir, name);
  return fmt::format("{}/{}", dir, name);
}

std::string DirName(std::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

StatusOr<std::unique_ptr<MappedFile>> Env::MapReadOnly(const std::string& path, uint64_t) {
  return absl::UnimplementedError(fmt::format("this Env does not map files ({})", path));
}

StatusOr<std::string> Env::ReadFileToString(const std::string& path) {
  StatusOr<uint64_t> size = GetFileSize(path);
  if (!size.ok()) return size.status();
  StatusOr<std::unique_ptr<RandomAccessFile>> file = NewRandomAccessFile(path);
  if (!file.ok()) return file.status();
  std::string data;
  Status s = (*file)->Read(0, *size, &data);
  if (!s.ok()) return s;
  return data;
}

Status Env::WriteFileAtomically(const std::string& path, std::string_view data) {
  const std::string temp = fmt::format("{}.tmp", path);
  StatusOr<std::unique_ptr<WritableFile>> file = NewWritableFile(temp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(data);
  if (s.ok()) s = (*file)->Sync();
  if (s.ok()) s = (*file)->Close();
  if (s.ok()) s = RenameFile(temp, path);
  if (s.ok()) s = SyncDir(DirName(path));
  if (!s.ok()) RemoveFile(temp).IgnoreError();
  return s;
}

}  // namespace toydb
