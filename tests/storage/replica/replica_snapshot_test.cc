// ReplicaStore snapshots: made on one replica, sent in chunks, staged,
// resumed after a restart, verified and installed on another, which then
// holds exactly the same state (values, versions, sessions) and a log that
// restarts after the snapshot's (lsn, term). Bad transfers are refused
// without touching the state.
#include <catch2/catch.hpp>

#include "src/storage/replica/replica_store_impl.h"
#include "src/storage/replica/state_dir.h"
#include "tests/storage/replica/replica_test_util.h"

namespace toydb {
namespace {

using testing::AppendAndApply;
using testing::CommandRecord;
using testing::DeleteCommand;
using testing::MemReplicaOptions;
using testing::NoopRecord;
using testing::OpenReplicaOrDie;
using testing::PutCommand;
using testing::ReadState;
using testing::StateMap;

std::string Sessions(ReplicaStore* replica) {
  return static_cast<ReplicaStoreImpl*>(replica)->StoreForTesting()->EncodedSessionsForTesting();
}

// A source replica with overwrites, deletes, a failed compare-and-set and
// sessions, over several data segments; its last record is in term 3.
std::unique_ptr<ReplicaStore> MakeSource(MemEnv* env) {
  auto options = MemReplicaOptions(env, "/source");
  options.store.data_segment_bytes_max = 4096;
  auto source = OpenReplicaOrDie(options);
  std::vector<WalRecord> records;
  Lsn lsn = 0;
  for (int i = 0; i < 60; ++i) {
    ++lsn;
    records.push_back(
        CommandRecord(2, lsn,
                      PutCommand("key" + std::to_string(i % 40), std::string(50 + i, 'a' + i % 26),
                                 1 + i % 4, 1 + i / 4)));
  }
  records.push_back(CommandRecord(3, ++lsn, DeleteCommand("key3")));
  records.push_back(CommandRecord(3, ++lsn, PutCommand("key5", "x", 9, 1, /*expected=*/1)));
  records.push_back(NoopRecord(3, ++lsn));
  AppendAndApply(source.get(), records);
  REQUIRE(source->store()->Compact(true).ok());
  return source;
}

// Sends the whole snapshot in chunks of `chunk` bytes.
void Transfer(SnapshotSource* source, ReplicaStore* target, uint64_t chunk, uint64_t from = 0) {
  std::string data;
  for (uint64_t offset = from; offset < source->size(); offset += data.size()) {
    REQUIRE(source->Read(offset, chunk, &data).ok());
    REQUIRE(!data.empty());
    const Status s = target->ReceiveSnapshotChunk(source->lsn(), source->term(), offset, data);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
}

TEST_CASE("A snapshot installed on another replica reproduces its state exactly",
          "[replica][snapshot]") {
  MemEnv env;
  auto source = MakeSource(&env);
  auto target_options = MemReplicaOptions(&env, "/target");
  auto target = OpenReplicaOrDie(target_options);
  // The target has a state and a log of its own, all to be replaced.
  AppendAndApply(target.get(), {CommandRecord(1, 1, PutCommand("only-here", "x")),
                                CommandRecord(1, 2, PutCommand("key1", "old", 1, 1))});
  REQUIRE(
      target->AppendLog(std::vector<WalRecord>{CommandRecord(1, 3, PutCommand("k", "v"))}).ok());

  StatusOr<std::unique_ptr<SnapshotSource>> snapshot = source->MakeSnapshot();
  REQUIRE(snapshot.ok());
  SnapshotSource& stream = **snapshot;
  CHECK(stream.lsn() == source->applied_lsn());
  CHECK(stream.term() == 3);
  Transfer(&stream, target.get(), 700);
  CHECK(target->ReceivedSnapshotBytes(stream.lsn(), stream.term()) == stream.size());
  const Status installed =
      target->InstallSnapshot(stream.lsn(), stream.term(), stream.size(), stream.checksum());
  INFO(installed.ToString());
  REQUIRE(installed.ok());

  const StateMap expected = ReadState(source->store());
  CHECK(expected.size() == 39);
  CHECK(ReadState(target->store()) == expected);
  CHECK(absl::IsNotFound(target->store()->Get("only-here").status()));
  CHECK(Sessions(target.get()) == Sessions(source.get()));
  CHECK(target->applied_lsn() == stream.lsn());
  CHECK(target->first_lsn() == stream.lsn() + 1);
  CHECK(target->last_lsn() == stream.lsn());
  CHECK(target->last_term() == 3);
  CHECK(*target->TermAt(stream.lsn()) == 3);
  CHECK(target->ReceivedSnapshotBytes(stream.lsn(), stream.term()) == 0);

  // The sessions came along: client 4's last command is recognized as a
  // duplicate, with its original result.
  const Lsn next = stream.lsn() + 1;
  std::vector<ApplyResult> results =
      AppendAndApply(target.get(), {CommandRecord(4, next, PutCommand("key39", "retry", 4, 15))});
  CHECK(results[0].duplicate);
  CHECK(results[0].version == 60);
  CHECK(results[0].status.ok());
  CHECK(target->store()->GetVersioned("key39")->version == 40);  // Unchanged.

  // And it all survives a reopen, with only the live state directory left.
  target.reset();
  target = OpenReplicaOrDie(target_options);
  CHECK(target->applied_lsn() == next);
  StatusOr<std::vector<std::string>> names = env.GetChildren("/target");
  REQUIRE(names.ok());
  int state_dirs = 0;
  for (const std::string& name : *names) {
    uint64_t n = 0;
    state_dirs += ParseStateDirName(name, &n) ? 1 : 0;
    CHECK_FALSE(name.starts_with("incoming-"));
  }
  CHECK(state_dirs == 1);
}

TEST_CASE("A partial snapshot resumes after a restart", "[replica][snapshot]") {
  MemEnv env;
  MemEnv source_env;  // Another machine: the power cut is the target's.
  auto source = MakeSource(&source_env);
  auto snapshot = *source->MakeSnapshot();
  auto target_options = MemReplicaOptions(&env, "/target");
  auto target = OpenReplicaOrDie(target_options);
  const uint64_t half = snapshot->size() / 2;
  std::string data;
  REQUIRE(snapshot->Read(0, half, &data).ok());
  REQUIRE(target->ReceiveSnapshotChunk(snapshot->lsn(), snapshot->term(), 0, data).ok());
  // Not all there yet: installing is refused and keeps what arrived.
  CHECK(absl::IsFailedPrecondition(target->InstallSnapshot(
      snapshot->lsn(), snapshot->term(), snapshot->size(), snapshot->checksum())));
  // A power cut: the synced chunk survives.
  env.CrashDropUnsynced();
  target.reset();
  target = OpenReplicaOrDie(target_options);
  CHECK(target->ReceivedSnapshotBytes(snapshot->lsn(), snapshot->term()) == half);
  CHECK(target->ReceivedSnapshotBytes(snapshot->lsn(), snapshot->term() + 1) == 0);
  Transfer(snapshot.get(), target.get(), 1000, half);
  REQUIRE(target
              ->InstallSnapshot(snapshot->lsn(), snapshot->term(), snapshot->size(),
                                snapshot->checksum())
              .ok());
  CHECK(ReadState(target->store()) == ReadState(source->store()));
}

TEST_CASE("Bad snapshot transfers are refused and change nothing", "[replica][snapshot]") {
  MemEnv env;
  auto source = MakeSource(&env);
  auto snapshot = *source->MakeSnapshot();
  const Lsn lsn = snapshot->lsn();
  const Term term = snapshot->term();
  auto target = OpenReplicaOrDie(MemReplicaOptions(&env, "/target"));
  AppendAndApply(target.get(), {CommandRecord(1, 1, PutCommand("mine", "1"))});
  const StateMap before = ReadState(target->store());
  std::string all;
  REQUIRE(snapshot->Read(0, snapshot->size(), &all).ok());
  REQUIRE(all.size() == snapshot->size());
  auto unchanged = [&] {
    CHECK(ReadState(target->store()) == before);
    CHECK(target->applied_lsn() == 1);
    CHECK(target->last_lsn() == 1);
  };

  SECTION("a chunk at the wrong offset") {
    CHECK(absl::IsInvalidArgument(target->ReceiveSnapshotChunk(lsn, term, 10, all.substr(10))));
    REQUIRE(target->ReceiveSnapshotChunk(lsn, term, 0, all.substr(0, 100)).ok());
    CHECK(absl::IsInvalidArgument(target->ReceiveSnapshotChunk(lsn, term, 50, all.substr(50))));
    CHECK(absl::IsInvalidArgument(target->ReceiveSnapshotChunk(lsn, term, 200, all.substr(200))));
    CHECK(target->ReceivedSnapshotBytes(lsn, term) == 100);
    unchanged();
  }
  SECTION("a checksum that does not match") {
    REQUIRE(target->ReceiveSnapshotChunk(lsn, term, 0, all).ok());
    CHECK(
        absl::IsDataLoss(target->InstallSnapshot(lsn, term, all.size(), snapshot->checksum() + 1)));
    CHECK(target->ReceivedSnapshotBytes(lsn, term) == 0);  // Dropped.
    unchanged();
  }
  SECTION("more bytes than the snapshot has") {
    REQUIRE(target->ReceiveSnapshotChunk(lsn, term, 0, all + "extra").ok());
    CHECK(absl::IsDataLoss(target->InstallSnapshot(lsn, term, all.size(), snapshot->checksum())));
    unchanged();
  }
  SECTION("a staged file damaged on disk") {
    REQUIRE(target->ReceiveSnapshotChunk(lsn, term, 0, all).ok());
    const std::string staged =
        "/target/incoming-" + std::to_string(lsn) + "-" + std::to_string(term) + ".snap";
    REQUIRE(env.FileExists(staged));
    REQUIRE(env.FlipBit(staged, all.size() / 2, 3).ok());
    CHECK(absl::IsDataLoss(target->InstallSnapshot(lsn, term, all.size(), snapshot->checksum())));
    CHECK_FALSE(env.FileExists(staged));
    unchanged();
    // A fresh transfer then installs.
    REQUIRE(target->ReceiveSnapshotChunk(lsn, term, 0, all).ok());
    REQUIRE(target->InstallSnapshot(lsn, term, all.size(), snapshot->checksum()).ok());
    CHECK(ReadState(target->store()) == ReadState(source->store()));
  }
  SECTION("a well-checksummed stream of another (lsn, term)") {
    REQUIRE(target->ReceiveSnapshotChunk(lsn + 1, term, 0, all).ok());
    const Status s = target->InstallSnapshot(lsn + 1, term, all.size(), snapshot->checksum());
    CHECK(absl::IsDataLoss(s));
    unchanged();
    CHECK(target->ReceivedSnapshotBytes(lsn + 1, term) == 0);
  }
  SECTION("nothing staged") {
    CHECK(absl::IsFailedPrecondition(
        target->InstallSnapshot(lsn, term, all.size(), snapshot->checksum())));
    unchanged();
  }
  SECTION("another snapshot replaces the staged one") {
    REQUIRE(target->ReceiveSnapshotChunk(lsn, term - 1, 0, all.substr(0, 100)).ok());
    REQUIRE(target->ReceiveSnapshotChunk(lsn, term, 0, all.substr(0, 100)).ok());
    CHECK(target->ReceivedSnapshotBytes(lsn, term - 1) == 0);
    CHECK(target->ReceivedSnapshotBytes(lsn, term) == 100);
  }
  SECTION("a snapshot that is not past the applied LSN") {
    AppendAndApply(target.get(), {NoopRecord(1, 2)});
    CHECK(absl::IsFailedPrecondition(target->ReceiveSnapshotChunk(2, 1, 0, "x")));
    CHECK(absl::IsFailedPrecondition(target->InstallSnapshot(1, 1, 1, 0)));
  }
}

TEST_CASE("A snapshot of an empty replica installs as an empty state", "[replica][snapshot]") {
  MemEnv env;
  auto source = OpenReplicaOrDie(MemReplicaOptions(&env, "/source"));
  AppendAndApply(source.get(), {CommandRecord(1, 1, PutCommand("a", "1")),
                                CommandRecord(1, 2, DeleteCommand("a"))});
  auto snapshot = *source->MakeSnapshot();
  auto target = OpenReplicaOrDie(MemReplicaOptions(&env, "/target"));
  Transfer(snapshot.get(), target.get(), 1 << 20);
  REQUIRE(target->InstallSnapshot(2, 1, snapshot->size(), snapshot->checksum()).ok());
  CHECK(ReadState(target->store()).empty());
  CHECK(target->applied_lsn() == 2);
  AppendAndApply(target.get(), {CommandRecord(1, 3, PutCommand("b", "1"))});
  CHECK(target->store()->GetVersioned("b")->version == 3);
}

TEST_CASE("A snapshot source serves any offset until destroyed", "[replica][snapshot]") {
  MemEnv env;
  auto source = MakeSource(&env);
  auto snapshot = *source->MakeSnapshot();
  std::string all, part;
  REQUIRE(snapshot->Read(0, snapshot->size() + 100, &all).ok());
  CHECK(all.size() == snapshot->size());
  REQUIRE(snapshot->Read(123, 50, &part).ok());
  CHECK(part == all.substr(123, 50));
  REQUIRE(snapshot->Read(snapshot->size(), 10, &part).ok());
  CHECK(part.empty());
  CHECK(absl::IsOutOfRange(snapshot->Read(snapshot->size() + 1, 10, &part)));
  // The state moves on; the snapshot does not.
  const Lsn next = source->applied_lsn() + 1;
  AppendAndApply(source.get(), {CommandRecord(3, next, PutCommand("new", "1"))});
  REQUIRE(snapshot->Read(0, snapshot->size(), &part).ok());
  CHECK(part == all);
  snapshot.reset();
  StatusOr<std::vector<std::string>> names = env.GetChildren("/source");
  REQUIRE(names.ok());
  for (const std::string& name : *names) CHECK_FALSE(name.starts_with("outgoing-"));
}

}  // namespace
}  // namespace toydb
