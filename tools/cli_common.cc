#include "tools/cli_common.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <random>

namespace toydb::tools {

StatusOr<WriteConcern> ParseWriteConcern(std::string_view text) {
  if (text == "leader") return WriteConcern{.kind = WriteConcernKind::kLeader};
  if (text == "majority") return WriteConcern{.kind = WriteConcernKind::kMajority};
  if (text == "all") return WriteConcern{.kind = WriteConcernKind::kAll};
  uint32_t count = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), count);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return absl::InvalidArgumentError(fmt::format(
        "write concern '{}' is not leader, majority, all or a number of secondaries", text));
  }
  if (count == 0) return WriteConcern{.kind = WriteConcernKind::kLeader};
  return WriteConcern{.kind = WriteConcernKind::kCount, .count = count};
}

StatusOr<ReadConsistency> ParseConsistency(std::string_view text) {
  for (ReadConsistency c : {ReadConsistency::kLinearizable, ReadConsistency::kSession,
                            ReadConsistency::kQuorum, ReadConsistency::kAny}) {
    if (text == ReadConsistencyName(c)) return c;
  }
  return absl::InvalidArgumentError(
      fmt::format("consistency '{}' is not linearizable, session, quorum or any", text));
}

std::string WriteConcernName(const WriteConcern& concern) {
  switch (concern.kind) {
    case WriteConcernKind::kLeader:
      return "leader";
    case WriteConcernKind::kMajority:
      return "majority";
    case WriteConcernKind::kAll:
      return "all";
    case WriteConcernKind::kCount:
      return std::to_string(concern.count);
  }
  return "?";
}

uint64_t RandomSeed() {
  std::random_device device;
  return (uint64_t{device()} << 32) ^ device();
}

NodeId RandomClientNodeId() {
  return kClientNodeIdMin + RandomSeed() % (~NodeId{0} - kClientNodeIdMin);
}

StatusOr<std::unique_ptr<ClusterClient>> ConnectToCluster(const std::string& cluster_path) {
  if (cluster_path.empty()) {
    return absl::InvalidArgumentError("--cluster FILE is required (or TOYDB_CLUSTER)");
  }
  auto client = std::make_unique<ClusterClient>();
  StatusOr<ClusterConfig> config = ReadClusterFile(cluster_path);
  if (!config.ok()) return config.status();
  client->config = std::move(*config);
  client->id = RandomClientNodeId();
  TcpTransportOptions options;
  options.peers = client->config.nodes;
  StatusOr<std::unique_ptr<TcpTransport>> transport = TcpTransport::Open(options);
  if (!transport.ok()) return transport.status();
  client->transport = std::move(*transport);
  return client;
}

Status OpenRouter(ClusterClient* client, RouterOptions options) {
  options.id = client->id;
  options.transport = client->transport.get();
  options.partitions = client->config.partitions;
  options.seed = RandomSeed();
  StatusOr<std::unique_ptr<Router>> router = Router::Open(options);
  if (!router.ok()) return router.status();
  client->router = std::move(*router);
  return absl::OkStatus();
}

int ReportWrite(const WriteResult& result) {
  if (result.ok()) {
    std::printf("OK version %llu\n", static_cast<unsigned long long>(result.version));
    return kExitOk;
  }
  const std::string message(result.status.message());
  switch (result.outcome) {
    case WriteOutcome::kCommitted:
      std::fprintf(stderr,
                   "toydb: committed short of its write concern: %u of %u replicas hold it "
                   "(version %llu): %s\n",
                   result.acks, result.replicas, static_cast<unsigned long long>(result.version),
                   message.c_str());
      return kExitCommitted;
    case WriteOutcome::kUnknown:
      std::fprintf(stderr, "toydb: outcome unknown (it may or may not be applied): %s\n",
                   message.c_str());
      return kExitUnknown;
    case WriteOutcome::kNotWritten:
      break;
  }
  const char* why = absl::IsAborted(result.status) ? "version mismatch: " : "";
  std::fprintf(stderr, "toydb: not written: %s%s\n", why, message.c_str());
  return kExitFailed;
}

StatusOr<std::string> ValueArgument(std::string_view argument) {
  if (argument != "-") return std::string(argument);
  std::string value((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  if (std::cin.bad()) return absl::DataLossError("cannot read the value from stdin");
  return value;
}

}  // namespace toydb::tools
