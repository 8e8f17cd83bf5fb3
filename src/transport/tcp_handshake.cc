// TcpTransport's hello exchange (format: tcp_hello.h): the dialer names its
// nodes, the acceptor checks them against its configuration, finds the peer
// process they belong to, settles a duplicate connection by a tie-break that
// both sides compute alike, and answers.
#include <fmt/format.h>

#include "src/transport/tcp_state.h"

namespace toydb {

using tcp::AsioTcp;
using tcp::Chunk;
using tcp::Connection;
using tcp::Peer;
using tcp::SteadyClock;

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

// False if the hello is incomplete or the connection was closed.
bool TcpTransport::State::TakeHello(const std::shared_ptr<Connection>& conn) {
  size_t consumed = 0;
  StatusOr<tcp::Hello> hello = tcp::ParseHello(
      std::string_view(conn->in).substr(conn->begin, conn->end - conn->begin), &consumed);
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
  Admission admission;
  {
    MutexLock lock(&mu);
    admission = AdmitLocked(hello);
  }
  if (!admission.refusal.ok()) {
    counters.hellos_refused++;
    return Close(conn, "hello refused: " + std::string(admission.refusal.message()));
  }
  if (admission.duplicate) return RefuseDuplicate(conn);
  if (admission.replaced != nullptr) {
    Close(admission.replaced, "replaced by a newer connection from the same process");
  }
  Attach(admission.peer, conn, hello, *tcp::EncodeHello(OwnHello(tcp::HelloKind::kAccept)));
}

TcpTransport::State::Admission TcpTransport::State::AdmitLocked(const tcp::Hello& hello) {
  Admission admission;
  admission.refusal = hello.kind == tcp::HelloKind::kHello
                          ? CheckHelloNodesLocked(hello)
                          : absl::InvalidArgumentError("an answer where a hello was due");
  if (!admission.refusal.ok()) return admission;
  std::shared_ptr<Peer> peer = FindPeerLocked(hello);
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
  admission.peer = peer;
  MutexLock peer_lock(&peer->mu);
  const bool ours_wins = incarnation < hello.incarnation;
  if (peer->conn != nullptr && peer->incarnation == hello.incarnation) {
    // Two connections between the same two processes.
    admission.duplicate = peer->conn->dialed && ours_wins;
  } else if (peer->conn == nullptr && peer->dialing != nullptr) {
    admission.duplicate = ours_wins;
  }
  if (admission.duplicate) return admission;
  // Kept: the new connection replaces whatever the peer had (a dial of
  // ours that lost the tie-break, or a connection to an earlier
  // incarnation of that process).
  if (peer->conn != nullptr) {
    admission.replaced = peer->conn;
    peer->conn = nullptr;
    peer->write_active = false;
  } else if (peer->dialing != nullptr) {
    admission.replaced = peer->dialing;
    peer->dialing = nullptr;
  }
  return admission;
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
    peer->next_dial_at =
        SteadyClock::now() + std::chrono::milliseconds(options.reconnect_initial_ms);
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
    return DialFailed(conn, "answer refused: " + std::string(valid.message()));
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
  // Still in its handshake, so nothing more is read from it: the answer is
  // written, then the connection closed.
  conn->timer.cancel();
  auto answer = std::make_shared<std::string>(*tcp::EncodeHello(
      tcp::Hello{.kind = tcp::HelloKind::kDuplicate, .incarnation = incarnation}));
  asio::async_write(conn->socket, asio::buffer(*answer),
                    [self = this, conn, answer](std::error_code, size_t) {
                      self->Close(conn, "a duplicate of a connection kept by this process");
                    });
}

}  // namespace toydb
