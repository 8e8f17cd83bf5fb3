#include "src/util/checksum.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace toydb {

uint64_t Checksum64(std::string_view data) { return XXH3_64bits(data.data(), data.size()); }

uint64_t Checksum64(std::string_view data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

struct Checksum64Stream::State {
  XXH3_state_t xxh;
};

Checksum64Stream::Checksum64Stream() : state_(std::make_unique<State>()) {
  XXH3_64bits_reset(&state_->xxh);
}

Checksum64Stream::~Checksum64Stream() = default;

void Checksum64Stream::Update(std::string_view data) {
  XXH3_64bits_update(&state_->xxh, data.data(), data.size());
}

uint64_t Checksum64Stream::Digest() const { return XXH3_64bits_digest(&state_->xxh); }

}  // namespace toydb
