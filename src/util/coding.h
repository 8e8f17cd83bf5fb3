#ifndef TOYDB_UTIL_CODING_H_
#define TOYDB_UTIL_CODING_H_

// Little-endian fixed-width encoding for on-disk and on-wire formats, and a
// bounds-checked reader for decoding untrusted bytes.

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace toydb {

inline void PutFixed8(std::string* out, uint8_t v) { out->push_back(static_cast<char>(v)); }

template <typename T>
inline void PutFixed(std::string* out, T v) {
  static_assert(std::is_unsigned_v<T>);
  char buf[sizeof(T)];
  for (size_t i = 0; i < sizeof(T); ++i) buf[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(buf, sizeof(T));
}
inline void PutFixed16(std::string* out, uint16_t v) { PutFixed(out, v); }
inline void PutFixed32(std::string* out, uint32_t v) { PutFixed(out, v); }
inline void PutFixed64(std::string* out, uint64_t v) { PutFixed(out, v); }

template <typename T>
inline T DecodeFixed(const char* p) {
  static_assert(std::is_unsigned_v<T>);
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v |= static_cast<T>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}
inline uint32_t DecodeFixed32(const char* p) { return DecodeFixed<uint32_t>(p); }
inline uint64_t DecodeFixed64(const char* p) { return DecodeFixed<uint64_t>(p); }

inline void EncodeFixed32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline void EncodeFixed64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

// Length-prefixed (u32) bytes.
inline void PutBytes(std::string* out, std::string_view bytes) {
  PutFixed32(out, static_cast<uint32_t>(bytes.size()));
  out->append(bytes);
}

// Reads fields from a buffer without ever reading past its end. Every getter
// returns false once the input is exhausted; the reader then stays failed.
class Decoder {
 public:
  explicit Decoder(std::string_view input) : input_(input) {}

  template <typename T>
  bool Fixed(T* v) {
    if (!ok_ || input_.size() < sizeof(T)) return Fail();
    *v = DecodeFixed<T>(input_.data());
    input_.remove_prefix(sizeof(T));
    return true;
  }
  bool U8(uint8_t* v) { return Fixed(v); }
  bool U16(uint16_t* v) { return Fixed(v); }
  bool U32(uint32_t* v) { return Fixed(v); }
  bool U64(uint64_t* v) { return Fixed(v); }

  // Length-prefixed bytes, refused if longer than `max_bytes` or the input.
  bool Bytes(std::string_view* v, uint64_t max_bytes = UINT32_MAX) {
    uint32_t n;
    if (!U32(&n)) return false;
    return Raw(n, v, max_bytes);
  }
  bool Bytes(std::string* v, uint64_t max_bytes = UINT32_MAX) {
    std::string_view view;
    if (!Bytes(&view, max_bytes)) return false;
    v->assign(view);
    return true;
  }
  bool Raw(uint64_t n, std::string_view* v, uint64_t max_bytes = UINT64_MAX) {
    if (!ok_ || n > max_bytes || n > input_.size()) return Fail();
    *v = input_.substr(0, n);
    input_.remove_prefix(n);
    return true;
  }

  bool ok() const { return ok_; }
  bool done() const { return ok_ && input_.empty(); }
  size_t remaining() const { return input_.size(); }
  std::string_view rest() const { return input_; }

 private:
  bool Fail() {
    ok_ = false;
    return false;
  }
  std::string_view input_;
  bool ok_ = true;
};

}  // namespace toydb

#endif  // TOYDB_UTIL_CODING_H_
