// SessionTable: recording, eviction by lowest LSN, and its encoding.
#include "src/storage/replica/session_table.h"

#include <catch2/catch.hpp>

namespace toydb {
namespace {

TEST_CASE("Session tables round-trip and refuse damage", "[replica][sessions]") {
  SessionTable table(10);
  table.Record(5, 1, 3, absl::OkStatus(), 3);
  table.Record(2, 7, 4, absl::AbortedError("compare-and-set failed"), 2);
  table.Record(5, 2, 9, absl::OkStatus(), 9);
  REQUIRE(table.size() == 2);
  const std::string bytes = table.Encode();
  StatusOr<SessionTable> decoded = SessionTable::Decode(bytes, 10, 9);
  REQUIRE(decoded.ok());
  CHECK(*decoded == table);
  CHECK(decoded->Encode() == bytes);
  CHECK(decoded->Find(2)->status == absl::AbortedError("compare-and-set failed"));
  CHECK(decoded->Find(5)->sequence == 2);
  CHECK(SessionTable(3).Encode().empty());
  CHECK(SessionTable::Decode("", 3, 0)->size() == 0);
  for (size_t n = 1; n < bytes.size(); ++n) {
    CHECK(absl::IsDataLoss(SessionTable::Decode(bytes.substr(0, n), 10, 9).status()));
  }
  CHECK(absl::IsDataLoss(SessionTable::Decode(bytes + "x", 10, 9).status()));
  // A session recorded after the state's applied LSN cannot be.
  CHECK(absl::IsDataLoss(SessionTable::Decode(bytes, 10, 8).status()));
}

TEST_CASE("Decoding into a smaller table evicts by the apply rule", "[replica][sessions]") {
  SessionTable table(10);
  for (uint64_t client = 1; client <= 5; ++client) {
    table.Record(client, 1, 10 * client, absl::OkStatus(), 10 * client);
  }
  StatusOr<SessionTable> smaller = SessionTable::Decode(table.Encode(), 2, 100);
  REQUIRE(smaller.ok());
  CHECK(smaller->size() == 2);
  // The two highest LSNs are clients 5 (LSN 50) and 4 (LSN 40).
  CHECK(smaller->Find(5) != nullptr);
  CHECK(smaller->Find(4) != nullptr);
  CHECK(smaller->Find(3) == nullptr);
  CHECK(smaller->Find(1) == nullptr);
}

}  // namespace
}  // namespace toydb
