#ifndef TOYDB_TRANSPORT_TCP_HELLO_H_
#define TOYDB_TRANSPORT_TCP_HELLO_H_

// The hello that opens every TcpTransport connection, before any frame of the
// message codec. The dialing process sends a kHello naming the node ids it
// hosts; the accepting process answers kAccept (naming its own) or
// kDuplicate (it keeps another connection to the same process), or closes
// the connection. Its own small fixed format, so that a process that is not
// toydb, or speaks another version, is told apart before a frame is read:
//
//   magic u8 (0xD8) | version u8 (1) | kind u8 | reserved u8 (0)
//   | count u16 | incarnation u64 | count x (node id u64 | role u8)
//   | checksum u64 (Checksum64 of every byte before it)
//
// Little-endian, like the codec. Stateless functions; thread-safe.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "toydb/status.h"
#include "toydb/types.h"

namespace toydb::tcp {

inline constexpr uint8_t kHelloMagic = 0xD8;  // distinct from the frame magic 0xD7
inline constexpr uint8_t kHelloVersion = 1;
inline constexpr size_t kHelloFixedBytes = 1 + 1 + 1 + 1 + 2 + 8;
inline constexpr size_t kHelloEntryBytes = 8 + 1;
inline constexpr size_t kHelloChecksumBytes = 8;
// The most node ids one process may announce.
inline constexpr size_t kHelloNodesMax = 256;
inline constexpr size_t kHelloBytesMax =
    kHelloFixedBytes + kHelloNodesMax * kHelloEntryBytes + kHelloChecksumBytes;

static_assert(kHelloFixedBytes == 14, "the hello layout is part of the wire format");

// Values are part of the wire format.
enum class HelloKind : uint8_t {
  kHello = 1,      // from the dialer
  kAccept = 2,     // the acceptor takes the connection
  kDuplicate = 3,  // the acceptor keeps another connection to this process
};
enum class NodeRole : uint8_t { kServer = 0, kClient = 1 };

struct HelloNode {
  NodeId id = 0;
  NodeRole role = NodeRole::kServer;
  bool operator==(const HelloNode&) const = default;
};

struct Hello {
  HelloKind kind = HelloKind::kHello;
  // Random per TcpTransport instance: tells a restarted process from the
  // one it replaces, and breaks the tie between two simultaneous dials.
  uint64_t incarnation = 0;
  std::vector<HelloNode> nodes;  // at most kHelloNodesMax
  bool operator==(const Hello&) const = default;
};

// InvalidArgument if it names more than kHelloNodesMax nodes.
[[nodiscard]] StatusOr<std::string> EncodeHello(const Hello& hello);

// The hello at the start of `buffer`: its size in *consumed, or 0 there if
// more bytes are needed. DataLoss for anything that is not a valid hello
// (bad magic, version, kind, role, count or checksum): the peer is not one.
[[nodiscard]] StatusOr<Hello> ParseHello(std::string_view buffer, size_t* consumed);

}  // namespace toydb::tcp

#endif  // TOYDB_TRANSPORT_TCP_HELLO_H_
