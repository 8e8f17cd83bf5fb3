#ifndef TOYDB_SIM_INCARNATION_ENV_H_
#define TOYDB_SIM_INCARNATION_ENV_H_

// IncarnationEnv: the disk as one incarnation of a simulated node's process
// sees it. It forwards to the node's MemEnv until the node crashes; from then
// on every call fails (Unavailable) and no file exists, so the dying process
// cannot write, sync, rename or remove anything on its way down: a power cut
// gives code no chance to run, while destructors in C++ do run. Files opened
// before the crash stop working too, because the MemEnv's power cut makes
// their handles fail.
//
// Owned by the SimNode, one per incarnation; single-threaded like the
// simulator.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "toydb/env.h"

namespace toydb::sim {

class IncarnationEnv final : public EnvWrapper {
 public:
  IncarnationEnv(Env* disk, uint64_t node_id, uint64_t incarnation)
      : EnvWrapper(disk), node_id_(node_id), incarnation_(incarnation) {}

  // The process crashed: refuse everything from now on.
  void Kill() { dead_ = true; }
  bool dead() const { return dead_; }
  // Calls refused since Kill(): what the dying process tried to do.
  uint64_t refused_calls() const { return refused_calls_; }

  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return Guard("NewWritableFile", [&] { return EnvWrapper::NewWritableFile(p); });
  }
  StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& p) override {
    return Guard("NewAppendableFile", [&] { return EnvWrapper::NewAppendableFile(p); });
  }
  StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(const std::string& p,
                                                            uint64_t offset) override {
    return Guard("ReuseWritableFile", [&] { return EnvWrapper::ReuseWritableFile(p, offset); });
  }
  StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(const std::string& p) override {
    return Guard("NewRandomAccessFile", [&] { return EnvWrapper::NewRandomAccessFile(p); });
  }
  bool FileExists(const std::string& p) override {
    return Refuse("FileExists").ok() && EnvWrapper::FileExists(p);
  }
  StatusOr<uint64_t> GetFileSize(const std::string& p) override {
    return Guard("GetFileSize", [&] { return EnvWrapper::GetFileSize(p); });
  }
  StatusOr<std::vector<std::string>> GetChildren(const std::string& d) override {
    return Guard("GetChildren", [&] { return EnvWrapper::GetChildren(d); });
  }
  Status RemoveFile(const std::string& p) override {
    return Guard("RemoveFile", [&] { return EnvWrapper::RemoveFile(p); });
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    return Guard("RenameFile", [&] { return EnvWrapper::RenameFile(f, t); });
  }
  Status TruncateFile(const std::string& p, uint64_t size) override {
    return Guard("TruncateFile", [&] { return EnvWrapper::TruncateFile(p, size); });
  }
  Status CreateDir(const std::string& d) override {
    return Guard("CreateDir", [&] { return EnvWrapper::CreateDir(d); });
  }
  Status RemoveDir(const std::string& d) override {
    return Guard("RemoveDir", [&] { return EnvWrapper::RemoveDir(d); });
  }
  Status SyncDir(const std::string& d) override {
    return Guard("SyncDir", [&] { return EnvWrapper::SyncDir(d); });
  }
  StatusOr<std::unique_ptr<MappedFile>> MapReadOnly(const std::string& p,
                                                    uint64_t length) override {
    return Guard("MapReadOnly", [&] { return EnvWrapper::MapReadOnly(p, length); });
  }
  StatusOr<std::unique_ptr<FileLock>> LockFile(const std::string& p) override {
    return Guard("LockFile", [&] { return EnvWrapper::LockFile(p); });
  }

 private:
  // Counts the call and returns the error when the process is dead.
  Status Refuse(const char* call);
  // Runs `forward` unless the process is dead.
  template <typename Forward>
  auto Guard(const char* call, Forward forward) -> decltype(forward()) {
    if (Status s = Refuse(call); !s.ok()) return s;
    return forward();
  }

  const uint64_t node_id_;
  const uint64_t incarnation_;
  bool dead_ = false;
  uint64_t refused_calls_ = 0;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_INCARNATION_ENV_H_
