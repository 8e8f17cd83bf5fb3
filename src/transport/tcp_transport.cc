// TcpTransport's public face: options, Open, destruction, registration,
// addresses and counters. The mechanism is described in tcp_state.h.
#include "toydb/tcp_transport.h"

#include <fmt/format.h>

#include <random>

#include "src/transport/tcp_address.h"
#include "src/transport/tcp_state.h"

namespace toydb {

using tcp::AsioTcp;
using tcp::Chunk;
using tcp::Connection;
using tcp::Peer;
using tcp::SteadyClock;

Status TcpTransportOptions::Validate() const {
  if (!listen_address.empty()) {
    StatusOr<tcp::HostPort> listen = tcp::ParseHostPort(listen_address);
    if (!listen.ok()) {
      return absl::InvalidArgumentError(fmt::format("TcpTransportOptions.listen_address: {}",
                                                    std::string(listen.status().message())));
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

StatusOr<std::unique_ptr<TcpTransport>> TcpTransport::Open(TcpTransportOptions options) {
  if (Status s = options.Validate(); !s.ok()) return s;
  auto state = std::make_unique<State>(std::move(options));
  std::random_device random;
  state->incarnation = (uint64_t{random()} << 32 | random()) ^
                       static_cast<uint64_t>(SteadyClock::now().time_since_epoch().count());
  {
    MutexLock lock(&state->mu);
    state->addresses = state->options.peers;
  }
  if (!state->options.listen_address.empty()) {
    tcp::HostPort listen = *tcp::ParseHostPort(state->options.listen_address);
    std::error_code ec;
    AsioTcp::resolver resolver(state->io);
    auto results = resolver.resolve(listen.host, std::to_string(listen.port), ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(fmt::format("cannot resolve listen address {}: {}",
                                                    state->options.listen_address, ec.message()));
    }
    const AsioTcp::endpoint endpoint = results.begin()->endpoint();
    state->acceptor.open(endpoint.protocol(), ec);
    if (!ec) state->acceptor.set_option(AsioTcp::acceptor::reuse_address(true), ec);
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
  // before the io_context does. A peer and its connection point at each
  // other: the links are cut so that both go.
  MutexLock lock(&state_->mu);
  for (const std::shared_ptr<Peer>& peer : state_->peers) {
    MutexLock peer_lock(&peer->mu);
    peer->conn = nullptr;
    peer->dialing = nullptr;
  }
  state_->routes.clear();
  state_->by_address.clear();
  state_->peers.clear();
}

Status TcpTransport::Register(NodeId node, Handler* handler) {
  if (node == 0 || handler == nullptr)
    return absl::InvalidArgumentError("node 0 or a null handler");
  MutexLock lock(&state_->mu);
  if (!state_->handlers.emplace(node, handler).second) {
    return absl::AlreadyExistsError(fmt::format("node {} is registered", node));
  }
  return absl::OkStatus();
}

void TcpTransport::Unregister(NodeId node) { state_->Unregister(node); }

void TcpTransport::State::Unregister(NodeId node) {
  MutexLock lock(&mu);
  handlers.erase(node);
  // A handler may unregister its own node: it cannot wait for itself.
  if (std::this_thread::get_id() == thread.get_id()) return;
  while (delivering == node) handler_done.Wait(&mu);
}

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
  const tcp::Counters& c = state_->counters;
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
  stats.delivered_local = c.delivered_local.load();
  stats.connections_open = c.connections_open.load();
  MutexLock lock(&state_->mu);
  for (const std::shared_ptr<Peer>& peer : state_->peers) {
    MutexLock peer_lock(&peer->mu);
    stats.send_queue_bytes += peer->queued_bytes;
  }
  return stats;
}

}  // namespace toydb
