#ifndef TOYDB_TESTS_STORAGE_TEMP_DIR_H_
#define TOYDB_TESTS_STORAGE_TEMP_DIR_H_

// TempDir: a fresh directory under /tmp for tests on the real file system,
// removed with its contents when the test ends. Not thread-safe.

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <string>

#include "toydb/env.h"

namespace toydb {

// Removes a test directory (files and one subdirectory level) even when an
// assertion ends the test early.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/toydb-test-XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    REQUIRE(dir != nullptr);
    path_ = dir;
  }
  ~TempDir() { RemoveTree(path_); }
  const std::string& path() const { return path_; }

 private:
  static void RemoveTree(const std::string& dir) {
    Env* env = Env::Default();
    StatusOr<std::vector<std::string>> names = env->GetChildren(dir);
    if (names.ok()) {
      for (const std::string& n : *names) {
        if (n == "." || n == "..") continue;
        const std::string path = JoinPath(dir, n);
        if (!env->RemoveFile(path).ok()) RemoveTree(path);
      }
    }
    env->RemoveDir(dir).IgnoreError();
  }
  std::string path_;
};

}  // namespace toydb

#endif  // TOYDB_TESTS_STORAGE_TEMP_DIR_H_
