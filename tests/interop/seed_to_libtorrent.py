#!/usr/bin/env python3
"""Our seed to a libtorrent leecher, through our tracker.

`p2pdist tracker` on 127.0.0.1 and `p2pdist seed` on 127.0.0.2 share a few MiB; a
libtorrent 2.0 session on 127.0.0.20 learns the seed from the tracker, downloads the file
and must hold it byte for byte; then the seed stops on SIGINT with exit 0.

Run with Debian's python: /usr/bin/python3 seed_to_libtorrent.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (python3-libtorrent not installed).
"""

import os
import signal
import sys

import interop_common as ic

FILE_BYTES = 5 * 1024 * 1024 + 777  # not a multiple of the piece size
DOWNLOAD_TIMEOUT_S = 30


def body(args, procs):
    lt = ic.import_libtorrent()
    data_path, torrent, seed = ic.seeded_swarm(procs, args, FILE_BYTES, 1, seed_extra=("--verbose",))

    save = os.path.join(args.workdir, "libtorrent")
    os.makedirs(save)
    lt_ses = ic.LtSession(lt, "127.0.0.20")
    handle = lt_ses.add(torrent, save)
    st = lt_ses.wait(handle, lambda s: s.is_seeding, "complete", DOWNLOAD_TIMEOUT_S)
    ic.expect(st.total_payload_download >= FILE_BYTES,
              f"libtorrent downloaded {st.total_payload_download} payload bytes")
    lt_ses.remove(handle)
    ic.expect_same_file(os.path.join(save, "sample.bin"), data_path, "libtorrent")
    # Both offer the fast extension (BEP 6): we greeted libtorrent with have all.
    seed.wait_line(r"peer 127\.0\.0\.20:\d+ connected \(fast extension\)", 5)

    seed.signal(signal.SIGINT)
    ic.expect(seed.wait_exit(15) == 0, "our seed stops on SIGINT with exit 0")


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
