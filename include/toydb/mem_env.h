#ifndef TOYDB_MEM_ENV_H_
#define TOYDB_MEM_ENV_H_

// MemEnv: an in-memory Env with power-cut semantics and fault injection, for
// tests and the simulator. It remembers, per file, which bytes are durable
// (synced) and, per directory, which entries are durable (SyncDir). Crash()
// forgets everything that was not made durable, optionally keeping a torn
// prefix of the unsynced bytes. Thread-safe. One MemEnv is one machine's disk;
// the file handles it opens share its disk and stay valid after it is gone.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "toydb/env.h"

namespace toydb {

namespace mem_env_internal {
struct State;  // The files, directories, locks and faults (mem_env.cc).
}  // namespace mem_env_internal

class MemEnv : public Env {
 public:
  MemEnv();
  ~MemEnv() override;
  MemEnv(const MemEnv&) = delete;
  MemEnv& operator=(const MemEnv&) = delete;

  // --- Env ---
  [[nodiscard]] StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override;
  [[nodiscard]] StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override;
  [[nodiscard]] StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(const std::string& path,
                                                                          uint64_t offset) override;
  [[nodiscard]] StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override;
  bool FileExists(const std::string& path) override;
  [[nodiscard]] StatusOr<uint64_t> GetFileSize(const std::string& path) override;
  [[nodiscard]] StatusOr<std::vector<std::string>> GetChildren(const std::string& dir) override;
  [[nodiscard]] Status RemoveFile(const std::string& path) override;
  [[nodiscard]] Status RenameFile(const std::string& from, const std::string& to) override;
  [[nodiscard]] Status TruncateFile(const std::string& path, uint64_t size) override;
  [[nodiscard]] Status CreateDir(const std::string& dir) override;
  [[nodiscard]] Status RemoveDir(const std::string& dir) override;
  [[nodiscard]] Status SyncDir(const std::string& dir) override;
  [[nodiscard]] StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& path) override;

  // --- Simulated power cut ---

  // Decides how many of a file's unsynced bytes survive a crash (0 drops them
  // all; a value between 0 and `unsynced_bytes` tears the last write).
  using KeepUnsynced = std::function<uint64_t(const std::string& path, uint64_t unsynced_bytes)>;

  // Every file reverts to its synced bytes (plus what `keep` allows), every
  // directory to its entries as of its last SyncDir, locks are released, and
  // every file handle opened before the crash fails from then on.
  void Crash(const KeepUnsynced& keep);
  // Crash that loses every unsynced byte.
  void CrashDropUnsynced();

  // --- Fault injection ---

  // While set, every Append fails with an I/O error (the bytes are not written).
  void SetWriteFailure(bool fail);
  // Decides which files' Appends fail with an I/O error (the bytes are not
  // written), by path: a fault of one kind of file (a checkpoint, a hint file,
  // new data segments). An empty function clears it. Called with the MemEnv's
  // lock held: it must not call the MemEnv.
  using PathFilter = std::function<bool(const std::string& path)>;
  void SetWriteFailureFilter(PathFilter fails);
  // While set, every Sync and SyncDir fails; the unsynced bytes stay unsynced.
  void SetSyncFailure(bool fail);
  // The disk holds at most `bytes` of file data; an Append past it fails with
  // ResourceExhausted and writes nothing. UINT64_MAX means unlimited.
  void SetCapacityBytes(uint64_t bytes);
  // Flips one bit of a stored file, durably (as media corruption would).
  [[nodiscard]] Status FlipBit(const std::string& path, uint64_t byte_offset, int bit);

  // --- Inspection ---
  uint64_t TotalFileBytes();
  uint64_t SyncCount();
  // Bytes of `path` not yet durable, or 0 if it has none / does not exist.
  uint64_t UnsyncedBytes(const std::string& path);

 private:
  // Shared with the file handles, which may outlive the MemEnv.
  std::shared_ptr<mem_env_internal::State> state_;
};

}  // namespace toydb

#endif  // TOYDB_MEM_ENV_H_
