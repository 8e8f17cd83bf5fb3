// Tests of the TcpTransport hello (src/transport/tcp_hello.h) and of its
// "host:port" addresses (src/transport/tcp_address.h).
#include "src/transport/tcp_hello.h"

#include <catch2/catch.hpp>

#include "src/transport/tcp_address.h"
#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb::tcp {
namespace {

Hello Sample() {
  return Hello{.kind = HelloKind::kHello,
               .incarnation = 0x0123456789abcdefULL,
               .nodes = {{1, NodeRole::kServer}, {100, NodeRole::kClient}}};
}

// Re-seals a hello whose bytes a test changed, so that the checksum is not
// what refuses it.
std::string Reseal(std::string bytes) {
  const size_t body = bytes.size() - kHelloChecksumBytes;
  bytes.resize(body);
  PutFixed64(&bytes, Checksum64(bytes));
  return bytes;
}

TEST_CASE("Hello round-trips, and its size is fixed by its node count", "[tcp_hello]") {
  const std::string bytes = *EncodeHello(Sample());
  CHECK(bytes.size() == kHelloFixedBytes + 2 * kHelloEntryBytes + kHelloChecksumBytes);
  size_t consumed = 0;
  StatusOr<Hello> parsed = ParseHello(bytes + "trailing frame bytes", &consumed);
  REQUIRE(parsed.ok());
  CHECK(consumed == bytes.size());
  CHECK(*parsed == Sample());
  StatusOr<std::string> empty = EncodeHello(Hello{.kind = HelloKind::kAccept});
  REQUIRE(empty.ok());
  CHECK(empty->size() == kHelloFixedBytes + kHelloChecksumBytes);
}

TEST_CASE("Hello: every prefix asks for more bytes", "[tcp_hello]") {
  const std::string bytes = *EncodeHello(Sample());
  for (size_t n = 0; n < bytes.size(); ++n) {
    size_t consumed = 1;
    StatusOr<Hello> parsed = ParseHello(std::string_view(bytes).substr(0, n), &consumed);
    REQUIRE(parsed.ok());
    CHECK(consumed == 0);
  }
}

TEST_CASE("Hello: anything else is refused", "[tcp_hello]") {
  const std::string good = *EncodeHello(Sample());
  size_t consumed = 0;
  auto refused = [&](const std::string& bytes) {
    return absl::IsDataLoss(ParseHello(bytes, &consumed).status());
  };
  std::string bad = good;
  bad[0] = static_cast<char>(0xD7);  // a frame, not a hello
  CHECK(refused(bad.substr(0, 1)));  // refused on its first byte
  bad = good;
  bad[1] = 2;
  CHECK(refused(Reseal(bad)));
  bad = good;
  bad[2] = 9;
  CHECK(refused(Reseal(bad)));
  bad = good;
  bad[3] = 1;
  CHECK(refused(Reseal(bad)));
  bad = good;
  bad[4] = static_cast<char>(0xff);  // 255 + 256 * 0 nodes claimed: more bytes asked
  CHECK(ParseHello(bad, &consumed).ok());
  CHECK(consumed == 0);
  bad[5] = 1;  // 511 nodes: beyond the limit, refused before the bytes arrive
  CHECK(refused(bad));
  bad = good;
  bad[kHelloFixedBytes + 8] = 2;  // the first node's role
  CHECK(refused(Reseal(bad)));
  bad = good;
  bad[kHelloFixedBytes] ^= 1;  // a node id, checksum unchanged
  CHECK(refused(bad));
  // "GET / HTTP/1.1": not toydb at all.
  CHECK(refused("GET / HTTP/1.1\r\n"));
}

TEST_CASE("Hello names at most kHelloNodesMax nodes", "[tcp_hello]") {
  Hello hello;
  hello.nodes.resize(kHelloNodesMax, HelloNode{7, NodeRole::kClient});
  StatusOr<std::string> bytes = EncodeHello(hello);
  REQUIRE(bytes.ok());
  CHECK(bytes->size() == kHelloBytesMax);
  hello.nodes.push_back(HelloNode{8, NodeRole::kClient});
  CHECK(absl::IsInvalidArgument(EncodeHello(hello).status()));
}

TEST_CASE("Addresses parse as host:port", "[tcp_hello]") {
  StatusOr<HostPort> v4 = ParseHostPort("127.0.0.1:7000");
  REQUIRE(v4.ok());
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 7000);
  StatusOr<HostPort> v6 = ParseHostPort("[::1]:0");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 0);
  CHECK(ParseHostPort("db-1.example:65535").ok());
  for (const char* bad :
       {"", "7000", ":7000", "host:", "host:65536", "host:-1", "host:7x", "::1:7000", "[]:7000"}) {
    INFO(bad);
    CHECK(absl::IsInvalidArgument(ParseHostPort(bad).status()));
  }
}

}  // namespace
}  // namespace toydb::tcp
