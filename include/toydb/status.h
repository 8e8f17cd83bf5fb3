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
//   Aborted             A compare-and-set found another version of the key
//                       (the current one is in the message). Nothing written.
//   ResourceExhausted   The disk is full, or a bounded queue is at its limit
//                       (Transport::Send). The write was refused whole, gave
//                       its LSN back, and the store stays writable: retry
//                       once space or room is free.
//   DataLoss            Stored bytes failed their checksum, or records the
//                       store needs are missing (a damaged WAL before its
//                       tail, a damaged checkpoint or data segment). Store::
//                       Open refuses to guess; the data needs a replica or a
//                       backup.
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
#include <optional>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
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

}  // namespace toydb

#endif  // TOYDB_STATUS_H_
