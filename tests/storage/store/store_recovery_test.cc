// Tests of Store::Open against a missing or stale CHECKPOINT, and of
// Store::Repair: an Open that fails leaves the directory exactly as it was,
// and Repair rebuilds a checkpoint from the data segments and the WAL.
#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "src/storage/store/checkpoint.h"
#include "src/storage/wal/wal.h"
#include "tests/storage/store_test_util.h"
#include "tests/storage/temp_dir.h"
#include "toydb/store.h"

namespace toydb {
namespace {

using testing::MemStoreOptions;
using testing::OpenOrDie;

// Every file under `dir` (one level of subdirectories: wal/), with its bytes.
std::map<std::string, std::string> DirContents(Env* env, const std::string& dir) {
  std::map<std::string, std::string> contents;
  StatusOr<std::vector<std::string>> names = env->GetChildren(dir);
  REQUIRE(names.ok());
  for (const std::string& name : *names) {
    const std::string path = JoinPath(dir, name);
    StatusOr<std::string> bytes = env->ReadFileToString(path);
    if (bytes.ok()) {
      contents[path] = *bytes;
      continue;
    }
    for (const auto& [sub, sub_bytes] : DirContents(env, path)) contents[sub] = sub_bytes;
  }
  return contents;
}

// Key -> version of every live key, as the writes acknowledged them.
using Versions = std::map<std::string, uint64_t>;

// Writes `count` puts over `keys` keys (and deletes every 7th key once),
// recording the version each acknowledged write got.
void WriteKeys(Store& store, int from, int count, int keys, Versions* versions) {
  for (int i = from; i < from + count; ++i) {
    const std::string key = "key" + std::to_string(i % keys);
    StatusOr<uint64_t> lsn = store.Put({}, key, std::string(100, static_cast<char>('a' + i % 26)));
    REQUIRE(lsn.ok());
    (*versions)[key] = *lsn;
    if (i % 7 == 0) {
      const std::string victim = "key" + std::to_string((i * 13) % keys);
      REQUIRE(store.Delete({}, victim).ok());
      versions->erase(victim);
    }
  }
}

void CheckVersions(Store& store, const Versions& versions, int keys) {
  CHECK(store.GetStats().keys == versions.size());
  for (int i = 0; i < keys; ++i) {
    const std::string key = "key" + std::to_string(i);
    StatusOr<VersionedValue> v = store.GetVersioned(key);
    auto it = versions.find(key);
    if (it == versions.end()) {
      INFO(key);
      CHECK(absl::IsNotFound(v.status()));
    } else {
      INFO(key << ": " << v.status().ToString());
      REQUIRE(v.ok());
      CHECK(v->version == it->second);
    }
  }
}

constexpr int kKeys = 300;

// A store whose WAL has released its first segments, so that a checkpoint
// is needed to recover it. Returns the CHECKPOINT bytes after the first
// phase (an older copy, as a backup would hold) in *old_checkpoint.
void BuildStore(Env* env, const StoreOptions& options, Versions* versions,
                std::string* old_checkpoint) {
  auto store = OpenOrDie(options);
  WriteKeys(*store, 0, 2000, kKeys, versions);
  REQUIRE(store->Checkpoint().ok());
  *old_checkpoint = *env->ReadFileToString(JoinPath(options.dir, "CHECKPOINT"));
  WriteKeys(*store, 2000, 3000, kKeys, versions);
  REQUIRE(store->Compact(/*force=*/true).ok());
  WriteKeys(*store, 5000, 500, kKeys, versions);
  REQUIRE(store->Checkpoint().ok());
  WriteKeys(*store, 5500, 100, kKeys, versions);  // After the last checkpoint.
}

// Replaces CHECKPOINT with `bytes`, or removes it when empty.
void SetCheckpoint(Env* env, const std::string& dir, const std::string& bytes) {
  const std::string path = JoinPath(dir, "CHECKPOINT");
  if (bytes.empty()) {
    REQUIRE(env->RemoveFile(path).ok());
  } else {
    REQUIRE(env->WriteFileAtomically(path, bytes).ok());
  }
}

// Open must fail, name Repair, and leave every file as it was.
void CheckOpenFailsAndChangesNothing(Env* env, const StoreOptions& options) {
  const auto before = DirContents(env, options.dir);
  StatusOr<std::unique_ptr<Store>> store = Store::Open(options);
  INFO(store.status().ToString());
  REQUIRE(!store.ok());
  CHECK(absl::IsDataLoss(store.status()));
  CHECK(std::string(store.status().message()).find("Repair") != std::string::npos);
  const auto after = DirContents(env, options.dir);
  CHECK(after.size() == before.size());
  for (const auto& [path, bytes] : before) {
    INFO(path);
    auto it = after.find(path);
    REQUIRE(it != after.end());
    CHECK(it->second.size() == bytes.size());
    const bool same_bytes = it->second == bytes;
    CHECK(same_bytes);
  }
}

TEST_CASE(
    "Store Open without its CHECKPOINT fails, changes nothing, and the right one restores "
    "every key",
    "[store][recovery]") {
  MemEnv env;
  const StoreOptions options = MemStoreOptions(&env);
  Versions versions;
  std::string old_checkpoint;
  BuildStore(&env, options, &versions, &old_checkpoint);
  const std::string checkpoint = *env.ReadFileToString("/db/CHECKPOINT");

  SECTION("checkpoint missing") { SetCheckpoint(&env, options.dir, ""); }
  SECTION("checkpoint replaced by an older copy") {
    SetCheckpoint(&env, options.dir, old_checkpoint);
  }
  CheckOpenFailsAndChangesNothing(&env, options);
  // Twice: the first failure must not have prepared a different second one.
  CheckOpenFailsAndChangesNothing(&env, options);
  SetCheckpoint(&env, options.dir, checkpoint);
  auto store = OpenOrDie(options);
  CheckVersions(*store, versions, kKeys);
}

TEST_CASE("Store Open on PosixEnv without its CHECKPOINT leaves the directory byte-identical",
          "[store][recovery]") {
  TempDir dir;
  StoreOptions options = MemStoreOptions(nullptr, dir.path());
  options.env = Env::Default();
  Versions versions;
  std::string old_checkpoint;
  BuildStore(Env::Default(), options, &versions, &old_checkpoint);
  const std::string checkpoint = *Env::Default()->ReadFileToString(dir.path() + "/CHECKPOINT");
  SetCheckpoint(Env::Default(), options.dir, old_checkpoint);
  CheckOpenFailsAndChangesNothing(Env::Default(), options);
  SetCheckpoint(Env::Default(), options.dir, checkpoint);
  auto store = OpenOrDie(options);
  CheckVersions(*store, versions, kKeys);
}

TEST_CASE("Store Repair rebuilds a lost or stale checkpoint from the data segments and the WAL",
          "[store][recovery]") {
  MemEnv env;
  const StoreOptions options = MemStoreOptions(&env);
  Versions versions;
  std::string old_checkpoint;
  BuildStore(&env, options, &versions, &old_checkpoint);

  SECTION("checkpoint missing") { SetCheckpoint(&env, options.dir, ""); }
  SECTION("checkpoint replaced by an older copy") {
    SetCheckpoint(&env, options.dir, old_checkpoint);
  }
  SECTION("checkpoint damaged") { SetCheckpoint(&env, options.dir, "not a checkpoint"); }
  REQUIRE(!Store::Open(options).ok());
  StatusOr<RepairReport> report = Store::Repair(options);
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  INFO(report->summary);
  CHECK(report->segments_kept > 0);
  CHECK(!report->summary.empty());
  {
    auto store = OpenOrDie(options);
    CheckVersions(*store, versions, kKeys);
    WriteKeys(*store, 6000, 300, kKeys, &versions);
  }
  // The repaired store goes on like any other: writes, checkpoints, reopens.
  auto store = OpenOrDie(options);
  CheckVersions(*store, versions, kKeys);
  REQUIRE(store->Compact(/*force=*/true).ok());
  store.reset();
  store = OpenOrDie(options);
  CheckVersions(*store, versions, kKeys);
}

TEST_CASE("Store Repair refuses a store that is open", "[store][recovery]") {
  MemEnv env;
  auto store = OpenOrDie(MemStoreOptions(&env));
  CHECK(absl::IsFailedPrecondition(Store::Repair(MemStoreOptions(&env)).status()));
}

TEST_CASE("Store Repair keeps the bytes after a damaged data record aside and reports them",
          "[store][recovery]") {
  MemEnv env;
  const StoreOptions options = MemStoreOptions(&env);
  Versions versions;
  std::string old_checkpoint;
  BuildStore(&env, options, &versions, &old_checkpoint);
  SetCheckpoint(&env, options.dir, "");
  // Damage the last byte of the newest data segment: a record that only the
  // WAL still holds (it was written after the last checkpoint).
  std::string newest;
  const std::vector<std::string> names = *env.GetChildren("/db");
  for (const std::string& name : names) {
    if (name.starts_with("data-") && name.ends_with(".seg")) newest = "/db/" + name;
  }
  REQUIRE(!newest.empty());
  std::string bytes = *env.ReadFileToString(newest);
  REQUIRE(!bytes.empty());
  bytes.back() ^= 0x40;
  REQUIRE(env.WriteFileAtomically(newest, bytes).ok());

  StatusOr<RepairReport> report = Store::Repair(options);
  INFO(report.status().ToString());
  REQUIRE(report.ok());
  INFO(report->summary);
  CHECK(report->bytes_not_kept > 0);
  CHECK(report->summary.find("lost/") != std::string::npos);
  // The cut bytes are kept aside, not deleted.
  bool found = false;
  for (const auto& [path, lost] : DirContents(&env, "/db/lost")) found = found || !lost.empty();
  CHECK(found);
  auto store = OpenOrDie(options);
  CheckVersions(*store, versions, kKeys);
}

TEST_CASE(
    "Store opens over a damaged retained WAL segment below the checkpoint; reading it "
    "reports DataLoss",
    "[store][recovery]") {
  MemEnv env;
  StoreOptions options = MemStoreOptions(&env);
  options.wal_retention_bytes = 1u << 20;  // Keep the log for lagging readers.
  Versions versions;
  {
    auto store = OpenOrDie(options);
    WriteKeys(*store, 0, 3000, kKeys, &versions);
    REQUIRE(store->Checkpoint().ok());
  }
  std::vector<std::string> wal_files;
  const std::vector<std::string> names = *env.GetChildren("/db/wal");
  for (const std::string& name : names) {
    if (name.starts_with("wal-")) wal_files.push_back("/db/wal/" + name);
  }
  REQUIRE(wal_files.size() >= 4);
  // A payload byte of the second segment: wholly below the checkpoint.
  REQUIRE(env.FlipBit(wal_files[1], 100, 2).ok());
  const uint64_t applied = ReadCheckpoint(&env, "/db")->applied_lsn;
  {
    auto store = OpenOrDie(options);
    CheckVersions(*store, versions, kKeys);
  }
  // A reader of the log from its start (a lagging replica) gets DataLoss.
  WalOptions wal_options;
  wal_options.dir = "/db/wal";
  wal_options.segment_bytes_max = options.wal_segment_bytes_max;
  wal_options.verify_from_lsn = applied + 1;
  StatusOr<std::unique_ptr<Wal>> wal = Wal::Open(&env, wal_options);
  REQUIRE(wal.ok());
  std::vector<WalRecord> records;
  Status read = (*wal)->Read((*wal)->first_lsn(), UINT64_MAX, &records);
  INFO(read.ToString());
  CHECK(absl::IsDataLoss(read));
  CHECK(read.message().find(wal_files[1]) != std::string_view::npos);
  // A reader from the checkpoint on is served.
  CHECK((*wal)->Read(applied, UINT64_MAX, &records).ok());
}

}  // namespace
}  // namespace toydb
