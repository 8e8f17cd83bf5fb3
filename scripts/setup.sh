#!/usr/bin/env bash
# Installs the Debian packages toydb builds with (only those missing), then
# configures and builds the release tree in build/. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake ninja-build g++ pkg-config libabsl-dev libxxhash-dev libfmt-dev
          catch2 libbenchmark-dev libasio-dev clang-14 clang-format libleveldb-dev)

bash scripts/install-packages.sh "${PACKAGES[@]}"

cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
