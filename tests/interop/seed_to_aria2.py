#!/usr/bin/env python3
"""Our seed to an aria2 leecher, through our tracker.

`p2pdist tracker` on 127.0.0.1 and `p2pdist seed` on 127.0.0.2 share a few MiB; aria2c on
127.0.0.21 (DHT, LPD off; --seed-time=0, so it exits once complete) learns the seed from
the tracker, downloads the file and must exit 0 holding it byte for byte.

Run with Debian's python: /usr/bin/python3 seed_to_aria2.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (aria2 not installed).
"""

import os
import signal
import sys

import interop_common as ic

FILE_BYTES = 5 * 1024 * 1024 + 333
ARIA2_STOP_S = 45  # aria2's own bound on its run
ARIA2_WAIT_S = 50


def body(args, procs):
    aria2 = ic.require_aria2()
    data_path, torrent, seed = ic.seeded_swarm(procs, args, FILE_BYTES, 2, seed_extra=("--verbose",))

    save = os.path.join(args.workdir, "aria2")
    os.makedirs(save)
    a = procs.start("aria2", [
        aria2, "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
        "--interface=127.0.0.21", "--listen-port=6891-6899", "--file-allocation=none",
        "--seed-time=0", f"--stop={ARIA2_STOP_S}", f"--dir={save}", "--summary-interval=0",
        "--console-log-level=warn", "--download-result=full", "--no-conf=true", "--disable-ipv6=true",
        "--bt-stop-timeout=40", torrent])
    code = a.wait_exit(ARIA2_WAIT_S)
    ic.expect(code == 0, f"aria2 exits 0 once complete (exit code {code})")
    ic.expect_same_file(os.path.join(save, "sample.bin"), data_path, "aria2")
    # aria2 offers the fast extension (BEP 6) too: we greeted it with have all.
    seed.wait_line(r"peer 127\.0\.0\.21:\d+ connected \(fast extension\)", 5)

    seed.signal(signal.SIGTERM)
    ic.expect(seed.wait_exit(15) == 0, "our seed stops on SIGTERM with exit 0")


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
