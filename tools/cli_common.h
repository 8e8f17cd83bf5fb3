#ifndef TOYDB_TOOLS_CLI_COMMON_H_
#define TOYDB_TOOLS_CLI_COMMON_H_

// Pieces the toydb CLI's commands share: exit codes, option parsing, the
// client's node id, and a client connection to the cluster.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "toydb/cluster_file.h"
#include "toydb/message.h"
#include "toydb/router.h"
#include "toydb/status.h"
#include "toydb/tcp_transport.h"

namespace toydb::tools {

// Exit codes, documented by --help.
inline constexpr int kExitOk = 0;
inline constexpr int kExitNotFound = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitFailed = 3;     // not written, refused, unreachable
inline constexpr int kExitUnknown = 4;    // a write whose outcome is unknown
inline constexpr int kExitCommitted = 5;  // committed short of its write concern

// "leader", "majority", "all", or N (the leader and N secondaries).
[[nodiscard]] StatusOr<WriteConcern> ParseWriteConcern(std::string_view text);
// "linearizable", "session", "quorum", "any".
[[nodiscard]] StatusOr<ReadConsistency> ParseConsistency(std::string_view text);
std::string WriteConcernName(const WriteConcern& concern);

// A node id for this client: random in [kClientNodeIdMin, 2^64), never a
// server's (cluster_file.h), and distinct from other clients' with
// overwhelming probability.
NodeId RandomClientNodeId();
uint64_t RandomSeed();

// A client's connection to a cluster: a TcpTransport that listens nowhere,
// and a Router on it under a random client id.
struct ClusterClient {
  ClusterConfig config;
  NodeId id = 0;
  std::unique_ptr<TcpTransport> transport;
  std::unique_ptr<Router> router;  // opened by OpenRouter
};

// Reads the cluster file and opens the transport.
[[nodiscard]] StatusOr<std::unique_ptr<ClusterClient>> ConnectToCluster(
    const std::string& cluster_path);
// Opens client->router.
[[nodiscard]] Status OpenRouter(ClusterClient* client, RouterOptions options);

// The exit code for a write's result, after printing what happened.
int ReportWrite(const WriteResult& result);

// '-' reads the value from stdin (all of it, as is); anything else is the value.
[[nodiscard]] StatusOr<std::string> ValueArgument(std::string_view argument);

}  // namespace toydb::tools

#endif  // TOYDB_TOOLS_CLI_COMMON_H_
