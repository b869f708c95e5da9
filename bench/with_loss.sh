#!/usr/bin/env bash
# Runs a command in a network namespace of its own whose loopback loses packets: real loss,
# which TCP's own retransmission and congestion control then act on.
#
#   bench/with_loss.sh PERCENT CMD [ARG ...]      e.g. bench/with_loss.sh 1 build/p2pdist swarm -N 8
#
# The namespace (unshare -n) holds only its own loopback, brought up with a 1500-byte MTU
# (a real link's frames, not loopback's 64 KiB ones), and an nftables rule on the input hook
# that drops PERCENT % of the packets at random (on the output hook the sender would get
# EPERM instead, which is not loss). The whole of 127.0.0.0/8 is local there, so a swarm
# runs in it unchanged; nothing it sends can leave it. The namespace goes with the command.
# At the end the rule's counter (packets dropped) is printed on stderr.
#
# Needs root (or the right to make a network namespace) and nft (Debian: nftables). Where
# either is missing or refused it says so on stderr and exits 77 (skipped) without running
# the command.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 PERCENT CMD [ARG ...]" >&2
  exit 2
fi
percent=$1
shift
if ! [[ $percent =~ ^[0-9]+(\.[0-9]+)?$ ]] || ! awk -v p="$percent" 'BEGIN { exit !(p <= 100) }'; then
  echo "$0: loss must be a percentage from 0 to 100 (got '$percent')" >&2
  exit 2
fi
# Drop when a random number in [0, 10000) is below PERCENT × 100: steps of 0.01 %.
threshold=$(awk -v p="$percent" 'BEGIN { printf "%d", p * 100 + 0.5 }')

skip() {
  echo "with_loss: skipped: $*" >&2
  exit 77
}
command -v nft >/dev/null || skip "nft is not installed (Debian package nftables; scripts/setup.sh installs it)"
command -v ip >/dev/null || skip "ip is not installed (Debian package iproute2)"
command -v unshare >/dev/null || skip "unshare is not installed (Debian package util-linux)"
unshare -n true 2>/dev/null || skip "this user may not make a network namespace (unshare -n: run as root)"

# Inside the namespace: set up, run the command, report the counter, keep its exit status.
inner='
set -u
ip link set lo up || exit 77
ip link set lo mtu 1500 || exit 77
nft add table inet p2pdist_loss || exit 77
nft add chain inet p2pdist_loss input "{ type filter hook input priority 0 ; }" || exit 77
nft add rule inet p2pdist_loss input numgen random mod 10000 "<" "$1" counter drop || exit 77
shift
status=0
"$@" || status=$?
dropped=$(nft list chain inet p2pdist_loss input | sed -n "s/.*counter packets \([0-9]*\).*/\1/p")
echo "with_loss: ${dropped:-?} packets dropped" >&2
exit $status
'
status=0
unshare -n bash -c "$inner" with_loss "$threshold" "$@" || status=$?
if [[ $status -eq 77 ]]; then
  echo "with_loss: skipped: the namespace's loopback or nftables rule could not be set up" >&2
fi
exit $status
