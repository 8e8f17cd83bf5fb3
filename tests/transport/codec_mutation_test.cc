// Seeded randomized mutation test of the codec (a deterministic fuzzer that
// runs in CI). Valid frames are damaged in assorted ways; every damaged frame
// must be refused. Damaged frames are then resealed (length and checksum made
// to agree) so the body decoder sees garbage too: it must either refuse it or
// decode a value that re-encodes to exactly the same bytes.
//
// TOYDB_FUZZ_ITERATIONS=N raises the iteration count (bench-only mode, e.g.
// 5000000); TOYDB_FUZZ_SEED=S changes the seed.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "src/transport/codec.h"
#include "src/util/coding.h"
#include "tests/transport/random_message.h"

namespace toydb {
namespace {

constexpr uint64_t kDefaultIterations = 30000;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  return value == nullptr ? fallback : std::strtoull(value, nullptr, 10);
}

// One random damage: flips, overwrites, truncation, extension, splicing.
std::string Mutate(std::string frame, const std::string& other, sim::Rng& rng) {
  const int count = 1 + static_cast<int>(rng.Uniform(3));
  for (int i = 0; i < count && !frame.empty(); ++i) {
    const size_t at = rng.Uniform(frame.size());
    switch (rng.Uniform(6)) {
      case 0:
        frame[at] = static_cast<char>(frame[at] ^ (1 << rng.Uniform(8)));
        break;
      case 1:
        frame[at] = static_cast<char>(rng.Next());
        break;
      case 2:
        frame.resize(at);
        break;
      case 3:
        frame.append(rng.Bytes(1 + rng.Uniform(16)));
        break;
      case 4:
        frame.insert(at, rng.Bytes(1 + rng.Uniform(8)));
        break;
      default:
        frame = frame.substr(0, at) + other.substr(std::min(at, other.size()));
        break;
    }
  }
  return frame;
}

std::string Reseal(std::string frame) {
  if (frame.size() < kFrameHeaderBytes) return frame;
  frame[0] = static_cast<char>(kFrameMagic);
  frame[1] = static_cast<char>(kWireVersion);
  EncodeFixed32(frame.data() + 2, static_cast<uint32_t>(frame.size() - kFrameHeaderBytes));
  std::string_view payload(frame.data() + kFrameHeaderBytes, frame.size() - kFrameHeaderBytes);
  EncodeFixed64(frame.data() + 6, FrameChecksum(std::string_view(frame.data(), 6), payload));
  return frame;
}

TEST_CASE("Codec refuses every mutated frame (seeded)", "[codec][fuzz]") {
  const uint64_t iterations = EnvOr("TOYDB_FUZZ_ITERATIONS", kDefaultIterations);
  sim::Rng rng(EnvOr("TOYDB_FUZZ_SEED", 20240611));
  uint64_t mutated = 0, resealed_accepted = 0;
  for (uint64_t i = 0; i < iterations; ++i) {
    const std::string frame = *EncodeFrame(testing::RandomMessage(rng));
    const std::string other = *EncodeFrame(testing::RandomMessage(rng));
    const std::string damaged = Mutate(frame, other, rng);
    if (damaged == frame || damaged == other) continue;  // still a valid frame
    ++mutated;
    StatusOr<Message> m = DecodeFrame(damaged);
    if (m.ok()) FAIL("accepted a mutated frame at iteration " << i);

    const std::string forged = Reseal(damaged);
    StatusOr<Message> forged_m = DecodeFrame(forged);
    if (forged_m.ok()) {
      ++resealed_accepted;
      if (*EncodeFrame(*forged_m) != forged) FAIL("non-canonical decode at iteration " << i);
    }
  }
  INFO("mutated " << mutated << ", resealed and accepted " << resealed_accepted);
  CHECK(mutated > iterations * 9 / 10);
  // Some resealed mutations (e.g. a flipped bit inside a key) are valid frames.
  CHECK(resealed_accepted > 0);
}

TEST_CASE("Codec survives resealed random payloads (seeded)", "[codec][fuzz]") {
  const uint64_t iterations = EnvOr("TOYDB_FUZZ_ITERATIONS", kDefaultIterations) / 3;
  sim::Rng rng(EnvOr("TOYDB_FUZZ_SEED", 7));
  for (uint64_t i = 0; i < iterations; ++i) {
    std::string payload = rng.Bytes(rng.Uniform(64));
    if (!payload.empty()) payload[0] = static_cast<char>(1 + rng.Uniform(kMessageTypeCount));
    const std::string forged = Reseal(std::string(kFrameHeaderBytes, '\0') + payload);
    StatusOr<Message> m = DecodeFrame(forged);
    if (m.ok() && *EncodeFrame(*m) != forged) FAIL("non-canonical decode at iteration " << i);
  }
}

}  // namespace
}  // namespace toydb
