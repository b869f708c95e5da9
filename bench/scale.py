#!/usr/bin/env python3
"""Scale: a swarm of N = 64 leechers in one process, its fidelity and its peak memory.

Runs `p2pdist swarm -N 64 ... --json FILE` under GNU time (`/usr/bin/time -v`, Debian
package `time`), or, where that is missing, reads the process's VmHWM from /proc while it
runs. Writes JSON (default build/bench/scale.json): the parameters, the bound and its
binding term, the measured distribution time, measured/bound, the spread of the leechers'
completion times, the process's peak resident set size, wall and CPU time, and the
swarm's own JSON (timeline dropped unless --keep-timeline).

Default parameters (a little over 1 minute on a 2-core machine): N = 64, F = 16 MiB,
256 KiB pieces, u_s = 2 MB/s, u_i = 250 kB/s, downloads unlimited, p2p, finished leechers
stay. The P2P bound binds on aggregate upload:
N·F/(u_s + N·u) = 64 × 16 MiB / (2 + 64 × 0.25) MB/s = 59.65 s.
The harness keeps every instance's data in memory, so the peak RSS is at least
(N + 1) × F = 1.04 GiB (+ the seed's copy of the file it generated).

Python 3 stdlib only. Usage:
  bench/scale.py [--p2pdist build/p2pdist] [-N 64] [--file-size 16MiB] [--server-up 2MB/s]
                 [--peer-up 250kB/s] [--extra ARG ...] [--out FILE]
Exit 0 when the swarm finished with every leecher's data intact, 1 otherwise.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GNU_TIME = "/usr/bin/time"


def gnu_time_works():
    if not (os.path.isfile(GNU_TIME) and os.access(GNU_TIME, os.X_OK)):
        return False
    r = subprocess.run([GNU_TIME, "-v", "true"], capture_output=True, text=True, timeout=10)
    return r.returncode == 0 and "Maximum resident set size" in r.stderr


def parse_gnu_time(text):
    """The fields of `/usr/bin/time -v` we report: peak RSS (KiB), CPU seconds, wall seconds."""
    out = {}
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    if m:
        out["peak_rss_bytes"] = int(m.group(1)) * 1024
    for key, label in (("user_cpu_seconds", "User time (seconds)"),
                       ("system_cpu_seconds", "System time (seconds)")):
        m = re.search(re.escape(label) + r": ([0-9.]+)", text)
        if m:
            out[key] = float(m.group(1))
    m = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([0-9.]+)", text)
    if m:
        out["wall_seconds"] = int(m.group(1) or 0) * 3600 + int(m.group(2)) * 60 + float(m.group(3))
    return out


def vm_hwm_bytes(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_measured(cmd, timeout_s):
    """Runs cmd; returns (returncode, stderr text, memory/time figures)."""
    if gnu_time_works():
        full = [GNU_TIME, "-v", *cmd]
        try:
            proc = subprocess.run(full, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None, f"did not exit within {timeout_s:.0f} s", {}
        figures = parse_gnu_time(proc.stderr)
        figures["memory_source"] = "/usr/bin/time -v (Maximum resident set size)"
        return proc.returncode, proc.stderr, figures
    # Fallback: sample VmHWM (the kernel's high-water mark, so a late sample still holds the
    # peak reached before it) every 50 ms until the process exits.
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak = None
    deadline = start + timeout_s
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait(timeout=10)
            return None, f"did not exit within {timeout_s:.0f} s", {}
        hwm = vm_hwm_bytes(proc.pid)
        if hwm is not None:
            peak = hwm if peak is None else max(peak, hwm)
        time.sleep(0.05)
    stderr = proc.stderr.read()
    figures = {"peak_rss_bytes": peak, "wall_seconds": time.monotonic() - start,
               "memory_source": "VmHWM from /proc/PID/status, sampled every 50 ms"}
    return proc.returncode, stderr, figures


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p2pdist", type=Path, default=ROOT / "build" / "p2pdist")
    ap.add_argument("-N", "--leechers", type=int, default=64)
    ap.add_argument("--file-size", default="16MiB")
    ap.add_argument("--server-up", default="2MB/s")
    ap.add_argument("--peer-up", default="250kB/s")
    ap.add_argument("--mode", default="p2p", choices=["p2p", "cs"])
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds (default 600)")
    ap.add_argument("--extra", nargs="*", default=[],
                    help="more `p2pdist swarm` arguments, e.g. --extra=--time-scale=0.2")
    ap.add_argument("--keep-timeline", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "scale.json")
    args = ap.parse_args(argv)
    if not (args.p2pdist.is_file() and os.access(args.p2pdist, os.X_OK)):
        ap.error(f"--p2pdist: {args.p2pdist} is not an executable (build it: ninja -C build p2pdist)")

    tmp = Path(tempfile.mkdtemp(prefix="p2pdist-scale-"))
    try:
        swarm_json = tmp / "swarm.json"
        cmd = [str(args.p2pdist.resolve()), "swarm", "-N", str(args.leechers),
               "--file-size", args.file_size, "--server-up", args.server_up,
               "--peer-up", args.peer_up, "--mode", args.mode,
               "--timeout", f"{args.timeout:.0f}s", *args.extra, "--json", str(swarm_json)]
        print("run:", " ".join(cmd), file=sys.stderr, flush=True)
        code, stderr, figures = run_measured(cmd, args.timeout + 60)
        swarm = json.loads(swarm_json.read_text()) if swarm_json.is_file() else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if swarm is None:
        print(f"FAIL: p2pdist swarm wrote no JSON (exit {code}): {stderr.strip()[-800:]}",
              file=sys.stderr)
        return 1
    done = [l["completion_seconds"] for l in swarm["leechers"] if l["completion_seconds"] is not None]
    if not args.keep_timeline:
        swarm.pop("timeline", None)
    file_bytes = swarm["file_bytes"]
    doc = {
        "tool": "bench/scale.py",
        "command": cmd,
        "exit_code": code,
        "N": swarm["N"],
        "mode": swarm["mode"],
        "file_bytes": file_bytes,
        "server_up_bytes_per_s": swarm["server_up_bytes_per_s"],
        "peer_up_bytes_per_s": swarm["peer_up_bytes_per_s"][0] if swarm["peer_up_bytes_per_s"] else None,
        "bound": swarm["bound"],
        "distribution_seconds": swarm["distribution_seconds"],
        "ratio": swarm["ratio"],
        "data_ok": swarm["data_ok"],
        "leechers_finished": len(done),
        "completion_seconds": ({"min": min(done), "median": statistics.median(done), "max": max(done)}
                               if done else None),
        "memory_floor_bytes": (swarm["N"] + 1) * file_bytes,
        **figures,
        "swarm": swarm,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")

    mib = 1024 * 1024
    bound = swarm["bound"]
    print(f"N = {doc['N']}, F = {file_bytes / mib:g} MiB, {doc['mode']}, "
          f"u_s = {doc['server_up_bytes_per_s']} B/s, u_i = {doc['peer_up_bytes_per_s']} B/s")
    print(f"leechers finished   {len(done)} of {doc['N']}, data ok: {doc['data_ok']}")
    if bound:
        print(f"bound               {bound['seconds']:.2f} s ({bound['binding']})")
    if doc["distribution_seconds"] is not None:
        print(f"measured            {doc['distribution_seconds']:.2f} s")
    if doc["ratio"] is not None:
        print(f"measured / bound    {doc['ratio']:.3f}")
    if done:
        c = doc["completion_seconds"]
        print(f"completions         min {c['min']:.2f} s, median {c['median']:.2f} s, max {c['max']:.2f} s")
    if doc.get("peak_rss_bytes"):
        print(f"peak RSS            {doc['peak_rss_bytes'] / mib:.0f} MiB "
              f"(data alone: (N+1)·F = {doc['memory_floor_bytes'] / mib:.0f} MiB)")
    if "wall_seconds" in doc:
        cpu = doc.get("user_cpu_seconds", 0) + doc.get("system_cpu_seconds", 0)
        print(f"wall, CPU           {doc['wall_seconds']:.1f} s wall"
              + (f", {cpu:.1f} s CPU" if cpu else ""))
    print(f"wrote {args.out}")
    return 0 if code == 0 and doc["data_ok"] and len(done) == doc["N"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
