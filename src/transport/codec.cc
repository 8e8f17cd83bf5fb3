#include "src/transport/codec.h"

#include <fmt/format.h>

#include <array>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "src/transport/message_fields.h"
#include "src/util/checksum.h"
#include "src/util/coding.h"

namespace toydb {
namespace {

static_assert(kMessageTypeCount == 17, "update the codec's tag checks");

template <typename T>
concept Scalar = std::is_unsigned_v<T> && !std::is_same_v<T, bool>;
template <typename T>
concept Enum = std::is_enum_v<T>;
template <typename T>
concept Record = requires(T& t) {
  Fields(t);
};

template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};

// ---------------------------------------------------------------- encoding

// Encoding is total except for repeated-field limits, which set `ok` false.
struct Encoder {
  std::string* out;
  bool ok = true;

  template <Scalar T>
  void Put(T v) {
    PutFixed(out, v);
  }
  void Put(bool v) { PutFixed8(out, v ? 1 : 0); }
  void Put(int64_t v) { PutFixed64(out, static_cast<uint64_t>(v)); }
  template <Enum T>
  void Put(T v) {
    PutFixed8(out, static_cast<uint8_t>(v));
  }
  void Put(const std::string& v) {
    if (v.size() > kMaxFrameBytes) ok = false;
    if (ok) PutBytes(out, v);
  }
  template <typename T>
  void Put(const std::vector<T>& v) {
    if (v.size() > MaxRepeated(static_cast<const T*>(nullptr))) ok = false;
    if (!ok) return;
    PutFixed32(out, static_cast<uint32_t>(v.size()));
    for (const T& item : v) Put(item);
  }
  template <Record T>
  void Put(const T& record) {
    std::apply([&](const auto&... f) { (Put(f), ...); }, Fields(record));
  }
};

// ---------------------------------------------------------------- decoding

// The fewest bytes one encoded T occupies; bounds a repeated field's count.
template <typename T>
constexpr size_t MinWireBytes() {
  if constexpr (std::is_same_v<T, bool> || std::is_enum_v<T>) {
    return 1;
  } else if constexpr (std::is_integral_v<T>) {
    return sizeof(T);
  } else if constexpr (std::is_same_v<T, std::string> || IsVector<T>::value) {
    return 4;
  } else {
    using Tuple = decltype(Fields(std::declval<T&>()));
    return []<size_t... I>(std::index_sequence<I...>) {
      return (MinWireBytes<std::remove_cvref_t<std::tuple_element_t<I, Tuple>>>() + ...);
    }
    (std::make_index_sequence<std::tuple_size_v<Tuple>>());
  }
}

// Reads fields through the bounds-checked Decoder; after the first failure
// every Get returns false and changes nothing.
struct BodyReader {
  Decoder in;

  template <Scalar T>
  bool Get(T& v) {
    return in.Fixed(&v);
  }
  bool Get(bool& v) {
    uint8_t b;
    if (!in.U8(&b) || b > 1) return false;
    v = b == 1;
    return true;
  }
  bool Get(int64_t& v) {
    uint64_t u;
    if (!in.U64(&u)) return false;
    v = static_cast<int64_t>(u);
    return true;
  }
  template <Enum T>
  bool Get(T& v) {
    uint8_t b;
    if (!in.U8(&b) || b > MaxEnumValue(T{})) return false;
    v = static_cast<T>(b);
    return true;
  }
  bool Get(std::string& v) { return in.Bytes(&v, in.remaining()); }
  template <typename T>
  bool Get(std::vector<T>& v) {
    uint32_t n;
    if (!in.U32(&n) || n > MaxRepeated(static_cast<const T*>(nullptr))) return false;
    // Refuse a count the remaining bytes cannot hold before reserving for it.
    if (n > in.remaining() / MinWireBytes<T>()) return false;
    v.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      if (!Get(v.emplace_back())) return false;
    }
    return true;
  }
  template <Record T>
  bool Get(T& record) {
    return std::apply([&](auto&... f) { return (Get(f) && ...); }, Fields(record));
  }
};

// Checks beyond the field grammar; every decoded value must re-encode to the
// same bytes, so any value with two encodings is refused.
template <typename T>
bool Valid(const T&) {
  return true;
}
bool ValidCode(uint8_t code) {
  return code <= static_cast<uint8_t>(absl::StatusCode::kUnauthenticated);
}
bool Valid(const ClientResponse& r) { return ValidCode(r.code); }
bool Valid(const AdminResponse& r) { return ValidCode(r.code); }
bool Valid(const StatsResponse& r) {
  for (const StatsReplica& replica : r.replicas) {
    if (replica.role > kMaxStatsRole || !ValidCode(replica.failure_code)) return false;
  }
  return true;
}

template <size_t I>
bool DecodeBodyAs(BodyReader& reader, MessageBody* body) {
  auto& typed = body->emplace<I>();
  return reader.Get(typed) && reader.in.done() && Valid(typed);
}

// Decodes a body whose tag is `type` (1-based) into `body`.
bool DecodeBody(uint8_t type, std::string_view bytes, MessageBody* body) {
  using Fn = bool (*)(BodyReader&, MessageBody*);
  static constexpr auto kDecoders = []<size_t... I>(std::index_sequence<I...>) {
    return std::array<Fn, sizeof...(I)>{&DecodeBodyAs<I>...};
  }
  (std::make_index_sequence<kMessageTypeCount>());
  if (type == 0 || type > kMessageTypeCount) return false;
  BodyReader reader{Decoder(bytes)};
  return kDecoders[type - 1](reader, body);
}

// Every alternative's kType must equal its position + 1 (see message.h).
template <size_t... I>
constexpr bool TagsMatchPositions(std::index_sequence<I...>) {
  return ((static_cast<size_t>(std::variant_alternative_t<I, MessageBody>::kType) == I + 1) && ...);
}
static_assert(TagsMatchPositions(std::make_index_sequence<kMessageTypeCount>()),
              "MessageBody alternatives must follow MessageType order");

Status Corrupt(std::string_view what) {
  return absl::DataLossError(fmt::format("bad frame: {}", what));
}

}  // namespace

uint64_t FrameChecksum(std::string_view header_prefix, std::string_view payload) {
  return Checksum64(payload, Checksum64(header_prefix));
}

Status AppendFrame(const Message& message, std::string* out) {
  const size_t start = out->size();
  out->append(kFrameHeaderBytes, '\0');
  Encoder enc{out};
  enc.Put(static_cast<uint8_t>(TypeOf(message)));
  enc.Put(message.from);
  enc.Put(message.to);
  std::visit([&enc](const auto& body) { enc.Put(body); }, message.body);
  const size_t frame_bytes = out->size() - start;
  if (!enc.ok || frame_bytes > kMaxFrameBytes) {
    out->resize(start);
    return absl::InvalidArgumentError(
        fmt::format("{} message too large for a frame (limit {} bytes)",
                    MessageTypeName(TypeOf(message)), kMaxFrameBytes));
  }
  char* header = out->data() + start;
  header[0] = static_cast<char>(kFrameMagic);
  header[1] = static_cast<char>(kWireVersion);
  EncodeFixed32(header + 2, static_cast<uint32_t>(frame_bytes - kFrameHeaderBytes));
  std::string_view payload(header + kFrameHeaderBytes, frame_bytes - kFrameHeaderBytes);
  EncodeFixed64(header + 6, FrameChecksum(std::string_view(header, 6), payload));
  return absl::OkStatus();
}

StatusOr<std::string> EncodeFrame(const Message& message) {
  std::string frame;
  Status s = AppendFrame(message, &frame);
  if (!s.ok()) return s;
  return frame;
}

StatusOr<size_t> PeekFrameSize(std::string_view buffer) {
  if (buffer.size() < kFrameHeaderBytes) return size_t{0};
  if (static_cast<uint8_t>(buffer[0]) != kFrameMagic) return Corrupt("magic");
  if (static_cast<uint8_t>(buffer[1]) != kWireVersion) {
    return Corrupt(fmt::format("unsupported version {}", static_cast<uint8_t>(buffer[1])));
  }
  const uint32_t payload = DecodeFixed32(buffer.data() + 2);
  if (payload < kFrameEnvelopeBytes || payload > kMaxFrameBytes - kFrameHeaderBytes) {
    return Corrupt(fmt::format("payload length {} out of bounds", payload));
  }
  return kFrameHeaderBytes + payload;
}

StatusOr<Message> DecodeFrame(std::string_view frame) {
  if (frame.size() < kFrameHeaderBytes) return Corrupt("shorter than a header");
  StatusOr<size_t> size = PeekFrameSize(frame);
  if (!size.ok()) return size.status();
  if (*size != frame.size()) return Corrupt("length disagrees with the frame size");
  std::string_view payload = frame.substr(kFrameHeaderBytes);
  if (FrameChecksum(frame.substr(0, 6), payload) != DecodeFixed64(frame.data() + 6)) {
    return Corrupt("checksum mismatch");
  }
  Message message;
  BodyReader envelope{Decoder(payload)};
  uint8_t type = 0;
  if (!envelope.Get(type) || !envelope.Get(message.from) || !envelope.Get(message.to)) {
    return Corrupt("truncated envelope");
  }
  if (!DecodeBody(type, envelope.in.rest(), &message.body)) {
    return Corrupt(fmt::format("malformed body of type {}", type));
  }
  return message;
}

}  // namespace toydb
