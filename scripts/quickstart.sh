#!/usr/bin/env bash
# Quick start: installs what is missing, builds p2pdist, and runs the main job with its
# defaults (the bounds for the textbook's example, as a table).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target p2pdist
exec build/p2pdist demo "$@"
