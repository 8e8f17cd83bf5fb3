#ifndef TOYDB_STATUS_H_
#define TOYDB_STATUS_H_

// toydb's one error vocabulary is absl::Status. Every fallible call returns
// Status or StatusOr<T>; no exception crosses the API. Each code means one
// thing; a message says what and where (a key's size, a file's path and the
// errno text), for people, not for code to parse.
//
//   OK                  Done. A write is acknowledged only once it is as
//                       durable as its sync policy promises.
//   NotFound            The key is absent (Store::Get), or a file or directory
//                       the call names does not exist (Env).
//   InvalidArgument     The request breaks a limit or a precondition of the
//                       API: a key, value or batch over StoreOptions' limits,
//                       an empty key or batch, options that Validate()
//                       refuses. Nothing was changed; retrying the same
//                       request fails the same way.
//   FailedPrecondition  The call cannot be served in this state, and retrying
//                       here will not help. Which state, the payload tells
//                       (below): the store is read-only after a failed write
//                       or sync (IsStoreReadOnly), or this replica is not the
//                       primary (IsNotPrimary, with LeaderHint). Also: the
//                       store's directory is locked by another open Store.
//                       A failed write whose WAL record was already written
//                       says so with a write outcome (below): committed, or
//                       unknown until the next Open.
//   Aborted             A compare-and-set found another version of the key
//                       (the current one is in the message). Nothing written.
//   ResourceExhausted   The disk is full, or a bounded queue is at its limit
//                       (Transport::Send). The write was refused whole, gave
//                       its LSN back, and the store stays writable: retry
//                       once space or room is free.
//   DataLoss            Stored bytes failed their checksum, or records the
//                       store needs are missing (a damaged WAL before its
//                       tail, a damaged checkpoint or data segment). Store::
//                       Open refuses to guess and changes nothing; the data
//                       needs Store::Repair, a replica or a backup.
//   Internal            The file system failed (an I/O error: the errno text
//                       and the path are in the message). A failed write or
//                       sync also turns the store read-only (see above).
//   AlreadyExists       A directory could not be created over a file (Env);
//                       a node is already registered (Transport::Register).
//   Unavailable         Reserved for replication and routing: a peer or a
//                       partition cannot serve now; retrying elsewhere or
//                       later may help. The storage engine does not return it.
//   DeadlineExceeded    Reserved for replication and routing: the request ran
//                       out of time. The storage engine does not return it.
//
// Beside its code, an error may carry a reason as an absl payload under the
// type URL kErrorPayloadUrl ("toydb/error"), so that code tells apart errors
// that share a code without parsing messages. Test for them with the helpers
// below.

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "toydb/types.h"

namespace toydb {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

// The payload type URL of an error's reason, and the reasons.
inline constexpr std::string_view kErrorPayloadUrl = "toydb/error";
inline constexpr std::string_view kReasonStoreReadOnly = "store-read-only";
inline constexpr std::string_view kReasonNotPrimary = "not-primary";
// The payload type URL of a leader hint: the primary's NodeId, in decimal.
inline constexpr std::string_view kLeaderHintPayloadUrl = "toydb/leader-hint";

// FailedPrecondition: the store turned read-only after a failed write or
// sync; nothing more can be acknowledged as durable. Reopening the store
// recovers it from what is on disk.
[[nodiscard]] Status StoreReadOnlyError(std::string_view message);
// FailedPrecondition: this replica is not the primary of its partition; the
// write belongs to `leader_hint` when it is known (not 0).
[[nodiscard]] Status NotPrimaryError(std::string_view message, NodeId leader_hint = 0);

// True if `status` is a StoreReadOnlyError (or a copy of one).
[[nodiscard]] bool IsStoreReadOnly(const Status& status);
// True if `status` is a NotPrimaryError.
[[nodiscard]] bool IsNotPrimary(const Status& status);
// The primary a NotPrimaryError names, or nullopt if it names none.
[[nodiscard]] std::optional<NodeId> LeaderHint(const Status& status);

// ---- The outcome of a failed write ----------------------------------------
// A write that returns an error changed nothing, unless its status carries a
// write-outcome payload. Two failures happen after the write's WAL record was
// written, and say so (both are FailedPrecondition, as the store is read-only
// from then on, and both carry the write's LSN, which would be its version):
//   kCommitted  The record is in the WAL (durable under SyncPolicy::kEveryWrite,
//               as an acknowledged write is under the other policies), but the
//               store failed to apply it to its data log (e.g. a full disk).
//               The write is not visible now; the next Open replays it, and
//               then it is, with the LSN as its version. Do not retry it.
//   kUnknown    The record was written but its sync (or the write itself)
//               failed: it may or may not be in the log. After a reopen, the
//               key's version tells: the write is there if it equals the LSN.
enum class WriteOutcome : uint8_t { kNotWritten = 0, kCommitted = 1, kUnknown = 2 };

inline constexpr char kWriteOutcomePayloadUrl[] = "type.toydb.dev/toydb.WriteOutcome";

// Attaches the outcome and the write's LSN to a failed write's status.
inline Status WithWriteOutcome(Status status, WriteOutcome outcome, uint64_t lsn) {
  status.SetPayload(kWriteOutcomePayloadUrl, absl::Cord(std::to_string(static_cast<int>(outcome)) +
                                                        ":" + std::to_string(lsn)));
  return status;
}

// kNotWritten for OK and for any status without the payload.
inline WriteOutcome GetWriteOutcome(const Status& status) {
  const auto payload = status.GetPayload(kWriteOutcomePayloadUrl);  // An absl::optional.
  if (!payload.has_value()) return WriteOutcome::kNotWritten;
  const std::string text(*payload);
  if (text.starts_with("1:")) return WriteOutcome::kCommitted;
  if (text.starts_with("2:")) return WriteOutcome::kUnknown;
  return WriteOutcome::kNotWritten;
}

// The LSN of a kCommitted or kUnknown write; nullopt for any other status.
inline std::optional<uint64_t> GetWriteOutcomeLsn(const Status& status) {
  if (GetWriteOutcome(status) == WriteOutcome::kNotWritten) return std::nullopt;
  const std::string text(*status.GetPayload(kWriteOutcomePayloadUrl));
  return std::strtoull(text.c_str() + 2, nullptr, 10);
}

}  // namespace toydb

#endif  // TOYDB_STATUS_H_
