// One accept at a time on an asio io_context run by the server's thread:
// read the request head (up to the blank line), answer, close.
#include "tools/metrics_http.h"

#include <fmt/format.h>

#include <asio.hpp>
#include <thread>

namespace toydb::tools {

namespace {
constexpr size_t kRequestHeadBytesMax = 8192;
constexpr auto kRequestTimeout = std::chrono::seconds(2);
}  // namespace

struct MetricsHttpServer::State {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io};
  std::function<std::string()> render;
  std::thread thread;

  void Accept() {
    auto socket = std::make_shared<asio::ip::tcp::socket>(io);
    acceptor.async_accept(*socket, [this, socket](const asio::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) Serve(socket);
      Accept();
    });
  }

  void Serve(std::shared_ptr<asio::ip::tcp::socket> socket) {
    auto head = std::make_shared<std::string>();
    auto timer = std::make_shared<asio::steady_timer>(io, kRequestTimeout);
    timer->async_wait([socket](const asio::error_code& ec) {
      if (!ec) {
        asio::error_code ignored;
        socket->close(ignored);
      }
    });
    ReadHead(socket, head, timer);
  }

  void ReadHead(std::shared_ptr<asio::ip::tcp::socket> socket, std::shared_ptr<std::string> head,
                std::shared_ptr<asio::steady_timer> timer) {
    auto buffer = std::make_shared<std::array<char, 1024>>();
    socket->async_read_some(asio::buffer(*buffer), [this, socket, head, timer, buffer](
                                                       const asio::error_code& ec, size_t n) {
      if (ec) return;
      head->append(buffer->data(), n);
      if (head->find("\r\n\r\n") != std::string::npos || head->find("\n\n") != std::string::npos) {
        return Respond(socket, timer, "200 OK", render());
      }
      if (head->size() > kRequestHeadBytesMax) {
        return Respond(socket, timer, "431 Request Header Fields Too Large", "");
      }
      ReadHead(socket, head, timer);
    });
  }

  void Respond(std::shared_ptr<asio::ip::tcp::socket> socket,
               std::shared_ptr<asio::steady_timer> timer, std::string_view status,
               const std::string& body) {
    auto response = std::make_shared<std::string>(fmt::format(
        "HTTP/1.0 {}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n"
        "Connection: close\r\n\r\n{}",
        status, body.size(), body));
    asio::async_write(*socket, asio::buffer(*response),
                      [socket, timer, response](const asio::error_code&, size_t) {
                        asio::error_code ignored;
                        socket->shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
                        socket->close(ignored);
                        timer->cancel();
                      });
  }
};

StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Open(
    const std::string& address, uint16_t port, std::function<std::string()> render) {
  auto state = std::make_unique<State>();
  state->render = std::move(render);
  asio::error_code ec;
  const asio::ip::address ip = asio::ip::make_address(address, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        fmt::format("metrics address '{}': {}", address, ec.message()));
  }
  const asio::ip::tcp::endpoint endpoint(ip, port);
  state->acceptor.open(endpoint.protocol(), ec);
  if (!ec) state->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) state->acceptor.bind(endpoint, ec);
  if (!ec) state->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        fmt::format("metrics port {}:{}: {}", address, port, ec.message()));
  }
  state->Accept();
  State* raw = state.get();
  state->thread = std::thread([raw] { raw->io.run(); });
  return std::unique_ptr<MetricsHttpServer>(new MetricsHttpServer(std::move(state)));
}

MetricsHttpServer::MetricsHttpServer(std::unique_ptr<State> state) : state_(std::move(state)) {}

MetricsHttpServer::~MetricsHttpServer() {
  state_->io.stop();
  state_->thread.join();
}

uint16_t MetricsHttpServer::port() const { return state_->acceptor.local_endpoint().port(); }

}  // namespace toydb::tools
