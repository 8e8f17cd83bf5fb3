#ifndef TOYDB_SIM_TRACE_H_
#define TOYDB_SIM_TRACE_H_

// Trace: the record of a simulated run. Every delivered, dropped or rejected
// message, timer, crash, restart and network fault is appended as a small
// fixed-size event, and folded into a running XXH3 hash over its canonical
// little-endian bytes (never a pointer or an address). Two runs are the same
// run exactly when their hashes match. Keeps only the last kTailEvents events
// in memory; an optional sink sees every event. Owned by the Simulator;
// single-threaded.

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace toydb::sim {

enum class TraceKind : uint8_t {
  kDeliver = 1,      // a: from, b: to, detail: XXH3 of the frame
  kDrop = 2,         // a: from, b: to, detail: DropReason
  kReject = 3,       // a: from, b: to: a damaged frame failed to decode
  kUnreachable = 4,  // a: sender told that b is down
  kTimer = 5,        // a: node, detail: timer id
  kCrash = 6,        // a: node, detail: incarnation that ended
  kRestart = 7,      // a: node, detail: new incarnation
  kFault = 8,        // a, b: nodes, detail: FaultKind
  kNote = 9,         // a, b, detail: chosen by the scenario
};

enum class DropReason : uint8_t { kLoss = 1, kPartition = 2, kNodeDown = 3 };
enum class FaultKind : uint8_t { kCut = 1, kCutOneWay = 2, kIsolate = 3, kHeal = 4 };

struct TraceEvent {
  int64_t time_micros = 0;
  TraceKind kind = TraceKind::kNote;
  uint64_t a = 0;
  uint64_t b = 0;
  uint64_t detail = 0;
};

class Trace {
 public:
  static constexpr size_t kTailEvents = 64;

  void Record(const TraceEvent& event);

  // The running hash of every event so far; 0 for an empty trace.
  uint64_t hash() const { return hash_; }
  uint64_t size() const { return size_; }
  // The last events (at most kTailEvents), oldest first, formatted.
  std::vector<std::string> Tail() const;
  // Called with every event's formatted line as it is recorded.
  void set_sink(std::function<void(std::string_view)> sink) { sink_ = std::move(sink); }

  static std::string Format(const TraceEvent& event);
  // The canonical bytes hashed for `event`.
  static std::string Encode(const TraceEvent& event);

 private:
  uint64_t hash_ = 0;
  uint64_t size_ = 0;
  std::deque<TraceEvent> tail_;
  std::function<void(std::string_view)> sink_;
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_TRACE_H_
