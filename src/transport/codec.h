#ifndef TOYDB_TRANSPORT_CODEC_H_
#define TOYDB_TRANSPORT_CODEC_H_

// The one wire codec of toydb: every Message becomes one self-checking frame,
// and every transport (the simulator's network, TCP) sends exactly these
// bytes. Decoding treats its input as hostile: a bad frame is an error value,
// never a crash, an out-of-bounds read, or an allocation driven by a length
// field's claim. Stateless functions; thread-safe. Grammar: docs/WIRE_FORMAT.md.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "toydb/message.h"
#include "toydb/status.h"

namespace toydb {

// Frame header: magic u8 | version u8 | payload length u32 | checksum u64.
// The payload (type u8 | from u64 | to u64 | body) follows.
inline constexpr uint8_t kFrameMagic = 0xD7;
inline constexpr uint8_t kWireVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 1 + 1 + 4 + 8;
inline constexpr size_t kFrameEnvelopeBytes = 1 + 8 + 8;
// The largest frame, header included, that is encoded or accepted. Snapshot
// chunks and append batches must be sized to fit.
inline constexpr size_t kMaxFrameBytes = size_t{4} << 20;

static_assert(kFrameHeaderBytes == 14, "the header layout is part of the wire format");
static_assert(kMaxFrameBytes <= UINT32_MAX, "the length field is 32 bits");

// Appends the frame of `message` to `out`. InvalidArgument if the frame would
// exceed kMaxFrameBytes or a repeated field its maximum; `out` is unchanged then.
[[nodiscard]] Status AppendFrame(const Message& message, std::string* out);
[[nodiscard]] StatusOr<std::string> EncodeFrame(const Message& message);

// For stream transports: the total size of the frame starting `buffer`, or 0
// if fewer than kFrameHeaderBytes are buffered yet. DataLoss if the header is
// invalid (bad magic or version, length out of bounds): the stream is lost.
[[nodiscard]] StatusOr<size_t> PeekFrameSize(std::string_view buffer);

// Decodes exactly one whole frame. DataLoss for anything else: a bad header,
// a length that disagrees with the bytes given, a checksum mismatch, an
// unknown type, a truncated or over-long body, an out-of-range enum or bool.
// Memory allocated is proportional to frame.size(), never to a claimed length.
[[nodiscard]] StatusOr<Message> DecodeFrame(std::string_view frame);

// The checksum stored in a header, over the first 6 header bytes and the
// payload. Exposed so tests and the fuzzer can forge well-checksummed frames
// and reach the body decoder.
uint64_t FrameChecksum(std::string_view header_prefix, std::string_view payload);

}  // namespace toydb

#endif  // TOYDB_TRANSPORT_CODEC_H_
