#!/usr/bin/env python3
"""The UDP tracker protocol (BEP 15) against real parts, both ways.

1. Our tracker (`p2pdist tracker --udp`) with a real client: our seed on 127.0.0.2 and a
   libtorrent session on 127.0.0.20 both announce to udp://127.0.0.1:PORT/announce;
   libtorrent learns the seed from our tracker's UDP answer and must end with the file byte
   for byte. (aria2 speaks UDP trackers only through its DHT socket, which stays off here.)
2. Our client with a real tracker: opentracker on 127.0.0.1 (UDP and TCP on a free port, the
   torrent on its whitelist, as Debian builds it with one); our seed and our get announce to
   it over UDP, the get learns the seed from it and completes with the file byte for byte;
   `p2pdist scrape` over UDP then finds the seed listed.

Run with Debian's python: /usr/bin/python3 udp_tracker.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (python3-libtorrent or opentracker not installed).
"""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

import interop_common as ic

FILE_BYTES = 3 * 1024 * 1024 + 555
DOWNLOAD_TIMEOUT_S = 30


def free_udp_and_tcp_port():
    """A port free for both UDP and TCP on 127.0.0.1 (opentracker takes both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise ic.Failure("no port free for both UDP and TCP on 127.0.0.1")


def wait_udp_tracker(port, timeout_s):
    """Sends BEP 15 connects to 127.0.0.1:port until one is answered (bounded)."""
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        while time.monotonic() < deadline:
            s.sendto(struct.pack(">QII", 0x41727101980, 0, 7), ("127.0.0.1", port))
            try:
                answer = s.recv(64)
            except OSError:  # no answer yet, or refused: not listening yet
                time.sleep(0.1)
                continue
            if len(answer) >= 16 and struct.unpack(">II", answer[:8]) == (0, 7):
                return
    raise ic.Failure(f"opentracker did not answer a UDP connect on 127.0.0.1:{port} within {timeout_s} s")


def info_hash_of(p2pdist, torrent):
    r = subprocess.run([p2pdist, "info", torrent], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ic.Failure(f"info exited {r.returncode}: {r.stderr.strip()}")
    return next(line.split()[-1] for line in r.stdout.splitlines() if line.startswith("info-hash:"))


def our_tracker_with_libtorrent(args, procs):
    lt = ic.import_libtorrent()
    data_path, torrent, seed = ic.seeded_swarm(procs, args, FILE_BYTES, 5, seed_extra=("--verbose",), udp=True)
    save = os.path.join(args.workdir, "libtorrent")
    os.makedirs(save)
    lt_ses = ic.LtSession(lt, "127.0.0.20")
    handle = lt_ses.add(torrent, save)
    lt_ses.wait_alert(lt.tracker_reply_alert, "answer from our UDP tracker", 20)
    lt_ses.wait(handle, lambda s: s.is_seeding, "complete", DOWNLOAD_TIMEOUT_S)
    lt_ses.remove(handle)
    ic.expect_same_file(os.path.join(save, "sample.bin"), data_path, "libtorrent")
    seed.wait_line(r"peer 127\.0\.0\.20:\d+ connected", 5)
    seed.signal(signal.SIGTERM)
    ic.expect(seed.wait_exit(15) == 0, "our seed stops on SIGTERM with exit 0")


def opentracker_with_ours(args, procs):
    exe = shutil.which("opentracker")
    if exe is None:
        raise ic.Skip("opentracker is not installed (apt-get install opentracker)")
    work = os.path.join(args.workdir, "opentracker")
    os.makedirs(work)
    data_path = os.path.join(work, "sample.bin")
    torrent = os.path.join(work, "sample.torrent")
    ic.make_data(data_path, FILE_BYTES, 6)
    port = free_udp_and_tcp_port()
    ic.make_torrent(args.p2pdist, data_path, f"udp://127.0.0.1:{port}/announce", torrent)
    info_hash = info_hash_of(args.p2pdist, torrent)
    whitelist = os.path.join(work, "whitelist.txt")
    with open(whitelist, "w") as f:
        f.write(info_hash + "\n")
    # Run in `work`: opentracker chroots to its working directory where it can (as root).
    procs.start("opentracker", [exe, "-i", "127.0.0.1", "-p", str(port), "-P", str(port), "-w", whitelist],
                cwd=work)
    wait_udp_tracker(port, 10)
    seed = ic.start_seed(procs, args.p2pdist, torrent, data_path, "127.0.0.2", extra=("--verbose",))
    out = os.path.join(work, "copy.bin")
    g = ic.start_get(procs, args.p2pdist, torrent, out, "127.0.0.3", "our get", extra=("--verbose",))
    g.wait_line(r"tracker: announced started", 20)
    g.wait_line(r"complete: ", 40)
    ic.expect(g.wait_exit(20) == 0, "our get exits 0 once complete, its peer from opentracker over UDP")
    ic.expect_same_file(out, data_path, "our get")
    # Our scrape over UDP: opentracker lists the seed (and counts the get's `completed`).
    r = subprocess.run([args.p2pdist, "scrape", torrent, "--json", "-"], capture_output=True, text=True, timeout=30)
    ic.expect(r.returncode == 0, f"p2pdist scrape of opentracker over UDP exits 0 ({r.stderr.strip()})")
    counts = json.loads(r.stdout)
    ic.log(f"opentracker scrape: {counts}")
    ic.expect(counts["complete"] >= 1, "opentracker's scrape lists at least our seed")
    seed.signal(signal.SIGTERM)
    ic.expect(seed.wait_exit(15) == 0, "our seed stops on SIGTERM with exit 0")


def body(args, procs):
    our_tracker_with_libtorrent(args, procs)
    opentracker_with_ours(args, procs)


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
