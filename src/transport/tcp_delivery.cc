// TcpTransport's calls into the handlers, on the I/O thread only and with
// no lock held. Each call is fenced so that Unregister, from another thread,
// returns only once no handler of that node runs or will run.
#include "src/transport/codec.h"
#include "src/transport/tcp_state.h"

namespace toydb {

using tcp::AsioTcp;
using tcp::Chunk;
using tcp::Connection;
using tcp::Peer;
using tcp::SteadyClock;

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
  counters.delivered_local++;
  CallHandler(message->to, [&](Transport::Handler* h) { h->OnMessage(*message); });
}

// False if the frame is refused: it claims to come from a node served here.
bool TcpTransport::State::Deliver(const Message& message, const std::shared_ptr<Connection>& conn) {
  bool known = false;
  {
    MutexLock lock(&mu);
    if (handlers.contains(message.from)) return false;
    known = handlers.contains(message.to);
    // A client node registered on the remote after its hello: replies to
    // it go back over this connection. A configured server is reached at
    // its address, never at whatever connection names it.
    if (!routes.contains(message.from) && !addresses.contains(message.from) &&
        conn->peer != nullptr) {
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

}  // namespace toydb
