#include "src/transport/tcp_address.h"

#include <fmt/format.h>

#include <charconv>

namespace toydb::tcp {

StatusOr<HostPort> ParseHostPort(std::string_view address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(fmt::format("address \"{}\" is not host:port", address));
  }
  std::string_view host = address.substr(0, colon);
  std::string_view port_text = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        fmt::format("address \"{}\": an IPv6 host goes in brackets", address));
  }
  if (host.empty())
    return absl::InvalidArgumentError(fmt::format("address \"{}\" has no host", address));
  unsigned port = 0;
  const auto [end, error] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || error != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return absl::InvalidArgumentError(fmt::format("address \"{}\": bad port", address));
  }
  return HostPort{std::string(host), static_cast<uint16_t>(port)};
}

}  // namespace toydb::tcp
