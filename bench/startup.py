#!/usr/bin/env python3
"""Start-up cost of a swarm: the same download-bound swarm at F = 1, 4, 16, 64 MiB, fitted
as measured = a + b·F. `a` is what a run costs whatever its size (announce, connect,
handshake, the first request's round trip, anything waiting on a timer); with the download
rate d binding, b should be 1/d and a near zero.

Swarm: N = 4 leechers, seed 16 MB/s, leechers up 2 MB/s and down 2 MB/s (the seed could
feed every leecher at d directly, so store and forward costs almost nothing), 64 KiB
pieces, choker at --time-scale 0.2, medians of --repeat runs. Prints each size's median
distribution time, bound, ratio and first-byte time, then the fit; writes JSON (default
build/bench/startup.json).

  bench/startup.py [--bin build/p2pdist] [--repeat 3] [--out build/bench/startup.json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

MIB = 1 << 20


def fit(xs, ys):
    """Least squares y = a + b·x: (a, b)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    b = sxy / sxx
    return my - b * mx, b


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "startup.json"))
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--sizes", default="1,4,16,64", help="file sizes in MiB")
    args = p.parse_args()

    down = 2_000_000
    rows = []
    for mib in [int(x) for x in args.sizes.split(",")]:
        cmd = [args.bin, "swarm", "--json", "-", "-N", "4", "--file-size", f"{mib}MiB", "--piece-size", "64KiB",
               "--server-up", "16MB/s", "--peer-up", "2MB/s", "--peer-down", "2MB/s", "--time-scale", "0.2",
               "--repeat", str(args.repeat)]
        print(f"F = {mib} MiB ...", file=sys.stderr, flush=True)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            print(f"swarm failed ({proc.returncode}): {proc.stderr[-500:]}", file=sys.stderr)
            return 1
        doc = json.loads(proc.stdout)
        runs = doc.get("runs") or [doc]
        firsts = [r["first_byte_seconds"] for r in runs if r.get("first_byte_seconds") is not None]
        rows.append({"file_bytes": mib * MIB, "measured_seconds": doc["distribution_seconds"],
                     "bound_seconds": doc["bound"]["seconds"], "ratio": doc["ratio"],
                     "first_byte_seconds": statistics.median(firsts), "document": doc})

    a, b = fit([r["file_bytes"] for r in rows], [r["measured_seconds"] for r in rows])
    print(f"{'F':>8} {'bound s':>8} {'measured s':>10} {'ratio':>6} {'first byte s':>12}")
    for r in rows:
        print(f"{r['file_bytes'] // MIB:>5} MiB {r['bound_seconds']:8.3f} {r['measured_seconds']:10.3f} "
              f"{r['ratio']:6.3f} {r['first_byte_seconds']:12.4f}")
    print(f"fit: measured = a + b·F with a = {a:.4f} s, b = {b * 1e6:.4f} s/MB "
          f"(1/d = {1e6 / down:.4f} s/MB; b·d = {b * down:.4f})")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"generated_by": "bench/startup.py", "a_seconds": a, "b_seconds_per_byte": b,
                   "down_bytes_per_s": down, "sizes": rows}, f, indent=1)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
