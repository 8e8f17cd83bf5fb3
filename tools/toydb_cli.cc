// toydb: the command-line client of a toydb cluster, in the manner of
// redis-cli and etcdctl. Reads and writes go through the library's Router
// (routing by key, leader hints, retries, write concerns, consistency
// levels) over a client TcpTransport; `stats` and `promote` talk to the
// servers directly; `bench` is a load generator.
#include <fmt/format.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "tools/admin_client.h"
#include "tools/bench.h"
#include "tools/cli_common.h"
#include "tools/flag_names.h"
#include "toydb/node.h"
#include "toydb/replica.h"

ABSL_FLAG(std::string, cluster, "",
          "The cluster file (include/toydb/cluster_file.h; example: examples/cluster.txt). "
          "Default: $TOYDB_CLUSTER.");
ABSL_FLAG(std::string, consistency, "linearizable",
          "Reads (get, bench): linearizable (the primary, after confirming it leads), session "
          "(a replica that has applied this client's writes), quorum, any (any replica; may be "
          "stale).");
ABSL_FLAG(std::string, write_concern, "majority",
          "Writes (set, del, cas, bench) are acknowledged once held by: leader (the primary "
          "alone), majority, all, or N (the primary and N secondaries).");
ABSL_FLAG(uint32_t, timeout_ms, 5000,
          "Deadline of each request, retries included. A write still unanswered at the "
          "deadline exits 4 (outcome unknown).");
ABSL_FLAG(bool, verbose, false, "get: also print the key's version and partition to stderr.");
ABSL_FLAG(uint32_t, clients, 16, "bench: concurrent clients, each with one request in flight.");
ABSL_FLAG(uint64_t, keys, 100000, "bench: size of the key space (keys drawn uniformly).");
ABSL_FLAG(uint32_t, value_size, 100, "bench: bytes per value written.");
ABSL_FLAG(double, read_ratio, 0.0, "bench: share of requests that are reads, 0 to 1.");
ABSL_FLAG(double, duration, 10, "bench: seconds to run.");
ABSL_FLAG(bool, progress, true, "bench: print a progress line to stderr each second.");

namespace toydb::tools {
namespace {

constexpr char kUsage[] = R"(the command-line client of a toydb cluster.

Usage: toydb --cluster=FILE [options] COMMAND [ARGS]

Commands:
  get KEY                 print the value (exit 1 if the key is absent)
  set KEY VALUE           write VALUE; '-' reads the value from stdin
  del KEY                 delete the key
  cas KEY VERSION VALUE   write VALUE only if the key's version is VERSION
                          (0: only if absent); prints the new version
  stats [NODE]            each server's replicas (role, term, LSNs, lag per
                          follower) and transport counters; or one server's
  promote PARTITION NODE  make NODE the primary of PARTITION (a leadership
                          transfer from the current primary)
  bench                   load generator: --clients, --keys, --value_size,
                          --read_ratio, --duration; ops/s and p50/p99/p999

Writes print "OK version N" (N: the key's new version, the write's LSN).

Exit status:
  0  success
  1  get: the key does not exist
  2  usage error (bad command, flag or cluster file)
  3  failed: not written (refused, compare-and-set version mismatch), a read
     that failed, a server that did not answer (stats, promote)
  4  a write whose outcome is unknown: it may or may not have been applied
  5  a write committed (durable, will not be lost) but held by fewer
     replicas than its write concern asked for before the deadline

This client's node id is random in [2^62, 2^64): server ids are at most
2^32 - 1 (the cluster file enforces it), so a client never takes a server's
id, and two clients collide with negligible probability.

Flags may be written with '-' or '_' (--write-concern or --write_concern).)";

bool IsCliFlagFile(absl::string_view file) {
  return file.find("toydb_cli") != absl::string_view::npos;
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "toydb: %s (see toydb --help)\n", message.c_str());
  return kExitUsage;
}

int Fail(const Status& status) {
  std::fprintf(stderr, "toydb: %s\n", std::string(status.message()).c_str());
  return kExitFailed;
}

template <typename T>
bool ParseUnsigned(std::string_view text, T* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

struct Common {
  std::unique_ptr<ClusterClient> client;
  WriteConcern concern;
  ReadConsistency consistency = ReadConsistency::kLinearizable;
  uint32_t timeout_ms = 5000;
};

RouterWriteOptions WriteOptionsOf(const Common& common) {
  return RouterWriteOptions{.concern = common.concern, .deadline_ms = common.timeout_ms};
}

int Get(Common& common, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("get takes KEY");
  RouterReadOptions options{.consistency = common.consistency, .deadline_ms = common.timeout_ms};
  StatusOr<VersionedValue> value = common.client->router->Get(args[0], options);
  if (absl::IsNotFound(value.status())) {
    std::fprintf(stderr, "toydb: not found: %s\n", args[0].c_str());
    return kExitNotFound;
  }
  if (!value.ok()) return Fail(value.status());
  std::fwrite(value->value.data(), 1, value->value.size(), stdout);
  std::fputc('\n', stdout);
  if (absl::GetFlag(FLAGS_verbose)) {
    std::fprintf(stderr, "version %llu, partition %u\n",
                 static_cast<unsigned long long>(value->version),
                 common.client->router->PartitionOf(args[0]));
  }
  return kExitOk;
}

int Set(Common& common, const std::vector<std::string>& args) {
  if (args.size() != 2) return Usage("set takes KEY VALUE (VALUE '-' reads stdin)");
  StatusOr<std::string> value = ValueArgument(args[1]);
  if (!value.ok()) return Fail(value.status());
  return ReportWrite(common.client->router->Put(args[0], *value, WriteOptionsOf(common)));
}

int Del(Common& common, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage("del takes KEY");
  return ReportWrite(common.client->router->Delete(args[0], WriteOptionsOf(common)));
}

int Cas(Common& common, const std::vector<std::string>& args) {
  if (args.size() != 3) return Usage("cas takes KEY VERSION VALUE");
  Lsn version = 0;
  if (!ParseUnsigned(args[1], &version)) return Usage("cas: VERSION must be a number");
  StatusOr<std::string> value = ValueArgument(args[2]);
  if (!value.ok()) return Fail(value.status());
  return ReportWrite(
      common.client->router->CompareAndSet(args[0], version, *value, WriteOptionsOf(common)));
}

void PrintStats(const ClusterConfig& config, NodeId node, const StatsResponse& stats) {
  std::printf("node %llu (%s)\n", static_cast<unsigned long long>(node),
              config.nodes.at(node).c_str());
  for (const StatsReplica& wire : stats.replicas) {
    const ReplicaStats r = FromStatsReplica(wire);
    std::printf(
        "  partition %u: %-9s term %llu leader %llu  last %llu synced %llu commit %llu "
        "applied %llu  elections %llu/%llu won  snapshots %llu sent %llu received\n",
        r.partition, ReplicaRoleName(r.role), static_cast<unsigned long long>(r.term),
        static_cast<unsigned long long>(r.leader), static_cast<unsigned long long>(r.last_lsn),
        static_cast<unsigned long long>(r.synced_lsn),
        static_cast<unsigned long long>(r.commit_lsn),
        static_cast<unsigned long long>(r.applied_lsn),
        static_cast<unsigned long long>(r.elections_won),
        static_cast<unsigned long long>(r.elections_started),
        static_cast<unsigned long long>(r.snapshots_sent),
        static_cast<unsigned long long>(r.snapshots_received));
    for (const ReplicaPeerStats& peer : r.peers) {
      std::printf("    follower %llu: match %llu  lag %llu entries, %llu ticks\n",
                  static_cast<unsigned long long>(peer.node),
                  static_cast<unsigned long long>(peer.match_lsn),
                  static_cast<unsigned long long>(peer.lag_entries),
                  static_cast<unsigned long long>(peer.lag_ticks));
    }
    if (!r.failure.ok()) {
      std::printf("    FAILED: %s\n", std::string(r.failure.message()).c_str());
    }
  }
  std::string counters;
  for (const StatsCounter& counter : stats.counters) {
    counters += fmt::format(" {}={}", counter.name, counter.value);
  }
  if (!counters.empty()) std::printf("  counters:%s\n", counters.c_str());
}

int Stats(Common& common, const std::vector<std::string>& args) {
  const ClusterConfig& config = common.client->config;
  std::vector<NodeId> nodes;
  if (args.size() > 1) return Usage("stats takes at most one NODE");
  if (args.size() == 1) {
    NodeId node = 0;
    if (!ParseUnsigned(args[0], &node) || config.nodes.count(node) == 0) {
      return Usage(fmt::format("stats: '{}' is not a node of the cluster file", args[0]));
    }
    nodes.push_back(node);
  } else {
    for (const auto& [id, address] : config.nodes) nodes.push_back(id);
  }
  StatusOr<std::unique_ptr<AdminClient>> admin =
      AdminClient::Open(common.client->transport.get(), common.client->id);
  if (!admin.ok()) return Fail(admin.status());
  const auto answers = (*admin)->Stats(nodes, std::chrono::milliseconds(common.timeout_ms));
  int code = kExitOk;
  for (NodeId node : nodes) {
    auto it = answers.find(node);
    if (it != answers.end()) {
      PrintStats(config, node, it->second);
    } else {
      std::printf("node %llu (%s): no answer within %u ms\n", static_cast<unsigned long long>(node),
                  config.nodes.at(node).c_str(), common.timeout_ms);
      code = kExitFailed;
    }
  }
  return code;
}

// The node among `stats` that reports itself primary of `partition`, or 0.
NodeId PrimaryOf(const std::map<NodeId, StatsResponse>& stats, PartitionId partition) {
  for (const auto& [node, answer] : stats) {
    for (const StatsReplica& r : answer.replicas) {
      if (r.partition == partition && r.role == static_cast<uint8_t>(ReplicaRole::kPrimary)) {
        return node;
      }
    }
  }
  return 0;
}

int Promote(Common& common, const std::vector<std::string>& args) {
  if (args.size() != 2) return Usage("promote takes PARTITION NODE");
  PartitionId partition = 0;
  NodeId target = 0;
  if (!ParseUnsigned(args[0], &partition) || !ParseUnsigned(args[1], &target)) {
    return Usage("promote: PARTITION and NODE must be numbers");
  }
  const ClusterConfig& config = common.client->config;
  std::vector<NodeId> members;
  for (const PartitionConfig& p : config.partitions) {
    if (p.id == partition) members = p.members;
  }
  if (members.empty()) return Usage(fmt::format("promote: no partition {}", partition));
  if (std::find(members.begin(), members.end(), target) == members.end()) {
    return Usage(
        fmt::format("promote: node {} holds no replica of partition {}", target, partition));
  }
  StatusOr<std::unique_ptr<AdminClient>> admin =
      AdminClient::Open(common.client->transport.get(), common.client->id);
  if (!admin.ok()) return Fail(admin.status());
  const auto timeout = std::chrono::milliseconds(common.timeout_ms);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool asked = false;
  while (std::chrono::steady_clock::now() < deadline) {
    const NodeId primary = PrimaryOf((*admin)->Stats(members, timeout), partition);
    if (primary == target) {
      std::printf("node %llu is the primary of partition %u\n",
                  static_cast<unsigned long long>(target), partition);
      return kExitOk;
    }
    if (primary != 0 && !asked) {
      AdminRequest request{
          .op = AdminOp::kTransferLeadership, .partition = partition, .target = target};
      const auto answers = (*admin)->Admin({primary}, request, timeout);
      auto it = answers.find(primary);
      if (it != answers.end() && it->second.code != 0) {
        // The primary may have changed since the stats; try again.
        std::fprintf(stderr, "toydb: node %llu: %s\n", static_cast<unsigned long long>(primary),
                     it->second.message.c_str());
      } else if (it != answers.end()) {
        asked = true;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::fprintf(stderr, "toydb: node %llu did not become the primary of partition %u within %u ms\n",
               static_cast<unsigned long long>(target), partition, common.timeout_ms);
  return kExitFailed;
}

int Bench(Common& common, const std::vector<std::string>& args) {
  if (!args.empty()) return Usage("bench takes no arguments (see its flags)");
  BenchOptions options;
  options.clients = absl::GetFlag(FLAGS_clients);
  options.keys = absl::GetFlag(FLAGS_keys);
  options.value_size = absl::GetFlag(FLAGS_value_size);
  options.read_ratio = absl::GetFlag(FLAGS_read_ratio);
  options.duration_s = absl::GetFlag(FLAGS_duration);
  options.concern = common.concern;
  options.consistency = common.consistency;
  options.progress = absl::GetFlag(FLAGS_progress);
  if (options.clients == 0 || options.clients > 4096) return Usage("--clients must be 1 to 4096");
  if (options.keys == 0) return Usage("--keys must be at least 1");
  if (options.read_ratio < 0 || options.read_ratio > 1) return Usage("--read_ratio must be 0 to 1");
  if (!(options.duration_s > 0)) return Usage("--duration must be positive");
  return RunBench(*common.client->router, options);
}

int Main(int argc, char** argv) {
  NormalizeFlagNames(argc, argv);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = IsCliFlagFile;
  usage_config.contains_helpshort_flags = IsCliFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() < 2) return Usage("no command");
  const std::string command = positional[1];
  const std::vector<std::string> args(positional.begin() + 2, positional.end());
  using Handler = int (*)(Common&, const std::vector<std::string>&);
  const std::map<std::string, Handler> kCommands = {
      {"get", Get},     {"set", Set},         {"del", Del},    {"cas", Cas},
      {"stats", Stats}, {"promote", Promote}, {"bench", Bench}};
  auto handler = kCommands.find(command);
  if (handler == kCommands.end()) return Usage(fmt::format("unknown command '{}'", command));

  Common common;
  StatusOr<WriteConcern> concern = ParseWriteConcern(absl::GetFlag(FLAGS_write_concern));
  if (!concern.ok()) return Usage(std::string(concern.status().message()));
  common.concern = *concern;
  StatusOr<ReadConsistency> consistency = ParseConsistency(absl::GetFlag(FLAGS_consistency));
  if (!consistency.ok()) return Usage(std::string(consistency.status().message()));
  common.consistency = *consistency;
  common.timeout_ms = absl::GetFlag(FLAGS_timeout_ms);
  if (common.timeout_ms == 0) return Usage("--timeout_ms must be at least 1");
  std::string cluster = absl::GetFlag(FLAGS_cluster);
  if (cluster.empty() && std::getenv("TOYDB_CLUSTER") != nullptr) {
    cluster = std::getenv("TOYDB_CLUSTER");
  }
  StatusOr<std::unique_ptr<ClusterClient>> client = ConnectToCluster(cluster);
  if (!client.ok()) return Usage(std::string(client.status().message()));
  common.client = std::move(*client);
  if (command != "stats" && command != "promote") {
    RouterOptions options;
    options.deadline_ms = common.timeout_ms;
    options.attempt_timeout_ms = std::min<uint32_t>(common.timeout_ms, 2000);
    options.writes_in_flight_per_partition_max =
        std::max<uint32_t>(64, std::min<uint32_t>(4096, absl::GetFlag(FLAGS_clients)));
    if (command != "bench") options.probe_interval_ms = 0;  // one request: no probes
    if (Status s = OpenRouter(common.client.get(), options); !s.ok()) return Fail(s);
  }
  const int code = handler->second(common, args);
  std::fflush(stdout);
  // Close the Router before the transport it is registered on.
  common.client->router.reset();
  return code;
}

}  // namespace
}  // namespace toydb::tools

int main(int argc, char** argv) { return toydb::tools::Main(argc, argv); }
