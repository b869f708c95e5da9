#!/usr/bin/env python3
"""A run's peak RSS is its own, not its parent's: a campaign worker (a large Python
process) starts `p2pdist` by fork and exec, and getrusage's ru_maxrss would carry the
parent's peak across the exec. This parent holds 512 MiB, touched, and starts a small
`simulate`; the peak_rss_bytes it reports must be far below that (the simulation of 2
leechers and 1 MiB needs well under 100 MiB).

  tests/cli/peak_rss.py --p2pdist build/p2pdist
"""

import argparse
import json
import subprocess
import sys

MIB = 1 << 20


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--p2pdist", required=True)
    args = p.parse_args()
    ballast = bytearray(512 * MIB)
    for i in range(0, len(ballast), 4096):  # resident, page by page
        ballast[i] = 1
    said = subprocess.run([args.p2pdist, "simulate", "-N", "2", "--file-size", "1MiB", "--piece-size", "64KiB",
                           "--json", "-"], capture_output=True, text=True, timeout=120)
    if said.returncode != 0:
        print(f"FAIL: simulate exited {said.returncode}: {said.stderr[-500:]}")
        return 1
    peak = json.loads(said.stdout)["peak_rss_bytes"]
    print(f"parent holds {len(ballast) // MIB} MiB; the run reports a peak of {peak / MIB:.1f} MiB")
    if not 0 < peak < 100 * MIB:
        print("FAIL: the reported peak is not the run's own")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
