#!/usr/bin/env python3
"""A campaign interrupted and finished by a second invocation (Dask LocalCluster).

The runner starts a campaign of 10 `bound` runs and 6 short `swarm` runs; after the bounds
and one swarm are in the result file it gets SIGINT (as Ctrl-C sends). It must end with
status 130 and leave only whole records. A cut line is then appended (what a machine that
stops mid-write could leave). The same command again must say how many runs are already
there, remove the cut line, run only the rest, and end with status 0: every run of the
campaign exactly once. A third invocation runs nothing.

  tests/campaign/resume.py --p2pdist build/p2pdist

Exit 77 (skipped) when python3-distributed is missing.
"""

import argparse
import json
import os
import re
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
    "name": "resume-test",
    "group": [
        {"name": "bounds", "command": "bound", "options": {"file-size": "1GB", "peer-down": "unlimited"},
         "axes": {"N": {"from": 10, "to": 100, "step": 10}}},
        {"name": "swarms", "command": "swarm",
         "options": {"file-size": "1MiB", "piece-size": "64KiB", "server-up": "2MB/s", "peer-up": "1MB/s",
                     "time-scale": 0.2, "timeout": "60s"},
         "axes": {"N": [2, 3, 4], "mode": ["p2p", "cs"]}},
    ],
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--p2pdist", required=True)
    args = p.parse_args()
    if not campaign_checks.has_distributed():
        print("SKIP: Dask is not installed (Debian: python3-distributed, python3-dask)")
        return 77
    with tempfile.TemporaryDirectory(prefix="p2pdist-resume-") as tmp:
        path = os.path.join(tmp, "campaign.json")
        with open(path, "w") as f:
            json.dump(CAMPAIGN, f)
        out = os.path.join(tmp, "results.jsonl")
        cmd = [sys.executable, os.path.join(ROOT, "campaign", "run.py"), path, "--bin", args.p2pdist, "--out", out]
        log = os.path.join(tmp, "first.log")
        first = campaign_checks.start(cmd, log)
        try:
            campaign_checks.wait_for(lambda: campaign_checks.line_count(out) >= 11 or first.poll() is not None, 120,
                                     "11 records")
            if first.poll() is not None:
                return campaign_checks.fail(f"the first runner ended before it was interrupted ({first.returncode})",
                                            tmp)
            first.send_signal(signal.SIGINT)
            status = first.wait(timeout=60)
        finally:
            campaign_checks.stop([first])
        said = open(log, errors="replace").read()
        if status != 130 or "interrupted" not in said:
            return campaign_checks.fail(f"after SIGINT the runner ended with {status} (want 130, 'interrupted')", tmp)
        kept = campaign_checks.records(out)  # raises if a line is not whole JSON
        if campaign_checks.raw_lines(out)[-1] != b"" or not 11 <= len(kept) < 16:
            return campaign_checks.fail(f"after the interrupt: {len(kept)} records, last line "
                                        f"{campaign_checks.raw_lines(out)[-1][:60]!r}", tmp)
        print(f"interrupted with {len(kept)} of 16 runs in the file")

        with open(out, "ab") as f:  # a record cut where the machine stopped
            f.write(b'{"key":"0123456789abcdef0123","campaign":"resume-test","status":"o')
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if second.returncode != 0:
            print(second.stderr[-3000:])
            return campaign_checks.fail(f"the second runner ended with {second.returncode}", tmp)
        m = re.search(r"16 runs, (\d+) already in .*, (\d+) to run", second.stderr)
        if not m or int(m[1]) != len(kept) or int(m[2]) != 16 - len(kept):
            print(second.stderr[-3000:])
            return campaign_checks.fail(f"the second runner did not resume from {len(kept)} records", tmp)
        if "removing a cut last line" not in second.stderr:
            return campaign_checks.fail("the cut last line was not reported", tmp)
        problems = campaign_checks.check_results(CAMPAIGN, out, args.p2pdist)
        if problems:
            return campaign_checks.fail("\n".join(problems), tmp)
        if campaign_checks.records(out)[:len(kept)] != kept:
            return campaign_checks.fail("the records written before the interrupt changed", tmp)

        third = subprocess.run(cmd + ["--quiet"], capture_output=True, text=True, timeout=120)
        if third.returncode != 0 or "16 already" not in third.stderr or "0 to run" not in third.stderr:
            print(third.stderr[-2000:])
            return campaign_checks.fail("a third invocation did not find everything done", tmp)
        print(f"OK: resumed {len(kept)} + {16 - len(kept)} runs, each once")
        return 0


if __name__ == "__main__":
    started = time.monotonic()
    code = main()
    print(f"({time.monotonic() - started:.0f} s)")
    sys.exit(code)
