#ifndef TOYDB_TCP_TRANSPORT_H_
#define TOYDB_TCP_TRANSPORT_H_

// TcpTransport: the Transport between processes and machines. Every message
// travels as one frame of the shared codec (src/transport/codec.h), so the
// bytes are exactly those the in-process transport and the simulator carry.
//
// Endpoints. A process registers one or more local nodes (a server's Node; a
// client's Router) on one TcpTransport. Server nodes are listed in
// `peers` with their addresses; the transport dials them when it has a
// message for them, keeps one connection per pair of processes, and redials
// with exponential backoff after a failure. A client (a Router with no
// listen address) dials the servers; replies to it travel back over the
// connection it opened.
//
// Each connection starts with a hello naming the dialing process's node ids
// and whether they are servers or clients (a registered node is a server if
// it is listed in `peers`, so a server process lists itself there too); the
// accepting process answers with its own. Frames follow the answer. A hello that claims a server id
// with the wrong role, an id this process serves itself, or an id that is not
// configured as a server when the role says server, is refused and the
// connection closed. A peer that connects and sends no hello within
// `handshake_timeout_ms` is disconnected. A malformed, oversize or truncated
// frame closes its connection, is logged with the peer's address, and
// affects no other connection.
//
// Sends never block: each peer has a bounded queue of encoded frames, written
// with as few syscalls as possible (everything queued goes out in one
// gathered write). A full queue makes Send return ResourceExhausted. While a
// server peer is disconnected its frames queue and it is redialed; a dial
// that fails drops the queue, and a write that fails loses its frames: the
// local senders of the frames lost hear OnPeerUnreachable. Frames already
// handed to the kernel may still be lost in silence.
//
// The caller owns it; it must outlive every Node and Router registered on it.
// Thread-safe: any thread may Send, Register and Unregister. Handlers are
// called from the transport's I/O thread, one event at a time; they may call
// Send.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "toydb/transport.h"

namespace toydb {

struct TcpTransportOptions {
  // Where this process accepts connections, "host:port" (port 0 picks a free
  // one; see TcpTransport::listen_port). Empty: accept nothing (a client).
  std::string listen_address;
  // The servers of the cluster: node id -> "host:port".
  std::map<NodeId, std::string> peers;
  // Bytes of encoded frames queued for one peer; beyond it Send is
  // ResourceExhausted.
  uint64_t send_queue_bytes_max = 64u << 20;
  // A connection whose hello has not arrived within this is closed.
  uint32_t handshake_timeout_ms = 2000;
  // Redial backoff after a failed or lost connection: initial * 2^failures,
  // at most max.
  uint32_t reconnect_initial_ms = 20;
  uint32_t reconnect_max_ms = 1000;
  // A dial not completed within this is abandoned (and retried).
  uint32_t connect_timeout_ms = 1000;
  // One line per connection event that matters: a refused hello, a bad frame
  // (with the peer's address), a lost connection. Called on the I/O thread;
  // must not block. nullptr: nothing is logged.
  std::function<void(std::string_view line)> log;

  // InvalidArgument naming the first bad field (an address that does not
  // parse, a node id 0, a zero limit).
  [[nodiscard]] Status Validate() const;
};

// Counters since construction.
struct TcpTransportStats {
  uint64_t frames_sent = 0;
  uint64_t frames_received = 0;
  uint64_t bytes_sent = 0;
  uint64_t bytes_received = 0;
  uint64_t writes = 0;  // gathered write calls (frames_sent / writes: coalescing)
  uint64_t connections_accepted = 0;
  uint64_t connections_dialed = 0;
  uint64_t connections_closed = 0;
  uint64_t hellos_refused = 0;
  uint64_t handshake_timeouts = 0;
  uint64_t bad_frames = 0;
  uint64_t rejected_full = 0;         // Send refused: the peer's queue was full
  uint64_t dropped_no_route = 0;      // to a node with no address and no connection
  uint64_t dropped_unregistered = 0;  // arrived for a node not registered here
  uint64_t delivered_local = 0;       // from a node of this process to another
  // Gauges: now, not since construction.
  uint64_t connections_open = 0;  // handshake done
  uint64_t send_queue_bytes = 0;  // queued or being written, over every peer
};

class TcpTransport final : public Transport {
 public:
  // Validates the options, binds the listen address (if any) and starts the
  // I/O thread.
  [[nodiscard]] static StatusOr<std::unique_ptr<TcpTransport>> Open(TcpTransportOptions options);
  // Closes every connection and joins the I/O thread. Frames still queued
  // are dropped.
  ~TcpTransport() override;
  TcpTransport(const TcpTransport&) = delete;
  TcpTransport& operator=(const TcpTransport&) = delete;

  [[nodiscard]] Status Register(NodeId node, Handler* handler) override;
  void Unregister(NodeId node) override;
  // A message to a locally registered node is delivered without the network
  // (still encoded and decoded). A message to a node with no address and no
  // connection is dropped and the sender hears OnPeerUnreachable.
  [[nodiscard]] Status Send(const Message& message) override;

  // Adds or changes a server's address (tests that listen on port 0 learn
  // each other's ports after Open). A connection to its old address stays
  // until it fails. InvalidArgument if the address does not parse or node
  // is 0.
  [[nodiscard]] Status SetPeerAddress(NodeId node, std::string address);

  // The bound port (useful with port 0); 0 if not listening.
  uint16_t listen_port() const;
  TcpTransportStats GetStats() const;

 private:
  struct State;
  explicit TcpTransport(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace toydb

#endif  // TOYDB_TCP_TRANSPORT_H_
