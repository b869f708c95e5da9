#!/usr/bin/env python3
"""The tracker and a seed under a bounded flood from a second process: honest peers complete.

`p2pdist tracker` on 127.0.0.1 (1 s interval) and `p2pdist seed` on 127.0.0.2 (upload
limited to 4 MB/s, so that a download takes a second or two and the leechers trade among
themselves) share FILE_BYTES of random data. First, three honest `p2pdist get` leechers
(127.0.0.3-5) download it with no flood: the baseline. Then flood.py, in its own process
from 127.0.0.66, floods the tracker and the seed (announces for random torrents, fake peers
for the real one, malformed, oversized, silent, partial and keep-alive requests; silent,
handshake-then-silent, wrong-hash and connect-close peer connections), and once it is at
full strength three more leechers (127.0.0.6-8) download the file.

Checks: every leecher completes with the file byte for byte, the flooded ones while the
flood still runs (it is bounded at FLOOD_S, well beyond LEECH_TIMEOUT_S: a peer locked out
by the flood completes only after it, or never); a fresh announce made during the flood
lists the seed among at most 50 peers although the flood has announced hundreds of fake
peers for the torrent; the flood really ran (its requests were answered, its handshakes
too); after the flood (ended by SIGINT) the tracker answers a fresh announce and a scrape
counting the seed, the tracker and the seed are still running, their peak RSS (VmHWM)
stays under the bounds below, and both stop on SIGINT with exit 0.

Memory bounds (VmHWM; measured on x86-64 Debian 12, g++ 12 RelWithDebInfo, with this flood:
tracker about 8 MiB, seed about 10 MiB). The tracker holds at most max_connections (1024)
connections of at most max_request_bytes (8 KiB) of buffer plus an answer, under 10 MiB,
plus its swarm tables, which max_peers_per_address (1024) keeps to about a thousand entries
of a few hundred bytes from the one flooding address: TRACKER_HWM_BYTES = 48 MiB is several
times what the design allows, and an unbounded connection list or table grows past it in
seconds under this flood. The seed reads its file through the page cache (not its heap) and
holds at most max_peers (80) connections with their buffers (a read chunk of at most
256 KiB, up to 16 blocks of 16 KiB per write): under 80 x 0.6 MiB, about 48 MiB, in the
worst case, so SEED_HWM_BYTES = FILE_BYTES + 64 MiB. Of those, the flooding address holds at
most max_peers_per_address (8): without that bound, its connections (each evictable only
once it has been silent for 5 s) filled the seed, which refused every dial of a flooded
leecher, now and then for longer than LEECH_TIMEOUT_S under a sanitizer.

Processes are ended by PID only (SIGINT, then SIGKILL after a bound); every wait is bounded.

Run with Debian's python: /usr/bin/python3 flood_swarm.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "interop"))
import interop_common as ic  # noqa: E402
import flood  # noqa: E402  (flood.py beside this script)

FILE_BYTES = 4 * 1024 * 1024 + 777
SEED_UP = "4MB/s"              # one copy of the file leaves the seed in about 1 s
BASELINE = ("127.0.0.3", "127.0.0.4", "127.0.0.5")
FLOODED = ("127.0.0.6", "127.0.0.7", "127.0.0.8")
PROBE_ADDRESS = "127.0.0.9"    # the fresh announces and the scrape
FLOOD_SOURCE = "127.0.0.66"
LEECH_TIMEOUT_S = 25           # each: about 2 s unflooded
FLOOD_S = 45                   # flood.py stops starting connections then (it is ended sooner)
FLOOD_ANNOUNCES = 40000        # bounds only: the test ends the flood once the leechers are done
FLOOD_PEER_CONNECTIONS = 20000
FLOOD_CONCURRENCY = 600
TRACKER_HWM_BYTES = 48 * 1024 * 1024
SEED_HWM_BYTES = FILE_BYTES + 64 * 1024 * 1024


class Procs(ic.Processes):
    """Ends what it started by PID: SIGINT, then SIGKILL after a bound."""

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            try:
                if p.popen.poll() is None:
                    p.popen.send_signal(signal.SIGINT)
                    try:
                        p.popen.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        p.popen.kill()
                        p.popen.wait(timeout=5)
                if p.popen.stdout:
                    p.popen.stdout.close()
            except Exception as e:  # keep ending the others
                print(f"warning: could not end {p.name} (pid {p.popen.pid}): {e}")
        return False


def proc_status(pid, field):
    """A `kB` field of /proc/PID/status, in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise ic.Failure(f"/proc/{pid}/status has no {field}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bdecode(data, i=0):
    """A small bencode decoder for the tracker's answers: (value, end index)."""
    c = data[i:i + 1]
    if c == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1:end]), end + 1
    if c == b"l":
        out, i = [], i + 1
        while data[i:i + 1] != b"e":
            v, i = bdecode(data, i)
            out.append(v)
        return out, i + 1
    if c == b"d":
        out, i = {}, i + 1
        while data[i:i + 1] != b"e":
            k, i = bdecode(data, i)
            out[k], i = bdecode(data, i)
        return out, i + 1
    colon = data.index(b":", i)
    n = int(data[i:colon])
    return data[colon + 1:colon + 1 + n], colon + 1 + n


def http_get(host, port, target, source, timeout_s=10):
    """One GET from `source`; returns (status, body)."""
    with socket.create_connection((host, port), timeout=timeout_s, source_address=(source, 0)) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.") else 0
    return status, body


def probe_announce(tracker_port, info_hash):
    """A fresh peer's announce (from PROBE_ADDRESS, numwant 50); the (address, port) listed."""
    q = urllib.parse.quote_from_bytes
    peer_id = b"-PR0001-" + os.urandom(12)
    status, answer = http_get("127.0.0.1", tracker_port,
                              f"/announce?info_hash={q(info_hash, safe='')}&peer_id={q(peer_id, safe='')}"
                              "&port=6881&uploaded=0&downloaded=0&left=1&compact=1&numwant=50", PROBE_ADDRESS)
    ic.expect(status == 200, f"a fresh announce gets HTTP {status}")
    decoded, _ = bdecode(answer)
    ic.expect(b"failure reason" not in decoded, f"the fresh announce succeeds ({decoded.get(b'failure reason')})")
    peers = decoded.get(b"peers", b"")
    return {(".".join(str(b) for b in peers[i:i + 4]), int.from_bytes(peers[i + 4:i + 6], "big"))
            for i in range(0, len(peers) - 5, 6)}


def run_leechers(procs, args, torrent, data_path, addresses, tag):
    """Starts one `get` per address at once; waits for each to complete and exit 0.
    Returns the completion times in seconds, as the leechers print them."""
    gets = []
    for address in addresses:
        out = os.path.join(args.workdir, f"{tag}-{address}", "sample.bin")
        os.makedirs(os.path.dirname(out))
        gets.append((ic.start_get(procs, args.p2pdist, torrent, out, address, f"{tag} get {address}"), out))
    times = []
    for get, out in gets:
        line = get.wait_line(r"^complete", LEECH_TIMEOUT_S)
        m = re.search(r" in ([0-9.]+) s", line)
        ic.expect(m is not None, f"{get.name} says how long its download took ({line})")
        times.append(float(m.group(1)))
        ic.expect(get.wait_exit(15) == 0, f"{get.name} exits 0 once complete")
        ic.expect_same_file(out, data_path, get.name)
    return times


def body(args, procs):
    data_path = os.path.join(args.workdir, "sample.bin")
    torrent = os.path.join(args.workdir, "sample.torrent")
    ic.make_data(data_path, FILE_BYTES, 7)
    tracker, announce = ic.start_tracker(procs, args.p2pdist)
    tracker_port = int(re.search(r":(\d+)/announce", announce).group(1))
    ic.make_torrent(args.p2pdist, data_path, announce, torrent)
    seed = ic.start_seed(procs, args.p2pdist, torrent, data_path, "127.0.0.2", extra=("--up", SEED_UP))
    seed_port = int(re.search(r"127\.0\.0\.2:(\d+)", next(l for l in seed.lines if "seeding" in l)).group(1))
    info_hash = flood.torrent_info_hash(torrent)  # computed here, independently of p2pdist

    ic.log("baseline: three leechers, no flood")
    baseline = run_leechers(procs, args, torrent, data_path, BASELINE, "baseline")

    ic.log("flood: flood.py against the tracker and the seed, from its own process")
    flood_out = os.path.join(args.workdir, "flood.json")
    flooder = procs.start("flood", [sys.executable, os.path.join(HERE, "flood.py"),
                                    "--tracker", f"127.0.0.1:{tracker_port}", "--peer", f"127.0.0.2:{seed_port}",
                                    "--torrent", torrent, "--output", flood_out,
                                    "--announces", str(args.announces), "--peer-connections", str(args.peer_connections),
                                    "--concurrency", str(args.concurrency), "--duration", str(FLOOD_S),
                                    "--hold", "3", "--source", FLOOD_SOURCE])
    flooder.wait_line(r"flooding", 15)
    flooded = run_leechers(procs, args, torrent, data_path, FLOODED, "flooded")
    ic.expect(flooder.popen.poll() is None, "the flooded leechers completed while the flood was running")
    ic.log("during the flood: a fresh peer asks the tracker for 50 peers")
    listed = probe_announce(tracker_port, info_hash)
    ic.expect(("127.0.0.2", seed_port) in listed,
              f"the fresh announce lists the seed among its {len(listed)} peers (fake flood peers do not crowd it out)")
    fakes = sum(1 for ip, _ in listed if ip == FLOOD_SOURCE)
    ic.expect(fakes > 0, f"the tracker does hold fake flood peers for the torrent ({fakes} of {len(listed)} listed)")
    if args.whole_flood:  # figures: the flood runs out its counts
        code = flooder.wait_exit(FLOOD_S + 3 + 5 + 10)
        ic.expect(code == 0, f"flood.py ends with exit 0 ({flooder.tail(3)})")
    else:
        flooder.signal(signal.SIGINT)
        code = flooder.wait_exit(15)
        ic.expect(code == 0, f"flood.py ends on SIGINT with exit 0 ({flooder.tail(3)})")
    with open(flood_out) as f:
        report = json.load(f)
    tr, pr = report["tracker"], report["peer"]
    print(f"   [flood] {report['connections']} connections in {report['duration_s']} s "
          f"({report['rate_per_s']}/s), at most {report['max_open']} open; tracker {tr['total']}, "
          f"HTTP {tr['http_status']}; peer {pr['total']}, errors {pr['errors']}", flush=True)
    requests = sum(tr["by_kind"].get(k, {}).get("started", 0) for k in ("random", "fake_peer", "malformed"))
    answered = sum(tr["by_kind"].get(k, {}).get("answered", 0) for k in ("random", "fake_peer", "malformed"))
    ic.expect(report["connections"] >= 1000, f"the flood made {report['connections']} connections (>= 1000)")
    # Those still in flight when the flood was interrupted are not answered; a few hundred at most.
    ic.expect(answered >= 0.8 * requests,
              f"the tracker answered {answered} of {requests} flood announces and malformed requests (>= 80%)")
    ic.expect(tr["http_status"].get("200", 0) > 0 and any(s.startswith("4") for s in tr["http_status"]),
              f"the flood drew both 200 and 4xx answers ({tr['http_status']})")
    ic.expect(pr["handshakes_for_our_torrent"] > 0,
              f"the seed answered {pr['handshakes_for_our_torrent']} flood handshakes with its own")

    ic.log("after the flood: the tracker and the seed still serve")
    ic.expect(tracker.popen.poll() is None and seed.popen.poll() is None, "the tracker and the seed are running")
    listed = probe_announce(tracker_port, info_hash)
    ic.expect(("127.0.0.2", seed_port) in listed, f"a fresh announce lists the seed ({len(listed)} peers)")
    q = urllib.parse.quote_from_bytes
    status, answer = http_get("127.0.0.1", tracker_port, f"/scrape?info_hash={q(info_hash, safe='')}", PROBE_ADDRESS)
    ic.expect(status == 200, f"a scrape gets HTTP {status}")
    files = bdecode(answer)[0].get(b"files", {})
    entry = files.get(info_hash, {})
    ic.expect(entry.get(b"complete", 0) >= 1, f"the scrape counts the seed ({entry})")
    # (Not `downloaded`: a `get` that exits at completion announces `stopped`, not `completed`.)

    tracker_hwm = proc_status(tracker.popen.pid, "VmHWM")
    seed_hwm = proc_status(seed.popen.pid, "VmHWM")
    tracker_cpu, seed_cpu = cpu_seconds(tracker.popen.pid), cpu_seconds(seed.popen.pid)
    if os.environ.get("P2PDIST_SANITIZE"):
        # A sanitized build's RSS is mostly shadow memory, redzones and quarantine (the
        # tracker peaks near 90 MiB under ASan): the bounds are for the real binary, so they
        # are only logged here; LeakSanitizer checks both processes when they stop.
        print(f"sanitized build ({os.environ['P2PDIST_SANITIZE']}): peak RSS tracker "
              f"{tracker_hwm / 2**20:.1f} MiB, seed {seed_hwm / 2**20:.1f} MiB (not checked)", flush=True)
    else:
        ic.expect(tracker_hwm < TRACKER_HWM_BYTES,
                  f"tracker peak RSS {tracker_hwm / 2**20:.1f} MiB < {TRACKER_HWM_BYTES / 2**20:.0f} MiB")
        ic.expect(seed_hwm < SEED_HWM_BYTES,
                  f"seed peak RSS {seed_hwm / 2**20:.1f} MiB < {SEED_HWM_BYTES / 2**20:.0f} MiB")

    for p in (seed, tracker):
        p.signal(signal.SIGINT)
        ic.expect(p.wait_exit(15) == 0, f"{p.name} stops on SIGINT with exit 0")

    print("summary: " + json.dumps({
        "flood": {"connections": report["connections"], "duration_s": report["duration_s"],
                  "rate_per_s": report["rate_per_s"], "max_open": report["max_open"],
                  "tracker": tr["total"], "peer": pr["total"], "peer_errors": pr["errors"]},
        "leecher_completion_s": {"no_flood": baseline, "flood": flooded},
        "peak_rss_mib": {"tracker": round(tracker_hwm / 2**20, 1), "seed": round(seed_hwm / 2**20, 1)},
        "cpu_s": {"tracker": round(tracker_cpu, 2), "seed": round(seed_cpu, 2)},
    }), flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--p2pdist", required=True, help="the p2pdist executable")
    ap.add_argument("--workdir", required=True, help="a scratch directory (emptied)")
    ap.add_argument("--announces", type=int, default=FLOOD_ANNOUNCES, help="flood: tracker connections at most")
    ap.add_argument("--peer-connections", type=int, default=FLOOD_PEER_CONNECTIONS,
                    help="flood: seed connections at most")
    ap.add_argument("--concurrency", type=int, default=FLOOD_CONCURRENCY, help="flood: sockets open at once")
    ap.add_argument("--whole-flood", action="store_true",
                    help="let the flood run out its counts instead of ending it once the leechers are done "
                         "(for figures)")
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    return args


def main():
    args = parse_args()
    try:
        with Procs() as procs:
            body(args, procs)
    except (ic.Failure, OSError, subprocess.SubprocessError, ValueError, KeyError) as e:
        print(f"FAIL: {e!r}")
        return 1
    print("PASS: flood_swarm.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
