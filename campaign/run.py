#!/usr/bin/env python3
"""Run a campaign: a grid of `p2pdist` runs on Dask, one JSON Lines record per run.

  /usr/bin/python3 campaign/run.py CAMPAIGN.toml [--dry-run] [--out FILE]
        [--scheduler tcp://HOST:8786 | --scheduler-file FILE] [--workers THREADS]
        [--only GROUP,...] [--axis NAME=V1,V2,...] [--set NAME=VALUE] [--repeat K]
        [--command simulate] [--retry-failed] [--bin build/p2pdist] [--worker-bin PATH]

Without --scheduler it starts a Dask LocalCluster on 127.0.0.1 (this machine's cores as
threads; swarms one at a time). Rerunning the same command resumes: what the result file
holds is not run again. The file format and the cluster setup: README.md, "Campaigns".
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from campaign import runner, spec, store  # noqa: E402


def arguments(argv=None):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(prog="campaign/run.py", description=__doc__.split("\n")[0])
    p.add_argument("campaign", help="the campaign file (.toml or .json)")
    p.add_argument("--out", help="the result file (default: the campaign's `output`)")
    p.add_argument("--bin", default=os.path.join(root, "build", "p2pdist"), help="the p2pdist binary here")
    p.add_argument("--worker-bin", help="where the workers find the same binary (default: --bin's path)")
    p.add_argument("--scheduler", help="a Dask scheduler's address, e.g. tcp://10.0.0.5:8786")
    p.add_argument("--scheduler-file", help="a Dask scheduler file (dask scheduler --scheduler-file)")
    p.add_argument("--connect-timeout", type=float, default=30.0, help="seconds to reach the scheduler and "
                   "find workers")
    p.add_argument("--workers", type=int, help="threads of the LocalCluster (default: this machine's cores)")
    p.add_argument("--dry-run", action="store_true", help="print the grid and an estimate of its duration")
    p.add_argument("--show", type=int, default=40, help="points the dry run lists")
    p.add_argument("--only", help="run these groups only (comma-separated names)")
    p.add_argument("--axis", action="append", help="NAME=V1,V2,...: replace an axis's values")
    p.add_argument("--set", action="append", help="NAME=VALUE: one value of an option for every run")
    p.add_argument("--repeat", type=int, help="repeats of every point (the campaign's `repeat`)")
    p.add_argument("--command", choices=spec.COMMANDS, help="run every group through this command")
    p.add_argument("--retry-failed", action="store_true", help="run again the runs whose record says failed")
    p.add_argument("--mixed-versions", action="store_true",
                   help="resume a result file written by another p2pdist build")
    p.add_argument("--quiet", action="store_true", help="no progress and no table")
    p.add_argument("--no-table", action="store_true", help="no table at the end")
    return p.parse_args(argv)


def run_document(doc, results_path, binary, scheduler=None):
    """Runs a campaign built in Python (the bench scripts' grids): writes it beside its
    result file as RESULTS.campaign.json, for a user to see and rerun, then runs it like
    a file, without the table at the end. Returns the runner's exit status."""
    campaign_path = os.path.splitext(results_path)[0] + ".campaign.json"
    os.makedirs(os.path.dirname(os.path.abspath(campaign_path)), exist_ok=True)
    with open(campaign_path, "w") as f:
        json.dump(doc, f, indent=1)
    argv = [campaign_path, "--bin", binary, "--out", results_path, "--no-table"]
    return main(argv + (["--scheduler", scheduler] if scheduler else []))


def main(argv=None):
    args = arguments(argv)
    if args.workers is not None and args.workers < 1:
        print("campaign: --workers must be at least 1", file=sys.stderr)
        return 2
    try:
        doc = spec.load(args.campaign)
        return runner.run_campaign(args, doc)
    except (spec.CampaignError, runner.SetupError, store.StoreError) as e:
        print(f"campaign: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        print(f"campaign: {e.name} is missing: install Debian's python3-distributed and python3-dask "
              f"(scripts/setup.sh does) and run with /usr/bin/python3", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
