#ifndef TOYDB_STATUS_H_
#define TOYDB_STATUS_H_

// toydb's one error vocabulary is absl::Status. Every fallible call returns
// Status or StatusOr<T>; no exception crosses the API. The codes mean:
//   NotFound            the key (or file) does not exist
//   InvalidArgument     the request breaks a limit or a precondition of the API
//   DataLoss            stored bytes failed their checksum or are missing
//   Unavailable         a peer or the store cannot serve now; retrying may help
//   FailedPrecondition  not the primary (message carries the leader hint), or
//                       the store is in its read-only error state
//   DeadlineExceeded    the request ran out of time
//   Aborted             a compare-and-set found another version
//   IOError-like faults from the file system are reported as Internal with the
//   path and errno text.

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"

namespace toydb {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

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
  status.SetPayload(kWriteOutcomePayloadUrl,
                    absl::Cord(std::to_string(static_cast<int>(outcome)) + ":" +
                               std::to_string(lsn)));
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
