#!/usr/bin/env python3
"""tracker, seed and get on non-loopback addresses: two network namespaces made here,
joined by a veth pair (10.231.0.1/24 and 10.231.0.2/24, fd00:231::1/64 and fd00:231::2/64,
addresses that exist only inside them), the tracker and the seed in the first, `get` in the
second; the file must arrive identical, as from any BitTorrent client on another host.
Three runs: IPv4 (get on 0.0.0.0); IPv6 (the tracker on [::], dual stack; the seed on its
IPv6 address; get on [::]); and a dual-stack seed on [::] that announces to the tracker's
IPv4 address, which get on [::] reaches over IPv4. Needs root; skips
(exit 77) with the reason where namespaces cannot be made. The namespaces (and with them
the veth pair) are removed at the end, whatever happens; every process started here is
ended here, by its PID. Every wait has a deadline.

  two_hosts.py --p2pdist PATH
"""

import argparse
import filecmp
import os
import random
import select
import shutil
import subprocess
import sys
import tempfile
import time

A_ADDR, B_ADDR = "10.231.0.1", "10.231.0.2"
A_ADDR6, B_ADDR6 = "fd00:231::1", "fd00:231::2"


def sh(*cmd, check=True):
    return subprocess.run(list(cmd), capture_output=True, text=True, check=check, timeout=30)


def wait_line(proc, needle, seconds):
    """Reads proc's stdout until a line containing `needle`, within `seconds`; the line or None."""
    deadline = time.monotonic() + seconds
    buffered = ""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(proc.stdout.fileno(), 4096).decode(errors="replace")
        if not chunk:
            break
        buffered += chunk
        for line in buffered.splitlines():
            if needle in line:
                return line
    return None


def end(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--p2pdist", required=True)
    args = p.parse_args()
    exe = os.path.abspath(args.p2pdist)
    if os.geteuid() != 0:
        print("two_hosts: skipped: network namespaces and a veth pair need root", file=sys.stderr)
        return 77
    if shutil.which("ip") is None:
        print("two_hosts: skipped: ip is not installed (Debian package iproute2)", file=sys.stderr)
        return 77
    tag = f"{os.getpid()}"
    ns_a, ns_b = f"p2pdist-a-{tag}", f"p2pdist-b-{tag}"
    made = []
    procs = []
    work = tempfile.mkdtemp(prefix="p2pdist-two-hosts-")
    try:
        for ns in (ns_a, ns_b):
            r = sh("ip", "netns", "add", ns, check=False)
            if r.returncode != 0:
                print(f"two_hosts: skipped: cannot make a network namespace: {r.stderr.strip()}", file=sys.stderr)
                return 77
            made.append(ns)
        try:
            sh("ip", "netns", "exec", ns_a, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb",
               "netns", ns_b)
            for ns, dev, addr, addr6 in ((ns_a, "va", A_ADDR, A_ADDR6), (ns_b, "vb", B_ADDR, B_ADDR6)):
                sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
                sh("ip", "netns", "exec", ns, "ip", "addr", "add", f"{addr}/24", "dev", dev)
                # nodad: usable at once, without duplicate address detection's wait
                sh("ip", "netns", "exec", ns, "ip", "-6", "addr", "add", f"{addr6}/64", "dev", dev, "nodad")
                sh("ip", "netns", "exec", ns, "ip", "link", "set", dev, "up")
        except subprocess.CalledProcessError as e:
            print(f"two_hosts: skipped: cannot join the namespaces by a veth pair: {' '.join(e.cmd)}: "
                  f"{(e.stderr or '').strip()}", file=sys.stderr)
            return 77

        data = os.path.join(work, "file.bin")
        with open(data, "wb") as f:
            f.write(random.Random(5).randbytes(3 * 1024 * 1024 + 99))

        def start(ns, *cmd):
            proc = subprocess.Popen(["ip", "netns", "exec", ns, exe, *cmd], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE)
            procs.append(proc)
            return proc

        def run(name, tracker_listen, announce_host, seed_listen, get_listen, port):
            """One tracker, one seed in ns_a, one get in ns_b; all ended here."""
            torrent = os.path.join(work, f"{name}.torrent")
            sh(exe, "make-torrent", data, "--announce", f"http://{announce_host}:{port}/announce", "-o", torrent,
               "--piece-size", "64KiB")
            started = []
            try:
                tracker = start(ns_a, "tracker", "--listen", tracker_listen, "--interval", "1s")
                started.append(tracker)
                if not wait_line(tracker, "tracker listening", 20):
                    sys.exit(f"{name}: the tracker did not start")
                seed = start(ns_a, "seed", torrent, data, "--listen", seed_listen)
                started.append(seed)
                if not wait_line(seed, "seeding", 20):
                    end(seed)
                    sys.exit(f"{name}: the seed did not start: {seed.stderr.read().decode(errors='replace')[-1500:]}")
                out = os.path.join(work, f"{name}.copy")
                get = start(ns_b, "get", torrent, "-o", out, "--listen", get_listen)
                started.append(get)
                try:
                    status = get.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    sys.exit(f"{name}: get did not finish within 60 s")
                if status != 0:
                    sys.exit(f"{name}: get exited {status}: {get.stderr.read().decode(errors='replace')[-1500:]}")
                if not filecmp.cmp(out, data, shallow=False):
                    sys.exit(f"{name}: the file get wrote differs from the seed's")
                print(f"{name}: get in {ns_b} (listening on {get_listen}) fetched the file from a seed on "
                      f"{seed_listen}, tracker {announce_host}: identical")
            finally:
                for proc in started:
                    end(proc)

        run("ipv4", f"{A_ADDR}:6969", A_ADDR, f"{A_ADDR}:0", "0.0.0.0:0", 6969)
        run("ipv6", "[::]:6970", f"[{A_ADDR6}]", f"[{A_ADDR6}]:0", "[::]:0", 6970)
        run("dual-stack", "[::]:6971", A_ADDR, "[::]:0", "[::]:0", 6971)
        return 0
    finally:
        for proc in procs:
            end(proc)
        for ns in made:
            sh("ip", "netns", "del", ns, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
