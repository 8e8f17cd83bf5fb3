// Tests of status.h's reasons: read-only and not-primary errors share a code
// but not a payload, and survive being copied.
#include "toydb/status.h"

#include <catch2/catch.hpp>

namespace toydb {
namespace {

TEST_CASE("A store's read-only error is told apart from a not-primary error", "[status]") {
  const Status read_only = StoreReadOnlyError("store is read-only");
  const Status not_primary = NotPrimaryError("not the primary", 7);
  CHECK(absl::IsFailedPrecondition(read_only));
  CHECK(absl::IsFailedPrecondition(not_primary));
  CHECK(read_only.message() == "store is read-only");
  CHECK(IsStoreReadOnly(read_only));
  CHECK_FALSE(IsNotPrimary(read_only));
  CHECK(IsNotPrimary(not_primary));
  CHECK_FALSE(IsStoreReadOnly(not_primary));
  CHECK(LeaderHint(not_primary) == std::optional<NodeId>(7));
  CHECK_FALSE(LeaderHint(read_only).has_value());
  // Copies keep the payload.
  const StatusOr<int> carried = not_primary;
  CHECK(IsNotPrimary(carried.status()));
  CHECK(LeaderHint(carried.status()) == std::optional<NodeId>(7));
}

TEST_CASE("A not-primary error may name no leader", "[status]") {
  const Status s = NotPrimaryError("no primary yet");
  CHECK(IsNotPrimary(s));
  CHECK_FALSE(LeaderHint(s).has_value());
}

TEST_CASE("Plain errors carry no toydb reason", "[status]") {
  for (const Status& s : {absl::FailedPreconditionError("store is read-only"), absl::OkStatus(),
                          absl::InternalError("x")}) {
    CHECK_FALSE(IsStoreReadOnly(s));
    CHECK_FALSE(IsNotPrimary(s));
    CHECK_FALSE(LeaderHint(s).has_value());
  }
  // The reason counts only with its code.
  Status other_code = absl::InternalError("x");
  other_code.SetPayload(absl::string_view(kErrorPayloadUrl.data(), kErrorPayloadUrl.size()),
                        absl::Cord("store-read-only"));
  CHECK_FALSE(IsStoreReadOnly(other_code));
  // A malformed hint is no hint.
  Status bad_hint = NotPrimaryError("x", 3);
  bad_hint.SetPayload(absl::string_view(kLeaderHintPayloadUrl.data(), kLeaderHintPayloadUrl.size()),
                      absl::Cord("3x"));
  CHECK(IsNotPrimary(bad_hint));
  CHECK_FALSE(LeaderHint(bad_hint).has_value());
}

}  // namespace
}  // namespace toydb
