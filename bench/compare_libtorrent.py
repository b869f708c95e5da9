#!/usr/bin/python3
"""Side by side with libtorrent: the same swarm run with libtorrent peers and with ours.

For each case, alternately (to spread the machine's background load evenly):
  (a) a libtorrent swarm in this process: one libtorrent seed (127.0.0.2) and N libtorrent
      leechers (127.0.0.(10+i)), each its own lt.session bound to its own address, with
      `p2pdist tracker` as the tracker (a fresh one per run, on 127.0.0.1); throttled as
      INTEROP.md says (a peer-class filter puts 127/8 in the global, rate-limited class;
      rate_limit_ip_overhead off; uTP, DHT, LSD, UPnP, NAT-PMP off; several connections per
      IP allowed). Storage is a tmpfs directory (/dev/shm) when there is one, since our
      harness keeps its data in memory. Timed from the moment the leechers' torrents are
      added (the seed already listens, holds the file and has announced) until the last
      leecher's torrent_finished_alert;
  (b) `p2pdist swarm` with the same parameters (--json -), whose distribution time runs from
      the leechers' release to the last leecher's last verified piece.
Medians over the runs; a table on stdout (case, libtorrent s, ours s, bound s, ratios);
JSON with every run (default build/bench/compare_libtorrent.json). Rates are bytes/s
(MB = 10^6 bytes), downloads unlimited, 256 KiB pieces, finished leechers keep seeding.

Run with Debian's python (pyenv's python3 does not see python3-libtorrent):
  /usr/bin/python3 bench/compare_libtorrent.py [--quick] [--runs K] [--cases A,B] [--out FILE]
Exit 0 when every run finished, 1 when a run failed or timed out, 2 on a usage error,
77 when python3-libtorrent cannot be imported.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = 77
MIB = 1024 * 1024
PIECE_BYTES = 256 * 1024
SEED_ADDRESS = "127.0.0.2"
SAMPLE_SECONDS = 0.1   # libtorrent timeline resolution (as the harness's 100 ms)
POLL_SECONDS = 0.01    # alert polling period while a libtorrent swarm runs
VERBOSE = False        # --verbose: log the leechers' alerts

# Rates in bytes/s; 0 = unlimited.
CASES = {
    "throttled-N4": {"N": 4, "file_bytes": 32 * MIB, "server_up": 4e6, "peer_up": 2e6},
    "throttled-N8": {"N": 8, "file_bytes": 32 * MIB, "server_up": 4e6, "peer_up": 2e6},
    "unthrottled-N4": {"N": 4, "file_bytes": 256 * MIB, "server_up": 0, "peer_up": 0},
    # Small cases for the notebook's own quick comparison (not run by default).
    "tiny-N2": {"N": 2, "file_bytes": 4 * MIB, "server_up": 4e6, "peer_up": 2e6},
    "tiny-N4": {"N": 4, "file_bytes": 4 * MIB, "server_up": 4e6, "peer_up": 2e6},
}
DEFAULT_CASES = ["throttled-N4", "throttled-N8", "unthrottled-N4"]


class RunFailed(Exception):
    pass


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def leecher_address(i):
    # The harness's address plan (loopback/harness/harness.hpp), for the first 246 leechers.
    assert i < 246
    return f"127.0.0.{10 + i}"


def free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_listening(host, port, proc, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RunFailed(f"tracker exited {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RunFailed(f"tracker did not listen on {host}:{port} within {timeout_s} s")


def stop_process(proc):
    # Ends a process this script started: SIGTERM, then SIGKILL after 5 s.
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def median(values):
    return statistics.median(values) if values else None


# ---- (a) libtorrent ---------------------------------------------------------------------

def lt_session(lt, address, up_bytes_per_s, down_bytes_per_s):
    ses = lt.session({
        "listen_interfaces": f"{address}:0",
        "outgoing_interfaces": address,
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
        "enable_outgoing_utp": False, "enable_incoming_utp": False,
        "allow_multiple_connections_per_ip": True,
        "min_reconnect_time": 1,
        "rate_limit_ip_overhead": False,
        "upload_rate_limit": int(up_bytes_per_s),
        "download_rate_limit": int(down_bytes_per_s),
        "stop_tracker_timeout": 1,
        "alert_mask": (lt.alert.category_t.all_categories if VERBOSE else
                       lt.alert.category_t.status_notification
                       | lt.alert.category_t.error_notification
                       | lt.alert.category_t.tracker_notification),
    })
    # 127/8 is in libtorrent's unlimited "local" class; put every address in the global one.
    flt = lt.ip_filter()
    flt.add_rule("0.0.0.0", "255.255.255.255", 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(flt)
    return ses


def wait_alert(ses, kinds, what, timeout_s, fail_kinds=()):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        ses.wait_for_alert(100)
        for a in ses.pop_alerts():
            if isinstance(a, kinds):
                return a
            if fail_kinds and isinstance(a, fail_kinds):
                raise RunFailed(f"libtorrent: {what}: {a.message()}")
    raise RunFailed(f"libtorrent: no {what} within {timeout_s} s")


def run_libtorrent(lt, p2pdist, case, data_path, workdir, timeout_s):
    """One libtorrent swarm; returns its figures (times in seconds since t0)."""
    n = case["N"]
    port = free_port("127.0.0.1")
    tracker = subprocess.Popen([str(p2pdist), "tracker", "--listen", f"127.0.0.1:{port}",
                                "--interval", "5s"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    sessions = []
    try:
        wait_listening("127.0.0.1", port, tracker, 10)
        torrent = workdir / "lt.torrent"
        subprocess.run([str(p2pdist), "make-torrent", str(data_path), "--announce",
                        f"http://127.0.0.1:{port}/announce", "-o", str(torrent),
                        "--piece-size", f"{PIECE_BYTES}B"],
                       check=True, capture_output=True, timeout=120)
        errors = (lt.torrent_error_alert, lt.file_error_alert, lt.listen_failed_alert)

        seed = lt_session(lt, SEED_ADDRESS, case["server_up"], 0)
        sessions.append(seed)
        wait_alert(seed, lt.listen_succeeded_alert, "seed listening", 10, errors)
        atp = lt.add_torrent_params()
        atp.ti = lt.torrent_info(str(torrent))
        atp.save_path = str(data_path.parent)
        atp.flags |= lt.torrent_flags.seed_mode  # it holds the file; no check needed
        atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
        seed.add_torrent(atp)
        wait_alert(seed, lt.tracker_reply_alert, "seed announce", 20,
                   errors + (lt.tracker_error_alert,))

        leechers = []
        for i in range(n):
            ses = lt_session(lt, leecher_address(i), case["peer_up"], 0)
            sessions.append(ses)
            leechers.append(ses)
        for i, ses in enumerate(leechers):
            wait_alert(ses, lt.listen_succeeded_alert, f"leecher {i} listening", 10, errors)
        for i in range(n):
            (workdir / f"leecher{i}").mkdir()

        t0 = time.monotonic()
        handles = []
        for i, ses in enumerate(leechers):
            atp = lt.add_torrent_params()
            atp.ti = lt.torrent_info(str(torrent))
            atp.save_path = str(workdir / f"leecher{i}")
            # Start at once rather than at the session's next auto-manage tick (~0.5 s later).
            atp.flags &= ~(lt.torrent_flags.auto_managed | lt.torrent_flags.paused)
            handles.append(ses.add_torrent(atp))
        completion = [None] * n
        timeline_seconds, timeline_bytes = [], [[] for _ in range(n)]
        next_sample = t0
        deadline = t0 + timeout_s
        while None in completion:
            now = time.monotonic()
            if now > deadline:
                raise RunFailed(f"libtorrent: {completion.count(None)} of {n} leechers "
                                f"unfinished after {timeout_s:.0f} s")
            for i, ses in enumerate(leechers):
                for a in ses.pop_alerts():
                    if VERBOSE:
                        log(f"  {now - t0:7.3f} s leecher {i}: {a.message()}")
                    if isinstance(a, lt.torrent_finished_alert) and completion[i] is None:
                        completion[i] = now - t0
                    elif isinstance(a, (lt.torrent_error_alert, lt.file_error_alert)):
                        raise RunFailed(f"libtorrent leecher {i}: {a.message()}")
            if now >= next_sample:
                timeline_seconds.append(now - t0)
                for i, h in enumerate(handles):
                    timeline_bytes[i].append(h.status().total_wanted_done)
                next_sample += SAMPLE_SECONDS
            time.sleep(POLL_SECONDS)
        statuses = [h.status() for h in handles]
        if any(st.total_wanted_done != case["file_bytes"] for st in statuses):
            raise RunFailed("libtorrent: a leecher finished without the whole file")
        for st in statuses:
            if not st.is_seeding:
                raise RunFailed("libtorrent: a leecher reported finished but is not seeding")
        return {
            "distribution_seconds": max(completion),
            "leechers": [{"address": leecher_address(i), "completion_seconds": completion[i],
                          "bytes_up": st.total_payload_upload,
                          "bytes_down": st.total_payload_download}
                         for i, st in enumerate(statuses)],
            "timeline": {"seconds": timeline_seconds, "bytes_held": timeline_bytes},
        }
    finally:
        for ses in sessions:
            ses.pause()
        del sessions[:]  # the sessions shut down here (bounded by stop_tracker_timeout)
        stop_process(tracker)


# ---- (b) ours ---------------------------------------------------------------------------

def rate_arg(bytes_per_s):
    return "unlimited" if bytes_per_s == 0 else f"{bytes_per_s:.17g}B/s"


def ours_args(case):
    return ["-N", str(case["N"]), "--file-size", f"{case['file_bytes']}B",
            "--piece-size", f"{PIECE_BYTES}B", "--server-up", rate_arg(case["server_up"]),
            "--peer-up", rate_arg(case["peer_up"]), "--peer-down", "unlimited", "--mode", "p2p"]


def run_ours(p2pdist, case, timeout_s):
    cmd = [str(p2pdist), "swarm", *ours_args(case), "--timeout", f"{timeout_s:.0f}s",
           "--json", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s + 60)
    except subprocess.TimeoutExpired:
        raise RunFailed(f"{' '.join(cmd)} did not exit within {timeout_s + 60:.0f} s")
    if proc.returncode != 0:
        raise RunFailed(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    doc = json.loads(proc.stdout)
    if not doc.get("data_ok") or doc.get("distribution_seconds") is None:
        raise RunFailed(f"p2pdist swarm: data_ok={doc.get('data_ok')}, failure={doc.get('failure')}")
    return doc


# ---- driver -----------------------------------------------------------------------------

def storage_root(requested):
    if requested:
        return Path(requested)
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        return shm
    return ROOT / "build" / "bench"


def ratio(a, b):
    return a / b if a is not None and b else None


def run_case(lt, p2pdist, name, case, runs, storage, timeout_s):
    bound = json.loads(subprocess.run(
        [str(p2pdist), "bound", "-N", str(case["N"]), "--file-size", f"{case['file_bytes']}B",
         "--server-up", rate_arg(case["server_up"]), "--peer-up", rate_arg(case["peer_up"]),
         "--peer-down", "unlimited", "--json", "-"],
        check=True, capture_output=True, text=True, timeout=60).stdout)["p2p"] \
        if case["server_up"] else None
    result = {"case": name, **{k: case[k] for k in ("N", "file_bytes")},
              "piece_bytes": PIECE_BYTES,
              "server_up_bytes_per_s": case["server_up"] or None,
              "peer_up_bytes_per_s": case["peer_up"] or None,
              "peer_down_bytes_per_s": None,
              "bound": ({"seconds": bound["seconds"], "binding": bound["binding"]} if bound else None),
              "libtorrent": {"runs": [], "failures": []}, "ours": {"runs": [], "failures": []}}
    workdir = Path(tempfile.mkdtemp(prefix="p2pdist-compare-", dir=storage))
    try:
        data = workdir / "seed" / f"compare-{case['file_bytes']}.bin"
        data.parent.mkdir()
        with open(data, "wb") as f:  # random, so that nothing compresses or dedups
            left = case["file_bytes"]
            while left:
                chunk = min(left, 8 * MIB)
                f.write(os.urandom(chunk))
                left -= chunk
        for k in range(runs):
            run_dir = workdir / f"lt-run{k}"
            run_dir.mkdir()
            for who, fn in (("libtorrent", lambda: run_libtorrent(lt, p2pdist, case, data,
                                                                   run_dir, timeout_s)),
                            ("ours", lambda: run_ours(p2pdist, case, timeout_s))):
                log(f"{name}: {who} run {k + 1} of {runs} ...")
                try:
                    r = fn()
                    result[who]["runs"].append(r)
                    log(f"{name}: {who} run {k + 1}: {r['distribution_seconds']:.3f} s")
                except RunFailed as e:
                    result[who]["failures"].append(str(e))
                    log(f"{name}: {who} run {k + 1} FAILED: {e}")
            shutil.rmtree(run_dir, ignore_errors=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    bound_s = result["bound"]["seconds"] if result["bound"] else None
    for who in ("libtorrent", "ours"):
        times = [r["distribution_seconds"] for r in result[who]["runs"]]
        result[who]["median_seconds"] = median(times)
        result[who]["min_seconds"] = min(times) if times else None
        result[who]["max_seconds"] = max(times) if times else None
        result[who]["ratio_to_bound"] = ratio(result[who]["median_seconds"], bound_s)
    result["ours_over_libtorrent"] = ratio(result["ours"]["median_seconds"],
                                           result["libtorrent"]["median_seconds"])
    return result


def fmt(v, spec):
    # format(v, spec), or "-" right-aligned in the same width when v is None.
    return format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0] or 0))


def print_table(results, runs):
    print(f"medians of {runs} run{'s' if runs > 1 else ''} (seconds; bound = D_p2p)")
    head = f"{'case':<16} {'libtorrent s':>12} {'ours s':>8} {'bound s':>8} " \
           f"{'lt/bound':>8} {'ours/bound':>10} {'ours/lt':>8}"
    print(head)
    print("-" * len(head))
    for r in results:
        lt_r, ours = r["libtorrent"], r["ours"]
        print(f"{r['case']:<16} {fmt(lt_r['median_seconds'], '12.2f')} "
              f"{fmt(ours['median_seconds'], '8.2f')} "
              f"{fmt(r['bound']['seconds'] if r['bound'] else None, '8.2f')} "
              f"{fmt(lt_r['ratio_to_bound'], '8.2f')} {fmt(ours['ratio_to_bound'], '10.2f')} "
              f"{fmt(r['ours_over_libtorrent'], '8.2f')}")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p2pdist", type=Path, default=ROOT / "build" / "p2pdist",
                    help="the built executable (default build/p2pdist)")
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "bench" / "compare_libtorrent.json",
                    help="JSON output (default build/bench/compare_libtorrent.json)")
    ap.add_argument("--runs", type=int, default=3, help="runs per case and client (default 3)")
    ap.add_argument("--quick", action="store_true", help="one run per case")
    ap.add_argument("--cases", default=",".join(DEFAULT_CASES),
                    help=f"comma-separated, from {', '.join(CASES)} (default {','.join(DEFAULT_CASES)})")
    ap.add_argument("--storage", help="directory for libtorrent's files (default /dev/shm)")
    ap.add_argument("--verbose", action="store_true", help="log the libtorrent leechers' alerts")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds one swarm run may take (default 120)")
    args = ap.parse_args(argv)
    names = [c for c in args.cases.split(",") if c]
    unknown = [c for c in names if c not in CASES]
    if unknown or not names:
        ap.error(f"--cases: unknown {', '.join(unknown) or '(none given)'}; known: {', '.join(CASES)}")
    runs = 1 if args.quick else args.runs
    global VERBOSE
    VERBOSE = args.verbose
    if runs < 1:
        ap.error("--runs: must be at least 1")
    if not (args.p2pdist.is_file() and os.access(args.p2pdist, os.X_OK)):
        ap.error(f"--p2pdist: {args.p2pdist} is not an executable (build it: ninja -C build p2pdist)")
    try:
        import libtorrent as lt
    except ImportError:
        print(f"SKIP: python3-libtorrent is not visible to {sys.executable} "
              "(apt-get install python3-libtorrent; run with /usr/bin/python3)", file=sys.stderr)
        return SKIP

    storage = storage_root(args.storage)
    results = [run_case(lt, args.p2pdist.resolve(), name, CASES[name], runs, storage, args.timeout)
               for name in names]
    doc = {"tool": "bench/compare_libtorrent.py", "runs": runs,
           "libtorrent_version": lt.__version__, "p2pdist": str(args.p2pdist.resolve()),
           "libtorrent_storage": str(storage), "ours_storage": "memory",
           "timing": {"libtorrent": "torrents added to the leechers' sessions -> last torrent_finished_alert",
                      "ours": "p2pdist swarm distribution_seconds (release -> last verified piece)"},
           "cases": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print_table(results, runs)
    print(f"wrote {args.out}")
    failed = sum(len(r[w]["failures"]) for r in results for w in ("libtorrent", "ours"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
