// Tests of the small file formats: data records, checkpoints, hint files and
// write-batch payloads. Every damaged input must be refused, never misread.
#include <catch2/catch.hpp>

#include "src/storage/datalog/data_format.h"
#include "src/storage/datalog/hint_file.h"
#include "src/storage/store/batch_codec.h"
#include "src/storage/store/checkpoint.h"
#include "toydb/mem_env.h"

namespace toydb {
namespace {

TEST_CASE("Data records round-trip and every flipped bit or cut is detected", "[formats]") {
  std::string bytes;
  data_format::EncodeRecord(42, false, "key", "value", &bytes);
  data_format::Record r;
  uint64_t n = 0;
  REQUIRE(data_format::DecodeRecord(bytes, &r, &n) == data_format::DecodeResult::kOk);
  CHECK(n == bytes.size());
  CHECK(r.lsn == 42);
  CHECK(r.key == "key");
  CHECK(r.value == "value");
  CHECK(r.raw == bytes);
  CHECK_FALSE(r.tombstone);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    CHECK(data_format::DecodeRecord(std::string_view(bytes).substr(0, cut), &r, &n) !=
          data_format::DecodeResult::kOk);
  }
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string damaged = bytes;
    damaged[bit / 8] ^= static_cast<char>(1 << (bit % 8));
    CHECK(data_format::DecodeRecord(damaged, &r, &n) != data_format::DecodeResult::kOk);
  }
}

TEST_CASE("Checkpoints round-trip and damage is DataLoss", "[formats]") {
  CheckpointState state;
  state.applied_lsn = 99;
  state.next_segment_id = 7;
  state.segments = {{1, 1000, 1, 50, true}, {6, 20, 51, 99, false}};
  const std::string bytes = EncodeCheckpoint(state);
  auto decoded = DecodeCheckpoint(bytes);
  REQUIRE(decoded.ok());
  CHECK(*decoded == state);
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string damaged = bytes;
    damaged[i] ^= 0x10;
    CHECK(absl::IsDataLoss(DecodeCheckpoint(damaged).status()));
    CHECK(absl::IsDataLoss(DecodeCheckpoint(std::string_view(bytes).substr(0, i)).status()));
  }
}

TEST_CASE("A checkpoint with a replica state is version 2; without, version 1", "[formats]") {
  CheckpointState state;
  state.applied_lsn = 12;
  state.segments = {{1, 100, 1, 12, true}};
  const std::string plain = EncodeCheckpoint(state);
  CHECK(plain[4] == 1);
  state.replica_state = "sessions";
  const std::string with_state = EncodeCheckpoint(state);
  CHECK(with_state[4] == 2);
  CHECK(with_state.size() == plain.size() + 4 + state.replica_state.size());
  auto decoded = DecodeCheckpoint(with_state);
  REQUIRE(decoded.ok());
  CHECK(*decoded == state);
  for (size_t i = 0; i < with_state.size(); ++i) {
    std::string damaged = with_state;
    damaged[i] ^= 0x10;
    CHECK(absl::IsDataLoss(DecodeCheckpoint(damaged).status()));
  }
}

TEST_CASE("Checkpoint files are replaced atomically", "[formats]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  auto empty = ReadCheckpoint(&env, "/db");
  REQUIRE(empty.ok());
  CHECK(*empty == CheckpointState{});
  CheckpointState state;
  state.applied_lsn = 5;
  REQUIRE(WriteCheckpoint(&env, "/db", state).ok());
  env.CrashDropUnsynced();
  auto read = ReadCheckpoint(&env, "/db");
  REQUIRE(read.ok());
  CHECK(read->applied_lsn == 5);
}

TEST_CASE("Hint files round-trip; a damaged one visits nothing", "[formats]") {
  MemEnv env;
  REQUIRE(env.CreateDir("/db").ok());
  HintFileBuilder builder;
  builder.Add(HintEntry{3, 0, 30, false, "alpha"});
  builder.Add(HintEntry{4, 30, 26, true, "beta"});
  REQUIRE(builder.Finish(&env, "/db/h").ok());
  std::vector<std::pair<std::string, uint64_t>> seen;
  REQUIRE(ReadHintFile(&env, "/db/h", [&](const HintEntry& e) {
            seen.emplace_back(std::string(e.key), e.lsn);
          }).ok());
  CHECK(seen == std::vector<std::pair<std::string, uint64_t>>{{"alpha", 3}, {"beta", 4}});
  REQUIRE(env.FlipBit("/db/h", 9, 2).ok());
  int visits = 0;
  CHECK(absl::IsDataLoss(ReadHintFile(&env, "/db/h", [&](const HintEntry&) { visits++; })));
  CHECK(visits == 0);
}

TEST_CASE("Write batch payloads round-trip and malformed ones are refused", "[formats]") {
  WriteBatch batch;
  batch.Put("a", "1");
  batch.Delete("b");
  const std::string payload = EncodeBatchPayload(batch);
  auto ops = DecodeBatchPayload(payload);
  REQUIRE(ops.ok());
  REQUIRE(ops->size() == 2);
  CHECK((*ops)[0].key == "a");
  CHECK((*ops)[0].value == "1");
  CHECK((*ops)[1].type == WriteBatch::OpType::kDelete);
  for (size_t cut = 0; cut < payload.size(); ++cut) {
    CHECK_FALSE(DecodeBatchPayload(std::string_view(payload).substr(0, cut)).ok());
  }
  std::string bad_type = payload;
  bad_type[4] = 9;
  CHECK(absl::IsDataLoss(DecodeBatchPayload(bad_type).status()));
}

}  // namespace
}  // namespace toydb
