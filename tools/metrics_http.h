#ifndef TOYDB_TOOLS_METRICS_HTTP_H_
#define TOYDB_TOOLS_METRICS_HTTP_H_

// MetricsHttpServer: a minimal HTTP/1.0 responder for Prometheus scrapes
// (toydb-server --metrics_port). Every request on the port, whatever its
// path, is answered with the text that `render` returns, as
// "text/plain; version=0.0.4", and the connection is closed. One thread of
// its own; requests are served one at a time, with a 2 s limit each, and a
// request head larger than 8 KiB is refused. The owner owns it; destruction
// stops the thread. Thread-safe to destroy from any thread but its own.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "toydb/status.h"

namespace toydb::tools {

class MetricsHttpServer {
 public:
  // Listens on `address`:`port` (port 0 picks one) and starts the thread.
  // `render` is called on that thread for each request.
  [[nodiscard]] static StatusOr<std::unique_ptr<MetricsHttpServer>> Open(
      const std::string& address, uint16_t port, std::function<std::string()> render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  uint16_t port() const;

 private:
  struct State;
  explicit MetricsHttpServer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace toydb::tools

#endif  // TOYDB_TOOLS_METRICS_HTTP_H_
