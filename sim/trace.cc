#include "sim/trace.h"

#include <fmt/format.h>

#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb::sim {
namespace {

const char* KindName(TraceKind kind) {
  switch (kind) {
    case TraceKind::kDeliver:
      return "deliver";
    case TraceKind::kDrop:
      return "drop";
    case TraceKind::kReject:
      return "reject";
    case TraceKind::kUnreachable:
      return "unreachable";
    case TraceKind::kTimer:
      return "timer";
    case TraceKind::kCrash:
      return "crash";
    case TraceKind::kRestart:
      return "restart";
    case TraceKind::kFault:
      return "fault";
    case TraceKind::kNote:
      return "note";
  }
  return "unknown";
}

}  // namespace

std::string Trace::Encode(const TraceEvent& event) {
  std::string bytes;
  PutFixed64(&bytes, static_cast<uint64_t>(event.time_micros));
  PutFixed8(&bytes, static_cast<uint8_t>(event.kind));
  PutFixed64(&bytes, event.a);
  PutFixed64(&bytes, event.b);
  PutFixed64(&bytes, event.detail);
  return bytes;
}

std::string Trace::Format(const TraceEvent& event) {
  return fmt::format("{:>12}us {:<11} a={} b={} detail={:#x}", event.time_micros,
                     KindName(event.kind), event.a, event.b, event.detail);
}

void Trace::Record(const TraceEvent& event) {
  hash_ = Checksum64(Encode(event), hash_);
  ++size_;
  tail_.push_back(event);
  if (tail_.size() > kTailEvents) tail_.pop_front();
  if (sink_) sink_(Format(event));
}

std::vector<std::string> Trace::Tail() const {
  std::vector<std::string> lines;
  lines.reserve(tail_.size());
  for (const TraceEvent& event : tail_) lines.push_back(Format(event));
  return lines;
}

}  // namespace toydb::sim
