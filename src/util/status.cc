// The payload helpers of toydb/status.h.
#include "toydb/status.h"

#include <charconv>
#include <string>

#include "absl/strings/cord.h"

namespace toydb {
namespace {

// Debian's abseil has its own string_view type.
absl::string_view Absl(std::string_view s) { return absl::string_view(s.data(), s.size()); }

Status WithReason(Status status, std::string_view reason) {
  status.SetPayload(Absl(kErrorPayloadUrl), absl::Cord(Absl(reason)));
  return status;
}

bool HasReason(const Status& status, std::string_view reason) {
  const auto payload = status.GetPayload(Absl(kErrorPayloadUrl));
  return payload.has_value() && *payload == Absl(reason);
}

}  // namespace

Status StoreReadOnlyError(std::string_view message) {
  return WithReason(absl::FailedPreconditionError(Absl(message)), kReasonStoreReadOnly);
}

Status NotPrimaryError(std::string_view message, NodeId leader_hint) {
  Status status = WithReason(absl::FailedPreconditionError(Absl(message)), kReasonNotPrimary);
  if (leader_hint != 0) {
    status.SetPayload(Absl(kLeaderHintPayloadUrl), absl::Cord(std::to_string(leader_hint)));
  }
  return status;
}

bool IsStoreReadOnly(const Status& status) {
  return absl::IsFailedPrecondition(status) && HasReason(status, kReasonStoreReadOnly);
}

bool IsNotPrimary(const Status& status) {
  return absl::IsFailedPrecondition(status) && HasReason(status, kReasonNotPrimary);
}

std::optional<NodeId> LeaderHint(const Status& status) {
  if (!IsNotPrimary(status)) return std::nullopt;
  const auto payload = status.GetPayload(Absl(kLeaderHintPayloadUrl));
  if (!payload.has_value()) return std::nullopt;
  const std::string text(*payload);
  NodeId leader = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), leader);
  if (ec != std::errc() || end != text.data() + text.size() || leader == 0) return std::nullopt;
  return leader;
}

}  // namespace toydb
