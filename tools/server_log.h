#ifndef TOYDB_TOOLS_SERVER_LOG_H_
#define TOYDB_TOOLS_SERVER_LOG_H_

// The log of a toydb-server process: one line per event on stderr,
// "<UTC time> <level> <text>", lines at or above the chosen level only.
// Thread-safe: the node's loop, the transport's I/O thread and main all log.

#include <sys/time.h>

#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>
#include <string_view>

namespace toydb::tools {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

// "debug", "info", "warn", "error"; false for anything else.
inline bool ParseLogLevel(std::string_view name, LogLevel* level) {
  constexpr std::pair<std::string_view, LogLevel> kNames[] = {{"debug", LogLevel::kDebug},
                                                              {"info", LogLevel::kInfo},
                                                              {"warn", LogLevel::kWarn},
                                                              {"error", LogLevel::kError}};
  for (const auto& [text, value] : kNames) {
    if (name == text) {
      *level = value;
      return true;
    }
  }
  return false;
}

// The level of a line from the Node or the transport, which log free text:
// a replica that stopped on a storage failure is an error; refusals, bad
// frames, handshake timeouts and failures are warnings; the rest (roles,
// elections, snapshots, connections made and closed: clients come and go)
// is information.
inline LogLevel ClassifyLine(std::string_view line) {
  if (line.find("storage failure") != std::string_view::npos) return LogLevel::kError;
  for (std::string_view word : {"refused", "ignored", "bad frame", "inside a frame", "failed",
                                "timed out", "timeout", "error"}) {
    if (line.find(word) != std::string_view::npos) return LogLevel::kWarn;
  }
  return LogLevel::kInfo;
}

class ServerLog {
 public:
  explicit ServerLog(LogLevel level) : level_(level) {}

  void Write(LogLevel level, std::string_view text) {
    if (level < level_) return;
    constexpr char kLetters[] = {'D', 'I', 'W', 'E'};
    timeval now;
    gettimeofday(&now, nullptr);
    tm utc;
    gmtime_r(&now.tv_sec, &utc);
    char stamp[32];
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
    std::string line = std::string(stamp) + "." +
                       std::to_string(now.tv_usec / 1000 + 1000).substr(1) + "Z " +
                       kLetters[static_cast<int>(level)] + " ";
    line.append(text);
    line.push_back('\n');
    std::lock_guard<std::mutex> lock(mu_);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
  // A line from the Node or the transport, at the level ClassifyLine gives.
  void Event(std::string_view text) { Write(ClassifyLine(text), text); }
  bool Enabled(LogLevel level) const { return level >= level_; }

 private:
  const LogLevel level_;
  std::mutex mu_;
};

}  // namespace toydb::tools

#endif  // TOYDB_TOOLS_SERVER_LOG_H_
