#!/usr/bin/env python3
"""A campaign whose Dask scheduler dies (SIGKILL, by PID) while swarms run: the runner must
give up within its reconnect time with status 3 and only whole records in the file; on a
new scheduler and worker the same command must run only what is missing, and end with
every run exactly once.

  tests/campaign/lost_scheduler.py --p2pdist build/p2pdist

Exit 77 (skipped) when Dask's `dask` command or python3-distributed is missing.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import campaign_checks  # noqa: E402  (beside this file)

CAMPAIGN = {
    "name": "lost-scheduler-test",
    "command": "swarm",
    "options": {"file-size": "2MiB", "piece-size": "64KiB", "server-up": "2MB/s", "peer-up": "1MB/s",
                "time-scale": 0.2, "timeout": "60s"},
    "axes": {"N": [2, 3, 4, 5, 6, 7]},
}


def cluster(dask, tmp, tag):
    """A scheduler on 127.0.0.1 and one worker on 127.0.0.2 with the swarm slot."""
    sched_file, sched = campaign_checks.start_scheduler(dask, tmp, tag)
    return sched_file, [sched, campaign_checks.start_worker(dask, sched_file, "127.0.0.2", tmp, f"worker-{tag}")]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--p2pdist", required=True)
    args = p.parse_args()
    dask = campaign_checks.dask_command()
    if not dask:
        print("SKIP: Dask is not installed (Debian: python3-distributed, python3-dask)")
        return 77
    procs = []
    with tempfile.TemporaryDirectory(prefix="p2pdist-lost-") as tmp:
        try:
            path = os.path.join(tmp, "campaign.json")
            with open(path, "w") as f:
                json.dump(CAMPAIGN, f)
            out = os.path.join(tmp, "results.jsonl")
            sched_file, first = cluster(dask, tmp, "a")
            procs += first
            cmd = [sys.executable, os.path.join(ROOT, "campaign", "run.py"), path, "--bin", args.p2pdist,
                   "--out", out, "--connect-timeout", "5"]
            runner = campaign_checks.start(cmd + ["--scheduler-file", sched_file], os.path.join(tmp, "runner.log"))
            procs.append(runner)
            campaign_checks.wait_for(lambda: campaign_checks.line_count(out) >= 2 or runner.poll() is not None,
                                     120, "2 records")
            if runner.poll() is not None:
                return campaign_checks.fail(f"the runner ended early ({runner.returncode})", tmp)
            first[0].send_signal(signal.SIGKILL)  # the scheduler
            first[0].wait(timeout=30)
            lost_at = time.monotonic()
            try:
                status = runner.wait(timeout=90)
            except subprocess.TimeoutExpired:
                return campaign_checks.fail("the runner did not notice the lost scheduler within 90 s", tmp)
            said = open(os.path.join(tmp, "runner.log"), errors="replace").read()
            if status != 3 or "lost the Dask scheduler" not in said:
                return campaign_checks.fail(f"after the scheduler died the runner ended with {status} (want 3)", tmp)
            kept = campaign_checks.records(out)  # raises if a line is not whole JSON
            print(f"scheduler killed: the runner ended after {time.monotonic() - lost_at:.0f} s "
                  f"with {len(kept)} of 6 records")
            campaign_checks.stop(first)

            sched_file, second = cluster(dask, tmp, "b")
            procs += second
            again = subprocess.run(cmd + ["--scheduler-file", sched_file, "--quiet"], capture_output=True, text=True,
                                   timeout=180)
            if again.returncode != 0 or f"{len(kept)} already in" not in again.stderr:
                print(again.stderr[-3000:])
                return campaign_checks.fail(f"the rerun ended with {again.returncode}", tmp)
            problems = campaign_checks.check_results(CAMPAIGN, out, args.p2pdist)
            if problems:
                return campaign_checks.fail("\n".join(problems), tmp)
            print(f"OK: {len(kept)} runs kept across the lost scheduler, the rest run on a new one, each once")
            return 0
        finally:
            campaign_checks.stop(procs)


if __name__ == "__main__":
    sys.exit(main())
