// MemEnv: files in memory, with durable and live views for crash simulation.
#include "toydb/mem_env.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "src/util/mutex.h"

namespace toydb {
namespace mem_env_internal {

// One file's bytes. `live` is what readers see; `durable` is what survives a
// crash. Bytes in [dirty_from, dirty_to) may differ between the two, and so
// may the sizes. A write into the middle of a preallocated file dirties only
// the bytes it wrote, so a torn write tears those and not the zeros after them.
struct FileState {
  std::string live;
  std::string durable;
  uint64_t dirty_from = kClean;
  uint64_t dirty_to = 0;

  static constexpr uint64_t kClean = std::numeric_limits<uint64_t>::max();

  uint64_t UnsyncedBytes() const {
    const uint64_t to = std::min<uint64_t>(dirty_to, live.size());
    if (dirty_from == kClean || dirty_from >= to) return 0;
    return to - dirty_from;
  }
  void MarkDirty(uint64_t from, uint64_t to) {
    dirty_from = std::min(dirty_from, from);
    dirty_to = std::max(dirty_to, to);
  }
  // Copies only the dirty range: a sync of a large preallocated file costs
  // what was written since the last one, as on a disk.
  void MarkSynced() {
    if (dirty_from != kClean || durable.size() != live.size()) {
      durable.resize(live.size());
      const uint64_t to = std::min<uint64_t>(dirty_to, live.size());
      if (dirty_from < to)
        durable.replace(dirty_from, to - dirty_from, live, dirty_from, to - dirty_from);
    }
    dirty_from = kClean;
    dirty_to = 0;
  }
};

struct State {
  Mutex mu;
  std::map<std::string, std::shared_ptr<FileState>> files ABSL_GUARDED_BY(mu);
  // The directory entries as of each directory's last SyncDir.
  std::map<std::string, std::shared_ptr<FileState>> durable_files ABSL_GUARDED_BY(mu);
  // Directories are modelled as durable once created.
  std::set<std::string> dirs ABSL_GUARDED_BY(mu);
  std::map<std::string, uint64_t> locks ABSL_GUARDED_BY(mu);  // path -> lock id
  uint64_t next_lock_id ABSL_GUARDED_BY(mu) = 1;
  // Bumped by Crash(); handles from an older generation are dead.
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  bool fail_writes ABSL_GUARDED_BY(mu) = false;
  bool fail_syncs ABSL_GUARDED_BY(mu) = false;
  uint64_t capacity_bytes ABSL_GUARDED_BY(mu) = std::numeric_limits<uint64_t>::max();
  uint64_t sync_count ABSL_GUARDED_BY(mu) = 0;
  // Paths whose Appends fail (SetWriteFailureFilter); empty: none.
  MemEnv::PathFilter write_failure_filter ABSL_GUARDED_BY(mu);

  bool WriteFails(const std::string& path) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return fail_writes || (write_failure_filter && write_failure_filter(path));
  }
  uint64_t LiveBytes() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    uint64_t total = 0;
    for (const auto& [name, file] : files) total += file->live.size();
    return total;
  }
  Status CheckHandle(uint64_t handle_generation, std::string_view path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (handle_generation != generation) {
      return absl::InternalError(fmt::format("{}: file handle lost in a crash", path));
    }
    return absl::OkStatus();
  }
};

}  // namespace mem_env_internal

namespace {

using mem_env_internal::FileState;
using mem_env_internal::State;

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(std::shared_ptr<State> state, std::shared_ptr<FileState> file, std::string path,
                  uint64_t position, uint64_t generation)
      : state_(std::move(state)),
        file_(std::move(file)),
        path_(std::move(path)),
        position_(position),
        generation_(generation) {}

  Status Append(std::string_view data) override;
  Status Sync() override;
  Status Close() override { return absl::OkStatus(); }
  uint64_t Position() const override { return position_; }

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<FileState> file_;
  const std::string path_;
  uint64_t position_;
  const uint64_t generation_;
};

class MemRandomAccessFile final : public RandomAccessFile {
 public:
  MemRandomAccessFile(std::shared_ptr<State> state, std::shared_ptr<FileState> file,
                      std::string path, uint64_t generation)
      : state_(std::move(state)),
        file_(std::move(file)),
        path_(std::move(path)),
        generation_(generation) {}

  Status Read(uint64_t offset, size_t n, std::string* out) const override;

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<FileState> file_;
  const std::string path_;
  const uint64_t generation_;
};

class MemFileLock final : public FileLock {
 public:
  MemFileLock(std::shared_ptr<State> state, std::string path, uint64_t id)
      : state_(std::move(state)), path_(std::move(path)), id_(id) {}
  ~MemFileLock() override;

 private:
  std::shared_ptr<State> state_;
  const std::string path_;
  const uint64_t id_;
};

}  // namespace

Status MemWritableFile::Append(std::string_view data) {
  MutexLock lock(&state_->mu);
  if (Status s = state_->CheckHandle(generation_, path_); !s.ok()) return s;
  if (state_->WriteFails(path_))
    return absl::InternalError(fmt::format("write {}: injected I/O error", path_));
  const uint64_t end = position_ + data.size();
  const uint64_t growth = end > file_->live.size() ? end - file_->live.size() : 0;
  if (state_->capacity_bytes != std::numeric_limits<uint64_t>::max() &&
      state_->LiveBytes() + growth > state_->capacity_bytes) {
    return absl::ResourceExhaustedError(fmt::format("write {}: no space left on device", path_));
  }
  if (file_->live.size() < end) file_->live.resize(end);
  file_->live.replace(position_, data.size(), data);
  file_->MarkDirty(position_, end);
  position_ = end;
  return absl::OkStatus();
}

Status MemWritableFile::Sync() {
  MutexLock lock(&state_->mu);
  if (Status s = state_->CheckHandle(generation_, path_); !s.ok()) return s;
  if (state_->fail_syncs)
    return absl::InternalError(fmt::format("fdatasync {}: injected I/O error", path_));
  file_->MarkSynced();
  state_->sync_count++;
  return absl::OkStatus();
}

Status MemRandomAccessFile::Read(uint64_t offset, size_t n, std::string* out) const {
  MutexLock lock(&state_->mu);
  if (Status s = state_->CheckHandle(generation_, path_); !s.ok()) return s;
  out->clear();
  if (offset >= file_->live.size()) return absl::OkStatus();
  out->assign(file_->live, offset, n);
  return absl::OkStatus();
}

MemFileLock::~MemFileLock() {
  MutexLock lock(&state_->mu);
  auto it = state_->locks.find(path_);
  if (it != state_->locks.end() && it->second == id_) state_->locks.erase(it);
}

MemEnv::MemEnv() : state_(std::make_shared<State>()) {
  MutexLock lock(&state_->mu);
  state_->dirs.insert("/");
  state_->dirs.insert(".");
}

MemEnv::~MemEnv() = default;

namespace {

Status NotFound(std::string_view what, std::string_view path) {
  return absl::NotFoundError(fmt::format("{} {}: no such file or directory", what, path));
}

}  // namespace

StatusOr<std::unique_ptr<WritableFile>> MemEnv::NewWritableFile(const std::string& path) {
  MutexLock lock(&state_->mu);
  if (!state_->dirs.contains(DirName(path))) return NotFound("open", path);
  auto file = std::make_shared<FileState>();
  auto it = state_->files.find(path);
  if (it != state_->files.end()) {
    // Truncating an existing file keeps its identity (the same inode).
    file = it->second;
    file->live.clear();
    file->MarkDirty(0, 0);
  } else {
    state_->files[path] = file;
  }
  return std::unique_ptr<WritableFile>(
      new MemWritableFile(state_, file, path, 0, state_->generation));
}

StatusOr<std::unique_ptr<WritableFile>> MemEnv::NewAppendableFile(const std::string& path) {
  MutexLock lock(&state_->mu);
  if (!state_->dirs.contains(DirName(path))) return NotFound("open", path);
  auto& slot = state_->files[path];
  if (slot == nullptr) slot = std::make_shared<FileState>();
  return std::unique_ptr<WritableFile>(
      new MemWritableFile(state_, slot, path, slot->live.size(), state_->generation));
}

StatusOr<std::unique_ptr<WritableFile>> MemEnv::ReuseWritableFile(const std::string& path,
                                                                  uint64_t offset) {
  MutexLock lock(&state_->mu);
  auto it = state_->files.find(path);
  if (it == state_->files.end()) return NotFound("open", path);
  return std::unique_ptr<WritableFile>(
      new MemWritableFile(state_, it->second, path, offset, state_->generation));
}

StatusOr<std::unique_ptr<RandomAccessFile>> MemEnv::NewRandomAccessFile(const std::string& path) {
  MutexLock lock(&state_->mu);
  auto it = state_->files.find(path);
  if (it == state_->files.end()) return NotFound("open", path);
  return std::unique_ptr<RandomAccessFile>(
      new MemRandomAccessFile(state_, it->second, path, state_->generation));
}

bool MemEnv::FileExists(const std::string& path) {
  MutexLock lock(&state_->mu);
  return state_->files.contains(path) || state_->dirs.contains(path);
}

StatusOr<uint64_t> MemEnv::GetFileSize(const std::string& path) {
  MutexLock lock(&state_->mu);
  auto it = state_->files.find(path);
  if (it == state_->files.end()) return NotFound("stat", path);
  return it->second->live.size();
}

StatusOr<std::vector<std::string>> MemEnv::GetChildren(const std::string& dir) {
  MutexLock lock(&state_->mu);
  if (!state_->dirs.contains(dir)) return NotFound("opendir", dir);
  std::vector<std::string> names;
  const std::string prefix = JoinPath(dir, "");
  auto collect = [&](const std::string& path) {
    if (absl::StartsWith(path, prefix) && path.find('/', prefix.size()) == std::string::npos) {
      names.push_back(path.substr(prefix.size()));
    }
  };
  for (const auto& [path, file] : state_->files) collect(path);
  for (const std::string& d : state_->dirs) {
    if (d != dir) collect(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Status MemEnv::RemoveFile(const std::string& path) {
  MutexLock lock(&state_->mu);
  if (state_->files.erase(path) == 0) return NotFound("unlink", path);
  return absl::OkStatus();
}

Status MemEnv::RenameFile(const std::string& from, const std::string& to) {
  MutexLock lock(&state_->mu);
  auto it = state_->files.find(from);
  if (it == state_->files.end()) return NotFound("rename", from);
  if (!state_->dirs.contains(DirName(to))) return NotFound("rename to", to);
  auto file = it->second;
  state_->files.erase(it);
  state_->files[to] = std::move(file);
  return absl::OkStatus();
}

Status MemEnv::TruncateFile(const std::string& path, uint64_t size) {
  MutexLock lock(&state_->mu);
  auto it = state_->files.find(path);
  if (it == state_->files.end()) return NotFound("truncate", path);
  FileState& file = *it->second;
  if (size < file.live.size()) file.MarkDirty(size, size);
  // Growth reads as zeros and is as durable as the size change: not yet.
  if (size > file.live.size()) file.MarkDirty(file.live.size(), size);
  file.live.resize(size);
  return absl::OkStatus();
}

Status MemEnv::CreateDir(const std::string& dir) {
  MutexLock lock(&state_->mu);
  std::string path = dir;
  while (!path.empty() && !state_->dirs.contains(path)) {
    if (state_->files.contains(path)) {
      return absl::AlreadyExistsError(fmt::format("mkdir {}: a file has that name", path));
    }
    state_->dirs.insert(path);
    path = DirName(path);
  }
  return absl::OkStatus();
}

Status MemEnv::RemoveDir(const std::string& dir) {
  MutexLock lock(&state_->mu);
  if (state_->dirs.erase(dir) == 0) return NotFound("rmdir", dir);
  return absl::OkStatus();
}

Status MemEnv::SyncDir(const std::string& dir) {
  MutexLock lock(&state_->mu);
  if (!state_->dirs.contains(dir)) return NotFound("fsync dir", dir);
  if (state_->fail_syncs)
    return absl::InternalError(fmt::format("fsync dir {}: injected I/O error", dir));
  state_->sync_count++;
  auto in_dir = [&](const std::string& path) { return DirName(path) == dir; };
  std::erase_if(state_->durable_files, [&](const auto& entry) { return in_dir(entry.first); });
  for (const auto& [path, file] : state_->files) {
    if (in_dir(path)) state_->durable_files[path] = file;
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<FileLock>> MemEnv::LockFile(const std::string& path) {
  MutexLock lock(&state_->mu);
  if (!state_->dirs.contains(DirName(path))) return NotFound("open lock", path);
  if (state_->locks.contains(path)) {
    return absl::FailedPreconditionError(
        fmt::format("lock {} is held: another store has this directory open", path));
  }
  const uint64_t id = state_->next_lock_id++;
  state_->locks[path] = id;
  if (!state_->files.contains(path)) state_->files[path] = std::make_shared<FileState>();
  return std::unique_ptr<FileLock>(new MemFileLock(state_, path, id));
}

void MemEnv::Crash(const KeepUnsynced& keep) {
  MutexLock lock(&state_->mu);
  state_->generation++;
  state_->locks.clear();
  state_->files = state_->durable_files;
  std::set<FileState*> done;
  for (const auto& [path, file] : state_->files) {
    if (!done.insert(file.get()).second) continue;
    const uint64_t unsynced = file->UnsyncedBytes();
    const uint64_t kept = unsynced == 0 ? 0 : std::min(unsynced, keep(path, unsynced));
    std::string survived = file->durable;
    if (kept > 0) {
      const uint64_t from = file->dirty_from;
      if (survived.size() < from + kept) survived.resize(from + kept);
      survived.replace(from, kept, file->live, from, kept);
    }
    file->live = survived;
    file->durable = std::move(survived);
    file->dirty_from = FileState::kClean;
    file->dirty_to = 0;
  }
}

void MemEnv::CrashDropUnsynced() {
  Crash([](const std::string&, uint64_t) { return uint64_t{0}; });
}

void MemEnv::SetWriteFailure(bool fail) {
  MutexLock lock(&state_->mu);
  state_->fail_writes = fail;
}

void MemEnv::SetWriteFailureFilter(PathFilter fails) {
  MutexLock lock(&state_->mu);
  state_->write_failure_filter = std::move(fails);
}

void MemEnv::SetSyncFailure(bool fail) {
  MutexLock lock(&state_->mu);
  state_->fail_syncs = fail;
}

void MemEnv::SetCapacityBytes(uint64_t bytes) {
  MutexLock lock(&state_->mu);
  state_->capacity_bytes = bytes;
}

Status MemEnv::FlipBit(const std::string& path, uint64_t byte_offset, int bit) {
  MutexLock lock(&state_->mu);
  auto it = state_->files.find(path);
  if (it == state_->files.end()) return NotFound("flip bit in", path);
  FileState& file = *it->second;
  if (byte_offset >= file.live.size() || bit < 0 || bit > 7) {
    return absl::InvalidArgumentError(
        fmt::format("flip bit: offset {} is outside {}", byte_offset, path));
  }
  const char mask = static_cast<char>(1 << bit);
  file.live[byte_offset] ^= mask;
  if (byte_offset < file.durable.size()) file.durable[byte_offset] ^= mask;
  return absl::OkStatus();
}

uint64_t MemEnv::TotalFileBytes() {
  MutexLock lock(&state_->mu);
  return state_->LiveBytes();
}

uint64_t MemEnv::SyncCount() {
  MutexLock lock(&state_->mu);
  return state_->sync_count;
}

uint64_t MemEnv::UnsyncedBytes(const std::string& path) {
  MutexLock lock(&state_->mu);
  auto it = state_->files.find(path);
  return it == state_->files.end() ? 0 : it->second->UnsyncedBytes();
}

}  // namespace toydb
