// Tests of MemEnv: the file operations, and crash and fault semantics that the
// storage crash tests and the simulator rely on.
#include "toydb/mem_env.h"

#include <catch2/catch.hpp>

namespace toydb {
namespace {

std::string Read(Env& env, const std::string& path) {
  StatusOr<std::string> data = env.ReadFileToString(path);
  REQUIRE(data.ok());
  return *data;
}

void WriteAndMaybeSync(Env& env, const std::string& path, std::string_view data, bool sync) {
  auto file = env.NewAppendableFile(path);
  REQUIRE(file.ok());
  REQUIRE((*file)->Append(data).ok());
  if (sync) REQUIRE((*file)->Sync().ok());
}

TEST_CASE("MemEnv reads back what was written and lists directories", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db/wal").ok());
  WriteAndMaybeSync(env, "/db/a", "hello", false);
  WriteAndMaybeSync(env, "/db/a", " world", false);
  CHECK(Read(env, "/db/a") == "hello world");
  CHECK(*env.GetFileSize("/db/a") == 11);
  auto children = env.GetChildren("/db");
  REQUIRE(children.ok());
  CHECK(*children == std::vector<std::string>{"a", "wal"});
  REQUIRE(env.RenameFile("/db/a", "/db/b").ok());
  CHECK_FALSE(env.FileExists("/db/a"));
  CHECK(Read(env, "/db/b") == "hello world");
  CHECK(absl::IsNotFound(env.RemoveFile("/db/a")));
  CHECK(absl::IsNotFound(env.NewWritableFile("/nodir/x").status()));
}

TEST_CASE("MemEnv crash drops unsynced bytes and undsynced directory entries", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  WriteAndMaybeSync(env, "/db/synced", "durable", true);
  REQUIRE(env.SyncDir("/db").ok());
  WriteAndMaybeSync(env, "/db/synced", "-lost", false);
  WriteAndMaybeSync(env, "/db/unlinked", "data synced, name not", true);
  CHECK(env.UnsyncedBytes("/db/synced") == 5);

  env.CrashDropUnsynced();
  CHECK(Read(env, "/db/synced") == "durable");
  CHECK_FALSE(env.FileExists("/db/unlinked"));
}

TEST_CASE("MemEnv crash can keep a torn prefix of the last write", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  WriteAndMaybeSync(env, "/db/log", "AAAA", true);
  REQUIRE(env.SyncDir("/db").ok());
  WriteAndMaybeSync(env, "/db/log", "BBBB", false);
  env.Crash([](const std::string&, uint64_t unsynced) {
    CHECK(unsynced == 4);
    return uint64_t{2};
  });
  CHECK(Read(env, "/db/log") == "AAAABB");
}

TEST_CASE("MemEnv rename is undone by a crash before the directory sync", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  WriteAndMaybeSync(env, "/db/CURRENT", "old", true);
  REQUIRE(env.SyncDir("/db").ok());
  WriteAndMaybeSync(env, "/db/CURRENT.tmp", "new", true);
  REQUIRE(env.RenameFile("/db/CURRENT.tmp", "/db/CURRENT").ok());
  env.CrashDropUnsynced();
  CHECK(Read(env, "/db/CURRENT") == "old");

  REQUIRE(env.WriteFileAtomically("/db/CURRENT", "new").ok());
  env.CrashDropUnsynced();
  CHECK(Read(env, "/db/CURRENT") == "new");
  CHECK_FALSE(env.FileExists("/db/CURRENT.tmp"));
}

TEST_CASE("MemEnv handles opened before a crash fail afterwards", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  auto file = env.NewWritableFile("/db/f");
  REQUIRE(file.ok());
  env.CrashDropUnsynced();
  CHECK_FALSE((*file)->Append("x").ok());
  CHECK_FALSE((*file)->Sync().ok());
}

TEST_CASE("MemEnv injects write, sync and disk-full faults", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  auto file = env.NewWritableFile("/db/f");
  REQUIRE(file.ok());

  env.SetWriteFailure(true);
  CHECK_FALSE((*file)->Append("x").ok());
  env.SetWriteFailure(false);
  REQUIRE((*file)->Append("abc").ok());

  env.SetSyncFailure(true);
  CHECK_FALSE((*file)->Sync().ok());
  CHECK(env.UnsyncedBytes("/db/f") == 3);
  env.SetSyncFailure(false);
  REQUIRE((*file)->Sync().ok());

  env.SetCapacityBytes(5);
  CHECK(absl::IsResourceExhausted((*file)->Append("xyz")));
  CHECK(Read(env, "/db/f") == "abc");
  CHECK((*file)->Append("xy").ok());
}

TEST_CASE("MemEnv fails the writes of the files a filter picks", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  auto picked = env.NewWritableFile("/db/CHECKPOINT.tmp");
  auto other = env.NewWritableFile("/db/data.seg");
  REQUIRE(picked.ok());
  REQUIRE(other.ok());
  env.SetWriteFailureFilter(
      [](const std::string& path) { return path.find("CHECKPOINT") != std::string::npos; });
  const Status failed = (*picked)->Append("x");
  CHECK(absl::IsInternal(failed));
  CHECK(failed.message().find("/db/CHECKPOINT.tmp") != std::string_view::npos);
  CHECK(*env.GetFileSize("/db/CHECKPOINT.tmp") == 0);  // Nothing written.
  REQUIRE((*other)->Append("abc").ok());
  CHECK_FALSE(env.WriteFileAtomically("/db/CHECKPOINT", "state").ok());
  CHECK_FALSE(env.FileExists("/db/CHECKPOINT"));
  env.SetWriteFailureFilter(nullptr);
  REQUIRE((*picked)->Append("x").ok());
  REQUIRE(env.WriteFileAtomically("/db/CHECKPOINT", "state").ok());
  CHECK(Read(env, "/db/CHECKPOINT") == "state");
}

TEST_CASE("MemEnv flips a bit durably and reuses files in place", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  WriteAndMaybeSync(env, "/db/f", std::string(4, '\0'), true);
  REQUIRE(env.FlipBit("/db/f", 1, 0).ok());
  env.CrashDropUnsynced();  // The file name was never dir-synced...
  CHECK_FALSE(env.FileExists("/db/f"));

  WriteAndMaybeSync(env, "/db/g", "0000", true);
  REQUIRE(env.SyncDir("/db").ok());
  REQUIRE(env.FlipBit("/db/g", 1, 0).ok());
  env.CrashDropUnsynced();
  CHECK(Read(env, "/db/g") == "0100");
  auto reuse = env.ReuseWritableFile("/db/g", 0);
  REQUIRE(reuse.ok());
  REQUIRE((*reuse)->Append("ab").ok());
  CHECK(Read(env, "/db/g") == "ab00");
  CHECK(absl::IsInvalidArgument(env.FlipBit("/db/g", 9, 0)));
}

TEST_CASE("MemEnv file lock excludes a second holder until released", "[mem_env]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  auto lock = env.LockFile("/db/LOCK");
  REQUIRE(lock.ok());
  CHECK(absl::IsFailedPrecondition(env.LockFile("/db/LOCK").status()));
  lock->reset();
  CHECK(env.LockFile("/db/LOCK").ok());
}

}  // namespace
}  // namespace toydb
