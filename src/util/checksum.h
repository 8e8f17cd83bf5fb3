#ifndef TOYDB_UTIL_CHECKSUM_H_
#define TOYDB_UTIL_CHECKSUM_H_

// The one checksum of every toydb format: XXH3-64, truncated where a format
// stores 32 bits. Checksums are verified after every read of stored bytes.

#include <cstdint>
#include <memory>
#include <string_view>

namespace toydb {

uint64_t Checksum64(std::string_view data);
uint64_t Checksum64(std::string_view data, uint64_t seed);
inline uint32_t Checksum32(std::string_view data) {
  return static_cast<uint32_t>(Checksum64(data));
}
// Checksum64 of a stream given in pieces: equal to Checksum64 of their
// concatenation. For files too large to hold in memory (snapshots). Not
// thread-safe.
class Checksum64Stream {
 public:
  Checksum64Stream();
  ~Checksum64Stream();
  Checksum64Stream(const Checksum64Stream&) = delete;
  Checksum64Stream& operator=(const Checksum64Stream&) = delete;
  void Update(std::string_view data);
  uint64_t Digest() const;

 private:
  struct State;  // XXH3's streaming state (checksum.cc).
  std::unique_ptr<State> state_;
};

// Hash for key placement (hash ring, partitioning); stable across versions.
inline uint64_t KeyHash(std::string_view key) { return Checksum64(key); }

}  // namespace toydb

#endif  // TOYDB_UTIL_CHECKSUM_H_
