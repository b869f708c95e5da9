#!/usr/bin/env python3
"""Fidelity grid: measured distribution time over the bound, for the loopback harness.

Runs the built `p2pdist swarm --json - --repeat K` for every configuration of the grid
and writes one JSON file (default build/bench/fidelity.json) holding, per configuration,
its parameters and the swarm document (every run's bound, binding, measured time, ratio
and per-leecher completions; the median run's timeline). Prints a table; progress goes to
stderr.

Grid (F = 32 MiB, N in 2, 4, 8, 16, 32; pieces of --piece-size, 64 KiB by default):
  p2p seed-limited        u_s = 4 MB/s, u_i = 4 MB/s
  p2p aggregate-limited   u_s = 4 MB/s, u_i = 1 MB/s
  p2p hetero seed         u_s = 4 MB/s, u_i alternating 2 / 6 MB/s   (same sum as 4 MB/s)
  p2p hetero aggregate    u_s = 4 MB/s, u_i alternating 0.5 / 1.5 MB/s (same sum as 1 MB/s)
  cs                      u_s = N x 1 MB/s (so every run takes F / 1 MB/s, about 34 s)

The choker runs at --time-scale 0.2 (rechoke every 2 s, optimistic rotation every 6 s):
runs last 8-35 s, so at the standard 10 s / 30 s the choker would act only once or twice
per run; 0.2 keeps about as many rechokes per download as a real multi-minute one has.

Piece size: the bound is a fluid bound; with store-and-forward of whole pieces the best
possible schedule for one seed and N peers of equal upload (the seed-limited family) takes
1 + floor(log2 N) / M times it, M pieces (DESIGN.md, chunked bound): 1.039 at N = 32 with
256 KiB pieces (M = 128), 1.010 with 64 KiB pieces (M = 512). The table shows that floor
(column `chunk`) beside the measured ratio where it applies.

  bench/fidelity.py [--bin build/p2pdist] [--out build/bench/fidelity.json] [--quick]
                    [--repeat 3] [--time-scale 0.2] [--only p2p-seed,cs] [--n 4,16]
                    [--piece-size 256KiB]
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

MB = 1_000_000


def rate(bytes_per_s):
    return f"{bytes_per_s / MB:g}MB/s"


def rates(values):
    return ",".join(rate(v) for v in values)


def size_bytes(text):
    """'32MiB', '64KiB', '256KiB', '1MiB' or a bare number of bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*(KiB|MiB|GiB|B)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 64KiB, 32MiB)")
    return int(m.group(1)) * {None: 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}[m.group(2)]


def chunk_floor(family, n, file_bytes, piece_bytes):
    """1 + floor(log2 N) / M: the best store-and-forward schedule over the fluid bound, for
    one seed and N peers of equal upload (only the homogeneous seed-limited family)."""
    if family != "p2p-seed":
        return None
    pieces = -(-file_bytes // piece_bytes)
    return 1 + math.floor(math.log2(n)) / pieces


def alternating(n, low, high):
    return [low if i % 2 == 0 else high for i in range(n)]


def grid(ns):
    """(family, N, mode, u_s, [u_i]) for every configuration."""
    out = []
    for n in ns:
        out.append(("p2p-seed", n, "p2p", 4 * MB, [4 * MB]))
        out.append(("p2p-aggregate", n, "p2p", 4 * MB, [1 * MB]))
        out.append(("p2p-hetero-seed", n, "p2p", 4 * MB, alternating(n, 2 * MB, 6 * MB)))
        out.append(("p2p-hetero-aggregate", n, "p2p", 4 * MB, alternating(n, 0.5 * MB, 1.5 * MB)))
        out.append(("cs", n, "cs", n * MB, [1 * MB]))
    return out


def run_one(args, family, n, mode, server_up, peer_up):
    cmd = [args.bin, "swarm", "--json", "-", "-N", str(n), "--mode", mode,
           "--file-size", args.file_size, "--server-up", rate(server_up),
           "--peer-up", rates(peer_up), "--repeat", str(args.repeat),
           "--time-scale", str(args.time_scale), "--timeout", f"{args.timeout}s",
           "--piece-size", args.piece_size]
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          timeout=args.timeout * args.repeat + 120)
    wall = time.monotonic() - started
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        doc = None
    entry = {
        "family": family, "N": n, "mode": mode,
        "server_up_bytes_per_s": server_up, "peer_up_bytes_per_s": peer_up,
        "file_size": args.file_size, "piece_size": args.piece_size,
        "time_scale": args.time_scale, "repeat": args.repeat,
        "command": cmd, "exit_status": proc.returncode, "wall_seconds": wall,
        "stderr": proc.stderr[-2000:], "document": doc,
    }
    return entry


def summary(entry, args):
    doc = entry["document"] or {}
    runs = doc.get("runs") or [doc]
    ratios = [r.get("ratio") for r in runs if r.get("ratio") is not None]
    bound = (doc.get("bound") or {})
    return {
        "median_ratio": doc.get("ratio"),
        "min_ratio": min(ratios) if ratios else None,
        "max_ratio": max(ratios) if ratios else None,
        "bound_seconds": bound.get("seconds"),
        "binding": bound.get("binding"),
        "measured_seconds": doc.get("distribution_seconds"),
        "chunk_floor": chunk_floor(entry["family"], entry["N"], size_bytes(args.file_size),
                                   size_bytes(args.piece_size)),
    }


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "fidelity.json"))
    p.add_argument("--quick", action="store_true", help="N in 4, 16 and one run each")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--time-scale", type=float, default=0.2)
    p.add_argument("--file-size", default="32MiB")
    # 64 KiB: 512 pieces of a 32 MiB file, so that store-and-forward of whole pieces costs
    # about 1 % (the chunk column) rather than the 3.9 % of 256 KiB pieces.
    p.add_argument("--piece-size", default="64KiB", help="piece length (e.g. 256KiB)")
    p.add_argument("--timeout", type=float, default=120, help="seconds per run")
    p.add_argument("--n", help="comma-separated N values (overrides the grid's)")
    p.add_argument("--only", help="comma-separated families to run")
    args = p.parse_args()
    size_bytes(args.file_size)  # fail early on a bad size
    size_bytes(args.piece_size)

    ns = [2, 4, 8, 16, 32]
    if args.quick:
        ns = [4, 16]
        if args.repeat == 3:
            args.repeat = 1
    if args.n:
        ns = [int(x) for x in args.n.split(",")]
    configs = grid(ns)
    if args.only:
        keep = set(args.only.split(","))
        configs = [c for c in configs if c[0] in keep]

    results = []
    for k, (family, n, mode, us, ui) in enumerate(configs):
        print(f"[{k + 1}/{len(configs)}] {family} N={n} ...", file=sys.stderr, flush=True)
        entry = run_one(args, family, n, mode, us, ui)
        entry["summary"] = summary(entry, args)
        results.append(entry)
        s = entry["summary"]
        print(f"    ratio {s['median_ratio']} (min {s['min_ratio']}, max {s['max_ratio']}), "
              f"{entry['wall_seconds']:.0f} s wall, exit {entry['exit_status']}", file=sys.stderr, flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:  # rewritten after each configuration
            json.dump({"generated_by": "bench/fidelity.py", "time_scale": args.time_scale,
                       "repeat": args.repeat, "file_size": args.file_size, "piece_size": args.piece_size,
                       "configurations": results}, f, indent=1)

    print(f"pieces of {args.piece_size}, F = {args.file_size}, medians of {args.repeat}")
    print(f"{'family':22} {'N':>3} {'binding':18} {'bound s':>8} {'measured s':>10} "
          f"{'ratio':>6} {'min':>6} {'max':>6} {'chunk':>6}")
    for e in results:
        s = e["summary"]
        fmt = lambda v, w, d: f"{v:{w}.{d}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"
        print(f"{e['family']:22} {e['N']:>3} {str(s['binding']):18} {fmt(s['bound_seconds'], 8, 2)} "
              f"{fmt(s['measured_seconds'], 10, 2)} {fmt(s['median_ratio'], 6, 3)} "
              f"{fmt(s['min_ratio'], 6, 3)} {fmt(s['max_ratio'], 6, 3)} {fmt(s['chunk_floor'], 6, 3)}")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0 if all(e["exit_status"] == 0 for e in results) else 1


if __name__ == "__main__":
    sys.exit(main())
