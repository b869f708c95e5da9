#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors, runs the unit,
# CLI and interop tests, then the fuzz targets (clang, ASan+UBSan) for a short bounded run.
# Usage: scripts/test.sh            (from anywhere; builds in build/ and build-fuzz/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

bash scripts/setup.sh

echo "== build (warnings as errors)" >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DP2PDIST_WERROR=ON >/dev/null
cmake --build build -j "$jobs"

echo "== unit, CLI and interop tests" >&2
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

echo "== fuzz targets (libFuzzer, address + undefined sanitizers)" >&2
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DP2PDIST_FUZZ=ON -DP2PDIST_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j "$jobs"
ctest --test-dir build-fuzz --output-on-failure -j "$jobs"
