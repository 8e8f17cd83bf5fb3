#!/usr/bin/env bash
# The main job: a demonstration of toydb. Until the replicated cluster exists,
# it opens a Store, writes, reopens it and reads back (examples/store_demo.cc).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --build build -j "$(nproc)" --target store_demo
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
./build/examples/store_demo "$dir/store"
