// Crash-point tests of snapshot transfer and install: the power fails at
// each file operation in turn (that one and every later one fail, and the
// disk then keeps a random torn prefix of what was not synced). After the
// reopen the replica holds either its old state or exactly the snapshot's
// (values, versions, sessions, log position), never a mix; and a transfer
// cut short resumes from what survived.
#include <catch2/catch.hpp>
#include <random>

#include "src/storage/replica/replica_store_impl.h"
#include "src/storage/replica/state_dir.h"
#include "tests/storage/replica/replica_test_util.h"
#include "tests/storage/wrapping_env.h"

namespace toydb {
namespace {

using testing::AppendAndApply;
using testing::CommandRecord;
using testing::DeleteCommand;
using testing::MemReplicaOptions;
using testing::OpenReplicaOrDie;
using testing::PutCommand;
using testing::ReadState;
using testing::StateMap;

// Once armed, fails every mutating file-system call from the `n`-th on, as
// a power cut would; the call that meets the cut writes half of an Append.
class PowerCutEnv : public testing::WrappingEnv {
 public:
  explicit PowerCutEnv(Env* target) : WrappingEnv(target) {}
  void Arm(int64_t n) { remaining_ = n; }
  bool cut() const { return remaining_ <= 0; }

  Status RemoveFile(const std::string& p) override {
    return Step() ? EnvWrapper::RemoveFile(p) : Dead();
  }
  Status RenameFile(const std::string& f, const std::string& t) override {
    return Step() ? EnvWrapper::RenameFile(f, t) : Dead();
  }
  Status TruncateFile(const std::string& p, uint64_t n) override {
    return Step() ? EnvWrapper::TruncateFile(p, n) : Dead();
  }
  Status RemoveDir(const std::string& d) override {
    return Step() ? EnvWrapper::RemoveDir(d) : Dead();
  }
  Status SyncDir(const std::string& d) override { return Step() ? EnvWrapper::SyncDir(d) : Dead(); }

 protected:
  std::unique_ptr<WritableFile> WrapFile(std::unique_ptr<WritableFile> file) override {
    return std::make_unique<File>(std::move(file), this);
  }

 private:
  class File : public testing::ForwardingFile {
   public:
    File(std::unique_ptr<WritableFile> f, PowerCutEnv* env)
        : ForwardingFile(std::move(f)), env_(env) {}
    Status Append(std::string_view data) override {
      if (env_->Step()) return target().Append(data);
      if (!env_->torn_) target().Append(data.substr(0, data.size() / 2)).IgnoreError();
      env_->torn_ = true;
      return Dead();
    }
    Status Sync() override { return env_->Step() ? target().Sync() : Dead(); }

   private:
    PowerCutEnv* env_;
  };

  bool Step() { return --remaining_ >= 0; }
  static Status Dead() { return absl::InternalError("injected power cut"); }

  int64_t remaining_ = INT64_MAX;
  bool torn_ = false;
};

// A snapshot made once, on a machine of its own.
struct SnapshotBytes {
  std::string bytes;
  Lsn lsn = 0;
  Term term = 0;
  uint64_t checksum = 0;
  StateMap state;
  std::string sessions;
};

std::string Sessions(ReplicaStore* replica) {
  return static_cast<ReplicaStoreImpl*>(replica)->StoreForTesting()->EncodedSessionsForTesting();
}

SnapshotBytes MakeSnapshotBytes() {
  MemEnv env;
  auto options = MemReplicaOptions(&env, "/source");
  options.store.data_segment_bytes_max = 4096;
  auto source = OpenReplicaOrDie(options);
  std::vector<WalRecord> records;
  for (Lsn lsn = 1; lsn <= 30; ++lsn) {
    records.push_back(
        CommandRecord(4, lsn,
                      PutCommand("s" + std::to_string(lsn % 17), std::string(300, 'a' + lsn % 26),
                                 1 + lsn % 3, lsn)));
  }
  AppendAndApply(source.get(), records);
  auto snapshot = *source->MakeSnapshot();
  SnapshotBytes out;
  REQUIRE(snapshot->Read(0, snapshot->size(), &out.bytes).ok());
  out.lsn = snapshot->lsn();
  out.term = snapshot->term();
  out.checksum = snapshot->checksum();
  out.state = ReadState(source->store());
  out.sessions = Sessions(source.get());
  return out;
}

// The target's own state before the install: other keys, a session, a log
// with an unapplied tail.
void MakeOldState(ReplicaStore* target) {
  AppendAndApply(target, {CommandRecord(1, 1, PutCommand("old1", "x", 7, 1)),
                          CommandRecord(1, 2, PutCommand("s1", "old")),
                          CommandRecord(1, 3, DeleteCommand("old1")),
                          CommandRecord(1, 4, PutCommand("old2", "y", 7, 2))});
  REQUIRE(target->SaveHardState({1, 1, 4}).ok());
  REQUIRE(
      target->AppendLog(std::vector<WalRecord>{CommandRecord(1, 5, PutCommand("z", "z"))}).ok());
  REQUIRE(target->SyncLog().ok());
}

int StateDirs(MemEnv* env) {
  int n = 0;
  StatusOr<std::vector<std::string>> names = env->GetChildren("/replica");
  REQUIRE(names.ok());
  for (const std::string& name : *names) {
    uint64_t number = 0;
    n += ParseStateDirName(name, &number) ? 1 : 0;
  }
  return n;
}

TEST_CASE("Installing a snapshot is atomic across a power cut at any point",
          "[replica][snapshot][crash]") {
  const SnapshotBytes snapshot = MakeSnapshotBytes();
  std::mt19937_64 rng(20261203);
  int old_outcomes = 0, new_outcomes = 0;
  for (int64_t fail_at = 0;; ++fail_at) {
    INFO("power cut at file operation " << fail_at);
    MemEnv mem;
    PowerCutEnv env(&mem);
    auto options = MemReplicaOptions(&env);
    auto target = OpenReplicaOrDie(options);
    MakeOldState(target.get());
    const StateMap old_state = ReadState(target->store());
    const std::string old_sessions = Sessions(target.get());
    REQUIRE(target->ReceiveSnapshotChunk(snapshot.lsn, snapshot.term, 0, snapshot.bytes).ok());

    env.Arm(fail_at);
    const Status installed = target->InstallSnapshot(snapshot.lsn, snapshot.term,
                                                     snapshot.bytes.size(), snapshot.checksum);
    const bool completed = !env.cut();
    mem.Crash([&](const std::string&, uint64_t unsynced) { return rng() % (unsynced + 1); });
    target.reset();

    auto reopened = OpenReplicaOrDie(MemReplicaOptions(&mem));
    const StateMap state = ReadState(reopened->store());
    if (state == snapshot.state) {
      ++new_outcomes;
      CHECK(Sessions(reopened.get()) == snapshot.sessions);
      CHECK(reopened->applied_lsn() == snapshot.lsn);
      CHECK(reopened->first_lsn() == snapshot.lsn + 1);
      CHECK(reopened->last_lsn() == snapshot.lsn);
      CHECK(reopened->last_term() == snapshot.term);
    } else {
      ++old_outcomes;
      CHECK(state == old_state);
      CHECK_FALSE(installed.ok());  // An acknowledged install is never lost.
      CHECK(Sessions(reopened.get()) == old_sessions);
      CHECK(reopened->applied_lsn() == 4);
      CHECK(reopened->last_lsn() == 5);
    }
    // Open left only the live state directory.
    CHECK(StateDirs(&mem) == 1);
    if (completed) {
      CHECK(installed.ok());
      CHECK(state == snapshot.state);
      break;
    }
    REQUIRE(fail_at < 10000);
  }
  CHECK(old_outcomes > 0);
  CHECK(new_outcomes > 0);
}

TEST_CASE("A transfer cut by a power failure resumes from what survived",
          "[replica][snapshot][crash]") {
  const SnapshotBytes snapshot = MakeSnapshotBytes();
  constexpr uint64_t kChunk = 1000;
  std::mt19937_64 rng(7);
  for (int64_t fail_at = 0;; ++fail_at) {
    INFO("power cut at file operation " << fail_at);
    MemEnv mem;
    PowerCutEnv env(&mem);
    auto target = OpenReplicaOrDie(MemReplicaOptions(&env));
    env.Arm(fail_at);
    bool cut = false;
    for (uint64_t offset = 0; offset < snapshot.bytes.size() && !cut; offset += kChunk) {
      const Status s = target->ReceiveSnapshotChunk(snapshot.lsn, snapshot.term, offset,
                                                    snapshot.bytes.substr(offset, kChunk));
      cut = !s.ok();
    }
    mem.Crash([&](const std::string&, uint64_t unsynced) { return rng() % (unsynced + 1); });
    target.reset();

    auto reopened = OpenReplicaOrDie(MemReplicaOptions(&mem));
    const uint64_t received = reopened->ReceivedSnapshotBytes(snapshot.lsn, snapshot.term);
    REQUIRE(received <= snapshot.bytes.size());
    if (received < snapshot.bytes.size()) {
      REQUIRE(reopened
                  ->ReceiveSnapshotChunk(snapshot.lsn, snapshot.term, received,
                                         snapshot.bytes.substr(received))
                  .ok());
    }
    const Status installed = reopened->InstallSnapshot(snapshot.lsn, snapshot.term,
                                                       snapshot.bytes.size(), snapshot.checksum);
    INFO(installed.ToString());
    REQUIRE(installed.ok());
    CHECK(ReadState(reopened->store()) == snapshot.state);
    if (!cut) break;
    REQUIRE(fail_at < 10000);
  }
}

}  // namespace
}  // namespace toydb
