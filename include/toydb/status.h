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

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace toydb {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

}  // namespace toydb

#endif  // TOYDB_STATUS_H_
