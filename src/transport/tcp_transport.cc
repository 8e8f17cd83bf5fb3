// TcpTransport: one I/O thread runs an asio::io_context that owns every
// socket and timer. Application threads only touch queues, under locks, and
// post work to the I/O thread; the I/O thread reads, decodes and calls the
// handlers with no lock held, so a handler may Send (even to itself).
//
// A Peer is one remote process: its queue of encoded frames, the address to
// dial (empty for a client, reachable only over the connection it opened),
// and at most one open connection. Frames wait in the Peer, not in a
// connection, so a connection that is replaced (a duplicate dial, a
// restarted peer) hands its queue to the next one.
//
// Lock order: State::mu, then a Peer's mu. Handlers are called with neither.
#include "toydb/tcp_transport.h"

#include <fmt/format.h>

#include <algorithm>
#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <deque>
#include <random>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "src/transport/codec.h"
#include "src/transport/tcp_address.h"
#include "src/transport/tcp_hello.h"
#include "src/util/mutex.h"

namespace toydb {

using asio_tcp = asio::ip::tcp;
using tcp_detail_clock = std::chrono::steady_clock;

namespace {

// Bytes asked of one read; a frame larger than this arrives over several.
constexpr size_t kReadChunkBytes = 64 << 10;
// Frames smaller than this are appended to the queue's last chunk, so a
// write of many small frames is a few large buffers, not thousands.
constexpr size_t kCoalesceBytes = 64 << 10;

struct Counters {
  std::atomic<uint64_t> frames_sent{0}, frames_received{0}, bytes_sent{0}, bytes_received{0},
      writes{0}, connections_accepted{0}, connections_dialed{0}, connections_closed{0},
      hellos_refused{0}, handshake_timeouts{0}, bad_frames{0}, rejected_full{0},
      dropped_no_route{0}, dropped_unregistered{0}, connections_open{0};
};

// Encoded frames handed to the socket together.
struct Chunk {
  std::string bytes;
  uint32_t frames = 0;  // 0 for a hello
};

}  // namespace

class Connection;

// One remote process, as seen from here: what waits to be sent to it and
// the connection (if any) that carries it.
struct Peer {
  explicit Peer(std::string address_in) : address(std::move(address_in)) {}
  // Where to dial it; empty for a client, which only dials in.
  const std::string address;

  Mutex mu;
  std::deque<Chunk> chunks ABSL_GUARDED_BY(mu);  // not yet handed to a write
  // Bytes of `chunks` plus those of the write in flight: the send queue's
  // size, bounded by send_queue_bytes_max.
  uint64_t queued_bytes ABSL_GUARDED_BY(mu) = 0;
  // (sender, addressee) of the frames queued since the last connection
  // opened: who hears OnPeerUnreachable if the dial fails.
  std::set<std::pair<NodeId, NodeId>> waiting_senders ABSL_GUARDED_BY(mu);
  std::shared_ptr<Connection> conn ABSL_GUARDED_BY(mu);     // open (handshake done)
  std::shared_ptr<Connection> dialing ABSL_GUARDED_BY(mu);  // a dial not yet answered
  bool write_active ABSL_GUARDED_BY(mu) = false;  // a write is posted or in flight on conn
  bool dial_pending ABSL_GUARDED_BY(mu) = false;  // a dial is posted or waits for its backoff
  bool removed ABSL_GUARDED_BY(mu) = false;       // gone from the routing table
  uint32_t failures ABSL_GUARDED_BY(mu) = 0;      // consecutive failed dials
  tcp_detail_clock::time_point next_dial_at ABSL_GUARDED_BY(mu);
  uint64_t incarnation ABSL_GUARDED_BY(mu) = 0;  // of the process behind conn

  // I/O thread only.
  std::unique_ptr<asio::steady_timer> backoff;
};

// One TCP connection. Touched only on the I/O thread, apart from the
// immutable fields.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class Phase { kConnecting, kHandshake, kOpen, kClosed };

  Connection(asio::io_context& io, bool dialed) : socket(io), timer(io), resolver(io), dialed(dialed) {}

  asio_tcp::socket socket;
  asio::steady_timer timer;  // the connect or handshake deadline
  asio_tcp::resolver resolver;
  const bool dialed;  // this process opened it
  Phase phase = Phase::kConnecting;
  std::string remote;  // the peer's address, for the log
  std::shared_ptr<Peer> peer;  // set when dialed, or once the hello is taken
  uint64_t remote_incarnation = 0;
  std::string outgoing_hello;  // the dialer's hello, written before any frame

  // Read buffer: bytes [begin, end) of `in` are received and not consumed.
  std::string in;
  size_t begin = 0, end = 0;

  // The write in flight.
  std::vector<Chunk> writing;
  uint64_t writing_bytes = 0;
};

struct TcpTransport::State {
  explicit State(TcpTransportOptions o)
      : options(std::move(o)), acceptor(io), work(asio::make_work_guard(io)) {}

  // --- Application threads ---------------------------------------------
  Status Send(const Message& message);
  Status SendLocal(const Message& message, std::string frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  std::shared_ptr<Peer> RouteLocked(NodeId to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Status Enqueue(const std::shared_ptr<Peer>& peer, const Message& message, std::string frame)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  void EnsureDial(const std::shared_ptr<Peer>& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  void Unregister(NodeId node);

  // --- I/O thread ---------------------------------------------------------
  void StartAccept();
  void Dial(const std::shared_ptr<Peer>& peer);
  void OnConnected(const std::shared_ptr<Connection>& conn);
  void DialFailed(const std::shared_ptr<Connection>& conn, const std::string& why);
  void StartRead(const std::shared_ptr<Connection>& conn);
  void OnRead(const std::shared_ptr<Connection>& conn, std::error_code ec, size_t n);
  bool TakeHello(const std::shared_ptr<Connection>& conn);
  void TakeFrames(const std::shared_ptr<Connection>& conn);
  void OnDialerHello(const std::shared_ptr<Connection>& conn, const tcp::Hello& hello);
  void OnAcceptorAnswer(const std::shared_ptr<Connection>& conn, const tcp::Hello& hello);
  std::shared_ptr<Peer> FindPeerLocked(const tcp::Hello& hello) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Status CheckHelloNodesLocked(const tcp::Hello& hello) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Attach(const std::shared_ptr<Peer>& peer, const std::shared_ptr<Connection>& conn,
              const tcp::Hello& hello, std::string greeting);
  void RefuseDuplicate(const std::shared_ptr<Connection>& conn);
  void StartWrite(const std::shared_ptr<Connection>& conn);
  void OnWritten(const std::shared_ptr<Connection>& conn, std::error_code ec);
  void Close(const std::shared_ptr<Connection>& conn, const std::string& why);
  void OnConnectionLost(const std::shared_ptr<Connection>& conn);
  void DropQueue(const std::shared_ptr<Peer>& peer);
  void ScheduleDial(const std::shared_ptr<Peer>& peer);
  bool Deliver(const Message& message, const std::shared_ptr<Connection>& conn);
  void DeliverLocal(const std::string& frame);
  void Unreachable(NodeId sender, NodeId peer);
  template <typename F>
  void CallHandler(NodeId node, F&& call);
  void CloseAll();
  void Log(const std::string& line) {
    if (options.log) options.log(line);
  }
  tcp::Hello OwnHello(tcp::HelloKind kind);
  uint32_t BackoffMs(uint32_t failures) const;

  const TcpTransportOptions options;
  uint64_t incarnation = 0;
  Counters counters;
  asio::io_context io;
  asio_tcp::acceptor acceptor;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  uint16_t port = 0;

  Mutex mu;
  CondVar handler_done;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::map<NodeId, Transport::Handler*> handlers ABSL_GUARDED_BY(mu);
  NodeId delivering ABSL_GUARDED_BY(mu) = 0;  // the node whose handler runs now
  std::map<NodeId, std::string> addresses ABSL_GUARDED_BY(mu);
  std::map<NodeId, std::shared_ptr<Peer>> routes ABSL_GUARDED_BY(mu);
  std::map<std::string, std::shared_ptr<Peer>> by_address ABSL_GUARDED_BY(mu);
  std::set<std::shared_ptr<Peer>> peers ABSL_GUARDED_BY(mu);
  uint64_t local_bytes ABSL_GUARDED_BY(mu) = 0;  // frames posted to local nodes

  // I/O thread only.
  std::set<std::shared_ptr<Connection>> connections;
  bool closing_all = false;
};

// ---------------------------------------------------------------------------
// Options

Status TcpTransportOptions::Validate() const {
  if (!listen_address.empty()) {
    StatusOr<tcp::HostPort> listen = tcp::ParseHostPort(listen_address);
    if (!listen.ok()) {
      return absl::InvalidArgumentError(
          fmt::format("TcpTransportOptions.listen_address: {}", std::string(listen.status().message())));
    }
  }
  for (const auto& [node, address] : peers) {
    if (node == 0) return absl::InvalidArgumentError("TcpTransportOptions.peers: node id 0");
    StatusOr<tcp::HostPort> parsed = tcp::ParseHostPort(address);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(fmt::format("TcpTransportOptions.peers[{}]: {}", node,
                                                    std::string(parsed.status().message())));
    }
    if (parsed->port == 0) {
      return absl::InvalidArgumentError(
          fmt::format("TcpTransportOptions.peers[{}]: port 0 cannot be dialed", node));
    }
  }
  if (send_queue_bytes_max == 0) {
    return absl::InvalidArgumentError("TcpTransportOptions.send_queue_bytes_max is 0");
  }
  if (handshake_timeout_ms == 0) {
    return absl::InvalidArgumentError("TcpTransportOptions.handshake_timeout_ms is 0");
  }
  if (reconnect_initial_ms == 0 || reconnect_max_ms < reconnect_initial_ms) {
    return absl::InvalidArgumentError(
        "TcpTransportOptions.reconnect_initial_ms is 0 or above reconnect_max_ms");
  }
  if (connect_timeout_ms == 0) {
    return absl::InvalidArgumentError("TcpTransportOptions.connect_timeout_ms is 0");
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// Application threads

Status TcpTransport::State::Send(const Message& message) {
  StatusOr<std::string> frame = EncodeFrame(message);
  if (!frame.ok()) return frame.status();
  std::shared_ptr<Peer> peer;
  {
    MutexLock lock(&mu);
    if (stopping) return absl::OkStatus();  // lost, as in flight
    if (handlers.contains(message.to)) return SendLocal(message, std::move(*frame));
    peer = RouteLocked(message.to);
    if (peer == nullptr) {
      counters.dropped_no_route++;
      if (handlers.contains(message.from)) {
        asio::post(io, [self = this, from = message.from, to = message.to] {
          self->Unreachable(from, to);
        });
      }
      return absl::OkStatus();
    }
  }
  MutexLock lock(&peer->mu);
  return Enqueue(peer, message, std::move(*frame));
}

Status TcpTransport::State::SendLocal(const Message& message, std::string frame) {
  if (local_bytes + frame.size() > options.send_queue_bytes_max) {
    counters.rejected_full++;
    return absl::ResourceExhaustedError(
        fmt::format("{} bytes queued for local nodes already", local_bytes));
  }
  local_bytes += frame.size();
  (void)message;
  asio::post(io, [self = this, frame = std::move(frame)] { self->DeliverLocal(frame); });
  return absl::OkStatus();
}

std::shared_ptr<Peer> TcpTransport::State::RouteLocked(NodeId to) {
  if (auto it = routes.find(to); it != routes.end()) return it->second;
  auto address = addresses.find(to);
  if (address == addresses.end()) return nullptr;
  std::shared_ptr<Peer>& peer = by_address[address->second];
  if (peer == nullptr) {
    peer = std::make_shared<Peer>(address->second);
    peers.insert(peer);
  }
  routes[to] = peer;
  return peer;
}

Status TcpTransport::State::Enqueue(const std::shared_ptr<Peer>& peer, const Message& message,
                                    std::string frame) {
  if (peer->removed) return absl::OkStatus();  // its connection closed just now: lost
  if (peer->queued_bytes + frame.size() > options.send_queue_bytes_max) {
    counters.rejected_full++;
    return absl::ResourceExhaustedError(
        fmt::format("the send queue to node {} holds {} bytes already", message.to,
                    peer->queued_bytes));
  }
  peer->queued_bytes += frame.size();
  if (!peer->chunks.empty() && peer->chunks.back().frames > 0 &&
      peer->chunks.back().bytes.size() + frame.size() <= kCoalesceBytes) {
    peer->chunks.back().bytes.append(frame);
    peer->chunks.back().frames++;
  } else {
    peer->chunks.push_back(Chunk{std::move(frame), 1});
  }
  if (peer->conn == nullptr) {
    peer->waiting_senders.insert({message.from, message.to});
    EnsureDial(peer);
  } else if (!peer->write_active) {
    peer->write_active = true;
    asio::post(io, [self = this, conn = peer->conn] { self->StartWrite(conn); });
  }
  return absl::OkStatus();
}

void TcpTransport::State::EnsureDial(const std::shared_ptr<Peer>& peer) {
  if (peer->address.empty() || peer->dialing != nullptr || peer->dial_pending) return;
  peer->dial_pending = true;
  asio::post(io, [self = this, peer] { self->ScheduleDial(peer); });
}

void TcpTransport::State::Unregister(NodeId node) {
  MutexLock lock(&mu);
  handlers.erase(node);
  // A handler may unregister its own node: it cannot wait for itself.
  if (std::this_thread::get_id() == thread.get_id()) return;
  while (delivering == node) handler_done.Wait(&mu);
}

// ---------------------------------------------------------------------------
// I/O thread: handlers

template <typename F>
void TcpTransport::State::CallHandler(NodeId node, F&& call) {
  Transport::Handler* handler = nullptr;
  {
    MutexLock lock(&mu);
    auto it = handlers.find(node);
    if (it == handlers.end()) return;
    handler = it->second;
    delivering = node;
  }
  call(handler);
  MutexLock lock(&mu);
  delivering = 0;
  handler_done.SignalAll();
}

void TcpTransport::State::Unreachable(NodeId sender, NodeId peer) {
  CallHandler(sender, [peer](Transport::Handler* h) { h->OnPeerUnreachable(peer); });
}

void TcpTransport::State::DeliverLocal(const std::string& frame) {
  {
    MutexLock lock(&mu);
    local_bytes -= frame.size();
  }
  StatusOr<Message> message = DecodeFrame(frame);
  if (!message.ok()) return;  // encoded by this process: cannot happen
  counters.frames_received++;
  CallHandler(message->to, [&](Transport::Handler* h) { h->OnMessage(*message); });
}

// False if the frame is refused: it claims to come from a node served here.
bool TcpTransport::State::Deliver(const Message& message,
                                  const std::shared_ptr<Connection>& conn) {
  bool known = false;
  {
    MutexLock lock(&mu);
    if (handlers.contains(message.from)) return false;
    known = handlers.contains(message.to);
    // A node registered on the remote after its hello: replies to it go
    // back over this connection.
    if (!routes.contains(message.from) && conn->peer != nullptr) {
      routes[message.from] = conn->peer;
    }
  }
  if (!known) {
    counters.dropped_unregistered++;
    return true;
  }
  CallHandler(message.to, [&](Transport::Handler* h) { h->OnMessage(message); });
  return true;
}

// ---------------------------------------------------------------------------
// I/O thread: connections

tcp::Hello TcpTransport::State::OwnHello(tcp::HelloKind kind) {
  tcp::Hello hello{.kind = kind, .incarnation = incarnation};
  MutexLock lock(&mu);
  for (const auto& [node, handler] : handlers) {
    if (hello.nodes.size() == tcp::kHelloNodesMax) break;
    hello.nodes.push_back(
        {node, addresses.contains(node) ? tcp::NodeRole::kServer : tcp::NodeRole::kClient});
  }
  return hello;
}

uint32_t TcpTransport::State::BackoffMs(uint32_t failures) const {
  uint64_t delay = options.reconnect_initial_ms;
  for (uint32_t i = 0; i < failures && delay < options.reconnect_max_ms; ++i) delay *= 2;
  return static_cast<uint32_t>(std::min<uint64_t>(delay, options.reconnect_max_ms));
}

void TcpTransport::State::StartAccept() {
  auto conn = std::make_shared<Connection>(io, /*dialed=*/false);
  acceptor.async_accept(conn->socket, [self = this, conn](std::error_code ec) {
    if (self->closing_all) return;
    if (!ec) {
      self->counters.connections_accepted++;
      std::error_code ignored;
      asio_tcp::endpoint endpoint = conn->socket.remote_endpoint(ignored);
      conn->remote = fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
      conn->socket.set_option(asio_tcp::no_delay(true), ignored);
      conn->phase = Connection::Phase::kHandshake;
      self->connections.insert(conn);
      conn->timer.expires_after(std::chrono::milliseconds(self->options.handshake_timeout_ms));
      conn->timer.async_wait([self, conn](std::error_code timer_ec) {
        if (timer_ec || conn->phase != Connection::Phase::kHandshake) return;
        self->counters.handshake_timeouts++;
        self->Close(conn, "no hello within the handshake timeout");
      });
      self->StartRead(conn);
    }
    self->StartAccept();
  });
}

void TcpTransport::State::ScheduleDial(const std::shared_ptr<Peer>& peer) {
  if (closing_all) return;
  tcp_detail_clock::time_point at;
  {
    MutexLock lock(&peer->mu);
    at = peer->next_dial_at;
  }
  if (at <= tcp_detail_clock::now()) return Dial(peer);
  if (peer->backoff == nullptr) peer->backoff = std::make_unique<asio::steady_timer>(io);
  peer->backoff->expires_at(at);
  peer->backoff->async_wait([self = this, peer](std::error_code ec) {
    if (ec || self->closing_all) return;
    self->Dial(peer);
  });
}

void TcpTransport::State::Dial(const std::shared_ptr<Peer>& peer) {
  auto conn = std::make_shared<Connection>(io, /*dialed=*/true);
  conn->peer = peer;
  conn->remote = peer->address;
  {
    MutexLock lock(&peer->mu);
    peer->dial_pending = false;
    if (peer->removed || peer->conn != nullptr || peer->dialing != nullptr) return;
    peer->dialing = conn;
  }
  counters.connections_dialed++;
  connections.insert(conn);
  conn->outgoing_hello = *tcp::EncodeHello(OwnHello(tcp::HelloKind::kHello));
  conn->timer.expires_after(std::chrono::milliseconds(options.connect_timeout_ms));
  conn->timer.async_wait([self = this, conn](std::error_code ec) {
    if (ec || conn->phase != Connection::Phase::kConnecting) return;
    self->DialFailed(conn, "connect timed out");
  });
  StatusOr<tcp::HostPort> target = tcp::ParseHostPort(peer->address);  // validated before
  conn->resolver.async_resolve(
      target->host, std::to_string(target->port),
      [self = this, conn](std::error_code ec, asio_tcp::resolver::results_type results) {
        if (conn->phase != Connection::Phase::kConnecting) return;
        if (ec) return self->DialFailed(conn, "cannot resolve: " + ec.message());
        asio::async_connect(conn->socket, results,
                            [self, conn](std::error_code connect_ec, const asio_tcp::endpoint&) {
                              if (conn->phase != Connection::Phase::kConnecting) return;
                              if (connect_ec) return self->DialFailed(conn, connect_ec.message());
                              self->OnConnected(conn);
                            });
      });
}

void TcpTransport::State::OnConnected(const std::shared_ptr<Connection>& conn) {
  std::error_code ignored;
  conn->socket.set_option(asio_tcp::no_delay(true), ignored);
  conn->phase = Connection::Phase::kHandshake;
  conn->timer.expires_after(std::chrono::milliseconds(options.handshake_timeout_ms));
  conn->timer.async_wait([self = this, conn](std::error_code ec) {
    if (ec || conn->phase != Connection::Phase::kHandshake) return;
    self->counters.handshake_timeouts++;
    self->DialFailed(conn, "no answer to the hello within the handshake timeout");
  });
  asio::async_write(conn->socket, asio::buffer(conn->outgoing_hello),
                    [self = this, conn](std::error_code ec, size_t n) {
                      if (conn->phase == Connection::Phase::kClosed) return;
                      self->counters.bytes_sent += n;
                      if (ec) self->DialFailed(conn, "hello not sent: " + ec.message());
                    });
  StartRead(conn);
}

void TcpTransport::State::DialFailed(const std::shared_ptr<Connection>& conn,
                                     const std::string& why) {
  const std::shared_ptr<Peer> peer = conn->peer;
  Close(conn, "dial failed: " + why);
  bool ours = false;
  {
    MutexLock lock(&peer->mu);
    ours = peer->dialing == conn;
    if (ours) {
      peer->dialing = nullptr;
      peer->failures++;
      peer->next_dial_at = tcp_detail_clock::now() + std::chrono::milliseconds(BackoffMs(peer->failures));
    }
  }
  if (ours) DropQueue(peer);
}

void TcpTransport::State::DropQueue(const std::shared_ptr<Peer>& peer) {
  std::set<std::pair<NodeId, NodeId>> senders;
  {
    MutexLock lock(&peer->mu);
    for (const Chunk& chunk : peer->chunks) peer->queued_bytes -= chunk.bytes.size();
    peer->chunks.clear();
    senders.swap(peer->waiting_senders);
  }
  for (const auto& [from, to] : senders) Unreachable(from, to);
}

void TcpTransport::State::StartRead(const std::shared_ptr<Connection>& conn) {
  if (conn->begin == conn->end) {
    conn->begin = conn->end = 0;
  } else if (conn->begin > conn->in.size() / 2) {
    conn->in.erase(0, conn->begin);
    conn->end -= conn->begin;
    conn->begin = 0;
  }
  if (conn->in.size() < conn->end + kReadChunkBytes) conn->in.resize(conn->end + kReadChunkBytes);
  conn->socket.async_read_some(
      asio::buffer(conn->in.data() + conn->end, conn->in.size() - conn->end),
      [self = this, conn](std::error_code ec, size_t n) { self->OnRead(conn, ec, n); });
}

void TcpTransport::State::OnRead(const std::shared_ptr<Connection>& conn, std::error_code ec,
                                 size_t n) {
  if (conn->phase == Connection::Phase::kClosed) return;
  if (ec) {
    if (conn->phase == Connection::Phase::kHandshake && conn->dialed) {
      return DialFailed(conn, "closed before answering the hello: " + ec.message());
    }
    if (conn->end > conn->begin) {
      counters.bad_frames++;
      return Close(conn, fmt::format("closed inside a frame ({} bytes of it received)",
                                     conn->end - conn->begin));
    }
    return Close(conn, ec == asio::error::eof ? "closed by the peer" : ec.message());
  }
  conn->end += n;
  counters.bytes_received += n;
  if (conn->phase == Connection::Phase::kHandshake && !TakeHello(conn)) return;
  if (conn->phase == Connection::Phase::kOpen) TakeFrames(conn);
  if (conn->phase == Connection::Phase::kClosed) return;
  StartRead(conn);
}

// False if the hello is incomplete or the connection was closed.
bool TcpTransport::State::TakeHello(const std::shared_ptr<Connection>& conn) {
  size_t consumed = 0;
  StatusOr<tcp::Hello> hello =
      tcp::ParseHello(std::string_view(conn->in).substr(conn->begin, conn->end - conn->begin),
                      &consumed);
  if (!hello.ok()) {
    counters.hellos_refused++;
    if (conn->dialed) {
      DialFailed(conn, std::string(hello.status().message()));
    } else {
      Close(conn, std::string(hello.status().message()));
    }
    return false;
  }
  if (consumed == 0) return false;
  conn->begin += consumed;
  if (conn->dialed) {
    OnAcceptorAnswer(conn, *hello);
  } else {
    OnDialerHello(conn, *hello);
  }
  return conn->phase == Connection::Phase::kOpen;
}

void TcpTransport::State::TakeFrames(const std::shared_ptr<Connection>& conn) {
  while (conn->phase == Connection::Phase::kOpen) {
    std::string_view buffered(conn->in.data() + conn->begin, conn->end - conn->begin);
    StatusOr<size_t> size = PeekFrameSize(buffered);
    if (!size.ok()) {
      counters.bad_frames++;
      return Close(conn, std::string(size.status().message()));
    }
    if (*size == 0 || *size > buffered.size()) return;
    StatusOr<Message> message = DecodeFrame(buffered.substr(0, *size));
    if (!message.ok()) {
      counters.bad_frames++;
      return Close(conn, std::string(message.status().message()));
    }
    conn->begin += *size;
    counters.frames_received++;
    if (!Deliver(*message, conn)) {
      counters.bad_frames++;
      return Close(conn, fmt::format("a frame from node {}, which is served here", message->from));
    }
  }
}

Status TcpTransport::State::CheckHelloNodesLocked(const tcp::Hello& hello) {
  if (hello.incarnation == incarnation) return absl::InvalidArgumentError("a connection to itself");
  for (const tcp::HelloNode& node : hello.nodes) {
    const bool server = addresses.contains(node.id);
    if (node.id == 0) return absl::InvalidArgumentError("node id 0");
    if (handlers.contains(node.id)) {
      return absl::InvalidArgumentError(fmt::format("node {} is served here", node.id));
    }
    if (node.role == tcp::NodeRole::kServer && !server) {
      return absl::InvalidArgumentError(
          fmt::format("node {} claims to be a server and is not configured as one", node.id));
    }
    if (node.role == tcp::NodeRole::kClient && server) {
      return absl::InvalidArgumentError(
          fmt::format("node {} is a configured server but claims to be a client", node.id));
    }
  }
  return absl::OkStatus();
}

std::shared_ptr<Peer> TcpTransport::State::FindPeerLocked(const tcp::Hello& hello) {
  for (const std::shared_ptr<Peer>& peer : peers) {
    MutexLock lock(&peer->mu);
    if (peer->conn != nullptr && peer->incarnation == hello.incarnation) return peer;
  }
  for (const tcp::HelloNode& node : hello.nodes) {
    if (auto it = routes.find(node.id); it != routes.end()) return it->second;
  }
  for (const tcp::HelloNode& node : hello.nodes) {
    if (auto a = addresses.find(node.id); a != addresses.end()) {
      if (auto it = by_address.find(a->second); it != by_address.end()) return it->second;
    }
  }
  return nullptr;
}

// The accepting side. Between two connections joining the same two
// processes, both sides keep the one dialed by the process with the lower
// incarnation; a connection from a new incarnation replaces the old one.
void TcpTransport::State::OnDialerHello(const std::shared_ptr<Connection>& conn,
                                        const tcp::Hello& hello) {
  std::shared_ptr<Peer> peer;
  std::shared_ptr<Connection> replaced;
  bool duplicate = false;
  {
    MutexLock lock(&mu);
    Status valid = hello.kind == tcp::HelloKind::kHello
                       ? CheckHelloNodesLocked(hello)
                       : absl::InvalidArgumentError("an answer where a hello was due");
    if (!valid.ok()) {
      counters.hellos_refused++;
      Log(fmt::format("tcp: refused the hello of {}: {}", conn->remote, std::string(valid.message())));
      // Closed below, outside the lock.
      peer = nullptr;
    } else {
      peer = FindPeerLocked(hello);
      if (peer == nullptr) {
        std::string address;
        for (const tcp::HelloNode& node : hello.nodes) {
          if (node.role == tcp::NodeRole::kServer) {
            address = addresses[node.id];
            break;
          }
        }
        peer = std::make_shared<Peer>(address);
        peers.insert(peer);
        if (!address.empty() && !by_address.contains(address)) by_address[address] = peer;
      }
      MutexLock peer_lock(&peer->mu);
      const bool ours_wins = incarnation < hello.incarnation;
      if (peer->conn != nullptr && peer->incarnation == hello.incarnation) {
        // Two connections between the same two processes.
        duplicate = peer->conn->dialed && ours_wins;
        if (!duplicate) replaced = peer->conn;
      } else if (peer->conn != nullptr) {
        replaced = peer->conn;  // its process restarted
      } else if (peer->dialing != nullptr) {
        duplicate = ours_wins;
        if (!duplicate) {
          replaced = peer->dialing;
          peer->dialing = nullptr;
        }
      }
      if (replaced != nullptr && replaced == peer->conn) {
        peer->conn = nullptr;
        peer->write_active = false;
      }
    }
  }
  if (peer == nullptr) return Close(conn, "hello refused");
  if (duplicate) return RefuseDuplicate(conn);
  if (replaced != nullptr) Close(replaced, "replaced by a newer connection from the same process");
  Attach(peer, conn, hello, *tcp::EncodeHello(OwnHello(tcp::HelloKind::kAccept)));
}

// The dialing side, on the acceptor's answer.
void TcpTransport::State::OnAcceptorAnswer(const std::shared_ptr<Connection>& conn,
                                           const tcp::Hello& hello) {
  const std::shared_ptr<Peer> peer = conn->peer;
  if (hello.kind == tcp::HelloKind::kDuplicate) {
    // The other process keeps the connection it dialed to us; the queue
    // waits for it. If it never comes, the next dial is an ordinary one.
    Close(conn, "the peer keeps its own connection to this process");
    MutexLock lock(&peer->mu);
    if (peer->dialing == conn) peer->dialing = nullptr;
    peer->next_dial_at = tcp_detail_clock::now() + std::chrono::milliseconds(options.reconnect_initial_ms);
    if (peer->conn == nullptr && !peer->chunks.empty()) EnsureDial(peer);
    return;
  }
  Status valid;
  {
    MutexLock lock(&mu);
    valid = hello.kind == tcp::HelloKind::kAccept
                ? CheckHelloNodesLocked(hello)
                : absl::InvalidArgumentError("a hello where an answer was due");
  }
  if (!valid.ok()) {
    counters.hellos_refused++;
    Log(fmt::format("tcp: refused the answer of {}: {}", conn->remote, std::string(valid.message())));
    return DialFailed(conn, std::string(valid.message()));
  }
  bool current = false;
  {
    MutexLock lock(&peer->mu);
    current = peer->dialing == conn && peer->conn == nullptr;
    if (current) peer->dialing = nullptr;
  }
  if (!current) return Close(conn, "superseded by another connection to the same process");
  Attach(peer, conn, hello, "");
}

void TcpTransport::State::Attach(const std::shared_ptr<Peer>& peer,
                                 const std::shared_ptr<Connection>& conn, const tcp::Hello& hello,
                                 std::string greeting) {
  conn->timer.cancel();
  conn->phase = Connection::Phase::kOpen;
  counters.connections_open++;
  conn->peer = peer;
  conn->remote_incarnation = hello.incarnation;
  {
    MutexLock lock(&mu);
    for (const tcp::HelloNode& node : hello.nodes) routes[node.id] = peer;
  }
  MutexLock lock(&peer->mu);
  peer->conn = conn;
  peer->incarnation = hello.incarnation;
  peer->failures = 0;
  peer->waiting_senders.clear();
  if (!greeting.empty()) {
    peer->queued_bytes += greeting.size();
    peer->chunks.push_front(Chunk{std::move(greeting), 0});
  }
  if (!peer->chunks.empty() && !peer->write_active) {
    peer->write_active = true;
    asio::post(io, [self = this, conn] { self->StartWrite(conn); });
  }
}

void TcpTransport::State::RefuseDuplicate(const std::shared_ptr<Connection>& conn) {
  conn->timer.cancel();
  conn->phase = Connection::Phase::kOpen;  // writes the answer, then closes
  auto answer = std::make_shared<std::string>(
      *tcp::EncodeHello(tcp::Hello{.kind = tcp::HelloKind::kDuplicate, .incarnation = incarnation}));
  asio::async_write(conn->socket, asio::buffer(*answer),
                    [self = this, conn, answer](std::error_code, size_t) {
                      self->Close(conn, "a duplicate of a connection kept by this process");
                    });
}

void TcpTransport::State::StartWrite(const std::shared_ptr<Connection>& conn) {
  if (conn->phase != Connection::Phase::kOpen || closing_all) return;
  const std::shared_ptr<Peer>& peer = conn->peer;
  {
    MutexLock lock(&peer->mu);
    if (peer->conn != conn) return;
    if (peer->chunks.empty()) {
      peer->write_active = false;
      return;
    }
    conn->writing.assign(std::make_move_iterator(peer->chunks.begin()),
                         std::make_move_iterator(peer->chunks.end()));
    peer->chunks.clear();
  }
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(conn->writing.size());
  conn->writing_bytes = 0;
  for (const Chunk& chunk : conn->writing) {
    buffers.push_back(asio::buffer(chunk.bytes));
    conn->writing_bytes += chunk.bytes.size();
  }
  counters.writes++;
  asio::async_write(conn->socket, buffers,
                    [self = this, conn](std::error_code ec, size_t) {
                      self->OnWritten(conn, ec);
                    });
}

void TcpTransport::State::OnWritten(const std::shared_ptr<Connection>& conn, std::error_code ec) {
  uint64_t frames = 0;
  for (const Chunk& chunk : conn->writing) frames += chunk.frames;
  const uint64_t bytes = conn->writing_bytes;
  conn->writing.clear();
  conn->writing_bytes = 0;
  {
    MutexLock lock(&conn->peer->mu);
    conn->peer->queued_bytes -= bytes;
  }
  if (ec) {
    if (conn->phase != Connection::Phase::kClosed) Close(conn, "write failed: " + ec.message());
    return;
  }
  counters.frames_sent += frames;
  counters.bytes_sent += bytes;
  StartWrite(conn);
}

void TcpTransport::State::Close(const std::shared_ptr<Connection>& conn, const std::string& why) {
  if (conn->phase == Connection::Phase::kClosed) return;
  const bool was_open = conn->phase == Connection::Phase::kOpen;
  conn->phase = Connection::Phase::kClosed;
  std::error_code ignored;
  conn->timer.cancel();
  conn->resolver.cancel();
  conn->socket.shutdown(asio_tcp::socket::shutdown_both, ignored);
  conn->socket.close(ignored);
  connections.erase(conn);
  counters.connections_closed++;
  if (was_open && conn->peer != nullptr) counters.connections_open--;
  if (!closing_all) Log(fmt::format("tcp: connection with {} closed: {}", conn->remote, why));
  if (was_open && conn->peer != nullptr) OnConnectionLost(conn);
}

// An open connection closed. A server's queue waits for a redial; a
// client's is dropped with its routes, as the client is reachable only over
// the connection it opened.
void TcpTransport::State::OnConnectionLost(const std::shared_ptr<Connection>& conn) {
  const std::shared_ptr<Peer> peer = conn->peer;
  bool client = false;
  {
    MutexLock lock(&mu);
    MutexLock peer_lock(&peer->mu);
    if (peer->conn != conn) return;
    peer->conn = nullptr;
    peer->write_active = false;
    client = peer->address.empty();
    if (client) {
      peer->removed = true;
      peers.erase(peer);
      std::erase_if(routes, [&](const auto& route) { return route.second == peer; });
    } else if (!peer->chunks.empty() && !closing_all) {
      peer->next_dial_at =
          tcp_detail_clock::now() + std::chrono::milliseconds(options.reconnect_initial_ms);
      EnsureDial(peer);
    }
  }
  if (client && !closing_all) DropQueue(peer);
}

void TcpTransport::State::CloseAll() {
  closing_all = true;
  std::error_code ignored;
  acceptor.close(ignored);
  std::vector<std::shared_ptr<Connection>> all(connections.begin(), connections.end());
  for (const auto& conn : all) Close(conn, "the transport is closing");
  MutexLock lock(&mu);
  for (const std::shared_ptr<Peer>& peer : peers) {
    if (peer->backoff != nullptr) peer->backoff->cancel();
  }
}

// ---------------------------------------------------------------------------
// TcpTransport

StatusOr<std::unique_ptr<TcpTransport>> TcpTransport::Open(TcpTransportOptions options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  auto state = std::make_unique<State>(std::move(options));
  std::random_device random;
  state->incarnation = (uint64_t{random()} << 32 | random()) ^
                       static_cast<uint64_t>(tcp_detail_clock::now().time_since_epoch().count());
  {
    MutexLock lock(&state->mu);
    state->addresses = state->options.peers;
  }
  if (!state->options.listen_address.empty()) {
    tcp::HostPort listen = *tcp::ParseHostPort(state->options.listen_address);
    std::error_code ec;
    asio_tcp::resolver resolver(state->io);
    auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(fmt::format("cannot resolve listen address {}: {}",
                                                    state->options.listen_address, ec.message()));
    }
    const asio_tcp::endpoint endpoint = results.begin()->endpoint();
    state->acceptor.open(endpoint.protocol(), ec);
    if (!ec) state->acceptor.set_option(asio_tcp::acceptor::reuse_address(true), ec);
    if (!ec) state->acceptor.bind(endpoint, ec);
    if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          fmt::format("cannot listen on {}: {}", state->options.listen_address, ec.message()));
    }
    state->port = state->acceptor.local_endpoint().port();
    state->StartAccept();
  }
  state->thread = std::thread([raw = state.get()] { raw->io.run(); });
  return std::unique_ptr<TcpTransport>(new TcpTransport(std::move(state)));
}

TcpTransport::TcpTransport(std::unique_ptr<State> state) : state_(std::move(state)) {}

TcpTransport::~TcpTransport() {
  {
    MutexLock lock(&state_->mu);
    state_->stopping = true;
    state_->handlers.clear();
  }
  asio::post(state_->io, [state = state_.get()] { state->CloseAll(); });
  state_->work.reset();
  state_->thread.join();
  // Every operation has completed; what remains holds sockets that must go
  // before the io_context does.
  MutexLock lock(&state_->mu);
  state_->routes.clear();
  state_->by_address.clear();
  state_->peers.clear();
}

Status TcpTransport::Register(NodeId node, Handler* handler) {
  if (node == 0 || handler == nullptr) return absl::InvalidArgumentError("node 0 or a null handler");
  MutexLock lock(&state_->mu);
  if (!state_->handlers.emplace(node, handler).second) {
    return absl::AlreadyExistsError(fmt::format("node {} is registered", node));
  }
  return absl::OkStatus();
}

void TcpTransport::Unregister(NodeId node) { state_->Unregister(node); }

Status TcpTransport::Send(const Message& message) { return state_->Send(message); }

Status TcpTransport::SetPeerAddress(NodeId node, std::string address) {
  if (node == 0) return absl::InvalidArgumentError("node id 0");
  StatusOr<tcp::HostPort> parsed = tcp::ParseHostPort(address);
  if (!parsed.ok()) return parsed.status();
  if (parsed->port == 0) return absl::InvalidArgumentError("port 0 cannot be dialed");
  MutexLock lock(&state_->mu);
  state_->addresses[node] = address;
  // A route to a peer at another address that is not connected is
  // forgotten: the next message dials the new one.
  if (auto it = state_->routes.find(node); it != state_->routes.end()) {
    MutexLock peer_lock(&it->second->mu);
    if (it->second->address != address && it->second->conn == nullptr) state_->routes.erase(it);
  }
  return absl::OkStatus();
}

uint16_t TcpTransport::listen_port() const { return state_->port; }

TcpTransportStats TcpTransport::GetStats() const {
  const Counters& c = state_->counters;
  TcpTransportStats stats;
  stats.frames_sent = c.frames_sent.load();
  stats.frames_received = c.frames_received.load();
  stats.bytes_sent = c.bytes_sent.load();
  stats.bytes_received = c.bytes_received.load();
  stats.writes = c.writes.load();
  stats.connections_accepted = c.connections_accepted.load();
  stats.connections_dialed = c.connections_dialed.load();
  stats.connections_closed = c.connections_closed.load();
  stats.hellos_refused = c.hellos_refused.load();
  stats.handshake_timeouts = c.handshake_timeouts.load();
  stats.bad_frames = c.bad_frames.load();
  stats.rejected_full = c.rejected_full.load();
  stats.dropped_no_route = c.dropped_no_route.load();
  stats.dropped_unregistered = c.dropped_unregistered.load();
  stats.connections_open = c.connections_open.load();
  MutexLock lock(&state_->mu);
  for (const std::shared_ptr<Peer>& peer : state_->peers) {
    MutexLock peer_lock(&peer->mu);
    stats.send_queue_bytes += peer->queued_bytes;
  }
  return stats;
}

}  // namespace toydb
