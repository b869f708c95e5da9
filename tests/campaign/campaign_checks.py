"""Shared by the campaign tests: starting and ending their processes (by PID), bounded
waits, and the check that a result file holds every run of a campaign exactly once."""

import json
import os
import signal
import subprocess
import sys
import time

from campaign import spec


def has_distributed():
    try:
        import distributed  # noqa: F401
        return True
    except ImportError:
        return False


def dask_command():
    """The `dask` command when Dask is usable here, else None (the test skips)."""
    import shutil
    return shutil.which("dask") if has_distributed() else None


def start_scheduler(dask, tmp, tag):
    """`dask scheduler` on 127.0.0.1 (a free port); returns (its scheduler file, process)."""
    sched_file = os.path.join(tmp, f"scheduler-{tag}.json")
    proc = start([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--no-show",
                  "--scheduler-file", sched_file], os.path.join(tmp, f"scheduler-{tag}.log"))
    wait_for(lambda: os.path.exists(sched_file), 60, "the scheduler's file")
    return sched_file, proc


def start_worker(dask, sched_file, host, tmp, name):
    """`dask worker` on address `host` with 2 threads and the swarm slot, no nanny (so that
    killing its PID kills the worker)."""
    return start([dask, "worker", "--scheduler-file", sched_file, "--host", host, "--no-dashboard", "--no-nanny",
                  "--nthreads", "2", "--resources", "swarm=1", "--name", name,
                  "--local-directory", os.path.join(tmp, name)], os.path.join(tmp, f"{name}.log"))


def start(argv, log_path):
    """Starts a process with its output in log_path."""
    log = open(log_path, "wb")
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def stop(procs):
    """Ends the processes this test started, by PID: SIGTERM, then SIGKILL after 10 s."""
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.05)


def raw_lines(path):
    try:
        with open(path, "rb") as f:
            return f.read().split(b"\n")
    except FileNotFoundError:
        return [b""]


def line_count(path):
    return len(raw_lines(path)) - 1


def records(path):
    return [json.loads(line) for line in raw_lines(path)[:-1] if line.strip()]


def binary_version(binary):
    return subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()


def check_results(campaign, out, binary, allow_failed_keys=()):
    """What is wrong with the result file `out` of `campaign` (an empty list when nothing):
    every line whole JSON, every run of the campaign present exactly once, nothing else,
    every record ok, its fields right and its result the command's answer for its options."""
    problems = []
    data = b"".join(line + b"\n" for line in raw_lines(out)[:-1])
    if raw_lines(out)[-1] != b"":
        problems.append(f"{out}: the last line is cut: {raw_lines(out)[-1][:80]!r}")
    recs = []
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError as e:
            problems.append(f"line {number} is not a whole JSON record: {e}")
    runs = {r["key"]: r for r in spec.expand(campaign)}
    seen = {}
    for r in recs:
        seen[r.get("key")] = seen.get(r.get("key"), 0) + 1
    for key, run in runs.items():
        if seen.get(key, 0) != 1:
            problems.append(f"run {run['group']} {run['options']} appears {seen.get(key, 0)} times")
    for key in seen:
        if key not in runs:
            problems.append(f"a record with key {key} that is no run of the campaign")
    version = binary_version(binary)
    for r in recs:
        run = runs.get(r.get("key"))
        if run is None:
            continue
        where = f"{run['group']} {run['options']}"
        if r.get("status") != "ok" and r.get("key") not in allow_failed_keys:
            problems.append(f"{where}: status {r.get('status')} exit {r.get('exit_code')}: {r.get('stderr', '')[-300:]}")
            continue
        for field, want in (("command", run["command"]), ("group", run["group"]), ("options", run["options"]),
                            ("repeat", run["repeat"]), ("argv", ["p2pdist"] + run["argv"])):
            if r.get(field) != want:
                problems.append(f"{where}: {field} is {r.get(field)!r}, not {want!r}")
        if r.get("p2pdist", {}).get("version") != version:
            problems.append(f"{where}: version {r.get('p2pdist')} is not {version}")
        if not r.get("host") or not isinstance(r.get("wall_seconds"), float) or r["wall_seconds"] <= 0:
            problems.append(f"{where}: host {r.get('host')!r} or wall time {r.get('wall_seconds')!r} missing")
        if r.get("status") != "ok":
            continue
        res = r.get("result") or {}
        if res.get("N") != run["options"]["N"]:
            problems.append(f"{where}: the result is for N = {res.get('N')}")
        if run["command"] == "bound" and not (res.get("p2p", {}).get("seconds", 0) > 0):
            problems.append(f"{where}: no P2P bound in the result")
        if run["command"] == "swarm":
            if res.get("mode") != run["options"].get("mode", "p2p") or res.get("data_ok") is not True:
                problems.append(f"{where}: mode {res.get('mode')}, data_ok {res.get('data_ok')}")
            if not (res.get("ratio", 0) >= 0.9):
                problems.append(f"{where}: ratio {res.get('ratio')} below the bound")
    return problems


def fail(message, tmp):
    print(f"FAIL: {message}")
    for name in sorted(os.listdir(tmp)):
        if name.endswith(".log"):
            with open(os.path.join(tmp, name), errors="replace") as f:
                text = f.read()
            print(f"---- {name} (last 3000 characters) ----\n{text[-3000:]}")
    sys.stdout.flush()
    return 1
