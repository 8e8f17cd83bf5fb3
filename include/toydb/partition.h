#ifndef TOYDB_PARTITION_H_
#define TOYDB_PARTITION_H_

// PartitionConfig: the identity of a replica group: which partition it
// serves and which nodes hold its replicas. Every member and every client of
// the group must be given the same one. A plain value; no thread-safety
// concerns.

#include <vector>

#include "toydb/message.h"
#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

struct PartitionConfig {
  PartitionId id = 0;
  // The nodes that hold a replica, each once; node 0 is reserved. An odd
  // count tolerates the most failures for its size: a group of 2f+1
  // survives the loss of f.
  std::vector<NodeId> members;

  bool Has(NodeId node) const;
  // InvalidArgument naming the problem: no member, a repeated member, node 0.
  [[nodiscard]] Status Validate() const;
  bool operator==(const PartitionConfig&) const = default;
};

}  // namespace toydb

#endif  // TOYDB_PARTITION_H_
