#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors, runs the unit,
# CLI, loopback, interop and notebook tests; then the unit and loopback tests again under
# AddressSanitizer + UndefinedBehaviorSanitizer, the engine and loopback tests under
# ThreadSanitizer, and the fuzz targets (clang, ASan+UBSan) for a short bounded run.
# Usage: scripts/test.sh   (from anywhere; builds in build/, build-asan/, build-tsan/, build-fuzz/)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

# stage TITLE: prints the heading, and how long the stage before it took.
stage_start=$SECONDS
stage_title=""
stage() {
  if [[ -n "$stage_title" ]]; then
    echo "== done: $stage_title ($((SECONDS - stage_start)) s)" >&2
  fi
  stage_title=$1
  stage_start=$SECONDS
  [[ -z "$1" ]] || echo "== $1" >&2
}

bash scripts/setup.sh

stage "build (warnings as errors)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DP2PDIST_WERROR=ON >/dev/null
cmake --build build -j "$jobs"

stage "unit, CLI, loopback, interop and notebook tests"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 600

# The sanitizer builds: asserts on (no NDEBUG), -O1 with line tables only (-g1) for short
# compiles and readable stacks, no benchmarks. Warnings are the first build's job (-Werror
# there); here they would only repeat it. Each builds only the test executables it runs
# (targets p2pdist_sanitized_tests and p2pdist_tsan_tests, made by label in tests/CMakeLists.txt)
# and selects the same labels in ctest (tests of executables not built carry no label).
sanitizer_build=(-G Ninja -DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g1"
                 -DP2PDIST_BUILD_BENCH=OFF -DP2PDIST_WERROR=OFF)
sanitizer_ctest=(--output-on-failure --no-tests=error -j "$jobs" --timeout 600 -L "unit|loopback")

stage "build for AddressSanitizer + UndefinedBehaviorSanitizer (unit and loopback tests, p2pdist)"
# Every UBSan finding is fatal (-fno-sanitize-recover=all, CMakeLists.txt); leaks are errors.
# The options hold for the build too: test discovery runs each test executable.
export ASAN_OPTIONS=detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
cmake -S . -B build-asan "${sanitizer_build[@]}" -DP2PDIST_SANITIZE=address,undefined >/dev/null
cmake --build build-asan -j "$jobs" --target p2pdist_sanitized_tests

stage "unit and loopback tests under AddressSanitizer + UndefinedBehaviorSanitizer"
ctest --test-dir build-asan "${sanitizer_ctest[@]}"
unset ASAN_OPTIONS UBSAN_OPTIONS

stage "build for ThreadSanitizer (engine unit tests and loopback tests)"
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
# ThreadSanitizer (GCC 12's runtime) dies with "unexpected memory mapping" when the kernel
# randomizes mmap with more bits than it expects (vm.mmap_rnd_bits above 28, as on some newer
# kernels). Probe with a tiny program; if it fails, run the TSan binaries (test discovery in
# the build, then ctest) without ASLR through setarch -R; failing that, as root, lower
# vm.mmap_rnd_bits to 28 for this stage and restore it afterwards.
tsan_probe_dir=$(mktemp -d)
tsan_rnd_bits_saved=""
tsan_cleanup() {
  rm -rf "$tsan_probe_dir"
  if [[ -n "$tsan_rnd_bits_saved" ]]; then
    echo "$tsan_rnd_bits_saved" >/proc/sys/vm/mmap_rnd_bits || true
    tsan_rnd_bits_saved=""
  fi
}
trap tsan_cleanup EXIT
echo 'int main() { return 0; }' >"$tsan_probe_dir/probe.cpp"
"${CXX:-c++}" -fsanitize=thread "$tsan_probe_dir/probe.cpp" -o "$tsan_probe_dir/probe"
tsan_run=()
if ! "$tsan_probe_dir/probe" >/dev/null 2>&1; then
  no_aslr=(setarch "$(uname -m)" -R)
  if "${no_aslr[@]}" "$tsan_probe_dir/probe" >/dev/null 2>&1; then
    echo "tsan: the runtime fails with this kernel's ASLR; running it under ${no_aslr[*]}" >&2
    tsan_run=("${no_aslr[@]}")
  elif [[ $EUID -eq 0 && -w /proc/sys/vm/mmap_rnd_bits ]]; then
    echo "tsan: setarch -R does not help here; vm.mmap_rnd_bits -> 28 for this stage" >&2
    tsan_rnd_bits_saved=$(cat /proc/sys/vm/mmap_rnd_bits)
    echo 28 2>/dev/null >/proc/sys/vm/mmap_rnd_bits || tsan_rnd_bits_saved=""
  fi
  if ! "${tsan_run[@]}" "$tsan_probe_dir/probe"; then
    echo "tsan: ThreadSanitizer cannot run on this machine (try: sysctl vm.mmap_rnd_bits=28)" >&2
    exit 1
  fi
fi
cmake -S . -B build-tsan "${sanitizer_build[@]}" -DP2PDIST_SANITIZE=thread >/dev/null
"${tsan_run[@]}" cmake --build build-tsan -j "$jobs" --target p2pdist_tsan_tests

stage "engine unit and loopback tests under ThreadSanitizer"
"${tsan_run[@]}" ctest --test-dir build-tsan "${sanitizer_ctest[@]}"
tsan_cleanup
unset TSAN_OPTIONS

stage "fuzz targets (libFuzzer, address + undefined sanitizers)"
cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DP2PDIST_FUZZ=ON -DP2PDIST_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j "$jobs"
ctest --test-dir build-fuzz --output-on-failure -j "$jobs"

stage ""
echo "== all tests passed ($SECONDS s)" >&2
