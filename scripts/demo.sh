#!/usr/bin/env bash
# The main job: the demonstration cluster (examples/cluster_demo.cc). Three
# nodes in this process host 2 partitions x 3 replicas on real files in a
# temporary directory; clients write through the Router while a primary is
# killed, replaced and restarted; the run ends with a verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build -j "$(nproc)" --target cluster_demo
./build/examples/cluster_demo
