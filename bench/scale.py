#!/usr/bin/env python3
"""Scale: the CPU a swarm in one process costs per GiB it delivers, as N grows.

A campaign (campaign/run.py, resumable: the runs already in build/bench/scale.jsonl are
not run again) of `p2pdist swarm --json -` at N = 16, 64, 128, 256, 512, 1000 leechers (--n to change)
with the same swarm each time — F = 4 MiB, 64 KiB pieces, u_s = 2 MB/s, u_i = 250 kB/s,
downloads unlimited, generated content (no instance stores the file, every piece is still
SHA-1-checked), choker at --time-scale 0.2 — and reports, per N, the bound and the piece
bound, the measured time and both ratios, the process's CPU time (user + system, from the
swarm's own getrusage) and CPU-seconds per GiB delivered (N·F), its peak RSS, the
connection limit each instance ran with, and the wall time. The cost that grows with N is
what this watches: per peer, per connection, per unit of time. Writes JSON (default
build/bench/scale.json) and prints a table; progress on stderr.

  bench/scale.py [--bin build/p2pdist] [--n 16,64,128] [--file-size 4MiB] [--piece-size 64KiB]
                 [--server-up 2MB/s] [--peer-up 250kB/s] [--content generated] [--extra=--name=value ...]
                 [--results FILE.jsonl] [--scheduler tcp://HOST:8786]
"""

import argparse
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import swarm_runs  # noqa: E402  (beside this script)
from campaign import report, store  # noqa: E402
from campaign import run as campaign_run  # noqa: E402

MIB = swarm_runs.MIB


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", "--p2pdist", dest="bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "scale.json"))
    p.add_argument("--n", default="16,64,128,256,512,1000")
    p.add_argument("--file-size", default="4MiB")
    p.add_argument("--piece-size", default="64KiB")
    p.add_argument("--server-up", default="2MB/s")
    p.add_argument("--peer-up", default="250kB/s")
    p.add_argument("--content", default="generated", choices=["generated", "memory"])
    p.add_argument("--time-scale", default="0.2")
    p.add_argument("--timeout", default="600s")
    p.add_argument("--extra", action="append", default=[],
                   help="one more option for `p2pdist swarm`, as --extra=--name=value or --extra=--flag")
    p.add_argument("--results", help="the campaign's result file (default: --out with .jsonl); "
                   "runs already in it are not run again")
    p.add_argument("--scheduler", help="a Dask scheduler to run on (default: this machine)")
    args = p.parse_args()

    ns = [int(x) for x in args.n.split(",")]
    options = {"file-size": args.file_size, "piece-size": args.piece_size, "server-up": args.server_up,
               "peer-up": args.peer_up, "content": args.content, "time-scale": args.time_scale,
               "timeout": args.timeout}
    extra = {}
    for item in args.extra:  # --extra=--name=value or --extra=--flag
        name, _, value = item.lstrip("-").partition("=")
        extra[name] = value if value else True
    doc = {"name": "scale", "command": "swarm", "options": {**options, **extra}, "axes": {"N": ns}}
    results_path = args.results or os.path.splitext(args.out)[0] + ".jsonl"
    status = campaign_run.run_document(doc, results_path, args.bin, args.scheduler)
    if status not in (0, 1):
        return status

    by_n = {p["options"]["N"]: p for p in report.points(report.latest(store.read_records(results_path)))
            if report.canonical({k: v for k, v in p["options"].items() if k != "N"})
            == report.canonical(doc["options"])}
    rows = []
    for n in ns:
        p = by_n.get(n)
        rec = p["records"][-1] if p and p["records"] else None
        if rec is None:
            rows.append(swarm_runs.failed_row(n, None, None, "no successful run in " + results_path))
            continue
        row = swarm_runs.row_of(n, rec["result"], rec["exit_code"], rec["wall_seconds"])
        row["delivered_gib"] = n * rec["result"]["file_bytes"] / (1 << 30)
        row["cpu_seconds_per_gib"] = row["cpu_seconds"] / row["delivered_gib"]
        rows.append(row)

    swarm_runs.write(args.out, "bench/scale.py", args, rows)
    print(f"F = {args.file_size}, pieces {args.piece_size}, u_s = {args.server_up}, u_i = {args.peer_up}, "
          f"content {args.content}, time scale {args.time_scale}")
    print(f"{'N':>5} {'bound s':>8} {'piece s':>8} {'measured':>8} {'ratio':>6} {'/piece':>6} {'CPU s':>7} "
          f"{'CPU-s/GiB':>9} {'peak RSS':>9} {'conns':>5} {'wall s':>6}")
    for r in rows:
        if "ratio" not in r:
            print(f"{r['N']:>5}  failed (exit {r['exit_status']})")
            continue
        print(f"{r['N']:>5} {r['bound_seconds']:8.2f} {r['piece_bound_seconds']:8.2f} {r['measured_seconds']:8.2f} "
              f"{r['ratio']:6.3f} {r['ratio_to_piece_bound']:6.3f} {r['cpu_seconds']:7.1f} "
              f"{r['cpu_seconds_per_gib']:9.2f} {r['peak_rss_bytes'] / MIB:7.0f} M {r['max_peers']:5} {r['wall_seconds']:6.0f}")
    return 0 if swarm_runs.all_ok(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
