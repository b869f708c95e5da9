"""Shared by the bench scripts that run `p2pdist swarm` over N: run one swarm and read its
JSON, turn a swarm document into one row of figures, and write the rows' JSON file."""

import json
import os
import subprocess
import sys
import time

MIB = 1 << 20


def run(cmd, label):
    """Runs `cmd` (a `p2pdist swarm --json -` command line), saying `label` on stderr first.
    Returns (document or None, exit status, wall seconds, stderr)."""
    print(label, file=sys.stderr, flush=True)
    started = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - started
    try:
        return json.loads(proc.stdout), proc.returncode, wall, proc.stderr
    except json.JSONDecodeError:
        print(f"    failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}", file=sys.stderr)
        return None, proc.returncode, wall, proc.stderr


def row_of(n, doc, status, wall):
    """The figures of one swarm document every script reports (the document itself kept,
    its timeline dropped)."""
    row = {
        "N": n, "exit_status": status, "wall_seconds": wall,
        "bound_seconds": doc["bound"]["seconds"], "binding": doc["bound"]["binding"],
        "piece_bound_seconds": doc["piece_bound"]["seconds"], "piece_binding": doc["piece_bound"]["binding"],
        "measured_seconds": doc["distribution_seconds"], "ratio": doc["ratio"],
        "ratio_to_piece_bound": doc["ratio_to_piece_bound"],
        "cpu_seconds": doc["cpu_seconds"], "peak_rss_bytes": doc["peak_rss_bytes"],
        "max_peers": doc["max_peers"], "data_ok": doc["data_ok"],
    }
    doc.pop("timeline", None)
    row["document"] = doc
    return row


def failed_row(n, status, wall, stderr):
    return {"N": n, "exit_status": status, "wall_seconds": wall, "stderr": stderr[-2000:]}


def write(path, generated_by, args, rows):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"generated_by": generated_by, "arguments": vars(args), "rows": rows}, f, indent=1)
    print(f"wrote {path}", file=sys.stderr)


def all_ok(rows):
    return all(r.get("exit_status") == 0 and r.get("data_ok") for r in rows)
