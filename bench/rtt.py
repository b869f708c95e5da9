#!/usr/bin/env python3
"""Round trip: measured distribution time over the bound as the connections' round-trip
time grows, in P2P and client-server, on both engines: the real swarm on loopback with
its delay lines (`p2pdist swarm --rtt`) and the simulator (`p2pdist simulate --rtt`), the
same swarm side by side.

Swarm (the README's): N = 8, F = 32 MiB in 64 KiB pieces, u_s = 8 MB/s, P2P leechers
upload 4 MB/s, choker at --time-scale 0.2; each connection's round trip is drawn once
within RTT +- 50 % (--rtt's one-value form). RTT = 0 (the loopback's own, about 100 us),
10, 50, 100, 200 ms; --repeat runs each (simulate: seeds 1..repeat), the median reported.
Prints a table (measured / bound, / piece bound, / latency bound — the least any client
speaking the protocol can take over those round trips, model/latency_bound.hpp — and the
first byte) and writes JSON (default
build/bench/rtt.json). A real client-server run takes ~35 s, so the default grid is
about 4 min a repeat on the real engine.

  bench/rtt.py [--bin build/p2pdist] [--engine both|swarm|simulate] [--rtt 0,10ms,50ms,100ms,200ms]
               [--repeat 3] [--out build/bench/rtt.json] [--summary FILE] [--from-json FILE]

--summary FILE also writes the compact record the notebook plots (notebooks/data/rtt.json:
the rows without their documents, the command, the binary's commit); --from-json FILE takes
the rows of an earlier run's --out instead of running (to print or summarize them again).
"""

import argparse
import json
import os
import sys

import swarm_runs


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--engine", default="both", choices=["both", "swarm", "simulate"])
    p.add_argument("--rtt", default="0,10ms,50ms,100ms,200ms")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "rtt.json"))
    p.add_argument("--summary", default=None, help="also write the compact record here")
    p.add_argument("--from-json", default=None, help="the rows of an earlier --out, instead of running")
    args = p.parse_args()

    engines = ["swarm", "simulate"] if args.engine == "both" else [args.engine]
    rows = []
    if args.from_json:
        with open(args.from_json) as f:
            rows = json.load(f)["rows"]
    for rtt in [] if args.from_json else args.rtt.split(","):
        for mode in ("p2p", "cs"):
            for engine in engines:
                cmd = [args.bin, engine, "--json", "-", "--mode", mode, *swarm_runs.NETWORK_SWARM_ARGS,
                       "--rtt", rtt, "--repeat", str(args.repeat)]
                doc, status, wall, err = swarm_runs.run(cmd, f"RTT {rtt}, {mode}, {engine} ...")
                row = swarm_runs.row_of(8, doc, status, wall) if doc else swarm_runs.failed_row(8, status, wall, err)
                row.update(rtt=rtt, mode=mode, engine=engine)
                rows.append(row)

    print(f"{'RTT':>6} {'mode':>4} {'engine':>8} {'bound s':>8} {'latency s':>9} {'measured s':>10} {'ratio':>6} "
          f"{'/piece':>6} {'/latency':>8} {'first byte s':>12}")
    for r in rows:
        if "ratio" not in r:
            print(f"{r['rtt']:>6} {r['mode']:>4} {r['engine']:>8} failed (exit {r['exit_status']})")
            continue
        latency, over = r.get("latency_bound_seconds"), r.get("ratio_to_latency_bound")
        print(f"{r['rtt']:>6} {r['mode']:>4} {r['engine']:>8} {r['bound_seconds']:8.2f} "
              f"{latency if latency is not None else float('nan'):9.2f} {r['measured_seconds']:10.2f} "
              f"{r['ratio']:6.3f} {r['ratio_to_piece_bound']:6.3f} {over if over is not None else float('nan'):8.3f} "
              f"{r['document']['first_byte_seconds']:12.3f}")
    return swarm_runs.finish(args, "bench/rtt.py", rows, swarm_runs.NETWORK_SWARM_FIELDS)


if __name__ == "__main__":
    sys.exit(main())
