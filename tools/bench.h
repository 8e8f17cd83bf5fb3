#ifndef TOYDB_TOOLS_BENCH_H_
#define TOYDB_TOOLS_BENCH_H_

// The toydb CLI's load generator (`toydb bench`): `clients` concurrent
// clients, each with one request in flight through the Router's callback
// API, on keys drawn uniformly from a key space; a progress line each
// second and a summary with throughput and latency percentiles at the end.

#include <cstdint>

#include "toydb/message.h"
#include "toydb/router.h"

namespace toydb::tools {

struct BenchOptions {
  uint32_t clients = 16;
  uint64_t keys = 100000;
  uint32_t value_size = 100;
  double read_ratio = 0.0;  // share of requests that are reads
  double duration_s = 10;
  WriteConcern concern;
  ReadConsistency consistency = ReadConsistency::kLinearizable;
  bool progress = true;  // a line on stderr each second
};

// Runs the load against `router` and prints the summary to stdout. Returns
// the exit code: kExitFailed if no request succeeded.
int RunBench(Router& router, const BenchOptions& options);

}  // namespace toydb::tools

#endif  // TOYDB_TOOLS_BENCH_H_
