#include "src/util/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace toydb {

uint64_t Checksum64(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

uint64_t Checksum64(std::string_view data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

}  // namespace toydb
