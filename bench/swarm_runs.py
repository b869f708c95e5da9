"""Shared by the bench scripts that run `p2pdist swarm` over N: run one swarm and read its
JSON, turn a swarm document into one row of figures, and write the rows' JSON file."""

import json
import os
import re
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
        "first_byte_seconds": doc.get("first_byte_seconds"),
        "latency_bound_seconds": (doc.get("latency_bound") or {}).get("seconds"),
        "ratio_to_latency_bound": doc.get("ratio_to_latency_bound"),
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


def binary_version(binary):
    """The code a p2pdist binary was built from, as it says itself (p2pdist --version)."""
    said = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    m = re.search(r"\(commit ([0-9a-f]+|unknown)(, uncommitted changes)?\)", said)
    return {"version": said, "commit": m[1] if m and m[1] != "unknown" else None,
            "uncommitted_engine_changes": bool(m and m[2])}


def write_summary(path, generated_by, binary, fields, rows):
    """A compact record of a run for the repository, beside the notebook that plots it: the
    rows without their swarm documents, the command line, the binary's version and commit,
    and `fields` (what the script ran)."""
    compact = [{k: v for k, v in r.items() if k != "document"} for r in rows]
    for row, r in zip(compact, rows):  # rows read back from an older run's JSON lack it
        if "first_byte_seconds" not in row and "document" in r:
            row["first_byte_seconds"] = r["document"].get("first_byte_seconds")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"generated_by": generated_by, "command": " ".join(sys.argv), **fields,
                   "p2pdist": binary_version(binary), "rows": compact}, f, indent=1)
        f.write("\n")
    print(f"wrote {path}", file=sys.stderr)


# The swarm bench/rtt.py and bench/loss.py run (the README's network-effects swarm): its
# arguments, and the fields their summaries record of it.
NETWORK_SWARM_ARGS = ["-N", "8", "--file-size", "32MiB", "--piece-size", "64KiB", "--server-up", "8MB/s",
                      "--peer-up", "4MB/s", "--time-scale", "0.2"]
NETWORK_SWARM_FIELDS = {"N": 8, "file_size": "32MiB", "piece_size": "64KiB", "server_up_bytes_per_s": 8e6,
                        "peer_up_bytes_per_s": 4e6, "time_scale": 0.2}


def finish(args, generated_by, rows, fields):
    """The end of a script with --out, --summary and --from-json: writes --out (unless the rows
    came from an earlier run's), the summary if asked; returns the exit status."""
    if not args.from_json:
        write(args.out, generated_by, args, rows)
    if args.summary:
        write_summary(args.summary, generated_by, args.bin, {**fields, "repeat": args.repeat}, rows)
    return 0 if all_ok(rows) else 1


def all_ok(rows):
    return all(r.get("exit_status") == 0 and r.get("data_ok") for r in rows)
