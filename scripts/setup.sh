#!/usr/bin/env bash
# Installs the Debian 12 packages p2pdist needs to build, test, benchmark and plot.
# Idempotent: when every package is already installed it returns at once without
# touching apt. Works as root or through sudo.
set -euo pipefail

packages=(
  # toolchain and build
  g++ cmake ninja-build pkg-config git
  # libraries (DESIGN.md, "Dependencies")
  libeigen3-dev libcli11-dev nlohmann-json3-dev catch2 libbenchmark-dev libssl-dev libasio-dev
  # p2pdist serve: an HTTP server and the chart library its page draws with
  libcpp-httplib-dev libjs-chart.js
  # fuzzing (libFuzzer with address and undefined-behaviour sanitizers)
  clang libclang-rt-14-dev
  # real BitTorrent clients and tools for interop tests (opentracker: a UDP tracker, BEP 15)
  python3-libtorrent aria2 mktorrent opentracker
  # peak memory of the scale benchmark
  time
  # packet loss in a network namespace (bench/loss.py and its test): nft, ip
  nftables iproute2
  # the serve page's browser test: headless Chromium driven by Selenium
  chromium chromium-driver python3-selenium
  # experiment campaigns on Dask (campaign/run.py)
  python3-distributed python3-dask
  # notebooks
  python3-matplotlib python3-numpy jupyter-nbconvert python3-nbclient python3-ipykernel
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present" >&2
  exit 0
fi

if [[ $EUID -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "setup: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-o DPkg::Lock::Timeout=600 -y -q)
"${as_root[@]}" apt-get "${apt_opts[@]}" update
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get "${apt_opts[@]}" install --no-install-recommends "${missing[@]}"

# Debian's opentracker package starts a system service on every address, port 6969. The
# interop test runs its own opentracker on 127.0.0.1 instead, so a service this install
# started is stopped and disabled again (only then: one that was there before is left alone).
if [[ " ${missing[*]} " == *" opentracker "* ]] && [[ -d /run/systemd/system ]] &&
  systemctl is-active --quiet opentracker 2>/dev/null; then
  echo "setup: stopping and disabling the opentracker service that installing opentracker started" >&2
  "${as_root[@]}" systemctl disable --now opentracker
fi
