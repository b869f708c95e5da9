"""Shared helpers for the interop tests with real BitTorrent clients.

Processes: every process a test starts goes through a `Processes` context, which ends them
(by PID: terminate, then kill after a bound) when the test leaves it, also on failure.
Every wait has a deadline. libtorrent sessions get the settings a loopback swarm needs
(see /work/shared/INTEROP.md): several connections per IP, no DHT/LSD/UPnP/NAT-PMP, no uTP,
listen and outgoing interfaces on the session's own 127.0.0.x, min_reconnect_time=1.

Exit codes of the scripts: 0 pass, 1 fail, 77 skip (only when a partner is not installed).
"""

import argparse
import hashlib
import os
import queue
import random
import re
import shutil
import subprocess
import sys
import threading
import time

SKIP = 77
PIECE_SIZE = "256KiB"


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)
    print(f"ok: {what}", flush=True)


def log(what):
    print(f"-- {what}", flush=True)


def parse_args(doc):
    ap = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    ap.add_argument("--p2pdist", required=True, help="the p2pdist executable")
    ap.add_argument("--workdir", required=True, help="a scratch directory (emptied)")
    args = ap.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    return args


def main(doc, body):
    """Runs body(args, procs) and maps its outcome to the exit code."""
    args = parse_args(doc)
    name = os.path.basename(sys.argv[0])
    try:
        with Processes() as procs:
            body(args, procs)
    except Skip as e:
        print(f"SKIP: {e}")
        return SKIP
    except (Failure, OSError, subprocess.SubprocessError) as e:
        print(f"FAIL: {e}")
        return 1
    print(f"PASS: {name}")
    return 0


# ---- partners ------------------------------------------------------------------------------

def import_libtorrent():
    try:
        import libtorrent as lt
    except ImportError:
        raise Skip("python3-libtorrent is not installed or not visible to "
                   f"{sys.executable} (apt-get install python3-libtorrent; run /usr/bin/python3)")
    return lt


def require_aria2():
    exe = shutil.which("aria2c")
    if exe is None:
        raise Skip("aria2 is not installed (apt-get install aria2)")
    return exe


# ---- files -------------------------------------------------------------------------------

def make_data(path, size_bytes, seed):
    data = random.Random(seed).randbytes(size_bytes)
    with open(path, "wb") as f:
        f.write(data)
    return data


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expect_same_file(path, original_path, who):
    expect(os.path.isfile(path), f"{who}: {path} exists")
    expect(os.path.getsize(path) == os.path.getsize(original_path),
           f"{who}: {os.path.getsize(path)} bytes, as the original")
    expect(digest(path) == digest(original_path), f"{who}: the file equals the original byte for byte")


def make_torrent(p2pdist, data_path, announce, torrent_path, piece_size=PIECE_SIZE):
    """`p2pdist make-torrent` of a file, or of a directory (a multi-file torrent)."""
    r = subprocess.run([p2pdist, "make-torrent", data_path, "--announce", announce, "-o", torrent_path,
                        "--piece-size", piece_size], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failure(f"make-torrent exited {r.returncode}: {r.stderr.strip()}")


# ---- processes -----------------------------------------------------------------------------

class Proc:
    """A started process whose stdout (and stderr, merged) is read line by line by a thread."""

    def __init__(self, name, cmd, cwd=None):
        self.name = name
        self.cmd = cmd
        self.lines = []
        self._queue = queue.Queue()
        log(f"start {name}: {' '.join(cmd)}")
        self.popen = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True, bufsize=1, cwd=cwd)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.popen.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_line(self, pattern, timeout_s):
        """The first new line matching the regex `pattern`; Failure at the deadline or exit."""
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Failure(f"{self.name}: no line matching {pattern!r} within {timeout_s} s; "
                              f"output so far: {self.tail()}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                self._queue.put(None)
                raise Failure(f"{self.name} exited ({self.popen.wait(5)}) before a line matching "
                              f"{pattern!r}; output: {self.tail()}")
            self.lines.append(line)
            print(f"   [{self.name}] {line}", flush=True)
            if re.search(pattern, line):
                return line

    def wait_exit(self, timeout_s):
        try:
            code = self.popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise Failure(f"{self.name} did not exit within {timeout_s} s")
        self._reader.join(timeout=5)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
            print(f"   [{self.name}] {line}", flush=True)
        return code

    def signal(self, signo):
        if self.popen.poll() is None:
            self.popen.send_signal(signo)

    def tail(self, n=8):
        return " | ".join(self.lines[-n:]) or "(nothing)"

    def end(self, grace_s=5):
        """Ends the process by its PID: terminate, then kill after grace_s."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=grace_s)
        if self.popen.stdout:
            self.popen.stdout.close()


class Processes:
    """Context manager holding every process a test started; ends them all on exit."""

    def __init__(self):
        self.procs = []

    def __enter__(self):
        return self

    def start(self, name, cmd, cwd=None):
        p = Proc(name, cmd, cwd)
        self.procs.append(p)
        return p

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            try:
                p.end()
            except Exception as e:  # keep ending the others
                print(f"warning: could not end {p.name} (pid {p.popen.pid}): {e}")
        return False


def host_port(address, port):
    """ADDR:PORT as written in a URL or a --listen flag: an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def start_tracker(procs, p2pdist, udp=False, address="127.0.0.1"):
    """Our tracker on `address`, any port, 1 s interval; returns (proc, announce URL), the
    udp:// one with `udp` (BEP 15, served beside HTTP on the same port)."""
    t = procs.start("tracker", [p2pdist, "tracker", "--listen", host_port(address, 0), "--interval", "1s",
                                *(["--udp"] if udp else [])])
    line = t.wait_line(r"tracker listening on udp" if udp else r"tracker listening on", 10)
    scheme = "udp" if udp else "http"
    url = re.search(scheme + "://" + re.escape(host_port(address, "")) + r"\d+/announce", line).group(0)
    return t, url


def start_seed(procs, p2pdist, torrent, data_path, address, name="our seed", extra=()):
    """`p2pdist seed` on `address`; waits until it seeds and the tracker knows it."""
    s = procs.start(name, [p2pdist, "seed", torrent, data_path, "--listen", host_port(address, 0), *extra])
    s.wait_line(r"seeding", 30)
    s.wait_line(r"tracker: announced", 15)
    return s


def seeded_swarm(procs, args, size_bytes, data_seed, seed_extra=(), udp=False):
    """Random data, our tracker (announced over UDP with `udp`), a torrent for it and our
    seed on 127.0.0.2 seeding it. Returns (data_path, torrent_path, seed_proc)."""
    data_path = os.path.join(args.workdir, "sample.bin")
    torrent = os.path.join(args.workdir, "sample.torrent")
    make_data(data_path, size_bytes, data_seed)
    _, announce = start_tracker(procs, args.p2pdist, udp)
    make_torrent(args.p2pdist, data_path, announce, torrent)
    seed = start_seed(procs, args.p2pdist, torrent, data_path, "127.0.0.2", extra=seed_extra)
    return data_path, torrent, seed


def start_get(procs, p2pdist, torrent, out_path, address, name, extra=()):
    return procs.start(name, [p2pdist, "get", torrent, "-o", out_path, "--listen", host_port(address, 0), *extra])


# ---- libtorrent ------------------------------------------------------------------------------

class LtSession:
    """A libtorrent session on one loopback address (127.0.0.x or ::1), set up for a closed
    loopback swarm.
    Alerts are pumped by the waits below; every alert type seen is remembered, so a wait for
    an alert that arrived during an earlier wait still succeeds."""

    def __init__(self, lt, address):
        self.lt = lt
        self.seen = set()
        self.ses = lt.session({
            "enable_dht": False, "enable_lsd": False, "enable_upnp": False, "enable_natpmp": False,
            "enable_outgoing_utp": False, "enable_incoming_utp": False,
            "allow_multiple_connections_per_ip": True,
            "listen_interfaces": host_port(address, 0), "outgoing_interfaces": address,
            "min_reconnect_time": 1,
            "alert_mask": lt.alert.category_t.status_notification | lt.alert.category_t.error_notification
                          | lt.alert.category_t.tracker_notification,
        })

    def add(self, torrent, save_path):
        atp = self.lt.add_torrent_params()
        atp.ti = self.lt.torrent_info(torrent)
        atp.save_path = save_path
        return self.ses.add_torrent(atp)

    def remove(self, handle):
        self.ses.remove_torrent(handle)

    def pump(self, wait_ms=200):
        self.ses.wait_for_alert(wait_ms)
        for a in self.ses.pop_alerts():
            self.seen.add(type(a))
            if isinstance(a, (self.lt.file_error_alert, self.lt.torrent_error_alert)):
                raise Failure(f"libtorrent: {a.message()}")
            if isinstance(a, (self.lt.tracker_error_alert, self.lt.tracker_reply_alert)):
                print(f"   [libtorrent] {a.message()}", flush=True)

    def wait(self, handle, done, what, timeout_s):
        """Pumps alerts until done(status) holds; returns the status. Failure at the deadline."""
        deadline = time.monotonic() + timeout_s
        last = None
        while time.monotonic() < deadline:
            self.pump()
            st = handle.status()
            now = (str(st.state), st.num_pieces, st.num_peers)
            if now != last:
                print(f"   [libtorrent] {now[0]}, {now[1]} pieces, {now[2]} peers", flush=True)
                last = now
            if done(st):
                return st
        st = handle.status()
        raise Failure(f"libtorrent: not {what} within {timeout_s} s ({st.state}, {st.num_pieces} pieces, "
                      f"{st.num_peers} peers)")

    def wait_alert(self, alert_type, what, timeout_s):
        """Pumps alerts until one of alert_type has been seen. Failure at the deadline."""
        deadline = time.monotonic() + timeout_s
        while alert_type not in self.seen:
            if time.monotonic() >= deadline:
                raise Failure(f"libtorrent: no {what} within {timeout_s} s")
            self.pump()
