// TcpTransport's outgoing path: Send encodes on the caller's thread and
// queues the frame in its peer's queue (or posts it to a local node); the
// I/O thread hands everything queued for a peer to one gathered write.
#include <fmt/format.h>

#include <algorithm>

#include "src/transport/codec.h"
#include "src/transport/tcp_state.h"

namespace toydb {

using tcp::AsioTcp;
using tcp::Chunk;
using tcp::Connection;
using tcp::Peer;
using tcp::SteadyClock;

Status TcpTransport::State::Send(const Message& message) {
  // Encoded into a buffer this thread keeps, then copied once into the
  // queue at its exact size: encoding straight into a fresh string grows it
  // several times, and for large frames each growth is a fresh mapping.
  thread_local std::string scratch;
  scratch.clear();
  if (scratch.capacity() > tcp::kScratchBytesMax) scratch.shrink_to_fit();
  if (Status s = AppendFrame(message, &scratch); !s.ok()) return s;
  const std::string_view frame = scratch;
  std::shared_ptr<Peer> peer;
  {
    MutexLock lock(&mu);
    if (stopping) return absl::OkStatus();  // lost, as in flight
    if (handlers.contains(message.to)) return SendLocal(std::string(frame));
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
  return Enqueue(peer, message, frame);
}

Status TcpTransport::State::SendLocal(std::string frame) {
  if (local_bytes + frame.size() > options.send_queue_bytes_max) {
    counters.rejected_full++;
    return absl::ResourceExhaustedError(
        fmt::format("{} bytes queued for local nodes already", local_bytes));
  }
  local_bytes += frame.size();
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
                                    std::string_view frame) {
  if (peer->removed) return absl::OkStatus();  // its connection closed just now: lost
  if (peer->queued_bytes + frame.size() > options.send_queue_bytes_max) {
    counters.rejected_full++;
    return absl::ResourceExhaustedError(fmt::format(
        "the send queue to node {} holds {} bytes already", message.to, peer->queued_bytes));
  }
  peer->queued_bytes += frame.size();
  if (!peer->chunks.empty() && peer->chunks.back().frames > 0 &&
      peer->chunks.back().bytes.size() + frame.size() <= tcp::kCoalesceBytes) {
    peer->chunks.back().bytes.append(frame);
    peer->chunks.back().frames++;
  } else {
    Chunk& chunk = peer->chunks.emplace_back();
    // Room for the small frames that follow; a large one gets its own chunk.
    chunk.bytes.reserve(std::max(frame.size(), tcp::kChunkInitialBytes));
    chunk.bytes.append(frame);
    chunk.frames = 1;
  }
  peer->queued_senders.insert({message.from, message.to});
  if (peer->conn == nullptr) {
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
    conn->writing_senders.clear();
    conn->writing_senders.swap(peer->queued_senders);
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
                    [self = this, conn](std::error_code ec, size_t) { self->OnWritten(conn, ec); });
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
    // The frames of a write that did not complete are lost: their senders
    // hear it, as for a dropped queue.
    std::set<std::pair<NodeId, NodeId>> senders;
    senders.swap(conn->writing_senders);
    if (!closing_all) {
      for (const auto& [from, to] : senders) Unreachable(from, to);
    }
    return;
  }
  counters.frames_sent += frames;
  counters.bytes_sent += bytes;
  StartWrite(conn);
}

}  // namespace toydb
