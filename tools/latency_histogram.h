#ifndef TOYDB_TOOLS_LATENCY_HISTOGRAM_H_
#define TOYDB_TOOLS_LATENCY_HISTOGRAM_H_

// LatencyHistogram: counts of latencies in microseconds, in buckets of
// about 1.6% width (32 sub-buckets per power of two), for percentiles of a
// load run without keeping every sample. Not thread-safe: the owner locks.

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>

namespace toydb::tools {

class LatencyHistogram {
 public:
  void Add(uint64_t micros) {
    ++buckets_[Index(micros)];
    ++count_;
    max_ = std::max(max_, micros);
  }
  void Merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
    count_ += other.count_;
    max_ = std::max(max_, other.max_);
  }
  void Clear() { *this = LatencyHistogram(); }
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }

  // The latency (the upper bound of its bucket) at or below which a share
  // `q` (0 < q <= 1) of the samples fall; 0 if there are none.
  uint64_t Percentile(double q) const {
    if (count_ == 0) return 0;
    const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(q * count_ + 0.5));
    uint64_t seen = 0;
    for (size_t i = 0; i < kBuckets; ++i) {
      seen += buckets_[i];
      if (seen >= rank) return std::min(UpperBound(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 5;  // 32 sub-buckets per power of two
  static constexpr size_t kBuckets = (64 - kSubBits + 1) << kSubBits;

  // Values below 2^kSubBits get a bucket each; above, the leading kSubBits
  // bits after the top one select the sub-bucket.
  static size_t Index(uint64_t v) {
    if (v < (uint64_t{1} << kSubBits)) return static_cast<size_t>(v);
    const int top = 63 - std::countl_zero(v);
    const int shift = top - kSubBits;
    const uint64_t sub = (v >> shift) & ((uint64_t{1} << kSubBits) - 1);
    return (static_cast<size_t>(shift + 1) << kSubBits) + static_cast<size_t>(sub);
  }
  static uint64_t UpperBound(size_t index) {
    if (index < (size_t{1} << kSubBits)) return index;
    const int shift = static_cast<int>(index >> kSubBits) - 1;
    const uint64_t sub = index & ((size_t{1} << kSubBits) - 1);
    return (((uint64_t{1} << kSubBits) | sub) << shift) + ((uint64_t{1} << shift) - 1);
  }

  std::array<uint64_t, kBuckets> buckets_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

}  // namespace toydb::tools

#endif  // TOYDB_TOOLS_LATENCY_HISTOGRAM_H_
