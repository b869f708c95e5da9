#!/usr/bin/env python3
"""A mixed swarm: our seed, two of our leechers and one libtorrent leecher.

`p2pdist tracker` on 127.0.0.1; `p2pdist seed` on 127.0.0.2 limited to 2 MB/s, so that the
leechers must trade pieces among themselves; `p2pdist get --keep-seeding` on 127.0.0.3 and
127.0.0.4 and a libtorrent 2.0 session on 127.0.0.20, all started together. Every leecher
must complete with the file byte for byte, libtorrent must have received blocks from our
leechers (not only from the seed), and our processes stop on SIGINT with exit 0.

Run with Debian's python: /usr/bin/python3 mixed_swarm.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (python3-libtorrent not installed).
"""

import os
import signal
import sys

import interop_common as ic

FILE_BYTES = 6 * 1024 * 1024 + 1001
SEED_UP = "2MB/s"  # a copy of the file takes the seed about 3.1 s
SWARM_TIMEOUT_S = 40
OUR_LEECHERS = ("127.0.0.3", "127.0.0.4")


def body(args, procs):
    lt = ic.import_libtorrent()
    data_path, torrent, seed = ic.seeded_swarm(procs, args, FILE_BYTES, 4, seed_extra=("--up", SEED_UP))

    gets = []
    for i, address in enumerate(OUR_LEECHERS):
        out = os.path.join(args.workdir, f"ours{i}", "sample.bin")
        os.makedirs(os.path.dirname(out))
        gets.append((ic.start_get(procs, args.p2pdist, torrent, out, address, f"our get {i}",
                                  extra=("--keep-seeding",)), out))
    save = os.path.join(args.workdir, "libtorrent")
    os.makedirs(save)
    lt_ses = ic.LtSession(lt, "127.0.0.20")
    handle = lt_ses.add(torrent, save)

    # libtorrent first (its peers are still connected when it completes), then ours.
    # Bytes libtorrent received from each peer, sampled while it downloads (it drops its
    # connections to seeds once complete).
    received = {}

    def sample(status):
        for p in handle.get_peer_info():
            key = p.ip
            received[key] = max(received.get(key, 0), p.total_download)
        return status.is_seeding

    st = lt_ses.wait(handle, sample, "complete", SWARM_TIMEOUT_S)
    from_ours = sum(n for (ip, _), n in received.items() if ip in OUR_LEECHERS)
    print(f"   [libtorrent] received per peer: {received}", flush=True)
    ic.expect(st.total_payload_download >= FILE_BYTES,
              f"libtorrent completed: {st.total_payload_download} payload bytes")
    ic.expect(from_ours > 0, f"libtorrent received {from_ours} bytes from our leechers, not only from the seed")
    for get, out in gets:
        get.wait_line(r"complete", SWARM_TIMEOUT_S)
        ic.expect_same_file(out, data_path, get.name)
        ic.expect(not os.path.exists(out + ".part"), f"{get.name}: no OUT.part is left")
    ic.expect_same_file(os.path.join(save, "sample.bin"), data_path, "libtorrent")
    lt_ses.remove(handle)

    for p in [g for g, _ in gets] + [seed]:
        p.signal(signal.SIGINT)
    for p in [g for g, _ in gets] + [seed]:
        code = p.wait_exit(15)
        ic.expect(code == 0, f"{p.name} stops on SIGINT with exit 0")


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
