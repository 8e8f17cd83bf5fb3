#ifndef TOYDB_TRANSPORT_TCP_ADDRESS_H_
#define TOYDB_TRANSPORT_TCP_ADDRESS_H_

// "host:port" addresses of TcpTransport: a host name, an IPv4 address, or an
// IPv6 address in brackets ("[::1]:7000"). Stateless; thread-safe.

#include <cstdint>
#include <string>
#include <string_view>

#include "toydb/status.h"

namespace toydb::tcp {

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// InvalidArgument naming what is wrong: no colon, an empty host, a port that
// is not a number from 0 to 65535.
[[nodiscard]] StatusOr<HostPort> ParseHostPort(std::string_view address);

}  // namespace toydb::tcp

#endif  // TOYDB_TRANSPORT_TCP_ADDRESS_H_
