#include "src/transport/tcp_hello.h"

#include <fmt/format.h>

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb::tcp {
namespace {

Status Bad(std::string_view what) {
  return absl::DataLossError(fmt::format("bad hello: {}", what));
}

bool KnownKind(uint8_t kind) { return kind >= 1 && kind <= 3; }

}  // namespace

StatusOr<std::string> EncodeHello(const Hello& hello) {
  if (hello.nodes.size() > kHelloNodesMax) {
    return absl::InvalidArgumentError(
        fmt::format("a hello names at most {} nodes, not {}", kHelloNodesMax, hello.nodes.size()));
  }
  std::string out;
  out.reserve(kHelloFixedBytes + hello.nodes.size() * kHelloEntryBytes + kHelloChecksumBytes);
  PutFixed8(&out, kHelloMagic);
  PutFixed8(&out, kHelloVersion);
  PutFixed8(&out, static_cast<uint8_t>(hello.kind));
  PutFixed8(&out, 0);
  PutFixed16(&out, static_cast<uint16_t>(hello.nodes.size()));
  PutFixed64(&out, hello.incarnation);
  for (const HelloNode& node : hello.nodes) {
    PutFixed64(&out, node.id);
    PutFixed8(&out, static_cast<uint8_t>(node.role));
  }
  PutFixed64(&out, Checksum64(out));
  return out;
}

StatusOr<Hello> ParseHello(std::string_view buffer, size_t* consumed) {
  *consumed = 0;
  // Each byte is checked as soon as it arrives: a peer that is not toydb is
  // refused on its first bytes, not after it has sent a whole hello's worth.
  if (!buffer.empty() && static_cast<uint8_t>(buffer[0]) != kHelloMagic) return Bad("magic");
  if (buffer.size() > 1 && static_cast<uint8_t>(buffer[1]) != kHelloVersion) {
    return Bad(fmt::format("unsupported version {}", static_cast<uint8_t>(buffer[1])));
  }
  if (buffer.size() > 2 && !KnownKind(static_cast<uint8_t>(buffer[2]))) return Bad("kind");
  if (buffer.size() > 3 && buffer[3] != 0) return Bad("reserved byte");
  if (buffer.size() < kHelloFixedBytes) return Hello{};
  const size_t count = DecodeFixed<uint16_t>(buffer.data() + 4);
  if (count > kHelloNodesMax) return Bad(fmt::format("{} nodes", count));
  const size_t size = kHelloFixedBytes + count * kHelloEntryBytes + kHelloChecksumBytes;
  if (buffer.size() < size) return Hello{};
  const size_t body = size - kHelloChecksumBytes;
  if (Checksum64(buffer.substr(0, body)) != DecodeFixed64(buffer.data() + body)) {
    return Bad("checksum mismatch");
  }
  Hello hello;
  hello.kind = static_cast<HelloKind>(buffer[2]);
  hello.incarnation = DecodeFixed64(buffer.data() + 6);
  for (size_t i = 0; i < count; ++i) {
    const char* p = buffer.data() + kHelloFixedBytes + i * kHelloEntryBytes;
    const uint8_t role = static_cast<uint8_t>(p[8]);
    if (role > 1) return Bad(fmt::format("role {}", role));
    hello.nodes.push_back(HelloNode{DecodeFixed64(p), static_cast<NodeRole>(role)});
  }
  *consumed = size;
  return hello;
}

}  // namespace toydb::tcp
