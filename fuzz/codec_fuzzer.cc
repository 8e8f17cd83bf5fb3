// libFuzzer target for the wire codec. Each input is tried twice: as a raw
// frame, and as a payload wrapped in a header with a correct length and
// checksum, so the fuzzer reaches the body decoder instead of stopping at the
// checksum. Decoding must never crash, read out of bounds or over-allocate
// (ASan), and anything it accepts must re-encode to exactly the same bytes.
// A replication message the core accepts (FromWire) must translate back
// (ToWire) to exactly the message decoded.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "src/replication/wire_messages.h"
#include "src/transport/codec.h"
#include "src/util/coding.h"

namespace {

void CheckCanonical(std::string_view frame) {
  toydb::StatusOr<toydb::Message> m = toydb::DecodeFrame(frame);
  if (!m.ok()) return;
  toydb::StatusOr<std::string> again = toydb::EncodeFrame(*m);
  if (!again.ok() || *again != frame) std::abort();
  auto core = toydb::replication::FromWire(*m);
  if (core.ok() && !(toydb::replication::ToWire(core->first, core->second) == *m)) std::abort();
}

std::string Seal(std::string_view payload) {
  std::string frame(toydb::kFrameHeaderBytes, '\0');
  frame[0] = static_cast<char>(toydb::kFrameMagic);
  frame[1] = static_cast<char>(toydb::kWireVersion);
  toydb::EncodeFixed32(frame.data() + 2, static_cast<uint32_t>(payload.size()));
  toydb::EncodeFixed64(frame.data() + 6,
                       toydb::FrameChecksum(std::string_view(frame.data(), 6), payload));
  frame.append(payload);
  return frame;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > toydb::kMaxFrameBytes) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckCanonical(input);
  CheckCanonical(Seal(input));
  (void)toydb::PeekFrameSize(input);
  return 0;
}
