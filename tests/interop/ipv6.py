#!/usr/bin/env python3
"""IPv6 with libtorrent, on ::1: our tracker on [::1] (HTTP; its answers carry IPv6 peers
in "peers6", BEP 7), a libtorrent seed to `p2pdist get`, then `p2pdist seed` to a libtorrent
leecher. Each side learns the other from the tracker alone, connects over IPv6, and the
file arrives identical.

Run with Debian's python: /usr/bin/python3 ipv6.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (python3-libtorrent not installed, or no IPv6 loopback here).
"""

import os
import socket
import sys

import interop_common as ic
from libtorrent_to_get import GET_TIMEOUT_S, libtorrent_seeds_get


def require_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise ic.Skip(f"this host has no IPv6 loopback: {e}")


def body(args, procs):
    require_ipv6_loopback()
    lt = ic.import_libtorrent()
    _, announce = ic.start_tracker(procs, args.p2pdist, address="::1")
    ic.expect(announce.startswith("http://[::1]:"), f"the tracker's announce URL is {announce}")

    # libtorrent seeds, our get downloads: the checks of libtorrent_to_get.py, over ::1.
    torrent, original = libtorrent_seeds_get(args, procs, lt, announce, "::1", "::1")

    # Our seed, a libtorrent leecher.
    ic.start_seed(procs, args.p2pdist, torrent, original, "::1")  # waits for "seeding" and the announce
    leech_dir = os.path.join(args.workdir, "lt-leecher")
    os.makedirs(leech_dir)
    leecher = ic.LtSession(lt, "::1")
    lh = leecher.add(torrent, leech_dir)
    leecher.wait(lh, lambda s: s.is_seeding, "complete", GET_TIMEOUT_S)
    ic.expect_same_file(os.path.join(leech_dir, "sample.bin"), original, "the libtorrent leecher")
    leecher.remove(lh)


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
