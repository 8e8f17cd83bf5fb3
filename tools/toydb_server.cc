// toydb-server: one node of a real toydb cluster. It reads the cluster file,
// hosts this node's replica of every partition that names it (a toydb::Node)
// on a toydb::TcpTransport listening at --listen, and serves replication,
// client requests (from toydb::Router clients such as the toydb CLI), stats
// and admin requests on that one port. SIGTERM or SIGINT closes it cleanly:
// the Node's destructor answers what is pending and closes the stores, so no
// acknowledged write is lost.
#include <fmt/format.h>
#include <signal.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "tools/flag_names.h"
#include "tools/metrics_http.h"
#include "tools/server_log.h"
#include "toydb/cluster_file.h"
#include "toydb/node.h"
#include "toydb/tcp_transport.h"

ABSL_FLAG(uint64_t, node_id, 0,
          "This server's node id, as declared by a 'node' line of the cluster file. Required.");
ABSL_FLAG(std::string, cluster, "",
          "The cluster file: the servers' ids and addresses and each partition's members "
          "(format: include/toydb/cluster_file.h, example: examples/cluster.txt). Required.");
ABSL_FLAG(std::string, data_dir, "",
          "Directory of this node's data; partition P's replica lives in DIR/partition-P. "
          "Created if missing. Required.");
ABSL_FLAG(std::string, listen, "",
          "host:port to accept connections on (peers, clients, stats). Default: this node's "
          "address in the cluster file. Use 0.0.0.0:PORT to accept on every interface.");
ABSL_FLAG(std::string, log_level, "info",
          "Least severe log line written to stderr: debug (adds a per-replica status line "
          "every 10 s), info (roles, elections, catch-up, snapshots, connections), warn "
          "(refusals, bad frames, lost connections), error.");
ABSL_FLAG(std::string, sync, "every_write",
          "When the replicas' logs reach the disk: every_write (fdatasync before a write is "
          "acknowledged, group commit; survives power loss), interval (every 100 ms), none "
          "(the OS decides; for tests).");
ABSL_FLAG(uint32_t, tick_ms, 10, "Length of a replica tick, the unit of the timeouts below.");
ABSL_FLAG(uint32_t, election_ticks, 30,
          "Ticks without a primary before a follower campaigns (randomized up to twice that); "
          "a primary without a majority's contact for as long steps down.");
ABSL_FLAG(uint32_t, heartbeat_ticks, 3, "Ticks between a primary's heartbeats.");
ABSL_FLAG(uint64_t, cache_mb, 64, "Value cache of each replica's store, in MiB.");
ABSL_FLAG(uint32_t, metrics_port, 0,
          "If not 0, serve Prometheus metrics (text format, any path) over HTTP on this port: "
          "each replica's role, term, LSNs and follower lag, and the transport's counters.");
ABSL_FLAG(std::string, metrics_address, "127.0.0.1",
          "The address --metrics_port listens on (0.0.0.0 for every interface).");

namespace toydb {
namespace {

using tools::LogLevel;
using tools::ServerLog;

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

constexpr char kUsage[] = R"(one node of a toydb cluster.

Usage: toydb-server --node_id=N --cluster=FILE --data_dir=DIR [--listen=HOST:PORT]

Hosts this node's replica of every partition the cluster file gives it, and
serves replication, client requests, stats and admin requests on one TCP
port. Logs one line per event to stderr. SIGTERM or SIGINT shuts it down
cleanly (no acknowledged write is lost). Exit status: 0 after a clean
shutdown, 1 if it could not start or a replica failed, 2 for bad flags or a
bad cluster file. Flags may be written with '-' or '_' (--node-id).

Example (examples/local-cluster/ starts six of these):
  toydb-server --node_id=1 --cluster=examples/cluster.txt --data_dir=/tmp/toydb/1)";

// Flags shown by --help: this program's own.
bool IsServerFlagFile(absl::string_view file) {
  return file.find("toydb_server") != absl::string_view::npos;
}

struct ServerFlags {
  NodeId node_id = 0;
  std::string cluster_path;
  std::string data_dir;
  std::string listen;
  LogLevel log_level = LogLevel::kInfo;
  SyncPolicy sync = SyncPolicy::kEveryWrite;
};

// The flags, or a message naming the first bad one.
StatusOr<ServerFlags> ReadFlags() {
  ServerFlags flags;
  flags.node_id = absl::GetFlag(FLAGS_node_id);
  flags.cluster_path = absl::GetFlag(FLAGS_cluster);
  flags.data_dir = absl::GetFlag(FLAGS_data_dir);
  flags.listen = absl::GetFlag(FLAGS_listen);
  if (flags.node_id == 0) return absl::InvalidArgumentError("--node_id is required (not 0)");
  if (flags.cluster_path.empty()) return absl::InvalidArgumentError("--cluster is required");
  if (flags.data_dir.empty()) return absl::InvalidArgumentError("--data_dir is required");
  if (!tools::ParseLogLevel(absl::GetFlag(FLAGS_log_level), &flags.log_level)) {
    return absl::InvalidArgumentError("--log_level must be debug, info, warn or error");
  }
  const std::string sync = absl::GetFlag(FLAGS_sync);
  if (sync == "every_write") {
    flags.sync = SyncPolicy::kEveryWrite;
  } else if (sync == "interval") {
    flags.sync = SyncPolicy::kInterval;
  } else if (sync == "none") {
    flags.sync = SyncPolicy::kNone;
  } else {
    return absl::InvalidArgumentError("--sync must be every_write, interval or none");
  }
  if (!flags.listen.empty()) {
    if (Status s = ValidateAddress(flags.listen, /*allow_port_zero=*/true); !s.ok()) {
      return absl::InvalidArgumentError(fmt::format("--listen: {}", std::string(s.message())));
    }
  }
  return flags;
}

std::vector<StatsCounter> TransportCounters(const TcpTransport& transport) {
  const TcpTransportStats s = transport.GetStats();
  return {{"tcp_frames_sent", s.frames_sent},
          {"tcp_frames_received", s.frames_received},
          {"tcp_bytes_sent", s.bytes_sent},
          {"tcp_bytes_received", s.bytes_received},
          {"tcp_writes", s.writes},
          {"tcp_connections_accepted", s.connections_accepted},
          {"tcp_connections_dialed", s.connections_dialed},
          {"tcp_connections_closed", s.connections_closed},
          {"tcp_hellos_refused", s.hellos_refused},
          {"tcp_handshake_timeouts", s.handshake_timeouts},
          {"tcp_bad_frames", s.bad_frames},
          {"tcp_rejected_full", s.rejected_full},
          {"tcp_dropped_no_route", s.dropped_no_route},
          {"tcp_dropped_unregistered", s.dropped_unregistered},
          {"tcp_delivered_local", s.delivered_local},
          {"tcp_connections_open", s.connections_open},
          {"tcp_send_queue_bytes", s.send_queue_bytes}};
}

// Watches the primaries' followers once a second and logs when one falls
// behind (it has not held every entry for an election timeout) and when it
// has caught up again: the catch-up of a restarted or partitioned replica.
class CatchUpWatcher {
 public:
  CatchUpWatcher(ServerLog* log, uint32_t behind_ticks) : log_(log), behind_ticks_(behind_ticks) {}

  void Observe(const std::vector<ReplicaStats>& replicas) {
    for (const ReplicaStats& replica : replicas) {
      if (replica.role != ReplicaRole::kPrimary) continue;
      for (const ReplicaPeerStats& peer : replica.peers) {
        const auto key = std::make_pair(replica.partition, peer.node);
        const bool behind = peer.lag_ticks >= behind_ticks_;
        auto [it, inserted] = behind_.emplace(key, false);
        if (behind && !it->second) {
          log_->Write(LogLevel::kInfo,
                      fmt::format("partition {}: node {} is behind by {} entries (match LSN {})",
                                  replica.partition, peer.node, peer.lag_entries, peer.match_lsn));
        } else if (!behind && it->second) {
          log_->Write(LogLevel::kInfo, fmt::format("partition {}: node {} caught up (match LSN {})",
                                                   replica.partition, peer.node, peer.match_lsn));
        }
        it->second = behind;
      }
    }
  }

 private:
  ServerLog* log_;
  const uint32_t behind_ticks_;
  std::map<std::pair<PartitionId, NodeId>, bool> behind_;
};

// One Prometheus sample line: name{labels} value.
void Sample(std::string* out, std::string_view name, std::string_view labels, uint64_t value) {
  *out += fmt::format("toydb_{}{{{}}} {}\n", name, labels, value);
}

// The Prometheus text exposition of the node's replicas and counters.
std::string RenderMetrics(NodeId node, const std::vector<ReplicaStats>& replicas,
                          const std::vector<StatsCounter>& counters) {
  std::string out =
      "# HELP toydb_replica_role 0 follower, 1 candidate, 2 primary.\n"
      "# TYPE toydb_replica_role gauge\n";
  for (const ReplicaStats& r : replicas) {
    const std::string labels = fmt::format("node=\"{}\",partition=\"{}\"", node, r.partition);
    Sample(&out, "replica_role", labels, static_cast<uint64_t>(r.role));
    Sample(&out, "replica_term", labels, r.term);
    Sample(&out, "replica_leader", labels, r.leader);
    Sample(&out, "replica_last_lsn", labels, r.last_lsn);
    Sample(&out, "replica_synced_lsn", labels, r.synced_lsn);
    Sample(&out, "replica_commit_lsn", labels, r.commit_lsn);
    Sample(&out, "replica_applied_lsn", labels, r.applied_lsn);
    Sample(&out, "replica_elections_started_total", labels, r.elections_started);
    Sample(&out, "replica_elections_won_total", labels, r.elections_won);
    Sample(&out, "replica_snapshots_sent_total", labels, r.snapshots_sent);
    Sample(&out, "replica_snapshots_received_total", labels, r.snapshots_received);
    Sample(&out, "replica_failed", labels, r.failure.ok() ? 0 : 1);
    for (const ReplicaPeerStats& peer : r.peers) {
      const std::string peer_labels = fmt::format("{},follower=\"{}\"", labels, peer.node);
      Sample(&out, "follower_match_lsn", peer_labels, peer.match_lsn);
      Sample(&out, "follower_lag_entries", peer_labels, peer.lag_entries);
      Sample(&out, "follower_lag_ticks", peer_labels, peer.lag_ticks);
    }
  }
  const std::string labels = fmt::format("node=\"{}\"", node);
  for (const StatsCounter& counter : counters) {
    // Gauges keep their name; counters since start end in _total.
    const bool gauge =
        counter.name == "tcp_connections_open" || counter.name == "tcp_send_queue_bytes";
    Sample(&out, gauge ? counter.name : counter.name + "_total", labels, counter.value);
  }
  return out;
}

void LogStatus(ServerLog& log, const std::vector<ReplicaStats>& replicas) {
  for (const ReplicaStats& r : replicas) {
    log.Write(LogLevel::kDebug,
              fmt::format("partition {}: {} term {} leader {} last {} synced {} commit {} "
                          "applied {}",
                          r.partition, ReplicaRoleName(r.role), r.term, r.leader, r.last_lsn,
                          r.synced_lsn, r.commit_lsn, r.applied_lsn));
  }
}

// Waits for SIGTERM or SIGINT (blocked in every thread since main started),
// once a second observing the replicas.
int WaitForSignal(ServerLog& log, Node& node, CatchUpWatcher& watcher, const sigset_t& signals) {
  int seconds = 0;
  while (true) {
    timespec timeout{.tv_sec = 1, .tv_nsec = 0};
    const int signal = sigtimedwait(&signals, nullptr, &timeout);
    if (signal > 0) {
      log.Write(LogLevel::kInfo, fmt::format("received {}: shutting down", strsignal(signal)));
      return signal;
    }
    if (errno != EAGAIN && errno != EINTR) {
      log.Write(LogLevel::kError, fmt::format("sigtimedwait: {}", strerror(errno)));
      return 0;
    }
    const std::vector<ReplicaStats> replicas = node.GetStats();
    watcher.Observe(replicas);
    if (++seconds % 10 == 0 && log.Enabled(LogLevel::kDebug)) LogStatus(log, replicas);
  }
}

std::string DescribeHosted(const ClusterConfig& config, NodeId self) {
  std::string text;
  for (const PartitionConfig& partition : config.PartitionsOf(self)) {
    if (!text.empty()) text += ", ";
    text += fmt::format("{} (members", partition.id);
    for (NodeId member : partition.members) text += fmt::format(" {}", member);
    text += ")";
  }
  return text.empty() ? "none" : text;
}

NodeOptions NodeOptionsFrom(const ServerFlags& flags, const ClusterConfig& config,
                            TcpTransport* transport, ServerLog& log) {
  NodeOptions options;
  options.id = flags.node_id;
  options.dir = flags.data_dir;
  options.transport = transport;
  options.partitions = config.partitions;
  options.tick_ms = absl::GetFlag(FLAGS_tick_ms);
  options.replica.election_ticks = absl::GetFlag(FLAGS_election_ticks);
  options.replica.heartbeat_ticks = absl::GetFlag(FLAGS_heartbeat_ticks);
  options.store.sync_policy = flags.sync;
  options.store.cache_bytes_max = absl::GetFlag(FLAGS_cache_mb) << 20;
  options.log = [&log](std::string_view line) { log.Event(line); };
  options.counters = [transport] { return TransportCounters(*transport); };
  return options;
}

// The --metrics_port responder; its scrapes read the node's and the
// transport's figures on the responder's thread.
StatusOr<std::unique_ptr<tools::MetricsHttpServer>> OpenMetrics(Node* node, TcpTransport* transport,
                                                                ServerLog& log) {
  const std::string address = absl::GetFlag(FLAGS_metrics_address);
  const uint32_t port = absl::GetFlag(FLAGS_metrics_port);
  if (port > 65535) return absl::InvalidArgumentError("--metrics_port must be at most 65535");
  StatusOr<std::unique_ptr<tools::MetricsHttpServer>> metrics =
      tools::MetricsHttpServer::Open(address, static_cast<uint16_t>(port), [node, transport] {
        return RenderMetrics(node->id(), node->GetStats(), TransportCounters(*transport));
      });
  if (metrics.ok()) {
    log.Write(LogLevel::kInfo, fmt::format("metrics on http://{}:{}/metrics", address, port));
  }
  return metrics;
}

int Serve(const ServerFlags& flags, ServerLog& log, const sigset_t& signals) {
  StatusOr<ClusterConfig> config = ReadClusterFile(flags.cluster_path);
  if (!config.ok()) {
    log.Write(LogLevel::kError, std::string(config.status().message()));
    return kExitUsage;
  }
  auto self = config->nodes.find(flags.node_id);
  if (self == config->nodes.end()) {
    log.Write(LogLevel::kError,
              fmt::format("node {} is not declared in {}", flags.node_id, flags.cluster_path));
    return kExitUsage;
  }
  TcpTransportOptions transport_options;
  transport_options.listen_address = flags.listen.empty() ? self->second : flags.listen;
  // Every server, this one included: the transport tells its own nodes'
  // role (server or client) to its peers by their presence here.
  transport_options.peers = config->nodes;
  transport_options.log = [&log](std::string_view line) { log.Event(line); };
  StatusOr<std::unique_ptr<TcpTransport>> transport = TcpTransport::Open(transport_options);
  if (!transport.ok()) {
    log.Write(LogLevel::kError,
              fmt::format("cannot listen on {}: {}", transport_options.listen_address,
                          std::string(transport.status().message())));
    return kExitFailed;
  }
  TcpTransport* raw_transport = transport->get();
  const NodeOptions options = NodeOptionsFrom(flags, *config, raw_transport, log);
  if (Status s = options.replica.Validate(); !s.ok()) {
    log.Write(LogLevel::kError, std::string(s.message()));
    return kExitUsage;
  }
  StatusOr<std::unique_ptr<Node>> node = Node::Open(options);
  if (!node.ok()) {
    log.Write(LogLevel::kError, fmt::format("cannot open node {}: {}", flags.node_id,
                                            std::string(node.status().message())));
    return kExitFailed;
  }
  log.Write(
      LogLevel::kInfo,
      fmt::format("node {} serving on {} (port {}), data in {}, partitions: {}", flags.node_id,
                  transport_options.listen_address, (*transport)->listen_port(), flags.data_dir,
                  DescribeHosted(*config, flags.node_id)));
  std::unique_ptr<tools::MetricsHttpServer> metrics;
  if (absl::GetFlag(FLAGS_metrics_port) != 0) {
    StatusOr<std::unique_ptr<tools::MetricsHttpServer>> opened =
        OpenMetrics(node->get(), raw_transport, log);
    if (!opened.ok()) {
      log.Write(LogLevel::kError, std::string(opened.status().message()));
      return kExitFailed;
    }
    metrics = std::move(*opened);
  }
  CatchUpWatcher watcher(&log, options.replica.election_ticks);
  WaitForSignal(log, **node, watcher, signals);
  metrics.reset();
  bool failed = false;
  for (const ReplicaStats& replica : (*node)->GetStats()) failed = failed || !replica.failure.ok();
  node->reset();  // answers pending requests, closes the stores
  transport->reset();
  log.Write(LogLevel::kInfo, fmt::format("node {} stopped", flags.node_id));
  return failed ? kExitFailed : kExitOk;
}

}  // namespace
}  // namespace toydb

int main(int argc, char** argv) {
  // Block the shutdown signals before any thread starts, so every thread
  // inherits the mask and main alone receives them (sigtimedwait).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  toydb::tools::NormalizeFlagNames(argc, argv);
  absl::FlagsUsageConfig usage_config;
  usage_config.contains_help_flags = toydb::IsServerFlagFile;
  usage_config.contains_helpshort_flags = toydb::IsServerFlagFile;
  absl::SetFlagsUsageConfig(usage_config);
  absl::SetProgramUsageMessage(toydb::kUsage);
  std::vector<char*> positional = absl::ParseCommandLine(argc, argv);
  if (positional.size() > 1) {
    std::fprintf(stderr, "toydb-server: unexpected argument '%s' (see --help)\n", positional[1]);
    return toydb::kExitUsage;
  }
  toydb::StatusOr<toydb::ServerFlags> flags = toydb::ReadFlags();
  if (!flags.ok()) {
    std::fprintf(stderr, "toydb-server: %s (see --help)\n",
                 std::string(flags.status().message()).c_str());
    return toydb::kExitUsage;
  }
  toydb::tools::ServerLog log(flags->log_level);
  return toydb::Serve(*flags, log, signals);
}
