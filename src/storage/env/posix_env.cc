// PosixEnv: the real file system through POSIX calls. Thread-safe.
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "toydb/env.h"

namespace toydb {
namespace {

Status PosixError(std::string_view context, int err) {
  std::string msg = fmt::format("{}: {}", context, std::strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(msg);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(msg);
    case EEXIST:
      return absl::AlreadyExistsError(msg);
    default:
      return absl::InternalError(msg);
  }
}

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t position)
      : path_(std::move(path)), fd_(fd), position_(position) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::pwrite(fd_, data.data(), data.size(), position_);
      if (n < 0) {
        if (errno == EINTR) continue;
        return PosixError(fmt::format("write {}", path_), errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
      position_ += static_cast<uint64_t>(n);
    }
    return absl::OkStatus();
  }

  Status Sync() override {
    if (::fdatasync(fd_) != 0) return PosixError(fmt::format("fdatasync {}", path_), errno);
    return absl::OkStatus();
  }

  void StartWriteback() override {
#ifdef __linux__
    // Whole pages only: the next write would have to wait for a page that
    // is still being written back (the disk may require stable pages), and
    // the next StartWriteback for its I/O.
    const uint64_t end = position_ & ~(kPageBytes - 1);
    // Each call costs a notification of the device (a VM exit on a virtual
    // disk): send at least kWritebackChunkBytes at a time.
    if (end < writeback_from_ + kWritebackChunkBytes) return;
    // A hint: an error here surfaces again at Sync, which is what reports it.
    (void)::sync_file_range(fd_, static_cast<off64_t>(writeback_from_),
                            static_cast<off64_t>(end - writeback_from_), SYNC_FILE_RANGE_WRITE);
    writeback_from_ = end;
#endif
  }

  Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    int rc = ::close(fd_);
    fd_ = -1;
    if (rc != 0) return PosixError(fmt::format("close {}", path_), errno);
    return absl::OkStatus();
  }

  uint64_t Position() const override { return position_; }
  void SetPosition(uint64_t position) { position_ = position; }

 private:
  const std::string path_;
  int fd_;
  uint64_t position_;
  static constexpr uint64_t kPageBytes = 4096;
  static constexpr uint64_t kWritebackChunkBytes = 1u << 20;
  uint64_t writeback_from_ = 0;  // Bytes before this were already sent on their way.
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Status Read(uint64_t offset, size_t n, std::string* out) const override {
    out->resize(n);
    size_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd_, out->data() + done, n - done, offset + done);
      if (r < 0) {
        if (errno == EINTR) continue;
        return PosixError(fmt::format("read {}", path_), errno);
      }
      if (r == 0) break;
      done += static_cast<size_t>(r);
    }
    out->resize(done);
    return absl::OkStatus();
  }

 private:
  const std::string path_;
  int fd_;
};

class PosixMappedFile final : public MappedFile {
 public:
  PosixMappedFile(void* base, size_t length) : base_(base), length_(length) {}
  ~PosixMappedFile() override {
    if (length_ > 0) ::munmap(base_, length_);
  }
  std::string_view bytes() const override { return {static_cast<const char*>(base_), length_}; }

 private:
  void* const base_;
  const size_t length_;
};

// Holds flock()s on the lock file and on its directory. The file alone is
// not enough: unlinking it while a store is open lets the next LockFile create
// a new file and lock that. A directory cannot be unlinked while it holds the
// store's files, so its lock stays whatever happens to LOCK. (flock locks
// belong to an open file description, so a second open of the same path in
// the same process conflicts as well.)
class PosixFileLock final : public FileLock {
 public:
  PosixFileLock(int file_fd, int dir_fd) : file_fd_(file_fd), dir_fd_(dir_fd) {}
  ~PosixFileLock() override {
    ::flock(dir_fd_, LOCK_UN);
    ::close(dir_fd_);
    ::flock(file_fd_, LOCK_UN);
    ::close(file_fd_);
  }

 private:
  int file_fd_;
  int dir_fd_;
};

Status LockHeld(const std::string& path) {
  return absl::FailedPreconditionError(
      fmt::format("lock {} is held: another store has this directory open", path));
}

class PosixEnv final : public Env {
 public:
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    return OpenWritable(path, O_CREAT | O_TRUNC | O_WRONLY, /*at_end=*/false);
  }
  StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& path) override {
    return OpenWritable(path, O_CREAT | O_WRONLY, /*at_end=*/true);
  }
  StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(const std::string& path,
                                                            uint64_t offset) override {
    auto file = OpenWritable(path, O_WRONLY, /*at_end=*/false);
    if (file.ok()) static_cast<PosixWritableFile*>(file->get())->SetPosition(offset);
    return file;
  }

  StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(fmt::format("open {}", path), errno);
    return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
  }

  StatusOr<std::unique_ptr<MappedFile>> MapReadOnly(const std::string& path,
                                                    uint64_t length) override {
    // mmap refuses an empty mapping.
    if (length == 0) return std::unique_ptr<MappedFile>(new PosixMappedFile(nullptr, 0));
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(fmt::format("open {}", path), errno);
    void* base = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0);
    const int err = errno;
    ::close(fd);  // The mapping keeps the file open.
    if (base == MAP_FAILED) return PosixError(fmt::format("mmap {}", path), err);
    return std::unique_ptr<MappedFile>(new PosixMappedFile(base, length));
  }

  bool FileExists(const std::string& path) override { return ::access(path.c_str(), F_OK) == 0; }

  StatusOr<uint64_t> GetFileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError(fmt::format("stat {}", path), errno);
    return static_cast<uint64_t>(st.st_size);
  }

  StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError(fmt::format("opendir {}", dir), errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string_view name = e->d_name;
      if (name != "." && name != "..") names.emplace_back(name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError(fmt::format("unlink {}", path), errno);
    return absl::OkStatus();
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return PosixError(fmt::format("rename {} to {}", from, to), errno);
    }
    return absl::OkStatus();
  }

  Status TruncateFile(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return PosixError(fmt::format("truncate {}", path), errno);
    }
    return absl::OkStatus();
  }

  Status CreateDir(const std::string& dir) override {
    if (dir.empty() || FileExists(dir)) return absl::OkStatus();
    std::string parent = DirName(dir);
    if (parent != dir && parent != "." && parent != "/") {
      Status s = CreateDir(parent);
      if (!s.ok()) return s;
    }
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return PosixError(fmt::format("mkdir {}", dir), errno);
    }
    return absl::OkStatus();
  }

  Status RemoveDir(const std::string& dir) override {
    if (::rmdir(dir.c_str()) != 0) return PosixError(fmt::format("rmdir {}", dir), errno);
    return absl::OkStatus();
  }

  Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError(fmt::format("open dir {}", dir), errno);
    int rc = ::fsync(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return PosixError(fmt::format("fsync dir {}", dir), err);
    return absl::OkStatus();
  }

  StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    const std::string dir = DirName(path);
    int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd < 0) return PosixError(fmt::format("open dir {}", dir), errno);
    // The directory first: it is the lock that survives an unlinked LOCK.
    if (::flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(dir_fd);
      if (err == EWOULDBLOCK) return LockHeld(path);
      return PosixError(fmt::format("flock dir {}", dir), err);
    }
    int fd = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int err = errno;
      ::close(dir_fd);
      return PosixError(fmt::format("open lock {}", path), err);
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      ::close(dir_fd);
      return LockHeld(path);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd, dir_fd));
  }

 private:
  StatusOr<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, int flags,
                                                       bool at_end) {
    int fd = ::open(path.c_str(), flags | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError(fmt::format("open {}", path), errno);
    uint64_t position = 0;
    if (at_end) {
      off_t end = ::lseek(fd, 0, SEEK_END);
      if (end < 0) {
        int err = errno;
        ::close(fd);
        return PosixError(fmt::format("seek {}", path), err);
      }
      position = static_cast<uint64_t>(end);
    }
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd, position));
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv();
  return env;
}

}  // namespace toydb
