#!/usr/bin/env python3
"""Magnet links: the metadata exchange (BEP 9, ut_metadata, over BEP 10) with libtorrent, both ways.

`p2pdist tracker` on 127.0.0.1 serves every part; the torrents are `p2pdist make-torrent`'s,
in 16 KiB pieces and sized so that each info dictionary is over 16 KiB (checked): it travels
as two ut_metadata pieces, a full one then a partial last one, both ways.

1. Our seed to a libtorrent magnet download: `p2pdist seed -v` on 127.0.0.2 seeds one file
   of 13 MiB + 777 bytes (833 pieces; from 816 on, the info dictionary is over 16 KiB);
   a libtorrent 2.0 session on 127.0.0.20 is given only the magnet link (hex info-hash, dn=,
   our tracker as tr=). It must post metadata_received_alert (and no metadata_failed_alert);
   its torrent must then have our info dictionary byte for byte, and so our info-hash, name,
   size and pieces; it must download the file byte for byte, and our seed's log must show it
   connected (fast extension). Our seed then stops on SIGINT with exit 0.
2. A libtorrent seed to `p2pdist get MAGNET`: libtorrent on 127.0.0.22 seeds a multi-file
   torrent of 165 files, 1.2 MiB (nested directories, an empty file, a one-byte one, and 160
   small files with long names that grow the info dictionary; its own copy, checked from disk
   first, announced to our tracker); `p2pdist get 'magnet:?xt=urn:btih:BASE32&dn=...&tr=...'
   -o OUT` on 127.0.0.3 must print `fetching the metadata of HEX (NAME)`, then `metadata:
   NAME (BYTES bytes, N pieces, K files) from 127.0.0.22:PORT` (libtorrent's listen port),
   then `complete: OUT`, exit 0, and OUT must hold exactly the tree's files, byte for byte.
3. No peer has it: `p2pdist get` with the magnet link of an info-hash no peer announced (our
   tracker reachable, answering with no peer) and --metadata-timeout 3s, on 127.0.0.4, must
   exit 1 after 3 s and within 10 s, with one line on stderr saying no metadata came, and
   leave nothing in OUT's directory.

Run with Debian's python: /usr/bin/python3 magnet.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (python3-libtorrent not installed).
"""

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse

import interop_common as ic

PIECE_SIZE = "16KiB"
METADATA_PIECE_BYTES = 16 * 1024  # BEP 9
FILE_BYTES = 13 * 1024 * 1024 + 777  # 833 pieces: 16,660 bytes of piece hashes
NAME = "magnet-tree"  # the multi-file torrent's name
TREE = [  # (path below NAME, bytes): 165 files, 1.2 MiB; the 160 long paths put the info dictionary at 18 KB
    ("top.bin", 600_001),
    ("a/b/c/deep.bin", 300_017),
    ("a/b/mid.txt", 4_321),
    ("a/empty", 0),
    ("z/one", 1),
] + [(f"many/dir-{i % 8}/file-{i:03}-with-a-name-long-enough-to-grow-the-info-dictionary.txt", 1 + 997 * i % 4093)
     for i in range(160)]
METADATA_TIMEOUT_S = 20
DOWNLOAD_TIMEOUT_S = 30
CHECK_TIMEOUT_S = 20
GET_TIMEOUT_S = 40
NO_PEER_TIMEOUT = "3s"
NO_PEER_BOUND_S = 10


def magnet_link(info_hash_text, name, announce):
    """magnet:?xt=urn:btih:HASH&dn=NAME&tr=URL, the name and the tracker percent-encoded."""
    return (f"magnet:?xt=urn:btih:{info_hash_text}&dn={urllib.parse.quote(name, safe='')}"
            f"&tr={urllib.parse.quote(announce, safe='')}")


def info_json(p2pdist, torrent):
    r = subprocess.run([p2pdist, "info", torrent, "--json", "-"], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ic.Failure(f"p2pdist info {torrent} exited {r.returncode}: {r.stderr.strip()}")
    try:
        return json.loads(r.stdout)
    except json.JSONDecodeError as e:
        raise ic.Failure(f"p2pdist info --json - {torrent}: not JSON ({e})")


def info_dictionary(lt, torrent):
    """The torrent's info dictionary, as bytes; it must span two ut_metadata pieces (the point
    of the sizes and the 16 KiB pieces: a full piece is sent, then a partial last one)."""
    info = lt.torrent_info(torrent).info_section()
    ic.expect(METADATA_PIECE_BYTES < len(info) <= 2 * METADATA_PIECE_BYTES,
              f"{os.path.basename(torrent)}: its info dictionary ({len(info)} bytes) is two ut_metadata pieces")
    return info


# ---- 1: our seed to a libtorrent magnet download ----------------------------------------------

def explain_no_metadata(lt_ses, handle, seed):
    """What libtorrent saw (its alerts, peers, state) and our seed's whole -v log, the seed stopped."""
    st = handle.status()
    ic.log(f"libtorrent: {st.state}, has_metadata {st.has_metadata}, {st.num_peers} peers; alerts seen: "
           f"{sorted(t.__name__ for t in lt_ses.seen)}")
    for p in handle.get_peer_info():
        ic.log(f"libtorrent peer {p.ip[0]}:{p.ip[1]} {p.client!r} flags {p.flags:#x}")
    seed.signal(signal.SIGINT)
    seed.wait_exit(15)  # prints the rest of its log


def seed_to_libtorrent_magnet(args, procs, lt, announce):
    data_path = os.path.join(args.workdir, "sample.bin")
    torrent = os.path.join(args.workdir, "sample.torrent")
    ic.make_data(data_path, FILE_BYTES, 7)
    ic.make_torrent(args.p2pdist, data_path, announce, torrent, piece_size=PIECE_SIZE)
    info = info_json(args.p2pdist, torrent)
    info_bytes = info_dictionary(lt, torrent)
    seed = ic.start_seed(procs, args.p2pdist, torrent, data_path, "127.0.0.2", extra=("--verbose",))

    link = magnet_link(info["info_hash"], "sample.bin", announce)
    ic.log(f"libtorrent is given only {link}")
    save = os.path.join(args.workdir, "libtorrent")
    os.makedirs(save)
    lt_ses = ic.LtSession(lt, "127.0.0.20")
    params = lt.parse_magnet_uri(link)
    params.save_path = save
    handle = lt_ses.ses.add_torrent(params)
    try:
        lt_ses.wait_alert(lt.metadata_received_alert, "metadata_received_alert", METADATA_TIMEOUT_S)
    except ic.Failure:
        explain_no_metadata(lt_ses, handle, seed)
        raise
    ic.expect(lt.metadata_failed_alert not in lt_ses.seen, "libtorrent: no metadata_failed_alert")
    ic.expect(handle.status().has_metadata, "libtorrent has the metadata from our seed")
    ti = handle.torrent_file()
    ic.expect(str(ti.info_hash()) == info["info_hash"], f"libtorrent's torrent has our info-hash {ti.info_hash()}")
    ic.expect(ti.info_section() == info_bytes,
              f"libtorrent's info dictionary is the .torrent's byte for byte ({len(ti.info_section())} bytes)")
    ic.expect(ti.name() == "sample.bin" and ti.total_size() == FILE_BYTES and ti.num_files() == 1,
              f"libtorrent's torrent: {ti.name()!r}, {ti.total_size()} bytes, {ti.num_files()} file")
    ic.expect(ti.num_pieces() == info["pieces"] and ti.piece_length() == info["piece_bytes"],
              f"libtorrent's torrent: {ti.num_pieces()} pieces of {ti.piece_length()} bytes")

    st = lt_ses.wait(handle, lambda s: s.is_seeding, "complete", DOWNLOAD_TIMEOUT_S)
    ic.expect(st.total_payload_download >= FILE_BYTES,
              f"libtorrent downloaded {st.total_payload_download} payload bytes")
    lt_ses.remove(handle)
    ic.expect_same_file(os.path.join(save, "sample.bin"), data_path, "libtorrent")
    seed.wait_line(r"peer 127\.0\.0\.20:\d+ connected \(fast extension\)", 5)
    seed.signal(signal.SIGINT)
    ic.expect(seed.wait_exit(15) == 0, "our seed stops on SIGINT with exit 0")


# ---- 2: a libtorrent seed to our get MAGNET ----------------------------------------------------

def make_tree(root):
    for i, (path, size) in enumerate(TREE):
        full = os.path.join(root, *path.split("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        ic.make_data(full, size, 200 + i)


def same_file(path, original_path, size):
    return os.path.isfile(path) and os.path.getsize(path) == size and ic.digest(path) == ic.digest(original_path)


def files_below(root):
    return sorted(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
                  for d, _, names in os.walk(root) for f in names)


def libtorrent_to_get_magnet(args, procs, lt, announce):
    original = os.path.join(args.workdir, "original", NAME)
    make_tree(original)
    torrent = os.path.join(args.workdir, "tree.torrent")
    ic.make_torrent(args.p2pdist, original, announce, torrent, piece_size=PIECE_SIZE)
    info = info_json(args.p2pdist, torrent)
    total = sum(n for _, n in TREE)
    ic.expect(info["multi_file"] is True and info["total_bytes"] == total and len(info["files"]) == len(TREE),
              f"make-torrent: a multi-file torrent of {len(info['files'])} files, {info['total_bytes']} bytes")
    info_dictionary(lt, torrent)

    # libtorrent seeds its own copy: its save_path is the parent of the directory NAME.
    seed_parent = os.path.join(args.workdir, "libtorrent-seed")
    shutil.copytree(original, os.path.join(seed_parent, NAME))
    lt_ses = ic.LtSession(lt, "127.0.0.22")
    handle = lt_ses.add(torrent, seed_parent)
    lt_ses.wait(handle, lambda s: s.is_seeding, "seeding after its check", CHECK_TIMEOUT_S)
    # Its `started` announce reaches the tracker before our get asks for peers.
    lt_ses.wait_alert(lt.tracker_reply_alert, "a tracker reply", CHECK_TIMEOUT_S)
    lt_port = lt_ses.ses.listen_port()

    # The info-hash in base32 (32 characters), as some links carry it.
    b32 = base64.b32encode(bytes.fromhex(info["info_hash"])).decode()
    link = magnet_link(b32, NAME, announce)
    out = os.path.join(args.workdir, "from-libtorrent")
    get = ic.start_get(procs, args.p2pdist, link, out, "127.0.0.3", "our get", extra=("--verbose",))
    get.wait_line(rf"^fetching the metadata of {info['info_hash']} \({re.escape(NAME)}\) from peers of "
                  rf"{re.escape(announce)}$", 10)
    line = get.wait_line(r"^metadata: ", METADATA_TIMEOUT_S)
    want = (f"metadata: {NAME} ({total} bytes, {info['pieces']} pieces, {len(TREE)} files) "
            f"from 127.0.0.22:{lt_port}")
    ic.expect(line == want, f"our get: {line!r} (libtorrent listens on port {lt_port})")
    get.wait_line(r"peer 127\.0\.0\.22:\d+ connected \(fast extension\)", GET_TIMEOUT_S)
    get.wait_line(rf"^complete: {re.escape(out)} \(", GET_TIMEOUT_S)
    code = get.wait_exit(15)
    ic.expect(code == 0, f"our get exits 0 once complete (exit code {code})")
    differ = [path for path, size in TREE if not same_file(os.path.join(out, *path.split("/")),
                                                          os.path.join(original, *path.split("/")), size)]
    ic.expect(not differ, f"our get: the {len(TREE)} files equal the originals byte for byte (differ: {differ})")
    left = files_below(out)
    ic.expect(left == sorted(p for p, _ in TREE),
              f"our get: OUT holds exactly the torrent's {len(TREE)} files, no FILE.part ({len(left)} files)")
    st = handle.status()
    ic.expect(st.total_payload_upload >= total, f"libtorrent uploaded {st.total_payload_upload} payload bytes")
    lt_ses.remove(handle)


# ---- 3: a magnet link no peer can serve ---------------------------------------------------------

def no_peer_has_it(args, announce):
    info_hash = hashlib.sha1(b"p2pdist magnet.py: a torrent nobody seeds").hexdigest()
    link = magnet_link(info_hash, "nobody.bin", announce)
    out_dir = os.path.join(args.workdir, "no-peer")
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "nobody.bin")
    cmd = [args.p2pdist, "get", link, "-o", out, "--listen", "127.0.0.4:0", "--metadata-timeout", NO_PEER_TIMEOUT]
    ic.log(f"run: {' '.join(cmd)}")
    started = time.monotonic()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=NO_PEER_BOUND_S + 20)
    took = time.monotonic() - started
    for line in r.stdout.splitlines():
        print(f"   [our get, stdout] {line}", flush=True)
    for line in r.stderr.splitlines():
        print(f"   [our get, stderr] {line}", flush=True)
    ic.expect(r.returncode == 1, f"our get exits 1 when no peer sends the metadata (exit code {r.returncode})")
    ic.expect(3.0 <= took <= NO_PEER_BOUND_S, f"after its --metadata-timeout {NO_PEER_TIMEOUT}: {took:.1f} s")
    errors = r.stderr.splitlines()
    ic.expect(len(errors) == 1 and "no metadata" in errors[0], f"one line on stderr says so: {errors}")
    ic.expect(f"fetching the metadata of {info_hash}" in r.stdout, "our get said which metadata it was fetching")
    ic.expect(os.listdir(out_dir) == [], "nothing is written in OUT's directory (no OUT, no OUT.part)")


def body(args, procs):
    lt = ic.import_libtorrent()
    _, announce = ic.start_tracker(procs, args.p2pdist)
    seed_to_libtorrent_magnet(args, procs, lt, announce)
    libtorrent_to_get_magnet(args, procs, lt, announce)
    no_peer_has_it(args, announce)


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
