#ifndef TOYDB_ENV_H_
#define TOYDB_ENV_H_

// Env is toydb's only door to the file system. The store, the WAL and every
// file format reach files through it, so tests and the simulator can swap in
// MemEnv (mem_env.h), which loses unsynced bytes on a simulated crash and
// injects faults on command. Time is deliberately not part of Env: see clock.h.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "toydb/status.h"

namespace toydb {

// A file being written, positioned at its logical end. Not thread-safe: one
// writer at a time. Owned by whoever opened it; destroying it closes it.
class WritableFile {
 public:
  virtual ~WritableFile() = default;

  // Writes `data` at the current position and advances it. The bytes are not
  // durable until Sync() returns OK. A full disk reports ResourceExhausted.
  [[nodiscard]] virtual Status Append(std::string_view data) = 0;

  // Makes everything appended so far durable (fdatasync). A failed Sync means
  // the durability of every unsynced byte is unknown. Sync may run on one
  // thread while Append runs on another (bytes appended meanwhile may or may
  // not be covered); every other pair of calls needs the caller's exclusion.
  [[nodiscard]] virtual Status Sync() = 0;

  [[nodiscard]] virtual Status Close() = 0;

  // Starts writing the bytes appended so far to the device and returns
  // without waiting. It promises nothing about durability (only Sync does),
  // but a large file written this way has most of its bytes on the device by
  // the time it is synced, so the disk works while the writer computes.
  // Optional: the default does nothing.
  virtual void StartWriteback() {}

  // The write position: bytes appended since open, plus the starting offset.
  virtual uint64_t Position() const = 0;
};

// A file read at arbitrary offsets. Thread-safe: concurrent Reads are allowed.
class RandomAccessFile {
 public:
  virtual ~RandomAccessFile() = default;

  // Reads up to `n` bytes at `offset` into `out` (replacing its contents).
  // Fewer bytes than asked means the file ended.
  [[nodiscard]] virtual Status Read(uint64_t offset, size_t n, std::string* out) const = 0;
};

// A file's first bytes mapped read-only into memory, so that reading them
// costs no system call. Thread-safe. Owned by whoever mapped the file;
// destroying it unmaps. While it lives, the file must not shrink (reading a
// page past the file's end kills the process) and its mapped bytes must not
// be rewritten (readers would see the new bytes): map only immutable files.
class MappedFile {
 public:
  virtual ~MappedFile() = default;
  virtual std::string_view bytes() const = 0;
};

// An advisory lock on a file, released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

// Env: files and directories. Implementations are thread-safe. Paths are
// plain strings joined with '/'.
class Env {
 public:
  virtual ~Env() = default;

  // Creates `path`, or truncates it if it exists, for writing from offset 0.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) = 0;

  // Opens `path` (created if missing) for writing at its current end.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) = 0;

  // Opens an existing `path` for writing from `offset` over its old bytes
  // without truncating it (writing past its end extends it). Writes into
  // already-allocated blocks need no file-size metadata on sync, which makes
  // recycled or preallocated log segments cheaper to fdatasync than growing
  // files.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(
      const std::string& path, uint64_t offset) = 0;

  [[nodiscard]] virtual StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) = 0;

  // Maps the first `length` bytes of `path` (which has at least that many)
  // read-only; see MappedFile for what the caller must then guarantee.
  // Optional: an Env that cannot map (the default) returns Unimplemented,
  // and the caller reads through a RandomAccessFile instead.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<MappedFile>> MapReadOnly(const std::string& path,
                                                                          uint64_t length);

  virtual bool FileExists(const std::string& path) = 0;
  [[nodiscard]] virtual StatusOr<uint64_t> GetFileSize(const std::string& path) = 0;
  // Names (not paths) of the entries of `dir`, sorted.
  [[nodiscard]] virtual StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) = 0;
  [[nodiscard]] virtual Status RemoveFile(const std::string& path) = 0;
  // Atomically replaces `to` with `from`. Durable once the parent directory
  // is synced.
  [[nodiscard]] virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  [[nodiscard]] virtual Status TruncateFile(const std::string& path, uint64_t size) = 0;
  // Creates `dir` (and missing parents); OK if it exists.
  [[nodiscard]] virtual Status CreateDir(const std::string& dir) = 0;
  [[nodiscard]] virtual Status RemoveDir(const std::string& dir) = 0;
  // Makes the creation, removal and renaming of entries in `dir` durable.
  [[nodiscard]] virtual Status SyncDir(const std::string& dir) = 0;
  // Takes an exclusive lock so two stores never open the same directory:
  // FailedPrecondition if another holder (another process, or another
  // LockFile of the same path in this one) has it. PosixEnv locks the file
  // and its directory, so unlinking the file does not release the lock.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;

  // Reads a whole file.
  [[nodiscard]] StatusOr<std::string> ReadFileToString(const std::string& path);
  // Writes a whole file atomically and durably: temp file, sync, rename, sync
  // of the directory. Readers see the old or the new content, never a mix.
  [[nodiscard]] Status WriteFileAtomically(const std::string& path, std::string_view data);

  // The process-wide POSIX Env. Never deleted.
  static Env* Default();
};

// Forwards every call to another Env, so a test fake overrides only what it
// needs. Does not own the target.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  [[nodiscard]] StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& p) override {
    return target_->NewWritableFile(p);
  }
  [[nodiscard]] StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& p) override {
    return target_->NewAppendableFile(p);
  }
  [[nodiscard]] StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(
      const std::string& p, uint64_t offset) override {
    return target_->ReuseWritableFile(p, offset);
  }
  [[nodiscard]] StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& p) override {
    return target_->NewRandomAccessFile(p);
  }
  StatusOr<std::unique_ptr<MappedFile>> MapReadOnly(const std::string& p,
                                                    uint64_t length) override {
    return target_->MapReadOnly(p, length);
  }
  bool FileExists(const std::string& p) override { return target_->FileExists(p); }
  [[nodiscard]] StatusOr<uint64_t> GetFileSize(const std::string& p) override {
    return target_->GetFileSize(p);
  }
  [[nodiscard]] StatusOr<std::vector<std::string>> GetChildren(const std::string& d) override {
    return target_->GetChildren(d);
  }
  [[nodiscard]] Status RemoveFile(const std::string& p) override { return target_->RemoveFile(p); }
  [[nodiscard]] Status RenameFile(const std::string& f, const std::string& t) override {
    return target_->RenameFile(f, t);
  }
  [[nodiscard]] Status TruncateFile(const std::string& p, uint64_t size) override {
    return target_->TruncateFile(p, size);
  }
  [[nodiscard]] Status CreateDir(const std::string& d) override { return target_->CreateDir(d); }
  [[nodiscard]] Status RemoveDir(const std::string& d) override { return target_->RemoveDir(d); }
  [[nodiscard]] Status SyncDir(const std::string& d) override { return target_->SyncDir(d); }
  [[nodiscard]] StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& p) override {
    return target_->LockFile(p);
  }

 private:
  Env* target_;
};

// "dir/name", tolerating a trailing slash on dir.
std::string JoinPath(std::string_view dir, std::string_view name);
// The directory part of a path ("." when there is none).
std::string DirName(std::string_view path);

}  // namespace toydb

#endif  // TOYDB_ENV_H_
