#!/usr/bin/env bash
# Builds the libFuzzer targets with Clang in build-fuzz/ and runs the codec
# fuzzer for SECONDS (default 60). Crashes are written to build-fuzz/ as
# crash-*; the corpus grows in build-fuzz/corpus/codec.
#   scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true

# clang and the libFuzzer runtime (libclang_rt.fuzzer) come from these.
PACKAGES=(clang libclang-rt-dev)
bash scripts/install-packages.sh "${PACKAGES[@]}"

build="${TOYDB_FUZZ_BUILD_DIR:-build-fuzz}"
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTOYDB_BUILD_FUZZ=ON -DTOYDB_BUILD_TESTS=OFF -DTOYDB_BUILD_BENCH=OFF \
  -DTOYDB_BUILD_TOOLS=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target codec_fuzzer

mkdir -p "$build/corpus/codec"
cd "$build"
# -malloc_limit_mb: any single allocation above 16 MiB is a bug (frames are
# at most 4 MiB and inputs here at most 4 KiB), reported as a crash.
./fuzz/codec_fuzzer -max_total_time="$seconds" -max_len=4096 -malloc_limit_mb=16 \
  -print_final_stats=1 "$@" corpus/codec
