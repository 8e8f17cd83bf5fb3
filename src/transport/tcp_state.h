#ifndef TOYDB_TRANSPORT_TCP_STATE_H_
#define TOYDB_TRANSPORT_TCP_STATE_H_

// The inside of TcpTransport, shared by its source files (tcp_transport.cc:
// the public class; tcp_send.cc: queues and writes; tcp_handshake.cc: the
// hello; tcp_connection.cc: dialing, accepting, reading, closing;
// tcp_delivery.cc: calling the handlers). Private to src/transport/.
//
// One I/O thread runs an asio::io_context that owns every socket and timer.
// Application threads only touch queues, under locks, and post work to the
// I/O thread; the I/O thread reads, decodes and calls the handlers with no
// lock held, so a handler may Send (even to itself).
//
// A Peer is one remote process: its queue of encoded frames, the address to
// dial (empty for a client, reachable only over the connection it opened),
// and at most one open connection. Frames wait in the Peer, not in a
// connection, so a connection that is replaced (a duplicate dial, a
// restarted peer) hands its queue to the next one.
//
// Lock order: State::mu, then a Peer's mu. Handlers and the log callback are
// called with neither held.

#include <asio.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "src/transport/tcp_hello.h"
#include "src/util/mutex.h"
#include "toydb/tcp_transport.h"

namespace toydb {
namespace tcp {

using AsioTcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

// Bytes asked of one read; a frame larger than this arrives over several.
inline constexpr size_t kReadChunkBytes = 64 << 10;
// Frames smaller than this are appended to the queue's last chunk, so a
// write of many small frames is a few large buffers, not thousands.
inline constexpr size_t kCoalesceBytes = 64 << 10;
inline constexpr size_t kChunkInitialBytes = 4 << 10;
// A failed accept (no descriptor left) is retried after this.
inline constexpr uint32_t kAcceptRetryMs = 100;
// A sending thread's encoding buffer is given back beyond this.
inline constexpr size_t kScratchBytesMax = 1 << 20;

struct Counters {
  std::atomic<uint64_t> frames_sent{0}, frames_received{0}, bytes_sent{0}, bytes_received{0},
      writes{0}, connections_accepted{0}, connections_dialed{0}, connections_closed{0},
      hellos_refused{0}, handshake_timeouts{0}, bad_frames{0}, rejected_full{0},
      dropped_no_route{0}, dropped_unregistered{0}, connections_open{0}, delivered_local{0};
};

// Encoded frames handed to the socket together.
struct Chunk {
  std::string bytes;
  uint32_t frames = 0;  // 0 for a hello
};

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
  // (sender, addressee) of the frames in `chunks`: who hears
  // OnPeerUnreachable if they are dropped.
  std::set<std::pair<NodeId, NodeId>> queued_senders ABSL_GUARDED_BY(mu);
  std::shared_ptr<Connection> conn ABSL_GUARDED_BY(mu);     // open (handshake done)
  std::shared_ptr<Connection> dialing ABSL_GUARDED_BY(mu);  // a dial not yet answered
  bool write_active ABSL_GUARDED_BY(mu) = false;  // a write is posted or in flight on conn
  bool dial_pending ABSL_GUARDED_BY(mu) = false;  // a dial is posted or waits for its backoff
  bool removed ABSL_GUARDED_BY(mu) = false;       // gone from the routing table
  uint32_t failures ABSL_GUARDED_BY(mu) = 0;      // consecutive failed dials
  SteadyClock::time_point next_dial_at ABSL_GUARDED_BY(mu);
  uint64_t incarnation ABSL_GUARDED_BY(mu) = 0;  // of the process behind conn

  // I/O thread only.
  std::unique_ptr<asio::steady_timer> backoff;
};

// One TCP connection. Touched only on the I/O thread, apart from the
// immutable fields.
class Connection {
 public:
  enum class Phase { kConnecting, kHandshake, kOpen, kClosed };

  Connection(asio::io_context& io, bool dialed)
      : socket(io), timer(io), resolver(io), dialed(dialed) {}

  AsioTcp::socket socket;
  asio::steady_timer timer;  // the connect or handshake deadline
  AsioTcp::resolver resolver;
  const bool dialed;  // this process opened it
  Phase phase = Phase::kConnecting;
  std::string remote;          // the peer's address, for the log
  std::shared_ptr<Peer> peer;  // set when dialed, or once the hello is taken
  uint64_t remote_incarnation = 0;
  std::string outgoing_hello;  // the dialer's hello, written before any frame

  // Read buffer: bytes [begin, end) of `in` are received and not consumed.
  std::string in;
  size_t begin = 0, end = 0;

  // The write in flight.
  std::vector<Chunk> writing;
  uint64_t writing_bytes = 0;
  std::set<std::pair<NodeId, NodeId>> writing_senders;  // (sender, addressee) of its frames
};

}  // namespace tcp

struct TcpTransport::State {
  explicit State(TcpTransportOptions o)
      : options(std::move(o)), acceptor(io), accept_retry(io), work(asio::make_work_guard(io)) {}

  // --- Application threads ---------------------------------------------
  Status Send(const Message& message);
  Status SendLocal(std::string frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  std::shared_ptr<tcp::Peer> RouteLocked(NodeId to) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Status Enqueue(const std::shared_ptr<tcp::Peer>& peer, const Message& message,
                 std::string_view frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  void EnsureDial(const std::shared_ptr<tcp::Peer>& peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(peer->mu);
  void Unregister(NodeId node);

  // --- I/O thread ---------------------------------------------------------
  void StartAccept();
  void Dial(const std::shared_ptr<tcp::Peer>& peer);
  void OnConnected(const std::shared_ptr<tcp::Connection>& conn);
  void DialFailed(const std::shared_ptr<tcp::Connection>& conn, const std::string& why);
  void StartRead(const std::shared_ptr<tcp::Connection>& conn);
  void OnRead(const std::shared_ptr<tcp::Connection>& conn, std::error_code ec, size_t n);
  bool TakeHello(const std::shared_ptr<tcp::Connection>& conn);
  void TakeFrames(const std::shared_ptr<tcp::Connection>& conn);
  // What to do with a dialer's hello: refuse it, refuse it as a duplicate,
  // or take it for `peer` (closing `replaced`, if any).
  struct Admission {
    Status refusal;
    std::shared_ptr<tcp::Peer> peer;
    std::shared_ptr<tcp::Connection> replaced;
    bool duplicate = false;
  };
  void OnDialerHello(const std::shared_ptr<tcp::Connection>& conn, const tcp::Hello& hello);
  Admission AdmitLocked(const tcp::Hello& hello) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void OnAcceptorAnswer(const std::shared_ptr<tcp::Connection>& conn, const tcp::Hello& hello);
  std::shared_ptr<tcp::Peer> FindPeerLocked(const tcp::Hello& hello)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  Status CheckHelloNodesLocked(const tcp::Hello& hello) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Attach(const std::shared_ptr<tcp::Peer>& peer, const std::shared_ptr<tcp::Connection>& conn,
              const tcp::Hello& hello, std::string greeting);
  void RefuseDuplicate(const std::shared_ptr<tcp::Connection>& conn);
  void StartWrite(const std::shared_ptr<tcp::Connection>& conn);
  void OnWritten(const std::shared_ptr<tcp::Connection>& conn, std::error_code ec);
  void Close(const std::shared_ptr<tcp::Connection>& conn, const std::string& why);
  void OnConnectionLost(const std::shared_ptr<tcp::Connection>& conn);
  void DropQueue(const std::shared_ptr<tcp::Peer>& peer);
  void ScheduleDial(const std::shared_ptr<tcp::Peer>& peer);
  bool Deliver(const Message& message, const std::shared_ptr<tcp::Connection>& conn);
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
  tcp::Counters counters;
  asio::io_context io;
  tcp::AsioTcp::acceptor acceptor;
  asio::steady_timer accept_retry;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  uint16_t port = 0;

  Mutex mu;
  CondVar handler_done;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  std::map<NodeId, Transport::Handler*> handlers ABSL_GUARDED_BY(mu);
  NodeId delivering ABSL_GUARDED_BY(mu) = 0;  // the node whose handler runs now
  std::map<NodeId, std::string> addresses ABSL_GUARDED_BY(mu);
  std::map<NodeId, std::shared_ptr<tcp::Peer>> routes ABSL_GUARDED_BY(mu);
  std::map<std::string, std::shared_ptr<tcp::Peer>> by_address ABSL_GUARDED_BY(mu);
  std::set<std::shared_ptr<tcp::Peer>> peers ABSL_GUARDED_BY(mu);
  uint64_t local_bytes ABSL_GUARDED_BY(mu) = 0;  // frames posted to local nodes

  // I/O thread only.
  std::set<std::shared_ptr<tcp::Connection>> connections;
  bool closing_all = false;
};

}  // namespace toydb

#endif  // TOYDB_TRANSPORT_TCP_STATE_H_
