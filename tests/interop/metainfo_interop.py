#!/usr/bin/env python3
"""Metainfo interop with real tools: mktorrent (Debian) and python3-libtorrent.

1. A .torrent made by mktorrent: `p2pdist info --json -` must report libtorrent's
   info-hash, name, size, piece length and piece count.
2. A .torrent made by `p2pdist make-torrent`: libtorrent must load it with the same
   info-hash and fields, its piece hashes must match hashlib's SHA-1 of the file, and
   libtorrent must check the data against it and seed (all pieces valid); with one byte of
   the data changed, libtorrent must find exactly one piece missing.

Run with Debian's python: /usr/bin/python3 metainfo_interop.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (mktorrent or python3-libtorrent not installed).
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import time

SKIP = 77
ANNOUNCE = "http://127.0.0.1:6969/announce"
FILE_BYTES = 3 * 1024 * 1024 + 12345  # a few MiB, not a multiple of 256 KiB
PIECE_BYTES = 256 * 1024
CHECK_TIMEOUT_S = 30.0


class Failure(Exception):
    pass


def expect(cond, what):
    if not cond:
        raise Failure(what)
    print(f"ok: {what}")


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise Failure(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def p2pdist_info(p2pdist, torrent):
    return json.loads(run([p2pdist, "info", "--json", "-", torrent]))


def compare_with_libtorrent(lt, torrent, info, label):
    ti = lt.torrent_info(torrent)
    expect(str(ti.info_hash()) == info["info_hash"],
           f"{label}: info-hash {info['info_hash']} equals libtorrent's {ti.info_hash()}")
    expect(ti.name() == info["name"], f"{label}: name {info['name']!r}")
    expect(ti.total_size() == info["total_bytes"] == FILE_BYTES,
           f"{label}: size {info['total_bytes']} bytes")
    expect(ti.piece_length() == info["piece_bytes"] == PIECE_BYTES,
           f"{label}: piece length {info['piece_bytes']}")
    expected_pieces = -(-FILE_BYTES // PIECE_BYTES)
    expect(ti.num_pieces() == info["pieces"] == expected_pieces,
           f"{label}: {info['pieces']} pieces (ceil of size / piece length)")
    return ti


def check_data(lt, torrent, save_path):
    """Lets libtorrent check the data in save_path; returns (pieces held, state name)."""
    ses = lt.session({
        "enable_dht": False, "enable_lsd": False, "enable_upnp": False,
        "enable_natpmp": False, "enable_outgoing_utp": False,
        "enable_incoming_utp": False, "listen_interfaces": "127.0.0.1:0",
        "alert_mask": lt.alert.category_t.status_notification
                      | lt.alert.category_t.error_notification,
    })
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(torrent)
    atp.save_path = save_path
    handle = ses.add_torrent(atp)
    deadline = time.monotonic() + CHECK_TIMEOUT_S
    checked = False
    while not checked and time.monotonic() < deadline:
        ses.wait_for_alert(200)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_checked_alert):
                checked = True
            elif isinstance(a, (lt.file_error_alert, lt.torrent_error_alert)):
                raise Failure(f"libtorrent: {a.message()}")
    if not checked:
        raise Failure(f"libtorrent did not finish checking within {CHECK_TIMEOUT_S} s")
    st = handle.status()
    ses.remove_torrent(handle)
    return st.num_pieces, str(st.state)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--p2pdist", required=True, help="the p2pdist executable")
    ap.add_argument("--workdir", required=True, help="a scratch directory (emptied)")
    args = ap.parse_args()

    if shutil.which("mktorrent") is None:
        print("SKIP: mktorrent is not installed (apt-get install mktorrent)")
        return SKIP
    try:
        import libtorrent as lt
    except ImportError:
        print("SKIP: python3-libtorrent is not installed or not visible to "
              f"{sys.executable} (apt-get install python3-libtorrent; run /usr/bin/python3)")
        return SKIP

    shutil.rmtree(args.workdir, ignore_errors=True)
    data_dir = os.path.join(args.workdir, "data")
    os.makedirs(data_dir)
    data_path = os.path.join(data_dir, "interop-sample.bin")
    data = random.Random(20240601).randbytes(FILE_BYTES)
    with open(data_path, "wb") as f:
        f.write(data)

    try:
        # 1. mktorrent's torrent read by p2pdist.
        x_torrent = os.path.join(args.workdir, "mktorrent.torrent")
        run(["mktorrent", "-a", ANNOUNCE, "-l", "18", "-o", x_torrent, data_path])
        info = p2pdist_info(args.p2pdist, x_torrent)
        compare_with_libtorrent(lt, x_torrent, info, "mktorrent's torrent")
        expect(info["announce"] == ANNOUNCE, "mktorrent's torrent: announce")

        # 2. p2pdist's torrent read by libtorrent.
        y_torrent = os.path.join(args.workdir, "p2pdist.torrent")
        run([args.p2pdist, "make-torrent", data_path, "--announce", ANNOUNCE, "-o", y_torrent])
        info = p2pdist_info(args.p2pdist, y_torrent)
        ti = compare_with_libtorrent(lt, y_torrent, info, "p2pdist's torrent")
        expect(info["name"] == "interop-sample.bin", "p2pdist's torrent: name is the file's")
        expect(info["info_hash"] == p2pdist_info(args.p2pdist, x_torrent)["info_hash"],
               "p2pdist's and mktorrent's info dictionaries hash the same")
        for i in range(ti.num_pieces()):
            want = hashlib.sha1(data[i * PIECE_BYTES:(i + 1) * PIECE_BYTES]).digest()
            got = ti.hash_for_piece(i)
            got = got.to_bytes() if hasattr(got, "to_bytes") else bytes(got)
            if got != want:
                raise Failure(f"piece {i}: hash {got.hex()} != hashlib's {want.hex()}")
        print(f"ok: all {ti.num_pieces()} piece hashes equal hashlib's SHA-1 of the file")

        held, state = check_data(lt, y_torrent, data_dir)
        expect(held == ti.num_pieces() and "seeding" in state,
               f"libtorrent checked the data: {held}/{ti.num_pieces()} pieces, {state}")

        # The check can fail: one byte changed in piece 5 leaves exactly that piece missing.
        bad_dir = os.path.join(args.workdir, "corrupt")
        os.makedirs(bad_dir)
        corrupt = bytearray(data)
        corrupt[5 * PIECE_BYTES + 100] ^= 0xFF
        with open(os.path.join(bad_dir, "interop-sample.bin"), "wb") as f:
            f.write(corrupt)
        held, state = check_data(lt, y_torrent, bad_dir)
        expect(held == ti.num_pieces() - 1 and "seeding" not in state,
               f"libtorrent on corrupted data: {held}/{ti.num_pieces()} pieces, {state}")
    except (Failure, OSError, subprocess.SubprocessError, json.JSONDecodeError, KeyError) as e:
        print(f"FAIL: {e}")
        return 1
    print("PASS: metainfo interop with mktorrent and libtorrent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
