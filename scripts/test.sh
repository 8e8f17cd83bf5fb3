#!/usr/bin/env bash
# Runs every test three ways: the release build (build/), an AddressSanitizer +
# UndefinedBehaviorSanitizer build (build-asan/), and a ThreadSanitizer build
# (build-tsan/) for the tests tagged [threads]. Then builds the library with
# Clang, whose thread-safety analysis checks the lock annotations (warnings are
# errors), and checks the tree's formatting. Fails if any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

echo "== release build: all tests"
cmake --build build -j "$jobs"
ctest --test-dir build -j "$jobs" --output-on-failure -LE threads

echo "== simulator sweep: 1,000 seeds of the replicated key-value scenario"
# About 65 s on a 2-core machine (docs/TESTING.md); a failing seed is listed
# with the command that replays it.
./build/tools/toydb-sim --seed 1 --sweep 1000 | tail -3

echo "== failover: 1,000 seeds of a primary crash under a write load"
# About 10 s; fails if a seed has no write acknowledged by a new primary within
# 20 election timeouts (docs/SIMULATION.md).
./build/tools/toydb-sim --failover 1000 | tail -7

echo "== ASan+UBSan build: all tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  -DTOYDB_SANITIZE=address \
  -DTOYDB_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure -LE threads

echo "== TSan build: tests tagged [threads]"
# Only the suites with threaded code are built here (add a suite when its
# code starts threads); the rest is single-threaded and covered above.
tsan_suites=(storage_tests transport_tests util_tests replication_tests routing_tests)
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTOYDB_SANITIZE=thread \
  -DTOYDB_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j "$jobs" --target "${tsan_suites[@]}"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan -j "$jobs" --output-on-failure -L threads

echo "== Clang build of the library: -Wthread-safety, warnings are errors"
cmake -S . -B build-clang -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-O0 \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_FLAGS=-Werror \
  -DTOYDB_BUILD_TESTS=OFF -DTOYDB_BUILD_TOOLS=OFF -DTOYDB_BUILD_BENCH=OFF >/dev/null
cmake --build build-clang -j "$jobs" --target toydb

echo "== clang-format"
bash scripts/check-format.sh

echo "== host project: find_package(toydb), pkg-config, add_subdirectory(toydb)"
prefix="$PWD/build/install-test"
rm -rf "$prefix" build/consumer-package build/consumer-subdirectory
cmake --install build --prefix "$prefix" >/dev/null
cmake -S examples/consumer -B build/consumer-package -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build build/consumer-package
./build/consumer-package/consumer build/consumer-package/data
g++ -std=c++20 examples/consumer/main.cc -o build/consumer-pkgconfig \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs --static toydb)
./build/consumer-pkgconfig build/consumer-pkgconfig-data
cmake -S examples/consumer -B build/consumer-subdirectory -G Ninja \
  -DTOYDB_CONSUMER_MODE=subdirectory -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/consumer-subdirectory -j "$jobs"
./build/consumer-subdirectory/consumer build/consumer-subdirectory/data
echo "consumers: 3 passed, 0 failed"
