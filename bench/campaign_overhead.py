#!/usr/bin/env python3
"""The campaign runner's own cost: RUNS `p2pdist bound` runs (default 10 000) through
campaign/run.py on a Dask LocalCluster, beside the same runs in a plain sequential loop
(subprocess, parse the JSON, append a line, the same fsync per record), alternated
--repeat times; prints runs per second of each and their ratio (medians), and writes JSON
(default build/bench/campaign_overhead.json).

The runs are the textbook's swarm (N = 10, u_s = 30 Mbps, u = 300 kbps, d = 2 Mbps) with F
from 1 MB to RUNS MB, so every record is small and the cost measured is scheduling, process
start and the JSON, not the bound.

  bench/campaign_overhead.py [--bin build/p2pdist] [--runs 10000] [--repeat 3] [--workers 2]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from campaign import spec  # noqa: E402


def campaign(runs):
    return {"name": "overhead", "command": "bound",
            "options": {"N": 10, "server-up": "30Mbps", "peer-up": "300kbps", "peer-down": "2Mbps"},
            "axes": {"file-size": {"from": 1, "to": runs, "step": 1, "unit": "MB"}}}


def with_runner(args, doc, tmp):
    path = os.path.join(tmp, "overhead.json")
    with open(path, "w") as f:
        json.dump(doc, f)
    out = os.path.join(tmp, "runner.jsonl")
    if os.path.exists(out):
        os.remove(out)
    cmd = [sys.executable, os.path.join(ROOT, "campaign", "run.py"), path, "--bin", args.bin, "--out", out,
           "--quiet"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"the runner failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return wall


def sequential(args, doc, tmp):
    runs = spec.expand(doc)
    out = os.path.join(tmp, "loop.jsonl")
    t0 = time.monotonic()
    with open(out, "ab") as f:
        for r in runs:
            proc = subprocess.run([args.bin] + r["argv"], capture_output=True, text=True)
            rec = {"key": r["key"], "options": r["options"], "exit_code": proc.returncode,
                   "result": json.loads(proc.stdout)}
            f.write((json.dumps(rec) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
    wall = time.monotonic() - t0
    os.remove(out)
    return wall


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(ROOT, "build", "p2pdist"))
    p.add_argument("--runs", type=int, default=10000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workers", type=int, help="LocalCluster threads (default: the machine's cores)")
    p.add_argument("--out", default=os.path.join(ROOT, "build", "bench", "campaign_overhead.json"))
    args = p.parse_args()
    args.bin = os.path.abspath(args.bin)
    doc = campaign(args.runs)
    rows = []
    with tempfile.TemporaryDirectory(prefix="p2pdist-overhead-") as tmp:
        for k in range(args.repeat):
            runner = with_runner(args, doc, tmp)
            loop = sequential(args, doc, tmp)
            rows.append({"runner_seconds": runner, "loop_seconds": loop})
            print(f"[{k + 1}/{args.repeat}] runner {args.runs / runner:.0f} runs/s, loop {args.runs / loop:.0f} runs/s",
                  file=sys.stderr, flush=True)
    runner_rate = statistics.median(args.runs / r["runner_seconds"] for r in rows)
    loop_rate = statistics.median(args.runs / r["loop_seconds"] for r in rows)
    ratio = statistics.median(r["loop_seconds"] / r["runner_seconds"] for r in rows)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"generated_by": "bench/campaign_overhead.py", "runs": args.runs, "cores": os.cpu_count(),
                   "rows": rows, "runner_runs_per_second": runner_rate, "loop_runs_per_second": loop_rate,
                   "loop_over_runner_seconds": ratio}, f, indent=1)
    print(f"{args.runs} `p2pdist bound` runs, medians of {args.repeat}, {os.cpu_count()} cores:")
    print(f"  campaign runner (Dask LocalCluster): {runner_rate:7.0f} runs/s")
    print(f"  sequential loop:                     {loop_rate:7.0f} runs/s")
    print(f"  runner / loop: {ratio:.2f}x the loop's rate; runner overhead "
          f"{1e3 * (1 / runner_rate - 1 / loop_rate / max(1, os.cpu_count())):.2f} ms per run beyond "
          f"the loop's per-core cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
