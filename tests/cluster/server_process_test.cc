// A real cluster of three toydb-server processes on loopback: writes through
// the Router over TCP, a primary killed with SIGKILL, a new primary elected
// and serving, the killed node restarted and caught up, every acknowledged
// kMajority write readable from every replica; and hostile bytes at a
// server's port (garbage, an oversize length prefix, half a frame, a silent
// connection) while a client keeps being served.
//
// Not tagged [threads]: it runs in the release and ASan runs of the test
// command, not under TSan (the servers are separate processes).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "src/transport/codec.h"
#include "src/transport/tcp_hello.h"
#include "src/util/coding.h"
#include "src/util/mutex.h"
#include "toydb/cluster_file.h"
#include "toydb/node.h"
#include "toydb/router.h"
#include "toydb/tcp_transport.h"

extern char** environ;

namespace toydb {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr PartitionId kPartition = 0;

// A free loopback port: bound to port 0, then released for the server to
// take. Another process could take it in between; the kernel hands out
// ephemeral ports in turn, so parallel runs of this test do not collide.
uint16_t FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One toydb-server process; SIGKILLed if still running at destruction.
class ServerProcess {
 public:
  ServerProcess(NodeId id, std::string cluster_file, std::string data_dir, std::string log_file,
                uint16_t metrics_port)
      : id_(id),
        metrics_port_(metrics_port),
        cluster_file_(std::move(cluster_file)),
        data_dir_(std::move(data_dir)),
        log_file_(std::move(log_file)) {}
  ~ServerProcess() { Kill(SIGKILL); }

  void Start() {
    REQUIRE(pid_ == 0);
    std::vector<std::string> args = {TOYDB_SERVER_BINARY,
                                     "--node_id=" + std::to_string(id_),
                                     "--cluster=" + cluster_file_,
                                     "--data_dir=" + data_dir_,
                                     "--sync=every_write",
                                     "--tick_ms=10",
                                     "--election_ticks=20",
                                     "--heartbeat_ticks=2",
                                     "--cache_mb=4",
                                     "--metrics_port=" + std::to_string(metrics_port_)};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log_file_.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(error == 0);
    pid_ = pid;
  }

  // Sends `signal` and reaps the process; returns its wait status.
  int Kill(int signal) {
    if (pid_ == 0) return 0;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    return status;
  }

  bool Running() {
    if (pid_ == 0) return false;
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }

  std::string Log() const {
    std::ifstream in(log_file_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  const NodeId id_;
  const uint16_t metrics_port_;
  const std::string cluster_file_, data_dir_, log_file_;
  pid_t pid_ = 0;
};

// A tool's view of the servers: stats, and reads aimed at one node,
// sent directly (not through the Router) under a client id of its own.
class Probe final : public Transport::Handler {
 public:
  Probe(TcpTransport* transport, NodeId id) : transport_(transport), id_(id) {
    REQUIRE(transport_->Register(id_, this).ok());
  }
  ~Probe() override { transport_->Unregister(id_); }

  void OnMessage(const Message& message) override {
    MutexLock lock(&mu_);
    if (const auto* stats = std::get_if<StatsResponse>(&message.body)) {
      stats_[message.from] = *stats;
    } else if (const auto* response = std::get_if<ClientResponse>(&message.body)) {
      reads_[response->sequence] = *response;
    }
  }
  void OnPeerUnreachable(NodeId) override {}

  // The node's stats, or nullopt if it does not answer within 1 s.
  std::optional<StatsResponse> Stats(NodeId node) {
    {
      MutexLock lock(&mu_);
      stats_.erase(node);
    }
    (void)transport_->Send(Message{.from = id_, .to = node, .body = StatsRequest{}});
    for (auto deadline = Clock::now() + 1s; Clock::now() < deadline;) {
      {
        MutexLock lock(&mu_);
        if (auto it = stats_.find(node); it != stats_.end()) return it->second;
      }
      std::this_thread::sleep_for(2ms);
    }
    return std::nullopt;
  }

  std::optional<ReplicaStats> Replica(NodeId node) {
    std::optional<StatsResponse> stats = Stats(node);
    if (!stats || stats->replicas.size() != 1) return std::nullopt;
    return FromStatsReplica(stats->replicas[0]);
  }

  // The value of each key read with kAny from `node`; absent keys are
  // missing from the result, unanswered reads are "<no answer>".
  std::map<std::string, std::string> ReadAll(NodeId node, const std::vector<std::string>& keys) {
    {
      MutexLock lock(&mu_);
      reads_.clear();
    }
    for (uint64_t i = 0; i < keys.size(); ++i) {
      ClientRequest get{.client_id = id_,
                        .sequence = i,
                        .partition = kPartition,
                        .op = OpType::kGet,
                        .key = keys[i],
                        .consistency = ReadConsistency::kAny};
      (void)transport_->Send(Message{.from = id_, .to = node, .body = get});
    }
    for (auto deadline = Clock::now() + 5s; Clock::now() < deadline;) {
      {
        MutexLock lock(&mu_);
        if (reads_.size() == keys.size()) break;
      }
      std::this_thread::sleep_for(2ms);
    }
    MutexLock lock(&mu_);
    std::map<std::string, std::string> values;
    for (uint64_t i = 0; i < keys.size(); ++i) {
      auto it = reads_.find(i);
      if (it == reads_.end() || it->second.code != 0) {
        values[keys[i]] = "<no answer>";
      } else if (it->second.found) {
        values[keys[i]] = it->second.value;
      }
    }
    return values;
  }

 private:
  TcpTransport* const transport_;
  const NodeId id_;
  Mutex mu_;
  std::map<NodeId, StatsResponse> stats_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, ClientResponse> reads_ ABSL_GUARDED_BY(mu_);
};

class ProcessCluster {
 public:
  ProcessCluster() {
    dir_ = std::filesystem::temp_directory_path() /
           ("toydb-process-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::random_device()()));
    std::filesystem::create_directories(dir_);
    for (NodeId id = 1; id <= 3; ++id) {
      config_.nodes[id] = "127.0.0.1:" + std::to_string(FreePort());
    }
    config_.partitions = {PartitionConfig{.id = kPartition, .members = {1, 2, 3}}};
    const std::string cluster_file = (dir_ / "cluster.txt").string();
    std::ofstream(cluster_file) << config_.ToText();
    for (NodeId id = 1; id <= 3; ++id) {
      servers_[id] = std::make_unique<ServerProcess>(
          id, cluster_file, (dir_ / ("node-" + std::to_string(id))).string(),
          (dir_ / ("node-" + std::to_string(id) + ".log")).string(),
          metrics_ports_[id] = FreePort());
      servers_[id]->Start();
    }
    StatusOr<std::unique_ptr<TcpTransport>> transport =
        TcpTransport::Open({.peers = config_.nodes});
    REQUIRE(transport.ok());
    transport_ = std::move(*transport);
    probe_ = std::make_unique<Probe>(transport_.get(), kClientNodeIdMin + 2);
    RouterOptions options;
    options.id = kClientNodeIdMin + 1;
    options.transport = transport_.get();
    options.partitions = config_.partitions;
    options.deadline_ms = 5000;
    options.attempt_timeout_ms = 500;
    options.seed = 7;
    StatusOr<std::unique_ptr<Router>> router = Router::Open(options);
    REQUIRE(router.ok());
    router_ = std::move(*router);
  }

  ~ProcessCluster() {
    router_.reset();
    probe_.reset();
    transport_.reset();
    servers_.clear();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // The server logs, for a failed assertion's report.
  std::string Logs() const {
    std::string text;
    for (const auto& [id, server] : servers_) {
      text += "--- node " + std::to_string(id) + "\n" + server->Log();
    }
    return text;
  }

  // The node that reports itself primary (among those not `except`), or 0
  // after `timeout`.
  NodeId WaitForPrimary(NodeId except = 0, std::chrono::milliseconds timeout = 10s) {
    for (auto deadline = Clock::now() + timeout; Clock::now() < deadline;) {
      for (NodeId id = 1; id <= 3; ++id) {
        if (id == except) continue;
        std::optional<ReplicaStats> replica = probe_->Replica(id);
        if (replica && replica->role == ReplicaRole::kPrimary) return id;
      }
      std::this_thread::sleep_for(20ms);
    }
    return 0;
  }

  // Writes n keys with kMajority; records the acknowledged ones.
  void Write(int first, int n, std::map<std::string, std::string>* acknowledged) {
    for (int i = first; i < first + n; ++i) {
      const std::string key = "key-" + std::to_string(i);
      const std::string value = "value-" + std::to_string(i);
      WriteResult result = router_->Put(key, value);
      if (result.ok()) (*acknowledged)[key] = value;
    }
  }

  ServerProcess& server(NodeId id) { return *servers_.at(id); }
  std::string dir() const { return dir_.string(); }
  std::string cluster_file() const { return (dir_ / "cluster.txt").string(); }
  uint16_t metrics_port(NodeId id) const { return metrics_ports_.at(id); }
  Router& router() { return *router_; }
  Probe& probe() { return *probe_; }
  uint16_t port(NodeId id) {
    const std::string& address = config_.nodes.at(id);
    return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }

 private:
  std::filesystem::path dir_;
  ClusterConfig config_;
  std::map<NodeId, std::unique_ptr<ServerProcess>> servers_;
  std::map<NodeId, uint16_t> metrics_ports_;
  std::unique_ptr<TcpTransport> transport_;
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<Router> router_;
};

// REQUIRE that shows the servers' logs when it fails.
#define REQUIRE_OR_SHOW_LOGS(cluster, condition)                    \
  do {                                                              \
    if (!(condition)) FAIL(#condition << "\n" << (cluster).Logs()); \
  } while (false)

uint64_t Counter(const StatsResponse& stats, std::string_view name) {
  for (const StatsCounter& counter : stats.counters) {
    if (counter.name == name) return counter.value;
  }
  FAIL("no counter " << name);
  return 0;
}

TEST_CASE(
    "Server processes: a killed primary is replaced, restarts and catches up, and no "
    "acknowledged write is lost",
    "[process]") {
  ProcessCluster cluster;
  const NodeId primary = cluster.WaitForPrimary();
  REQUIRE_OR_SHOW_LOGS(cluster, primary != 0);
  std::map<std::string, std::string> acknowledged;
  cluster.Write(0, 200, &acknowledged);
  REQUIRE(acknowledged.size() == 200);  // a healthy cluster acknowledges every write

  cluster.server(primary).Kill(SIGKILL);
  const NodeId next = cluster.WaitForPrimary(primary);
  REQUIRE_OR_SHOW_LOGS(cluster, next != 0);
  cluster.Write(200, 200, &acknowledged);
  CHECK(acknowledged.size() >= 390);  // writes racing the election may time out

  cluster.server(primary).Start();
  // Caught up: the restarted node holds and applied everything the primary
  // committed.
  Lsn commit = 0;
  bool caught_up = false;
  for (auto deadline = Clock::now() + 10s; Clock::now() < deadline && !caught_up;) {
    std::optional<ReplicaStats> leader = cluster.probe().Replica(next);
    std::optional<ReplicaStats> restarted = cluster.probe().Replica(primary);
    if (leader && restarted) {
      commit = leader->commit_lsn;
      caught_up = restarted->role == ReplicaRole::kFollower && restarted->leader == next &&
                  restarted->applied_lsn >= commit;
    }
    if (!caught_up) std::this_thread::sleep_for(20ms);
  }
  REQUIRE_OR_SHOW_LOGS(cluster, caught_up);
  CHECK(commit >= acknowledged.size());

  std::vector<std::string> keys;
  for (const auto& [key, value] : acknowledged) keys.push_back(key);
  for (NodeId node = 1; node <= 3; ++node) {
    INFO("node " << node);
    // Replicas apply the commit index asynchronously: a follower may need a
    // heartbeat to learn the last commit.
    std::map<std::string, std::string> values;
    for (auto deadline = Clock::now() + 5s; Clock::now() < deadline;) {
      values = cluster.probe().ReadAll(node, keys);
      if (values == acknowledged) break;
      std::this_thread::sleep_for(50ms);
    }
    CHECK(values == acknowledged);
  }

  // SIGTERM: a clean shutdown, exit status 0 (under ASan, also no leak and
  // no error on the way out), that keeps every acknowledged write.
  for (NodeId node = 1; node <= 3; ++node) {
    INFO("node " << node);
    const int status = cluster.server(node).Kill(SIGTERM);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(cluster.server(node).Log().find("stopped") != std::string::npos);
  }
  // Restarted, the cluster still holds every acknowledged write.
  for (NodeId node = 1; node <= 3; ++node) cluster.server(node).Start();
  REQUIRE_OR_SHOW_LOGS(cluster, cluster.WaitForPrimary() != 0);
  for (NodeId node = 1; node <= 3; ++node) {
    INFO("node " << node << " after a restart");
    std::map<std::string, std::string> values;
    for (auto deadline = Clock::now() + 5s; Clock::now() < deadline;) {
      values = cluster.probe().ReadAll(node, keys);
      if (values == acknowledged) break;
      std::this_thread::sleep_for(50ms);
    }
    CHECK(values == acknowledged);
  }
}

// A raw TCP connection to a server's port.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    timeval timeout{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  }
  ~RawConnection() { ::close(fd_); }

  void Send(std::string_view bytes) {
    // The server may close first; a failed send is what the test expects then.
    (void)::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  }
  // A valid client hello for node `id`.
  void SendHello(NodeId id) {
    tcp::Hello hello{.kind = tcp::HelloKind::kHello,
                     .incarnation = id,
                     .nodes = {{.id = id, .role = tcp::NodeRole::kClient}}};
    StatusOr<std::string> bytes = tcp::EncodeHello(hello);
    REQUIRE(bytes.ok());
    Send(*bytes);
  }
  // Everything the server sends until it closes the connection.
  std::string ReadToEnd() {
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = ::recv(fd_, buffer, sizeof(buffer), 0)) > 0) text.append(buffer, n);
    return text;
  }
  // True once the server closed the connection (reads reach the end), false
  // if it stays open for 5 s.
  bool ClosedByServer() {
    char buffer[4096];
    while (true) {
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n == 0) return true;
      if (n < 0) return errno == ECONNRESET;
    }
  }

 private:
  int fd_ = -1;
};

TEST_CASE("Server processes: hostile bytes at a server's port close only their connection",
          "[process]") {
  ProcessCluster cluster;
  const NodeId primary = cluster.WaitForPrimary();
  REQUIRE_OR_SHOW_LOGS(cluster, primary != 0);
  std::optional<StatsResponse> before = cluster.probe().Stats(primary);
  REQUIRE(before.has_value());

  // A client writes throughout.
  std::atomic<bool> stop{false};
  std::atomic<int> written{0}, failed{0};
  std::thread writer([&] {
    for (int i = 0; !stop.load(); ++i) {
      WriteResult result = cluster.router().Put("w-" + std::to_string(i), "v");
      ++(result.ok() ? written : failed);
    }
  });

  const uint16_t port = cluster.port(primary);
  {
    RawConnection garbage(port);  // not a hello
    garbage.Send("GET / HTTP/1.1\r\nHost: toydb\r\n\r\n");
    CHECK(garbage.ClosedByServer());
  }
  Message message{.from = kClientNodeIdMin + 50, .to = primary, .body = StatsRequest{}};
  StatusOr<std::string> frame = EncodeFrame(message);
  REQUIRE(frame.ok());
  {
    RawConnection bad_frame(port);  // a hello, then bytes that are no frame
    bad_frame.SendHello(kClientNodeIdMin + 50);
    bad_frame.Send(std::string(64, '\xAB'));
    CHECK(bad_frame.ClosedByServer());
  }
  {
    RawConnection oversize(port);  // a frame header claiming 4 GiB
    oversize.SendHello(kClientNodeIdMin + 51);
    std::string header = frame->substr(0, kFrameHeaderBytes);
    EncodeFixed32(header.data() + 2, 0xFFFFFFFFu);
    oversize.Send(header);
    CHECK(oversize.ClosedByServer());
  }
  {
    RawConnection half(port);  // half a frame, then the connection ends
    half.SendHello(kClientNodeIdMin + 52);
    half.Send(std::string_view(*frame).substr(0, frame->size() / 2));
  }
  {
    RawConnection silent(port);  // connects and says nothing
    const auto start = Clock::now();
    CHECK(silent.ClosedByServer());  // after the handshake timeout (2 s)
    CHECK(Clock::now() - start < 4s);
  }
  const int written_during = written.load();
  std::this_thread::sleep_for(200ms);
  stop.store(true);
  writer.join();

  CHECK(cluster.server(primary).Running());
  CHECK(written_during > 0);
  CHECK(written.load() > written_during);  // still served after the last attack
  CHECK(failed.load() == 0);
  if (failed.load() != 0) FAIL(cluster.Logs());
  std::optional<StatsResponse> after = cluster.probe().Stats(primary);
  REQUIRE(after.has_value());
  CHECK(Counter(*after, "tcp_bad_frames") >= Counter(*before, "tcp_bad_frames") + 2);
  CHECK(Counter(*after, "tcp_handshake_timeouts") > Counter(*before, "tcp_handshake_timeouts"));
  CHECK(Counter(*after, "tcp_hellos_refused") > Counter(*before, "tcp_hellos_refused"));

  // The same figures for Prometheus, over HTTP on --metrics_port.
  RawConnection http(cluster.metrics_port(primary));
  http.Send("GET /metrics HTTP/1.0\r\n\r\n");
  const std::string page = http.ReadToEnd();
  CHECK(page.starts_with("HTTP/1.0 200 OK\r\n"));
  CHECK(page.find("toydb_replica_role{node=\"" + std::to_string(primary) +
                  "\",partition=\"0\"} 2\n") != std::string::npos);
  CHECK(page.find("toydb_tcp_bad_frames_total{node=\"" + std::to_string(primary) + "\"} ") !=
        std::string::npos);
}

// Runs the toydb CLI with `args` (stdin from `input`); its exit status and
// what it printed on stdout and stderr.
struct CliRun {
  int code = -1;
  std::string out, err;
};
CliRun RunCli(const std::string& dir, std::vector<std::string> args,
              const std::string& input = "") {
  const std::string in_path = dir + "/cli.in", out_path = dir + "/cli.out",
                    err_path = dir + "/cli.err";
  std::ofstream(in_path) << input;
  args.insert(args.begin(), TOYDB_CLI_BINARY);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, in_path.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(error == 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  CliRun run;
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  run.out = slurp(out_path);
  run.err = slurp(err_path);
  return run;
}

TEST_CASE("Server processes: the toydb CLI's commands and exit codes", "[process]") {
  ProcessCluster cluster;
  const NodeId primary = cluster.WaitForPrimary();
  REQUIRE_OR_SHOW_LOGS(cluster, primary != 0);
  const std::string dir = cluster.dir();
  const std::string file = "--cluster=" + cluster.cluster_file();

  CliRun set = RunCli(dir, {file, "set", "k", "v1"});
  CHECK(set.code == 0);
  CHECK(set.out.starts_with("OK version "));
  const std::string version = set.out.substr(11, set.out.size() - 12);
  CliRun get = RunCli(dir, {file, "--consistency=session", "get", "k"});
  CHECK(get.code == 0);
  CHECK(get.out == "v1\n");
  CHECK(RunCli(dir, {file, "--write-concern=all", "set", "k2", "-"}, "from stdin").code == 0);
  CHECK(RunCli(dir, {file, "get", "k2"}).out == "from stdin\n");
  CliRun missing = RunCli(dir, {file, "get", "absent"});
  CHECK(missing.code == 1);
  CHECK(missing.err == "toydb: not found: absent\n");
  CliRun mismatch = RunCli(dir, {file, "cas", "k", "999999", "v2"});
  CHECK(mismatch.code == 3);
  CHECK(mismatch.err.starts_with("toydb: not written: version mismatch"));
  CHECK(RunCli(dir, {file, "cas", "k", version, "v2"}).code == 0);
  CHECK(RunCli(dir, {file, "get", "k"}).out == "v2\n");
  CHECK(RunCli(dir, {file, "del", "k"}).code == 0);
  CHECK(RunCli(dir, {file, "get", "k"}).code == 1);
  CHECK(RunCli(dir, {file, "frobnicate"}).code == 2);
  CHECK(RunCli(dir, {file, "--write-concern=most", "set", "a", "b"}).code == 2);
  CHECK(RunCli(dir, {"--cluster=" + dir + "/missing.txt", "get", "k"}).code == 2);

  CliRun stats = RunCli(dir, {file, "stats"});
  CHECK(stats.code == 0);
  CHECK(stats.out.find("partition 0: primary") != std::string::npos);
  CHECK(stats.out.find("tcp_frames_sent=") != std::string::npos);
  const NodeId target = primary == 1 ? 2 : 1;
  CliRun promote = RunCli(dir, {file, "promote", "0", std::to_string(target)});
  CHECK(promote.code == 0);
  CHECK(cluster.WaitForPrimary(primary) == target);
  CHECK(RunCli(dir, {file, "promote", "0", "9"}).code == 2);

  CliRun bench = RunCli(
      dir, {file, "bench", "--clients=4", "--duration=1", "--read_ratio=0.5", "--progress=false"});
  CHECK(bench.code == 0);
  CHECK(bench.out.find("RESULT clients=4 ") != std::string::npos);
  CHECK(bench.out.find(" errors=0") != std::string::npos);

  // A server down: a write to its partition still succeeds with a majority.
  cluster.server(primary == 3 ? 1 : 3).Kill(SIGKILL);
  CHECK(RunCli(dir, {file, "set", "k3", "v"}).code == 0);
  CHECK(RunCli(dir, {file, "stats"}).code == 3);  // one server does not answer
}

}  // namespace
}  // namespace toydb
