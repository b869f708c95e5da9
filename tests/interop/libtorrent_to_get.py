#!/usr/bin/env python3
"""A libtorrent seed to our leecher, through our tracker.

A libtorrent 2.0 session on 127.0.0.20 seeds a few MiB (checked from disk first);
`p2pdist get` on 127.0.0.3 learns it from our tracker on 127.0.0.1, connects to it with
the fast extension (BEP 6) negotiated, downloads into OUT.part, prints `complete`, exits 0,
and OUT must equal the original byte for byte.

Run with Debian's python: /usr/bin/python3 libtorrent_to_get.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (python3-libtorrent not installed).
"""

import os
import re
import shutil
import sys

import interop_common as ic

FILE_BYTES = 6 * 1024 * 1024 + 4099
CHECK_TIMEOUT_S = 20
GET_TIMEOUT_S = 40


def libtorrent_seeds_get(args, procs, lt, announce, lt_address, get_address):
    """A libtorrent seed on `lt_address` to our get on `get_address`, through the tracker at
    `announce`; every check of this test. Returns (torrent path, copy of the original)."""
    seed_dir = os.path.join(args.workdir, "libtorrent")
    os.makedirs(seed_dir)
    data_path = os.path.join(seed_dir, "sample.bin")
    torrent = os.path.join(args.workdir, "sample.torrent")
    ic.make_data(data_path, FILE_BYTES, 3)
    ic.make_torrent(args.p2pdist, data_path, announce, torrent)
    original = os.path.join(args.workdir, "original.bin")
    shutil.copyfile(data_path, original)

    lt_ses = ic.LtSession(lt, lt_address)
    handle = lt_ses.add(torrent, seed_dir)
    lt_ses.wait(handle, lambda s: s.is_seeding, "seeding after its check", CHECK_TIMEOUT_S)
    # Its `started` announce reaches the tracker before our leecher asks for peers.
    lt_ses.wait_alert(lt.tracker_reply_alert, "a tracker reply", CHECK_TIMEOUT_S)

    out = os.path.join(args.workdir, "ours", "sample.bin")
    os.makedirs(os.path.dirname(out))
    get = ic.start_get(procs, args.p2pdist, torrent, out, get_address, "our get", extra=("--verbose",))
    get.wait_line(r"listening on " + re.escape(ic.host_port(get_address, "")) + r"\d+", 15)
    # libtorrent offers the fast extension: it sends have all, and rejects what it will not serve.
    get.wait_line(r"peer " + re.escape(ic.host_port(lt_address, "")) + r"\d+ connected \(fast extension\)",
                  GET_TIMEOUT_S)
    ic.log("the fast extension (BEP 6) is negotiated with libtorrent")
    get.wait_line(r"complete", GET_TIMEOUT_S)  # libtorrent works on its own threads meanwhile
    code = get.wait_exit(15)
    ic.expect(code == 0, f"our get exits 0 once complete (exit code {code})")
    ic.expect(not os.path.exists(out + ".part"), "no OUT.part is left")
    ic.expect_same_file(out, original, "our get")
    st = handle.status()
    ic.expect(st.total_payload_upload >= FILE_BYTES, f"libtorrent uploaded {st.total_payload_upload} payload bytes")
    lt_ses.remove(handle)
    return torrent, original


def body(args, procs):
    lt = ic.import_libtorrent()
    _, announce = ic.start_tracker(procs, args.p2pdist)
    libtorrent_seeds_get(args, procs, lt, announce, "127.0.0.20", "127.0.0.3")


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
