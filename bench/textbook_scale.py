#!/usr/bin/env python3
"""The textbook's comparison at scale, measured: Kurose & Ross Fig. 2.23's shape (u_s = 10u,
downloads unlimited) with real swarms at N = 1, 2, 5, 10, 30, 100, 300, 1000, beside the
model's D_p2p and D_cs.

Each run is `p2pdist swarm` on generated content (no instance stores the file; every piece
is SHA-1-checked on arrival), F = 4 MiB in 64 KiB pieces, u = 128 kB/s and u_s = 10u, so
that F/u = 32.8 s and every run takes about 3 to 33 s; the choker runs at --time-scale 0.2.
Reported per N: the fluid bound D_p2p and D_cs, the piece bound, the measured distribution
time, measured / D_p2p and measured / piece bound, the wall time against the bound (the
engine keeps up with real time when it is near 1), the CPU time and peak RSS, and whether
every leecher's data was verified. Progress on stderr; JSON (default
build/bench/textbook_scale.json) and a table on stdout.

With --engine simulate the same swarms run in simulated time (`p2pdist simulate`: the
engine's own sessions on a discrete-event clock), by default at N = 1 ... 100 000; the JSON
then goes to build/bench/textbook_scale_simulate.json. --summary FILE also writes a compact
file without the swarm documents (per N: the bounds, the measured time and ratios, the
leechers' completion times at five quantiles, the cost): the notebook
notebooks/loopback_vs_bound.ipynb plots notebooks/data/textbook_scale_{swarm,simulate}.json,
written so.

  bench/textbook_scale.py [--bin build/p2pdist] [--engine swarm|simulate] [--n 1,2,5,...]
                          [--repeat 1] [--summary FILE]
"""

import argparse
import os
import statistics
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
import swarm_runs  # noqa: E402  (beside this script)

MB = 1_000_000


def write_summary(args, rows):
    """The compact record kept in the repository (swarm_runs.write_summary)."""
    swarm_runs.write_summary(args.summary, "bench/textbook_scale.py", args.bin,
                             {"engine": args.engine, "file_size": args.file_size, "piece_size": args.piece_size,
                              "peer_up_bytes_per_s": args.peer_up * MB, "server_up_bytes_per_s": 10 * args.peer_up * MB,
                              "time_scale": args.time_scale, "repeat": args.repeat}, rows)


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--engine", choices=["swarm", "simulate"], default="swarm")
    p.add_argument("--out", default=None, help="default build/bench/textbook_scale[_simulate].json")
    p.add_argument("--summary", default=None, help="also write the compact summary here")
    p.add_argument("--n", default=None, help="default 1,2,5,10,30,100,300,1000 (simulate: on to 100000)")
    p.add_argument("--file-size", default="4MiB")
    p.add_argument("--piece-size", default="64KiB")
    p.add_argument("--peer-up", type=float, default=0.128, help="u in MB/s; u_s = 10u")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--time-scale", default="0.2")
    args = p.parse_args()
    simulated = args.engine == "simulate"
    if args.out is None:
        args.out = os.path.join(root, "build", "bench", "textbook_scale_simulate.json" if simulated
                                else "textbook_scale.json")
    if args.n is None:
        args.n = "1,2,5,10,30,100,300,1000" + (",3000,10000,30000,100000" if simulated else "")

    u = args.peer_up * MB
    rows = []
    ns = [int(x) for x in args.n.split(",")]
    for k, n in enumerate(ns):
        cmd = [args.bin, args.engine, "--json", "-", "-N", str(n), "--file-size", args.file_size,
               "--piece-size", args.piece_size, "--server-up", f"{10 * u / MB:g}MB/s",
               "--peer-up", f"{u / MB:g}MB/s", "--time-scale", args.time_scale,
               "--repeat", str(args.repeat), "--timeout", "20min"]
        if not simulated:
            cmd += ["--content", "generated"]
        doc, status, wall, err = swarm_runs.run(cmd, f"[{k + 1}/{len(ns)}] N = {n} ({args.engine}) ...")
        if doc is None:
            rows.append(swarm_runs.failed_row(n, status, wall, err))
            continue
        runs = doc.get("runs") or [doc]
        bound = doc["bound"]["seconds"]
        row = swarm_runs.row_of(n, doc, status, wall / args.repeat)
        row["d_cs_seconds"] = n * 8.0 * doc["file_bytes"] / (8 * 10 * u)
        # Wall time of the transfer against the bound: does the engine keep up with real time?
        if simulated:
            row["events"] = doc.get("events")
            row["sim_wall_seconds"] = doc.get("wall_seconds")
        else:
            row["wall_over_bound"] = statistics.median(
                [r["distribution_seconds"] / bound for r in runs if r.get("distribution_seconds")])
        done = sorted(x["completion_seconds"] for x in doc.get("leechers", []) if x.get("completion_seconds") is not None)
        if done:
            row["completion_quantiles_seconds"] = {
                q: done[min(len(done) - 1, round(float(q) * (len(done) - 1)))] for q in ("0", "0.1", "0.5", "0.9", "1")}
        rows.append(row)
        print(f"    measured {row['measured_seconds']:.2f} s against D_p2p {bound:.2f} s "
              f"({row['ratio']:.3f}; {row['ratio_to_piece_bound']:.3f} of the piece bound), "
              f"data ok: {row['data_ok']}, {row['wall_seconds']:.0f} s wall", file=sys.stderr, flush=True)

    swarm_runs.write(args.out, "bench/textbook_scale.py", args, rows)
    if args.summary:
        write_summary(args, rows)
    print(f"F = {args.file_size} in {args.piece_size} pieces, u = {u / MB:g} MB/s, u_s = 10u, d unlimited, "
          f"{'simulated' if simulated else 'generated content'}, time scale {args.time_scale}, medians of {args.repeat}")
    print(f"{'N':>5} {'D_cs s':>9} {'D_p2p s':>8} {'piece s':>8} {'measured':>8} {'/D_p2p':>7} {'/piece':>7} "
          f"{'CPU s':>7} {'peak RSS':>9} {'conns':>5} {'data':>5}")
    for r in rows:
        if "ratio" not in r:
            print(f"{r['N']:>5}  failed (exit {r['exit_status']})")
            continue
        print(f"{r['N']:>5} {r['d_cs_seconds']:9.1f} {r['bound_seconds']:8.2f} {r['piece_bound_seconds']:8.2f} "
              f"{r['measured_seconds']:8.2f} {r['ratio']:7.3f} {r['ratio_to_piece_bound']:7.3f} "
              f"{r['cpu_seconds']:7.1f} {r['peak_rss_bytes'] / (1 << 20):7.0f} M {r['max_peers']:5} "
              f"{'ok' if r['data_ok'] else 'BAD':>5}")
    return 0 if swarm_runs.all_ok(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
