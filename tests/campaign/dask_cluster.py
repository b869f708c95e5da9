#!/usr/bin/env python3
"""A campaign on a real Dask cluster: `dask scheduler` and two `dask worker` processes on
loopback addresses (127.0.0.2 and 127.0.0.3, two hosts to the scheduler, each with one
`swarm` slot), a campaign of 40 `bound` runs and 8 short `swarm` runs, and one worker
killed (SIGKILL, by PID) while the swarms run. Every run must be in the result file
exactly once, with a whole, correct record; the runner must end with status 0. First, the
same campaign with workers whose binary is another build must be refused (status 2) before
any run.

  tests/campaign/dask_cluster.py --p2pdist build/p2pdist

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

DEADLINE_SECONDS = 240

CAMPAIGN = {
    "name": "cluster-test",
    "repeat": 1,
    "group": [
        {"name": "bounds", "command": "bound",
         "options": {"file-size": "15Gbit", "server-up": "30Mbps", "peer-up": "700kbps", "peer-down": "2Mbps"},
         "axes": {"N": {"from": 1, "to": 40, "step": 1}}},
        {"name": "swarms", "command": "swarm",
         "options": {"file-size": "1MiB", "piece-size": "64KiB", "server-up": "2MB/s", "peer-up": "1MB/s",
                     "time-scale": 0.2, "timeout": "60s"},
         "axes": {"N": [2, 3], "mode": ["p2p", "cs"], "data-seed": [1, 2]}},
    ],
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--p2pdist", required=True)
    args = p.parse_args()
    dask = campaign_checks.dask_command()
    if not dask:
        print("SKIP: Dask is not installed (Debian: python3-distributed, python3-dask)")
        return 77

    started = time.monotonic()
    procs = []
    with tempfile.TemporaryDirectory(prefix="p2pdist-campaign-") as tmp:
        try:
            sched_file, scheduler = campaign_checks.start_scheduler(dask, tmp, "a")
            procs.append(scheduler)
            workers = {}
            for name, host in (("wa", "127.0.0.2"), ("wb", "127.0.0.3")):
                workers[name] = campaign_checks.start_worker(dask, sched_file, host, tmp, name)
                procs.append(workers[name])

            path = os.path.join(tmp, "campaign.json")
            with open(path, "w") as f:
                json.dump(CAMPAIGN, f)
            out = os.path.join(tmp, "results.jsonl")

            # workers whose binary is another build: refused before any run
            other = os.path.join(tmp, "other-p2pdist")
            with open(other, "w") as f:
                f.write("#!/bin/sh\necho 'p2pdist 0.0.1 (commit 0123456789abcdef)'\n")
            os.chmod(other, 0o755)
            refused = subprocess.run([sys.executable, os.path.join(ROOT, "campaign", "run.py"), path, "--bin",
                                      args.p2pdist, "--worker-bin", other, "--out", out, "--scheduler-file",
                                      sched_file, "--connect-timeout", "60"], capture_output=True, text=True,
                                     timeout=120)
            if refused.returncode != 2 or "not the campaign's" not in refused.stderr or campaign_checks.line_count(out):
                print(refused.stderr[-2000:])
                return campaign_checks.fail(f"another build on the workers: status {refused.returncode}, "
                                            f"{campaign_checks.line_count(out)} records (want 2 and none)", tmp)
            print("workers with another build: refused, nothing run")
            runner = campaign_checks.start(
                [sys.executable, os.path.join(ROOT, "campaign", "run.py"), path, "--bin", args.p2pdist, "--out", out,
                 "--scheduler-file", sched_file, "--connect-timeout", "60"], os.path.join(tmp, "runner.log"))
            procs.append(runner)

            # every bound, then one swarm: the other worker has a swarm going; kill worker wa
            campaign_checks.wait_for(lambda: campaign_checks.line_count(out) >= 41 or runner.poll() is not None,
                                     DEADLINE_SECONDS - (time.monotonic() - started), "41 records")
            if runner.poll() is not None:
                return campaign_checks.fail(f"the runner ended early ({runner.returncode})", tmp)
            victim = workers["wa"]
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=30)
            at_kill = campaign_checks.line_count(out)
            print(f"killed worker wa (pid {victim.pid}) with {at_kill} records written")

            try:
                status = runner.wait(timeout=max(10, DEADLINE_SECONDS - (time.monotonic() - started)))
            except subprocess.TimeoutExpired:
                return campaign_checks.fail("the runner did not finish in time", tmp)
            if status != 0:
                return campaign_checks.fail(f"the runner ended with status {status}", tmp)
            problems = campaign_checks.check_results(CAMPAIGN, out, args.p2pdist)
            if problems:
                return campaign_checks.fail("\n".join(problems), tmp)
            after = [r["worker"] for r in campaign_checks.records(out)[at_kill + 1:]]
            if not after or any(str(w).startswith("tcp://127.0.0.2:") for w in after):
                return campaign_checks.fail(f"the runs after the kill were not all done by worker wb: {after}", tmp)
            hosts = {r["host"] for r in campaign_checks.records(out)}
            workers_seen = {r["worker"] for r in campaign_checks.records(out)}
            print(f"OK: {campaign_checks.line_count(out)} records, each run once; workers {sorted(workers_seen)}; "
                  f"hosts {sorted(hosts)}; {time.monotonic() - started:.0f} s")
            return 0
        finally:
            campaign_checks.stop(procs)


if __name__ == "__main__":
    sys.exit(main())
