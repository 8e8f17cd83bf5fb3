// The load generator's latency histogram (tools/latency_histogram.h): its
// percentiles stay within a bucket's width (about 3%) of the exact ones.
#include "tools/latency_histogram.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <random>
#include <vector>

namespace toydb::tools {
namespace {

TEST_CASE("LatencyHistogram percentiles are within 3% of the exact ones", "[bench]") {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> latency(7.0, 1.0);  // median about 1.1 ms
  LatencyHistogram histogram;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 100000; ++i) {
    samples.push_back(static_cast<uint64_t>(latency(rng)));
    histogram.Add(samples.back());
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const uint64_t exact = samples[static_cast<size_t>(q * samples.size() + 0.5) - 1];
    const uint64_t estimate = histogram.Percentile(q);
    INFO("q " << q << " exact " << exact << " estimate " << estimate);
    CHECK(estimate >= exact);
    CHECK(estimate <= exact + exact / 32 + 1);
  }
  CHECK(histogram.count() == samples.size());
  CHECK(histogram.max() == samples.back());
  CHECK(histogram.Percentile(1.0) == samples.back());
}

TEST_CASE("LatencyHistogram counts small values exactly and merges", "[bench]") {
  LatencyHistogram a, b;
  CHECK(a.Percentile(0.5) == 0);
  for (uint64_t v = 0; v < 10; ++v) a.Add(v);
  CHECK(a.Percentile(0.5) == 4);
  b.Add(uint64_t{1} << 40);
  a.Merge(b);
  CHECK(a.count() == 11);
  CHECK(a.Percentile(1.0) == uint64_t{1} << 40);
  a.Clear();
  CHECK(a.count() == 0);
}

}  // namespace
}  // namespace toydb::tools
