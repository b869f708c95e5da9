#!/usr/bin/env python3
"""Fidelity grid: measured distribution time over the bounds, in every regime of the model.

A campaign (campaign/run.py, on Dask: this machine, or a cluster with --scheduler): every
configuration run K times through the built `p2pdist swarm --json -`, one record per run
in build/bench/fidelity-swarm.jsonl; rerunning resumes, running only what that file lacks.
Then writes one JSON file (default build/bench/fidelity.json) holding, per configuration,
its parameters, the medians and spread of its runs, and every run's swarm document (fluid
and piece bound with their binding terms, the measured time, both ratios, the start-up
time and every leecher's completion), and prints a table; progress goes to stderr. With
--engine simulate the same grid runs through `p2pdist simulate` (the engine's sessions on
a discrete-event clock; the repeats are seeds 1..K), in minutes instead of an hour: a
change to a decision shows there first.

Families (F = 32 MiB, 64 KiB pieces, N in 1, 2, 4, 8, 16, 32, 64 unless said):
  p2p-seed              u_s = 4 MB/s, u_i = 4 MB/s                     (F/u_s binds)
  p2p-aggregate         u_s = 4 MB/s, u_i = 1 MB/s                     (N·F/(u_s+Σu_i) binds, N ≥ 4)
  p2p-hetero-seed       u_s = 4 MB/s, u_i alternating 2 / 6 MB/s
  p2p-hetero-aggregate  u_s = 4 MB/s, u_i alternating 0.5 / 1.5 MB/s
  p2p-download          u_s = 16 MB/s, u_i = 2 MB/s, d_i = 1 MB/s       (F/d_min binds)
  p2p-hetero-download   u_s = 16 MB/s, u_i = 2 MB/s, d_i alternating 1 / 2 MB/s
  cs                    u_s = N x 1 MB/s                                (N·F/u_s binds)
  cs-download           u_s = N x 2 MB/s, d_i = 1 MB/s                  (F/d_min binds)
  size                  p2p-seed at N = 4, F = 1 MiB .. 1 GiB, rates scaled to F / 16 s
                        (at least 4 MB/s), 64 KiB pieces (1 MiB pieces from 256 MiB up)
  piece                 p2p-seed at N = 8, F = 64 MiB, u = 8 MB/s, pieces 16 KiB .. 4 MiB

The choker runs at --time-scale 0.2 (rechoke every 2 s, optimistic rotation every 6 s):
runs last 1-35 s, so at the standard 10 s / 30 s the choker would act only once or twice
per run; 0.2 keeps about as many rechokes per download as a real multi-minute one has.

Two ratios per configuration: to the fluid bound (D_p2p or D_cs) and to the piece bound
(model/piece_bound.hpp: no schedule that passes on whole pieces only can beat it).

  bench/fidelity.py [--bin build/p2pdist] [--engine swarm|simulate]
                    [--out build/bench/fidelity.json] [--results FILE.jsonl] [--quick]
                    [--repeat 3] [--time-scale 0.2] [--only p2p-seed,cs] [--n 4,16]
                    [--scheduler tcp://HOST:8786]
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from campaign import report, store  # noqa: E402
from campaign import run as campaign_run  # noqa: E402

MB = 1_000_000
MIB = 1 << 20
KIB = 1 << 10


def rate(bytes_per_s):
    return f"{bytes_per_s / MB:g}MB/s"


def rates(values):
    return ",".join(rate(v) for v in values)


def size(nbytes):
    return f"{nbytes // MIB}MiB" if nbytes % MIB == 0 else f"{nbytes // KIB}KiB"


def alternating(n, low, high):
    return [low if i % 2 == 0 else high for i in range(n)]


def config(family, n, mode="p2p", file_bytes=32 * MIB, piece_bytes=64 * KIB, us=4 * MB, up=(4 * MB,),
           down=None):
    return {"family": family, "N": n, "mode": mode, "file_bytes": file_bytes, "piece_bytes": piece_bytes,
            "server_up": us, "peer_up": list(up), "peer_down": list(down) if down else None}


def grid(ns):
    """Every configuration, family by family."""
    out = []
    for n in ns:
        out.append(config("p2p-seed", n, up=[4 * MB]))
        out.append(config("p2p-aggregate", n, up=[1 * MB]))
        out.append(config("p2p-hetero-seed", n, up=alternating(n, 2 * MB, 6 * MB)))
        out.append(config("p2p-hetero-aggregate", n, up=alternating(n, 0.5 * MB, 1.5 * MB)))
        out.append(config("p2p-download", n, us=16 * MB, up=[2 * MB], down=[1 * MB]))
        out.append(config("p2p-hetero-download", n, us=16 * MB, up=[2 * MB], down=alternating(n, 1 * MB, 2 * MB)))
        out.append(config("cs", n, mode="cs", us=n * MB, up=[1 * MB]))
        out.append(config("cs-download", n, mode="cs", us=2 * n * MB, up=[1 * MB], down=[1 * MB]))
    for mib in (1, 4, 16, 64, 256, 1024):
        f = mib * MIB
        r = max(4 * MB, f / 16)
        out.append(config("size", 4, file_bytes=f, piece_bytes=(MIB if mib >= 256 else 64 * KIB), us=r, up=[r]))
    for kib in (16, 64, 256, 1024, 4096):
        out.append(config("piece", 8, file_bytes=64 * MIB, piece_bytes=kib * KIB, us=8 * MB, up=[8 * MB]))
    return out


def options_of(c, args):
    """A configuration as `p2pdist swarm` (or `simulate`) options, as the campaign file has them."""
    o = {"N": c["N"], "mode": c["mode"], "file-size": size(c["file_bytes"]), "piece-size": size(c["piece_bytes"]),
         "server-up": rate(c["server_up"]), "peer-up": rates(c["peer_up"]), "time-scale": args.time_scale,
         "timeout": f"{args.timeout:g}s"}
    if c["peer_down"]:
        o["peer-down"] = rates(c["peer_down"])
    return o


def campaign_of(configs, args):
    """The grid as a campaign (campaign/run.py): a group per family, a run per configuration,
    --repeat runs of each (simulate: seeds 1..K)."""
    groups = {}
    for c in configs:
        groups.setdefault(c["family"], []).append(options_of(c, args))
    return {"name": "fidelity", "command": args.engine, "repeat": args.repeat,
            "run_timeout": f"{args.timeout + 120:g}s",
            "group": [{"name": family, "runs": runs} for family, runs in groups.items()]}


def entries(configs, records, args):
    """Per configuration: its parameters, the medians and spread of its runs
    (campaign.report.figures) and their documents, as bench/fidelity.json has them."""
    by_point = {(p["group"], report.canonical(p["options"])): p
                for p in report.points(report.latest(records))}
    out = []
    for c in configs:
        p = by_point.get((c["family"], report.canonical(options_of(c, args))))
        recs = p["records"] if p else []
        out.append(dict(c, time_scale=args.time_scale, repeat=args.repeat,
                        summary=report.figures(p) if p else {}, failed=p["failed"] if p else None,
                        documents=[r["result"] for r in recs]))
    return out


def fmt(v, w, d):
    return f"{v:{w}.{d}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"


def print_table(results):
    print(f"{'family':20} {'N':>3} {'F':>8} {'piece':>7} {'M':>6} {'binding':17} {'bound s':>8} {'piece s':>8} "
          f"{'measured':>8} {'ratio':>6} {'min':>6} {'max':>6} {'/piece':>6} {'first s':>7}")
    for e in results:
        s = {k: None for k in ("pieces", "binding", "bound_seconds", "piece_bound_seconds", "measured_seconds",
                               "ratio", "min_ratio", "max_ratio", "ratio_to_piece_bound", "first_byte_seconds")}
        s.update(e["summary"])
        print(f"{e['family']:20} {e['N']:>3} {size(e['file_bytes']):>8} {size(e['piece_bytes']):>7} "
              f"{str(s['pieces'] or '-'):>6} {str(s['binding']):17} {fmt(s['bound_seconds'], 8, 2)} "
              f"{fmt(s['piece_bound_seconds'], 8, 2)} {fmt(s['measured_seconds'], 8, 2)} {fmt(s['ratio'], 6, 3)} "
              f"{fmt(s['min_ratio'], 6, 3)} {fmt(s['max_ratio'], 6, 3)} {fmt(s['ratio_to_piece_bound'], 6, 3)} "
              f"{fmt(s['first_byte_seconds'], 7, 3)}")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"))
    p.add_argument("--out", default=os.path.join(root, "build", "bench", "fidelity.json"))
    p.add_argument("--results", help="the campaign's result file (default: --out with .jsonl); "
                   "runs already in it are not run again")
    p.add_argument("--engine", choices=["swarm", "simulate"], default="swarm",
                   help="simulate: the same grid in simulated time (repeats are seeds)")
    p.add_argument("--quick", action="store_true", help="N in 4 and 16, one run each")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--time-scale", type=float, default=0.2)
    p.add_argument("--timeout", type=float, default=180, help="seconds per run")
    p.add_argument("--n", help="comma-separated N values (overrides the grid's)")
    p.add_argument("--only", help="comma-separated families to run")
    p.add_argument("--scheduler", help="a Dask scheduler to run on (default: this machine)")
    args = p.parse_args()

    ns = [1, 2, 4, 8, 16, 32, 64]
    if args.quick:
        ns = [4, 16]
        if args.repeat == 3:
            args.repeat = 1
    if args.n:
        ns = [int(x) for x in args.n.split(",")]
    configs = grid(ns)
    if args.only:
        keep = set(args.only.split(","))
        configs = [c for c in configs if c["family"] in keep]

    results_path = args.results or os.path.splitext(args.out)[0] + f"-{args.engine}.jsonl"
    status = campaign_run.run_document(campaign_of(configs, args), results_path, args.bin, args.scheduler)
    if status not in (0, 1):
        return status

    results = entries(configs, store.read_records(results_path), args)
    with open(args.out, "w") as f:
        json.dump({"generated_by": "bench/fidelity.py", "engine": args.engine, "time_scale": args.time_scale,
                   "repeat": args.repeat, "results": results_path, "configurations": results}, f, indent=1)
    print(f"{args.engine}: medians of {args.repeat} runs; ratio = measured / fluid bound, /piece = measured / piece bound")
    print_table(results)
    print(f"wrote {args.out} (every run's record: {results_path})", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
