#ifndef TOYDB_TYPES_H_
#define TOYDB_TYPES_H_

// The integer vocabulary shared by toydb's public headers. Plain aliases:
// they name what a number means in a signature, they add no checks.

#include <cstdint>

namespace toydb {

// A log sequence number: the position of a write in a store's (and later a
// replica group's) log. LSNs start at 1 and are contiguous; 0 means "none"
// (an empty log, a key never written). A key's version is the LSN of its
// last write.
using Lsn = uint64_t;

// A replication term: the number of a primary's reign. Every log entry
// carries the term it was written in; a message with a stale term is refused.
// 0 means "no term" (a store used without replication writes term 0).
using Term = uint64_t;

// The identity of a node (one process hosting replicas). 0 means "none" or
// "unknown" (for example, no known primary).
using NodeId = uint64_t;

}  // namespace toydb

#endif  // TOYDB_TYPES_H_
