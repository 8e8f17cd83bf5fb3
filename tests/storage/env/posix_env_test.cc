// Tests of PosixEnv (Env::Default()) on a temporary directory: files,
// appends and reads, reuse, rename, truncate, directories, listing, and the
// directory lock. Not covered: the mapping of ENOSPC to ResourceExhausted,
// which needs a full file system (a tiny tmpfs) that tests cannot mount here.
#include <catch2/catch.hpp>
#include <string>

#include "tests/storage/store_test_util.h"
#include "tests/storage/temp_dir.h"
#include "toydb/env.h"
#include "toydb/store.h"

namespace toydb {
namespace {

std::string ReadAll(Env* env, const std::string& path) {
  StatusOr<std::string> bytes = env->ReadFileToString(path);
  INFO(bytes.status().ToString());
  REQUIRE(bytes.ok());
  return *bytes;
}

TEST_CASE("PosixEnv writes, appends, reuses and reads files", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = JoinPath(dir.path(), "f");
  {
    auto file = env->NewWritableFile(path);
    REQUIRE(file.ok());
    REQUIRE((*file)->Append("hello ").ok());
    REQUIRE((*file)->Append("world").ok());
    CHECK((*file)->Position() == 11);
    REQUIRE((*file)->Sync().ok());
    REQUIRE((*file)->Close().ok());
  }
  CHECK(env->FileExists(path));
  CHECK(*env->GetFileSize(path) == 11);
  {
    auto file = env->NewAppendableFile(path);
    REQUIRE(file.ok());
    CHECK((*file)->Position() == 11);
    REQUIRE((*file)->Append("!").ok());
  }
  CHECK(ReadAll(env, path) == "hello world!");
  {
    // Overwrites in place from an offset, without truncating.
    auto file = env->ReuseWritableFile(path, 6);
    REQUIRE(file.ok());
    REQUIRE((*file)->Append("WORLD").ok());
    CHECK((*file)->Position() == 11);
  }
  CHECK(ReadAll(env, path) == "hello WORLD!");
  auto reader = env->NewRandomAccessFile(path);
  REQUIRE(reader.ok());
  std::string out;
  REQUIRE((*reader)->Read(6, 5, &out).ok());
  CHECK(out == "WORLD");
  // A read past the end returns what there is.
  REQUIRE((*reader)->Read(10, 100, &out).ok());
  CHECK(out == "D!");
  REQUIRE((*reader)->Read(100, 4, &out).ok());
  CHECK(out.empty());
  // NewWritableFile truncates an existing file.
  REQUIRE(env->NewWritableFile(path).ok());
  CHECK(*env->GetFileSize(path) == 0);
}

TEST_CASE("PosixEnv reports missing files as NotFound", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Default();
  const std::string missing = JoinPath(dir.path(), "missing");
  CHECK(!env->FileExists(missing));
  CHECK(absl::IsNotFound(env->GetFileSize(missing).status()));
  CHECK(absl::IsNotFound(env->NewRandomAccessFile(missing).status()));
  CHECK(absl::IsNotFound(env->RemoveFile(missing)));
  CHECK(absl::IsNotFound(env->ReuseWritableFile(missing, 0).status()));
  CHECK(absl::IsNotFound(env->GetChildren(missing).status()));
}

TEST_CASE("PosixEnv renames, truncates, removes, lists and syncs directories", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Default();
  const std::string a = JoinPath(dir.path(), "a"), b = JoinPath(dir.path(), "b");
  REQUIRE(env->WriteFileAtomically(a, "0123456789").ok());
  REQUIRE(env->WriteFileAtomically(b, "old").ok());
  // Rename replaces the target atomically.
  REQUIRE(env->RenameFile(a, b).ok());
  CHECK(!env->FileExists(a));
  CHECK(ReadAll(env, b) == "0123456789");
  REQUIRE(env->TruncateFile(b, 4).ok());
  CHECK(ReadAll(env, b) == "0123");
  // Nested directories are created with their parents; listing is sorted.
  const std::string sub = JoinPath(dir.path(), "x/y");
  REQUIRE(env->CreateDir(sub).ok());
  REQUIRE(env->CreateDir(sub).ok());  // Exists: fine.
  REQUIRE(env->WriteFileAtomically(JoinPath(sub, "z"), "").ok());
  REQUIRE(env->WriteFileAtomically(JoinPath(sub, "c"), "").ok());
  CHECK(*env->GetChildren(sub) == std::vector<std::string>{"c", "z"});
  CHECK(*env->GetChildren(dir.path()) == std::vector<std::string>{"b", "x"});
  REQUIRE(env->SyncDir(sub).ok());
  REQUIRE(env->RemoveFile(JoinPath(sub, "z")).ok());
  REQUIRE(env->RemoveFile(JoinPath(sub, "c")).ok());
  REQUIRE(env->RemoveDir(sub).ok());
  CHECK(!env->FileExists(sub));
  CHECK(!env->SyncDir(JoinPath(dir.path(), "none")).ok());
}

TEST_CASE("PosixEnv WriteFileAtomically leaves no temp file", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = JoinPath(dir.path(), "CHECKPOINT");
  REQUIRE(env->WriteFileAtomically(path, "one").ok());
  REQUIRE(env->WriteFileAtomically(path, "two").ok());
  CHECK(ReadAll(env, path) == "two");
  CHECK(*env->GetChildren(dir.path()) == std::vector<std::string>{"CHECKPOINT"});
}

TEST_CASE("PosixEnv lock is exclusive, also within one process, and released on destruction",
          "[posix_env]") {
  TempDir dir;
  Env* env = Env::Default();
  const std::string lock_path = JoinPath(dir.path(), "LOCK");
  auto lock = env->LockFile(lock_path);
  REQUIRE(lock.ok());
  CHECK(absl::IsFailedPrecondition(env->LockFile(lock_path).status()));
  lock->reset();
  auto again = env->LockFile(lock_path);
  CHECK(again.ok());
}

TEST_CASE("PosixEnv lock holds after the LOCK file is unlinked", "[posix_env]") {
  TempDir dir;
  Env* env = Env::Default();
  const std::string lock_path = JoinPath(dir.path(), "LOCK");
  auto lock = env->LockFile(lock_path);
  REQUIRE(lock.ok());
  REQUIRE(env->RemoveFile(lock_path).ok());
  StatusOr<std::unique_ptr<FileLock>> second = env->LockFile(lock_path);
  INFO(second.status().ToString());
  CHECK(absl::IsFailedPrecondition(second.status()));
  lock->reset();
  CHECK(env->LockFile(lock_path).ok());
}

TEST_CASE("Store on PosixEnv refuses a second Open after its LOCK file was unlinked",
          "[posix_env][store]") {
  TempDir dir;
  StoreOptions options = testing::MemStoreOptions(nullptr, dir.path());
  options.env = Env::Default();
  auto store = testing::OpenOrDie(options);
  REQUIRE(store->Put({}, "k", "v").ok());
  // A second Open in the same process, with the LOCK file in place.
  CHECK(absl::IsFailedPrecondition(Store::Open(options).status()));
  REQUIRE(Env::Default()->RemoveFile(JoinPath(dir.path(), "LOCK")).ok());
  StatusOr<std::unique_ptr<Store>> second = Store::Open(options);
  INFO(second.status().ToString());
  REQUIRE(!second.ok());
  CHECK(absl::IsFailedPrecondition(second.status()));
  CHECK(std::string(second.status().message()).find("open") != std::string::npos);
  store.reset();
  store = testing::OpenOrDie(options);
  CHECK(*store->Get("k") == "v");
}

}  // namespace
}  // namespace toydb
