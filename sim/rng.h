#ifndef TOYDB_SIM_RNG_H_
#define TOYDB_SIM_RNG_H_

// Rng: the simulator's only source of randomness, passed explicitly to every
// component that makes a random choice. xoshiro256** seeded by splitmix64,
// with every derived distribution written here, so that a seed gives the same
// numbers with every compiler and standard library (std distributions do not).
// Header-only; one Rng per component, not thread-safe.

#include <cstdint>
#include <string>

namespace toydb::sim {

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t x = seed;
    for (uint64_t& word : s_) word = SplitMix64(&x);
  }

  // 64 uniformly random bits.
  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  // Uniform in [0, n), without modulo bias. REQUIRES: n > 0.
  uint64_t Uniform(uint64_t n) {
    // 2^64 mod n values at the bottom would be over-represented; skip them.
    const uint64_t threshold = (0 - n) % n;
    uint64_t x;
    do x = Next();
    while (x < threshold);
    return x % n;
  }

  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  int64_t Range(int64_t lo, int64_t hi) {
    const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
    const uint64_t offset = span == UINT64_MAX ? Next() : Uniform(span + 1);
    return static_cast<int64_t>(static_cast<uint64_t>(lo) + offset);
  }

  // Uniform in [0, 1), from 53 random bits: exact in IEEE-754 arithmetic, so
  // identical on every platform.
  double NextDouble() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

  // True with probability p (p <= 0: never; p >= 1: always).
  bool Chance(double p) { return NextDouble() < p; }

  // `n` random bytes.
  std::string Bytes(size_t n) {
    std::string out(n, '\0');
    for (char& c : out) c = static_cast<char>(Next() & 0xff);
    return out;
  }

  // An independent stream for a sub-component, so that the sub-component's
  // draws do not shift the parent's sequence.
  Rng Fork() { return Rng(Next()); }

 private:
  static uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t SplitMix64(uint64_t* x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  uint64_t s_[4];
};

}  // namespace toydb::sim

#endif  // TOYDB_SIM_RNG_H_
