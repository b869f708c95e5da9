"""What a Dask worker does for one run: start the p2pdist binary, wait for it (bounded),
hand back what it said. Standard library only: the runner sends this module to the
workers by value (cloudpickle), so a worker host needs the binary and Dask, no checkout.
"""

import json
import shutil
import socket
import subprocess
import sys
import time


class BinaryMismatch(RuntimeError):
    """The worker's p2pdist is not the one the campaign was started with."""


def binary_version(binary):
    """What `p2pdist --version` says, cached per worker process (a few ms per call saved on
    every run); None when the binary cannot be run."""
    cache = sys.__dict__.setdefault("_p2pdist_campaign_versions", {})
    if binary not in cache:
        try:
            said = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
            cache[binary] = said.stdout.strip() if said.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            cache[binary] = None
    return cache[binary]


def in_flight():
    """The runs this process has going (a LocalCluster's runner ends them on Ctrl-C)."""
    return sys.__dict__.setdefault("_p2pdist_campaign_children", set())


def _die_with_worker(argv):
    # The run ends when the worker does (a killed worker must not leave a swarm behind on
    # its host): setpriv (util-linux) sets the parent-death signal, then runs the binary.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] + argv if setpriv else argv


def _worker_address():
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return None


def execute(binary, expected_version, argv, timeout_seconds):
    """Runs `binary argv` here. Returns the measured half of the run's record: host, start,
    wall time, exit code, stderr's end and the parsed JSON (or why there is none). Raises
    BinaryMismatch when this host's binary is another version."""
    version = binary_version(binary)
    if version != expected_version:
        raise BinaryMismatch(f"{socket.gethostname()}: {binary} says {version!r}, the campaign runs "
                             f"{expected_version!r}")
    started = time.time()
    t0 = time.monotonic()
    timed_out = False
    try:
        proc = subprocess.Popen(_die_with_worker([binary] + list(argv)), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as e:
        return {"host": socket.gethostname(), "started_unix": started, "wall_seconds": 0.0,
                "exit_code": None, "stderr": f"cannot start {binary}: {e}", "result": None,
                "worker": _worker_address()}
    running = in_flight()
    running.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        out, err = proc.communicate()
    finally:
        running.discard(proc)
    wall = time.monotonic() - t0
    record = {"host": socket.gethostname(), "worker": _worker_address(), "started_unix": started, "wall_seconds": wall,
              "exit_code": proc.returncode, "stderr": err.decode("utf-8", "replace")[-4000:], "result": None}
    if timed_out:
        record["exit_code"] = None
        record["stderr"] += f"\ncampaign: ended after the run timeout of {timeout_seconds:g} s"
        return record
    if out.strip():
        try:
            record["result"] = json.loads(out)
        except json.JSONDecodeError as e:
            record["stderr"] += f"\ncampaign: its output is not JSON ({e}); first bytes: {out[:200]!r}"
    return record


def execute_batch(binary, expected_version, argvs, timeouts):
    """Several short runs in one task, one after the other (Dask's own advice for tasks of
    milliseconds: its per-task cost here is about 2 ms). Returns their outputs in order."""
    return [execute(binary, expected_version, argv, t) for argv, t in zip(argvs, timeouts)]
