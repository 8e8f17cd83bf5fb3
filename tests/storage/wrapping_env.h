#ifndef TOYDB_TESTS_STORAGE_WRAPPING_ENV_H_
#define TOYDB_TESTS_STORAGE_WRAPPING_ENV_H_

// Test fakes that change how written files behave: WrappingEnv hands every
// WritableFile it opens to WrapFile(), and ForwardingFile forwards every call
// to the file it wraps, so a fake overrides just the call it changes.

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "toydb/env.h"

namespace toydb::testing {

class ForwardingFile : public WritableFile {
 public:
  explicit ForwardingFile(std::unique_ptr<WritableFile> target) : target_(std::move(target)) {}
  Status Append(std::string_view data) override { return target_->Append(data); }
  Status Sync() override { return target_->Sync(); }
  Status Close() override { return target_->Close(); }
  uint64_t Position() const override { return target_->Position(); }

 protected:
  WritableFile& target() { return *target_; }

 private:
  std::unique_ptr<WritableFile> target_;
};

class WrappingEnv : public EnvWrapper {
 public:
  using EnvWrapper::EnvWrapper;
  StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& p) override {
    return Wrap(EnvWrapper::NewWritableFile(p));
  }
  StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(const std::string& p) override {
    return Wrap(EnvWrapper::NewAppendableFile(p));
  }
  StatusOr<std::unique_ptr<WritableFile>> ReuseWritableFile(const std::string& p,
                                                            uint64_t offset) override {
    return Wrap(EnvWrapper::ReuseWritableFile(p, offset));
  }

 protected:
  virtual std::unique_ptr<WritableFile> WrapFile(std::unique_ptr<WritableFile> file) = 0;

 private:
  StatusOr<std::unique_ptr<WritableFile>> Wrap(StatusOr<std::unique_ptr<WritableFile>> file) {
    if (!file.ok()) return file;
    return WrapFile(std::move(*file));
  }
};

// An Env whose fdatasync takes `delay`, as a disk's does, so that writers
// arriving during one sync queue up behind it and commit as a group.
class SlowSyncEnv : public WrappingEnv {
 public:
  SlowSyncEnv(Env* target, std::chrono::microseconds delay) : WrappingEnv(target), delay_(delay) {}

 protected:
  std::unique_ptr<WritableFile> WrapFile(std::unique_ptr<WritableFile> file) override {
    return std::make_unique<SlowFile>(std::move(file), delay_);
  }

 private:
  class SlowFile : public ForwardingFile {
   public:
    SlowFile(std::unique_ptr<WritableFile> file, std::chrono::microseconds delay)
        : ForwardingFile(std::move(file)), delay_(delay) {}
    Status Sync() override {
      std::this_thread::sleep_for(delay_);
      return target().Sync();
    }

   private:
    const std::chrono::microseconds delay_;
  };
  const std::chrono::microseconds delay_;
};

}  // namespace toydb::testing

#endif  // TOYDB_TESTS_STORAGE_WRAPPING_ENV_H_
