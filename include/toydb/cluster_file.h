#ifndef TOYDB_CLUSTER_FILE_H_
#define TOYDB_CLUSTER_FILE_H_

// ClusterConfig: a real cluster's layout, read from a small text file that
// every server (toydb-server --cluster) and every client (toydb --cluster)
// is given: the servers' node ids and addresses, and each partition's
// replicas. A plain value; no thread-safety concerns.
//
// The format, one declaration per line (examples/cluster.txt):
//
//   # A comment runs from '#' to the end of the line; blank lines are ignored.
//   node 1 127.0.0.1:7001          node <id> <host>:<port>
//   node 2 127.0.0.1:7002
//   node 3 127.0.0.1:7003
//   partition 0 1 2 3              partition <id> <member node id>...
//
// Tokens are separated by spaces or tabs. Node ids are 1 to
// kServerNodeIdMax; each node and each address is declared once; the port is
// 1 to 65535 (a host in brackets, "[::1]:7001", for IPv6). Partition ids are
// 0 to 2^32 - 1, each declared once; a partition lists at least one member,
// each a declared node, none twice. At least one partition. Nodes may be
// declared after the partitions that name them. A node no partition names
// is allowed (it hosts nothing).
//
// Node ids above kServerNodeIdMax are never servers: clients (the toydb CLI,
// a host's Router on a TcpTransport) pick theirs at random from
// [kClientNodeIdMin, 2^64), so a client cannot collide with a server and two
// clients collide with a chance of about n^2 / 2^63.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "toydb/partition.h"
#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb {

inline constexpr NodeId kServerNodeIdMax = 0xFFFFFFFFu;
inline constexpr NodeId kClientNodeIdMin = NodeId{1} << 62;

struct ClusterConfig {
  // Every server: node id -> "host:port".
  std::map<NodeId, std::string> nodes;
  // In the order the file lists them.
  std::vector<PartitionConfig> partitions;

  // The partitions that name `node` as a member.
  std::vector<PartitionConfig> PartitionsOf(NodeId node) const;
  // The file form, which ParseClusterConfig reads back to an equal value.
  std::string ToText() const;
  bool operator==(const ClusterConfig&) const = default;
};

// Parses the text of a cluster file. InvalidArgument on the first problem,
// "<source>:<line>: <what is wrong>" (a problem found once the whole file is
// read, such as a member that no node line declares, names the line of the
// partition that lists it).
[[nodiscard]] StatusOr<ClusterConfig> ParseClusterConfig(std::string_view text,
                                                         std::string_view source = "cluster file");

// Reads and parses the file at `path` (errors name the path). NotFound if it
// does not exist.
[[nodiscard]] StatusOr<ClusterConfig> ReadClusterFile(const std::string& path);

// Checks a "host:port" address as the cluster file requires it (also with
// port 0 when `allow_port_zero`, for a listen address). InvalidArgument
// saying what is wrong.
[[nodiscard]] Status ValidateAddress(std::string_view address, bool allow_port_zero = false);

}  // namespace toydb

#endif  // TOYDB_CLUSTER_FILE_H_
