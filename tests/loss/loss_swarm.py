#!/usr/bin/env python3
"""A swarm under real packet loss: run in a network namespace of its own whose loopback drops
5 % of the packets (bench/with_loss.sh: unshare -n, nftables on the input hook), every
leecher must still complete with the seed's bytes, and packets must really have been lost.
Twice: on the loopback's own round trip, and with the engine's delay lines (--rtt). Skips
(exit 77) where the namespace or nft is refused: with_loss.sh says why.

  loss_swarm.py --p2pdist PATH
"""

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WITH_LOSS = os.path.join(HERE, "..", "..", "bench", "with_loss.sh")


def run(p2pdist, extra):
    cmd = ["bash", WITH_LOSS, "5", p2pdist, "swarm", "-N", "3", "--file-size", "2MiB", "--piece-size", "64KiB",
           "--server-up", "8MB/s", "--peer-up", "4MB/s", "--timeout", "60s", "--json", "-"] + extra
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    if proc.returncode == 77:
        print(proc.stderr.strip(), file=sys.stderr)
        sys.exit(77)
    label = " ".join(extra) or "loopback round trip"
    if proc.returncode != 0:
        sys.exit(f"{label}: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    doc = json.loads(proc.stdout)
    dropped = re.search(r"with_loss: (\d+) packets dropped", proc.stderr)
    failures = []
    if not dropped or int(dropped.group(1)) == 0:
        failures.append("no packet was dropped: the loss rule did not act")
    if not doc["data_ok"]:
        failures.append("data_ok is false")
    for leecher in doc["leechers"]:
        if leecher["completion_seconds"] is None or not leecher["data_matches"]:
            failures.append(f"leecher {leecher['address']} incomplete or its data differs")
    if failures:
        sys.exit(f"{label}: " + "; ".join(failures))
    print(f"{label}: {dropped.group(1)} packets dropped, {doc['distribution_seconds']:.2f} s "
          f"({doc['ratio']:.2f} of the bound), every leecher complete and its data the seed's")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--p2pdist", required=True)
    args = p.parse_args()
    run(args.p2pdist, [])
    run(args.p2pdist, ["--rtt", "20ms..20ms"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
