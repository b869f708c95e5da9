#!/usr/bin/env python3
"""Round trip: measured distribution time over the bound as the connections' round-trip
time grows, in P2P and client-server, in simulated time (`p2pdist simulate --rtt`; the
real engine has no delay line yet).

Swarm (the README's): N = 8, F = 32 MiB in 64 KiB pieces, u_s = 8 MB/s, P2P leechers
upload 4 MB/s, choker at --time-scale 0.2; each connection's one-way delay is drawn once
within RTT/2 +- 50 %. Runs seeds 1..--repeat (median reported) at RTT = 100us, 10, 50,
100, 200 ms; prints a table and writes JSON (default build/bench/rtt.json).

  bench/rtt.py [--bin build/p2pdist] [--rtt 100us,10ms,50ms,100ms,200ms] [--repeat 3]
               [--out build/bench/rtt.json]
"""

import argparse
import os
import sys

import swarm_runs


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--rtt", default="100us,10ms,50ms,100ms,200ms")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "rtt.json"))
    args = p.parse_args()

    rows = []
    for rtt in args.rtt.split(","):
        for mode in ("p2p", "cs"):
            cmd = [args.bin, "simulate", "--json", "-", "-N", "8", "--mode", mode, "--file-size", "32MiB",
                   "--piece-size", "64KiB", "--server-up", "8MB/s", "--peer-up", "4MB/s", "--time-scale", "0.2",
                   "--rtt", rtt, "--repeat", str(args.repeat)]
            doc, status, wall, err = swarm_runs.run(cmd, f"RTT {rtt}, {mode} ...")
            row = swarm_runs.row_of(8, doc, status, wall) if doc else swarm_runs.failed_row(8, status, wall, err)
            row.update(rtt=rtt, mode=mode)
            rows.append(row)

    print(f"{'RTT':>6} {'mode':>4} {'bound s':>8} {'measured s':>10} {'ratio':>6} {'/piece':>6} {'first byte s':>12}")
    for r in rows:
        if "ratio" not in r:
            print(f"{r['rtt']:>6} {r['mode']:>4} failed (exit {r['exit_status']})")
            continue
        print(f"{r['rtt']:>6} {r['mode']:>4} {r['bound_seconds']:8.2f} {r['measured_seconds']:10.2f} "
              f"{r['ratio']:6.3f} {r['ratio_to_piece_bound']:6.3f} {r['document']['first_byte_seconds']:12.3f}")
    swarm_runs.write(args.out, "bench/rtt.py", args, rows)
    return 0 if swarm_runs.all_ok(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
