// TcpTransport's connections on the I/O thread: accepting, dialing with
// backoff, reading and splitting frames, closing, and what a lost
// connection or a failed dial does to its peer's queue.
#include <fmt/format.h>

#include <algorithm>

#include "src/transport/codec.h"
#include "src/transport/tcp_address.h"
#include "src/transport/tcp_state.h"

namespace toydb {

using tcp::AsioTcp;
using tcp::Chunk;
using tcp::Connection;
using tcp::Peer;
using tcp::SteadyClock;

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
      AsioTcp::endpoint endpoint = conn->socket.remote_endpoint(ignored);
      conn->remote = fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
      conn->socket.set_option(AsioTcp::no_delay(true), ignored);
      conn->phase = Connection::Phase::kHandshake;
      self->connections.insert(conn);
      conn->timer.expires_after(std::chrono::milliseconds(self->options.handshake_timeout_ms));
      conn->timer.async_wait([self, conn](std::error_code timer_ec) {
        if (timer_ec || conn->phase != Connection::Phase::kHandshake) return;
        self->counters.handshake_timeouts++;
        self->Close(conn, "no hello within the handshake timeout");
      });
      self->StartRead(conn);
    } else if (ec != asio::error::operation_aborted) {
      // Out of descriptors, most likely: accepting again at once would
      // spin on the same error.
      self->Log("tcp: accept failed: " + ec.message());
      self->accept_retry.expires_after(std::chrono::milliseconds(tcp::kAcceptRetryMs));
      self->accept_retry.async_wait([self](std::error_code timer_ec) {
        if (!timer_ec && !self->closing_all) self->StartAccept();
      });
      return;
    }
    self->StartAccept();
  });
}

void TcpTransport::State::ScheduleDial(const std::shared_ptr<Peer>& peer) {
  if (closing_all) return;
  SteadyClock::time_point at;
  {
    MutexLock lock(&peer->mu);
    at = peer->next_dial_at;
  }
  if (at <= SteadyClock::now()) return Dial(peer);
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
      [self = this, conn](std::error_code ec, AsioTcp::resolver::results_type results) {
        if (conn->phase != Connection::Phase::kConnecting) return;
        if (ec) return self->DialFailed(conn, "cannot resolve: " + ec.message());
        asio::async_connect(conn->socket, results,
                            [self, conn](std::error_code connect_ec, const AsioTcp::endpoint&) {
                              if (conn->phase != Connection::Phase::kConnecting) return;
                              if (connect_ec) return self->DialFailed(conn, connect_ec.message());
                              self->OnConnected(conn);
                            });
      });
}

void TcpTransport::State::OnConnected(const std::shared_ptr<Connection>& conn) {
  std::error_code ignored;
  conn->socket.set_option(AsioTcp::no_delay(true), ignored);
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
      peer->next_dial_at =
          SteadyClock::now() + std::chrono::milliseconds(BackoffMs(peer->failures));
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
    senders.swap(peer->queued_senders);
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
  // Until its hello is taken, a connection gets no more than a hello's
  // worth of buffer: a crowd of silent connections costs little.
  const size_t chunk =
      conn->phase == Connection::Phase::kOpen ? tcp::kReadChunkBytes : tcp::kHelloBytesMax;
  if (conn->in.size() < conn->end + chunk) conn->in.resize(conn->end + chunk);
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

void TcpTransport::State::Close(const std::shared_ptr<Connection>& conn, const std::string& why) {
  if (conn->phase == Connection::Phase::kClosed) return;
  const bool was_open = conn->phase == Connection::Phase::kOpen;
  conn->phase = Connection::Phase::kClosed;
  std::error_code ignored;
  conn->timer.cancel();
  conn->resolver.cancel();
  conn->socket.shutdown(AsioTcp::socket::shutdown_both, ignored);
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
          SteadyClock::now() + std::chrono::milliseconds(options.reconnect_initial_ms);
      EnsureDial(peer);
    }
  }
  if (client && !closing_all) DropQueue(peer);
}

void TcpTransport::State::CloseAll() {
  closing_all = true;
  std::error_code ignored;
  acceptor.close(ignored);
  accept_retry.cancel();
  std::vector<std::shared_ptr<Connection>> all(connections.begin(), connections.end());
  for (const auto& conn : all) Close(conn, "the transport is closing");
  MutexLock lock(&mu);
  for (const std::shared_ptr<Peer>& peer : peers) {
    if (peer->backoff != nullptr) peer->backoff->cancel();
  }
}

}  // namespace toydb
