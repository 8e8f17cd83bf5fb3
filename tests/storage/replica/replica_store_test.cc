// ReplicaStore: the log at given (term, LSN), apply up to a commit LSN with
// versions equal to LSNs, compare-and-set and sessions evaluated at apply,
// reopening up to the recorded applied LSN, truncation, retention, limits
// and refusals.
#include <catch2/catch.hpp>

#include "src/storage/replica/replica_store_impl.h"
#include "src/storage/replica/state_dir.h"
#include "src/storage/store/store_impl.h"
#include "src/storage/wal/wal.h"
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

std::string Sessions(ReplicaStore* replica) {
  return static_cast<ReplicaStoreImpl*>(replica)->StoreForTesting()->EncodedSessionsForTesting();
}

TEST_CASE("A new replica store is empty", "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  CHECK(replica->first_lsn() == 1);
  CHECK(replica->last_lsn() == 0);
  CHECK(replica->last_term() == 0);
  CHECK(replica->applied_lsn() == 0);
  CHECK(replica->hard_state() == ReplicaHardState{});
  CHECK(*replica->TermAt(0) == 0);
  CHECK(absl::IsOutOfRange(replica->TermAt(1).status()));
}

TEST_CASE("Applied records give every key they write the record's LSN as version", "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  ReplicatedCommand batch;
  batch.ops = {{WriteBatch::OpType::kPut, "b", "2"},
               {WriteBatch::OpType::kPut, "c", "3"},
               {WriteBatch::OpType::kDelete, "a", ""}};
  std::vector<ApplyResult> results = AppendAndApply(
      replica.get(), {CommandRecord(1, 1, PutCommand("a", "1")), NoopRecord(2, 2),
                      CommandRecord(2, 3, batch), CommandRecord(2, 4, PutCommand("d", "4"))});
  for (size_t i = 0; i < results.size(); ++i) {
    CHECK(results[i].lsn == i + 1);
    CHECK(results[i].status.ok());
  }
  CHECK(results[1].type == kWalRecordNoop);
  CHECK(results[2].version == 3);
  CHECK(replica->applied_lsn() == 4);
  CHECK(replica->last_term() == 2);
  CHECK(*replica->TermAt(1) == 1);
  CHECK(*replica->TermAt(2) == 2);
  testing::StateMap expected{{"b", {"2", 3}}, {"c", {"3", 3}}, {"d", {"4", 4}}};
  CHECK(ReadState(replica->store()) == expected);
  CHECK(absl::IsNotFound(replica->store()->Get("a").status()));
}

TEST_CASE("A no-op advances the applied LSN and the store's with it", "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  AppendAndApply(replica.get(), {NoopRecord(1, 1), NoopRecord(1, 2)});
  CHECK(replica->applied_lsn() == 2);
  // The store itself is at LSN 2: its snapshot says so, and the next
  // command applies at 3 (the store checks each apply follows the last).
  CHECK((*replica->store()->GetSnapshot())->lsn() == 2);
  AppendAndApply(replica.get(), {CommandRecord(1, 3, PutCommand("k", "v"))});
  CHECK(replica->store()->GetVersioned("k")->version == 3);
  CHECK(replica->store()->GetStats().last_lsn == 3);
}

TEST_CASE("Apply goes only up to the commit LSN given", "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  REQUIRE(replica
              ->AppendLog(std::vector<WalRecord>{CommandRecord(1, 1, PutCommand("a", "1")),
                                                 CommandRecord(1, 2, PutCommand("b", "2"))})
              .ok());
  std::vector<ApplyResult> results;
  REQUIRE(replica->ApplyUpTo(1, &results).ok());
  CHECK(results.size() == 1);
  CHECK(replica->applied_lsn() == 1);
  CHECK(absl::IsNotFound(replica->store()->Get("b").status()));
  // Already applied: nothing more.
  REQUIRE(replica->ApplyUpTo(1, &results).ok());
  CHECK(results.size() == 1);
  // Past the log: refused, nothing applied.
  CHECK(absl::IsInvalidArgument(replica->ApplyUpTo(3, &results)));
  CHECK(replica->applied_lsn() == 1);
  REQUIRE(replica->ApplyUpTo(2, &results).ok());
  CHECK(results.size() == 2);
  CHECK(*replica->store()->Get("b") == "2");
}

TEST_CASE("Compare-and-set is evaluated at apply against the applied versions", "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  std::vector<ApplyResult> results = AppendAndApply(
      replica.get(), {CommandRecord(1, 1, PutCommand("k", "first", 0, 0, /*expected=*/0)),
                      CommandRecord(1, 2, PutCommand("k", "stale", 0, 0, /*expected=*/0)),
                      CommandRecord(1, 3, PutCommand("k", "second", 0, 0, /*expected=*/1)),
                      CommandRecord(1, 4, PutCommand("absent", "x", 0, 0, /*expected=*/7))});
  CHECK(results[0].status.ok());
  CHECK(results[0].version == 1);
  CHECK(absl::IsAborted(results[1].status));
  CHECK(results[1].version == 1);  // The key's current version.
  CHECK(results[2].status.ok());
  CHECK(results[2].version == 3);
  CHECK(absl::IsAborted(results[3].status));
  CHECK(results[3].version == 0);
  CHECK(replica->store()->GetVersioned("k")->value == "second");
  CHECK(replica->store()->GetVersioned("k")->version == 3);
  CHECK(absl::IsNotFound(replica->store()->Get("absent").status()));
  CHECK(replica->applied_lsn() == 4);
}

TEST_CASE("A duplicate command returns its first result and changes nothing", "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  std::vector<ApplyResult> results = AppendAndApply(
      replica.get(),
      {CommandRecord(1, 1, PutCommand("k", "v1", /*client=*/7, /*seq=*/1)),
       CommandRecord(1, 2, PutCommand("k", "v2", 8, 1)),
       CommandRecord(1, 3, PutCommand("k", "retry", 7, 1)),
       CommandRecord(1, 4, PutCommand("c", "x", 7, 2, /*expected=*/5)),
       CommandRecord(1, 5, PutCommand("c", "retry", 7, 2, /*expected=*/0)),
       CommandRecord(1, 6, PutCommand("k", "old", 7, 1)), CommandRecord(1, 7, PutCommand("n", "1")),
       CommandRecord(1, 8, PutCommand("n", "2"))});
  // The retry of (7, 1) answers as the first application did, at LSN 1.
  CHECK(results[2].duplicate);
  CHECK(results[2].status.ok());
  CHECK(results[2].version == 1);
  CHECK(results[2].client_id == 7);
  CHECK(results[2].sequence == 1);
  // A failed compare-and-set is a result too: its retry fails alike, even
  // though its condition would now hold.
  CHECK(absl::IsAborted(results[3].status));
  CHECK(results[4].duplicate);
  CHECK(absl::IsAborted(results[4].status));
  CHECK(results[4].status == results[3].status);
  // Below the session's last sequence: refused, nothing applied.
  CHECK(absl::IsFailedPrecondition(results[5].status));
  CHECK_FALSE(results[5].duplicate);
  // Client 0 has no session: every command applies.
  CHECK(results[6].status.ok());
  CHECK(results[7].status.ok());
  CHECK(replica->store()->GetVersioned("k")->value == "v2");
  CHECK(replica->store()->GetVersioned("k")->version == 2);
  CHECK(absl::IsNotFound(replica->store()->Get("c").status()));
  CHECK(replica->store()->GetVersioned("n")->version == 8);
}

TEST_CASE("A full session table evicts the session with the lowest last LSN", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  options.session_count_max = 2;
  auto replica = OpenReplicaOrDie(options);
  std::vector<ApplyResult> results =
      AppendAndApply(replica.get(), {CommandRecord(1, 1, PutCommand("a", "1", /*client=*/1, 1)),
                                     CommandRecord(1, 2, PutCommand("b", "1", 2, 1)),
                                     // Client 1 applies again: now client 2 holds the lowest LSN.
                                     CommandRecord(1, 3, PutCommand("a", "2", 1, 2)),
                                     // Client 3 is new: client 2 goes.
                                     CommandRecord(1, 4, PutCommand("c", "1", 3, 1)),
                                     // Client 1's retry is recognized (a duplicate changes nothing,
                                     // its session's LSN included).
                                     CommandRecord(1, 5, PutCommand("a", "again", 1, 2)),
                                     // Client 2's retry is not: it applies, and evicts client 1.
                                     CommandRecord(1, 6, PutCommand("b", "again", 2, 1)),
                                     // Client 3 (LSN 4) was kept over client 1 (LSN 3).
                                     CommandRecord(1, 7, PutCommand("c", "again", 3, 1)),
                                     // Client 1 is new again, and evicts client 3 (now the lowest).
                                     CommandRecord(1, 8, PutCommand("a", "third", 1, 2)),
                                     CommandRecord(1, 9, PutCommand("c", "third", 3, 1))});
  CHECK(results[4].duplicate);
  CHECK(results[4].version == 3);
  CHECK_FALSE(results[5].duplicate);
  CHECK(results[5].status.ok());
  CHECK(results[5].version == 6);
  CHECK(results[6].duplicate);
  CHECK(results[6].version == 4);
  CHECK_FALSE(results[7].duplicate);
  CHECK(results[7].version == 8);
  CHECK_FALSE(results[8].duplicate);
  CHECK(results[8].version == 9);
  CHECK(*replica->store()->Get("b") == "again");
  CHECK(*replica->store()->Get("a") == "third");
  CHECK(*replica->store()->Get("c") == "third");
}

TEST_CASE("Open applies only up to the applied LSN recorded and keeps the rest unapplied",
          "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  std::string sessions_at_4;
  {
    auto replica = OpenReplicaOrDie(options);
    std::vector<WalRecord> records;
    for (Lsn lsn = 1; lsn <= 6; ++lsn) {
      records.push_back(CommandRecord(1, lsn, PutCommand("k" + std::to_string(lsn), "v", lsn, 1)));
    }
    REQUIRE(replica->AppendLog(records).ok());
    REQUIRE(replica->SyncLog().ok());
    std::vector<ApplyResult> results;
    REQUIRE(replica->ApplyUpTo(2, &results).ok());
    // A checkpoint at 2 (with its sessions), then two more applied and
    // recorded only through the commit LSN of the hard state.
    REQUIRE(replica->store()->Checkpoint().ok());
    REQUIRE(replica->ApplyUpTo(4, &results).ok());
    REQUIRE(replica->SaveHardState({.term = 1, .vote = 2, .commit_lsn = 4}).ok());
    sessions_at_4 = Sessions(replica.get());
    env.CrashDropUnsynced();
  }
  auto replica = OpenReplicaOrDie(options);
  CHECK(replica->hard_state() == ReplicaHardState{1, 2, 4});
  CHECK(replica->applied_lsn() == 4);
  CHECK(replica->last_lsn() == 6);
  CHECK(Sessions(replica.get()) == sessions_at_4);
  CHECK(replica->store()->Get("k4").ok());
  CHECK(absl::IsNotFound(replica->store()->Get("k5").status()));
  // The unapplied records are still in the log, and apply later.
  std::vector<WalRecord> tail;
  REQUIRE(replica->ReadLog(5, 6, 1 << 20, &tail).ok());
  REQUIRE(tail.size() == 2);
  CHECK(tail[0].lsn == 5);
  std::vector<ApplyResult> results;
  REQUIRE(replica->ApplyUpTo(6, &results).ok());
  CHECK(results.size() == 2);
  CHECK(replica->store()->GetVersioned("k6")->version == 6);
}

TEST_CASE("Open never applies past the commit LSN, even after a checkpoint", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  {
    auto replica = OpenReplicaOrDie(options);
    REQUIRE(replica
                ->AppendLog(std::vector<WalRecord>{CommandRecord(1, 1, PutCommand("a", "1")),
                                                   CommandRecord(1, 2, PutCommand("b", "1"))})
                .ok());
    std::vector<ApplyResult> results;
    REQUIRE(replica->ApplyUpTo(1, &results).ok());
    // The destructor checkpoints at the applied LSN, 1; commit LSN is 0.
  }
  auto replica = OpenReplicaOrDie(options);
  CHECK(replica->applied_lsn() == 1);
  CHECK(replica->last_lsn() == 2);
  CHECK(absl::IsNotFound(replica->store()->Get("b").status()));
}

TEST_CASE("Sessions survive checkpoints and replay exactly", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  options.session_count_max = 3;
  options.store.checkpoint_wal_bytes = 300;
  std::string sessions;
  Lsn applied = 0;
  {
    auto replica = OpenReplicaOrDie(options);
    Lsn lsn = 0;
    for (int round = 0; round < 40; ++round) {
      const uint64_t client = 1 + round % 5;
      const uint64_t seq = 1 + round / 5;
      ++lsn;
      AppendAndApply(replica.get(), {CommandRecord(1, lsn, PutCommand("k", "v", client, seq))});
      REQUIRE(replica->RunBackgroundWork().ok());
      REQUIRE(replica->SaveHardState({1, 0, lsn}).ok());
    }
    CHECK(replica->store()->GetStats().checkpoints > 0);
    sessions = Sessions(replica.get());
    applied = replica->applied_lsn();
    env.CrashDropUnsynced();
  }
  auto replica = OpenReplicaOrDie(options);
  CHECK(replica->applied_lsn() == applied);
  CHECK(Sessions(replica.get()) == sessions);
}

TEST_CASE("Truncation cuts an unapplied suffix and never an applied record", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  auto replica = OpenReplicaOrDie(options);
  std::vector<WalRecord> records;
  for (Lsn lsn = 1; lsn <= 5; ++lsn) {
    records.push_back(CommandRecord(1, lsn, PutCommand("k", std::to_string(lsn))));
  }
  REQUIRE(replica->AppendLog(records).ok());
  std::vector<ApplyResult> results;
  REQUIRE(replica->ApplyUpTo(3, &results).ok());
  const Status below = replica->TruncateLogAfter(2);
  CHECK(absl::IsFailedPrecondition(below));
  CHECK(replica->last_lsn() == 5);
  REQUIRE(replica->TruncateLogAfter(3).ok());
  CHECK(replica->last_lsn() == 3);
  CHECK(replica->synced_lsn() == 3);
  // The log continues at 4, in a later term.
  AppendAndApply(replica.get(), {CommandRecord(2, 4, PutCommand("k", "new"))});
  CHECK(*replica->TermAt(4) == 2);
  CHECK(*replica->store()->Get("k") == "new");
  // After a reopen the cut suffix stays cut.
  replica.reset();
  replica = OpenReplicaOrDie(options);
  CHECK(replica->last_lsn() == 4);
  CHECK(replica->last_term() == 2);
}

TEST_CASE("Appends that do not fit are refused whole", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  options.store.key_bytes_max = 16;
  options.store.value_bytes_max = 1024;
  options.store.batch_bytes_max = 16 + 1024;
  auto replica = OpenReplicaOrDie(options);
  REQUIRE(
      replica->AppendLog(std::vector<WalRecord>{CommandRecord(2, 1, PutCommand("a", "1"))}).ok());
  auto refused = [&](std::vector<WalRecord> records) {
    const Status s = replica->AppendLog(records);
    INFO(s.ToString());
    CHECK(absl::IsInvalidArgument(s));
    CHECK(replica->last_lsn() == 1);
  };
  // A gap, a repeated LSN, a term going back.
  refused({CommandRecord(2, 3, PutCommand("b", "1"))});
  refused({CommandRecord(2, 1, PutCommand("b", "1"))});
  refused({CommandRecord(1, 2, PutCommand("b", "1"))});
  // A good record followed by a bad one: neither is appended.
  refused({CommandRecord(2, 2, PutCommand("b", "1")),
           CommandRecord(2, 3, PutCommand(std::string(17, 'k'), "1"))});
  refused({CommandRecord(2, 2, PutCommand("b", std::string(1025, 'v')))});
  ReplicatedCommand too_many;
  for (int i = 0; i < 100; ++i)
    too_many.ops.push_back({WriteBatch::OpType::kPut, "k", std::string(20, 'v')});
  refused({CommandRecord(2, 2, too_many)});
  refused({WalRecord{2, 2, kWalRecordCommand, "garbage"}});
  refused({WalRecord{2, 2, kWalRecordNoop, "payload"}});
  refused({WalRecord{2, 2, /*type=*/1, ""}});
  refused({CommandRecord(2, 2, ReplicatedCommand{})});
  CHECK(replica->AppendLog(std::vector<WalRecord>{CommandRecord(2, 2, PutCommand("b", "1"))}).ok());
}

TEST_CASE("DecodeCommand round-trips and refuses malformed payloads", "[replica]") {
  ReplicatedCommand command = PutCommand("key", "value", 9, 42, /*expected=*/17);
  StatusOr<ReplicatedCommand> decoded = DecodeCommand(EncodeCommand(command));
  REQUIRE(decoded.ok());
  CHECK(*decoded == command);
  ReplicatedCommand batch;
  batch.ops = {{WriteBatch::OpType::kPut, "a", ""}, {WriteBatch::OpType::kDelete, "b", ""}};
  CHECK(*DecodeCommand(EncodeCommand(batch)) == batch);
  const std::string bytes = EncodeCommand(command);
  for (size_t n = 0; n < bytes.size(); ++n) {
    CHECK(absl::IsDataLoss(DecodeCommand(bytes.substr(0, n)).status()));
  }
  CHECK(absl::IsDataLoss(DecodeCommand(bytes + "x").status()));
  std::string bad_flags = bytes;
  bad_flags[0] = 4;
  CHECK(absl::IsDataLoss(DecodeCommand(bad_flags).status()));
  // An operation count far beyond the bytes: refused before any allocation.
  std::string huge_count = EncodeCommand(PutCommand("k", "v"));
  huge_count[17] = '\xff';
  huge_count[18] = '\xff';
  huge_count[19] = '\xff';
  CHECK(absl::IsDataLoss(DecodeCommand(huge_count).status()));
  // A compare-and-set of two operations.
  ReplicatedCommand cas_batch = batch;
  cas_batch.expected_version = 1;
  CHECK(absl::IsDataLoss(DecodeCommand(EncodeCommand(cas_batch)).status()));
  CHECK(absl::IsDataLoss(DecodeCommand(EncodeCommand(ReplicatedCommand{})).status()));
}

TEST_CASE("An unknown record type in the log is DataLoss at apply", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  {
    auto replica = OpenReplicaOrDie(options);
    AppendAndApply(replica.get(), {CommandRecord(1, 1, PutCommand("a", "1"))});
  }
  {
    // Written behind the replica's back, as damage or a bug would.
    StoreOptions store_options = options.store;
    store_options.dir = JoinPath(options.store.dir, StateDirName(1));
    WalOptions wal_options = StoreImpl::WalOptionsFor(store_options, /*replica=*/true);
    auto wal = Wal::Open(&env, wal_options);
    REQUIRE(wal.ok());
    std::vector<WalRecord> records{WalRecord{1, 2, /*type=*/9, "?"}};
    REQUIRE((*wal)->Append(records).ok());
    REQUIRE((*wal)->Sync().ok());
  }
  auto replica = OpenReplicaOrDie(options);
  CHECK(replica->last_lsn() == 2);
  std::vector<ApplyResult> results;
  const Status s = replica->ApplyUpTo(2, &results);
  CHECK(absl::IsDataLoss(s));
  CHECK(results.empty());
  CHECK(replica->applied_lsn() == 1);
  // The store is not read-only over it: nothing was written.
  CHECK(*replica->store()->Get("a") == "1");
}

TEST_CASE("Reading the log: ranges, byte limits, out of range", "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  std::vector<WalRecord> records;
  for (Lsn lsn = 1; lsn <= 10; ++lsn) {
    records.push_back(CommandRecord(lsn < 5 ? 1 : 3, lsn, PutCommand("k", std::string(100, 'v'))));
  }
  REQUIRE(replica->AppendLog(records).ok());
  std::vector<WalRecord> out;
  REQUIRE(replica->ReadLog(3, 7, 1 << 20, &out).ok());
  REQUIRE(out.size() == 5);
  CHECK(out.front().lsn == 3);
  CHECK(out.back().lsn == 7);
  CHECK(out[2].term == 3);
  CHECK(out[0].payload == records[2].payload);
  out.clear();
  REQUIRE(replica->ReadLog(3, 10, 1, &out).ok());
  CHECK(out.size() == 1);
  out.clear();
  CHECK(absl::IsOutOfRange(replica->ReadLog(0, 3, 1 << 20, &out)));
  CHECK(absl::IsOutOfRange(replica->ReadLog(9, 11, 1 << 20, &out)));
  CHECK(absl::IsOutOfRange(replica->TermAt(11).status()));
}

TEST_CASE("Writes through the replica's store are refused; reads and maintenance work",
          "[replica]") {
  MemEnv env;
  auto replica = OpenReplicaOrDie(MemReplicaOptions(&env));
  AppendAndApply(replica.get(), {CommandRecord(1, 1, PutCommand("a", "1"))});
  Store* store = replica->store();
  CHECK(absl::IsFailedPrecondition(store->Put({}, "a", "2").status()));
  CHECK(absl::IsFailedPrecondition(store->Delete({}, "a").status()));
  WriteBatch batch;
  batch.Put("b", "1");
  CHECK(absl::IsFailedPrecondition(store->Write({}, batch).status()));
  CHECK(absl::IsFailedPrecondition(store->CompareAndSet({}, "a", 1, "2").status()));
  CHECK(*store->Get("a") == "1");
  CHECK(store->Checkpoint().ok());
  CHECK(store->Compact(true).ok());
  CHECK(store->GetStats().checkpoint_lsn == 1);
  CHECK(store->GetStats().keys == 1);
  CHECK(replica->last_lsn() == 1);
}

TEST_CASE("The retention floor keeps the log a follower needs", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  options.store.wal_segment_bytes_max = 4096;
  auto replica = OpenReplicaOrDie(options);
  Lsn lsn = 0;
  auto fill = [&](int n) {
    std::vector<WalRecord> records;
    for (int i = 0; i < n; ++i) {
      ++lsn;
      records.push_back(CommandRecord(1, lsn, PutCommand("k", std::string(500, 'v'))));
    }
    AppendAndApply(replica.get(), records);
  };
  replica->SetRetentionFloor(5);
  fill(40);
  REQUIRE(replica->store()->Checkpoint().ok());
  CHECK(replica->first_lsn() <= 5);
  std::vector<WalRecord> out;
  REQUIRE(replica->ReadLog(5, 5, 1, &out).ok());
  CHECK(out.front().lsn == 5);
  // Lifted: the next checkpoint releases what the byte window allows.
  replica->SetRetentionFloor(0);
  fill(1);
  REQUIRE(replica->store()->Checkpoint().ok());
  CHECK(replica->first_lsn() > 5);
  CHECK(absl::IsOutOfRange(replica->ReadLog(5, 5, 1, &out)));
}

TEST_CASE("A replica without background threads is driven by RunBackgroundWork", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  options.store.checkpoint_wal_bytes = 2048;
  options.store.wal_segment_bytes_max = 4096;
  auto replica = OpenReplicaOrDie(options);
  Lsn lsn = 0;
  for (int i = 0; i < 50; ++i) {
    ++lsn;
    AppendAndApply(
        replica.get(),
        {CommandRecord(1, lsn,
                       PutCommand("k" + std::to_string(i % 7), std::string(200, 'v'), 1, lsn))});
    // Nothing happens in the background by itself.
    if (i == 0) CHECK(replica->store()->GetStats().checkpoints == 0);
    REQUIRE(replica->RunBackgroundWork().ok());
  }
  const StoreStats stats = replica->store()->GetStats();
  CHECK(stats.checkpoints > 0);
  CHECK(stats.checkpoint_lsn > 0);
  CHECK(replica->first_lsn() > 1);  // Released by the checkpoints.
  const testing::StateMap state = ReadState(replica->store());
  const std::string sessions = Sessions(replica.get());
  REQUIRE(replica->SaveHardState({1, 0, lsn}).ok());
  env.CrashDropUnsynced();
  replica.reset();
  replica = OpenReplicaOrDie(options);
  CHECK(ReadState(replica->store()) == state);
  CHECK(Sessions(replica.get()) == sessions);
}

TEST_CASE("The hard state is durable once saved", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  {
    auto replica = OpenReplicaOrDie(options);
    REQUIRE(replica->SaveHardState({.term = 5, .vote = 3, .commit_lsn = 0}).ok());
    env.CrashDropUnsynced();
  }
  auto replica = OpenReplicaOrDie(options);
  CHECK(replica->hard_state() == ReplicaHardState{5, 3, 0});
}

TEST_CASE("A damaged HARDSTATE or CURRENT is DataLoss at Open", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  {
    auto replica = OpenReplicaOrDie(options);
    AppendAndApply(replica.get(), {CommandRecord(1, 1, PutCommand("a", "1"))});
    REQUIRE(replica->SaveHardState({1, 1, 1}).ok());
  }
  for (const char* name : {"/replica/HARDSTATE", "/replica/CURRENT"}) {
    INFO(name);
    StatusOr<std::string> before = env.ReadFileToString(name);
    REQUIRE(before.ok());
    REQUIRE(env.FlipBit(name, 8, 1).ok());
    CHECK(absl::IsDataLoss(ReplicaStore::Open(options).status()));
    REQUIRE(env.WriteFileAtomically(name, *before).ok());
    auto replica = OpenReplicaOrDie(options);
    CHECK(*replica->store()->Get("a") == "1");
  }
  // A well-formed CURRENT that names a missing state directory.
  REQUIRE(env.WriteFileAtomically("/replica/CURRENT", "state-0000000009 0000000000000000\n").ok());
  CHECK(absl::IsDataLoss(ReplicaStore::Open(options).status()));
  REQUIRE(WriteCurrent(&env, "/replica", "state-0000000009").ok());
  CHECK(absl::IsDataLoss(ReplicaStore::Open(options).status()));
  // A lost CURRENT is not a new replica while a state directory exists.
  REQUIRE(env.RemoveFile("/replica/CURRENT").ok());
  CHECK(absl::IsDataLoss(ReplicaStore::Open(options).status()));
  CHECK_FALSE(env.FileExists("/replica/CURRENT"));
  REQUIRE(WriteCurrent(&env, "/replica", StateDirName(1)).ok());
  auto replica = OpenReplicaOrDie(options);
  CHECK(*replica->store()->Get("a") == "1");
}

TEST_CASE("A second open of the same replica directory is refused", "[replica]") {
  MemEnv env;
  auto options = MemReplicaOptions(&env);
  auto replica = OpenReplicaOrDie(options);
  CHECK(absl::IsFailedPrecondition(ReplicaStore::Open(options).status()));
}

}  // namespace
}  // namespace toydb
