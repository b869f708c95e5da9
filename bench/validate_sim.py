#!/usr/bin/env python3
"""The simulator against the real swarm: every configuration through `p2pdist swarm` and
`p2pdist simulate`, side by side.

For each configuration of the fidelity grid (bench/fidelity.py: seed-, aggregate- and
download-bound, homogeneous and heterogeneous, p2p and client-server), runs the real swarm
K times (--repeat K: the median run) and the simulation K times (seeds 1..K: the median
run), and reports
  time diff   simulated / real - 1, of the median distribution times
  curve diff  the largest difference between the two completion curves, over the real
              distribution time; a curve is the sorted per-leecher completion times, the
              element-wise median over the K runs (one run's curve varies more than 5 %
              where completions spread, as in the aggregate-bound regime)
Goals (issue "A swarm simulator"): |time diff| <= 2 %, curve diff <= 5 %.

Writes build/bench/validate_sim.json (every document) and prints a table. With
--reference FILE, runs only the small reference set that the test suite checks the
simulator against (tests/harness/test_simulate.cpp) and writes the real runs' medians there.

  bench/validate_sim.py [--bin build/p2pdist] [--repeat 3] [--n 2,8,32,64]
                        [--only p2p-seed,cs] [--out FILE] [--reference tests/data/sim_reference.json]
                        [--real-from EARLIER.json]   (re-simulate against real runs already made)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fidelity  # noqa: E402  (the grid and its flags)

MB = fidelity.MB
MIB = fidelity.MIB
KIB = fidelity.KIB

# Small swarms, quick to simulate, whose real medians the test suite keeps: one of each
# binding term and both modes (F = 8 MiB, 64 KiB pieces).
REFERENCE = [
    fidelity.config("p2p-seed", 8, file_bytes=8 * MIB, up=[4 * MB]),
    fidelity.config("p2p-aggregate", 8, file_bytes=8 * MIB, up=[1 * MB]),
    fidelity.config("p2p-hetero-download", 4, file_bytes=8 * MIB, us=16 * MB, up=[2 * MB],
                    down=fidelity.alternating(4, 1 * MB, 2 * MB)),
    fidelity.config("cs", 4, mode="cs", file_bytes=8 * MIB, us=4 * MB, up=[1 * MB]),
]


def command(args, c, which, repeat):
    cmd = [args.bin, which, "--json", "-", "-N", str(c["N"]), "--mode", c["mode"],
           "--file-size", fidelity.size(c["file_bytes"]), "--piece-size", fidelity.size(c["piece_bytes"]),
           "--server-up", fidelity.rate(c["server_up"]), "--peer-up", fidelity.rates(c["peer_up"]),
           "--repeat", str(repeat), "--time-scale", str(args.time_scale), "--timeout", f"{args.timeout}s"]
    if c["peer_down"]:
        cmd += ["--peer-down", fidelity.rates(c["peer_down"])]
    return cmd


def run(cmd, timeout):
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    wall = time.monotonic() - started
    try:
        doc = json.loads(proc.stdout)
    except json.JSONDecodeError:
        doc = None
    return {"command": cmd, "exit_status": proc.returncode, "wall_seconds": wall, "stderr": proc.stderr[-2000:],
            "document": doc}


def completions(doc):
    """The completion curve of a document: the sorted completion times of each run, and their
    element-wise median over the runs (a single run: its own). None if any run missed one."""
    runs = doc.get("runs") or [doc]
    curves = []
    for run in runs:
        times = [leecher["completion_seconds"] for leecher in run["leechers"]]
        if any(t is None for t in times):
            return None
        curves.append(sorted(times))
    return [statistics.median(column) for column in zip(*curves)]


def compare(real, simulated):
    """time diff and curve diff of two documents, or Nones when a run did not finish."""
    rt, st = real.get("distribution_seconds"), simulated.get("distribution_seconds")
    rc, sc = completions(real), completions(simulated)
    if rt is None or st is None or rc is None or sc is None:
        return None, None
    return st / rt - 1, max(abs(a - b) for a, b in zip(rc, sc)) / rt


def key(c):
    """A configuration's identity across outputs."""
    return json.dumps([c[k] for k in ("family", "N", "mode", "file_bytes", "piece_bytes", "server_up", "peer_up",
                                      "peer_down")])


def fmt(v, w, d, pct=False):
    if not isinstance(v, (int, float)):
        return f"{'-':>{w}}"
    return f"{100 * v:+{w}.{d}f}" if pct else f"{v:{w}.{d}f}"


def print_table(results):
    print(f"{'family':20} {'mode':4} {'N':>3} {'binding':17} {'bound s':>8} {'real s':>8} {'sim s':>8} "
          f"{'time %':>7} {'curve %':>7} {'sim wall s':>10}")
    for e in results:
        print(f"{e['family']:20} {e['mode']:4} {e['N']:>3} {str(e['binding']):17} {fmt(e['bound_seconds'], 8, 2)} "
              f"{fmt(e['real_seconds'], 8, 2)} {fmt(e['simulated_seconds'], 8, 2)} "
              f"{fmt(e['time_diff'], 7, 2, True)} {fmt(e['curve_diff'] and abs(e['curve_diff']), 7, 2, True)} "
              f"{fmt(e['simulated_wall_seconds'], 10, 2)}")


def write_reference(path, results):
    """The real runs' medians the test suite holds the simulator against."""
    cases = []
    for e in results:
        doc = e["real"]["document"]
        cases.append({k: e[k] for k in ("family", "N", "mode", "file_bytes", "piece_bytes", "server_up", "peer_up",
                                        "peer_down")} |
                     {"bound_seconds": e["bound_seconds"], "real_seconds": e["real_seconds"],
                      "real_completions": completions(doc), "real_spread": doc.get("spread"),
                      "real_completions_per_run": [sorted(leecher["completion_seconds"] for leecher in run["leechers"])
                                                   for run in doc.get("runs", [doc])],
                      "simulated_seconds_when_stored": e["simulated_seconds"]})
    with open(path, "w") as f:
        json.dump({"generated_by": "bench/validate_sim.py --reference", "repeat": results[0]["repeat"],
                   "time_scale": results[0]["time_scale"], "cases": cases}, f, indent=1)
        f.write("\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "validate_sim.json"))
    p.add_argument("--repeat", type=int, default=3, help="real runs and simulated seeds per configuration")
    p.add_argument("--time-scale", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=180, help="seconds per run")
    p.add_argument("--n", default="2,8,32,64", help="comma-separated N values")
    p.add_argument("--only", help="comma-separated families")
    p.add_argument("--reference", help="run the reference set only and store the real medians in this file")
    p.add_argument("--real-from", help="take the real runs from this earlier output (same configurations) "
                                      "instead of running them again; only the simulations run")
    args = p.parse_args()

    if args.reference:
        configs = REFERENCE
    else:
        ns = [int(x) for x in args.n.split(",")]
        configs = [c for c in fidelity.grid(ns) if c["family"] not in ("size", "piece")]
        if args.only:
            keep = set(args.only.split(","))
            configs = [c for c in configs if c["family"] in keep]

    earlier = {}
    if args.real_from:
        with open(args.real_from) as f:
            for e in json.load(f)["configurations"]:
                earlier[key(e)] = e["real"]

    results = []
    for k, c in enumerate(configs):
        print(f"[{k + 1}/{len(configs)}] {c['family']} {c['mode']} N={c['N']} ...", file=sys.stderr, flush=True)
        if args.real_from and key(c) not in earlier:
            print("    not in --real-from: skipped", file=sys.stderr)
            continue
        real = earlier.get(key(c)) or run(command(args, c, "swarm", args.repeat), args.timeout * args.repeat + 300)
        sim = run(command(args, c, "simulate", args.repeat), args.timeout * args.repeat + 300)
        rd, sd = real["document"] or {}, sim["document"] or {}
        time_diff, curve_diff = compare(rd, sd) if rd and sd else (None, None)
        entry = dict(c, time_scale=args.time_scale, repeat=args.repeat,
                     bound_seconds=(rd.get("bound") or {}).get("seconds"),
                     binding=(rd.get("bound") or {}).get("binding"),
                     real_seconds=rd.get("distribution_seconds"), simulated_seconds=sd.get("distribution_seconds"),
                     time_diff=time_diff, curve_diff=curve_diff,
                     simulated_wall_seconds=statistics.median(r.get("wall_seconds", 0) for r in sd.get("runs", [sd]))
                     if sd else None,
                     real=real, simulated=sim)
        results.append(entry)
        print(f"    real {fmt(entry['real_seconds'], 6, 3)} s, simulated {fmt(entry['simulated_seconds'], 6, 3)} s: "
              f"time {fmt(time_diff, 5, 2, True)} %, curve {fmt(curve_diff, 5, 2, True)} %", file=sys.stderr, flush=True)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:  # rewritten after each configuration
            json.dump({"generated_by": "bench/validate_sim.py", "configurations": results}, f, indent=1)

    print(f"medians of {args.repeat} real runs and {args.repeat} simulated seeds; time % = simulated / real - 1; "
          f"curve % = largest gap between the sorted completion times / real time")
    print_table(results)
    if args.reference:
        write_reference(args.reference, results)
        print(f"wrote {args.reference}", file=sys.stderr)
    print(f"wrote {args.out}", file=sys.stderr)
    ok = all(e["real"]["exit_status"] == 0 and e["simulated"]["exit_status"] == 0 for e in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
