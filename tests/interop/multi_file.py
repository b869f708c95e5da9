#!/usr/bin/env python3
"""Multi-file torrents (BEP 3 `info.files`) with real clients, both ways.

A tree of files in the workdir, 3.8 MiB: nested directories; sizes that are not multiples
of the 32 KiB piece, one of a single byte, one of exactly three pieces at an offset that is
not a piece boundary, one that ends on a piece boundary; three empty files (at that
boundary, between others, and the torrent's last); names that sort differently bytewise
("B" before "a"; "docs/deep.txt" before "docs/deep/...", '.' < '/') and an empty directory
(not in the torrent). Four pieces span two or three files. mktorrent (-l 15, 32 KiB pieces)
makes the torrent, announcing to `p2pdist tracker` on 127.0.0.1; `p2pdist make-torrent
--piece-size 32KiB` of the same directory must have the same info-hash and files, and
`p2pdist info --json` the files, lengths and offsets that libtorrent reads. Then, one after
the other, each source alone in the swarm (our tracker's scrape is waited for: the peers of
a direction leave before the next starts, a seed announces before our leecher starts):

1. our seed on 127.0.0.2 to a libtorrent 2.0 leecher on 127.0.0.20 (save_path/NAME/...);
2. the same seed to an aria2 leecher on 127.0.0.21 (--dir/NAME/..., --seed-time=0: it
   exits 0 once complete); our seed then stops on SIGTERM with exit 0;
3. a libtorrent seed on 127.0.0.22 (its own copy, checked from disk first) to `p2pdist get
   -o OUT` on 127.0.0.3; libtorrent must have uploaded the whole torrent;
4. an aria2 seed on 127.0.0.23 (its own copy, --dir its parent, checked with
   --check-integrity=true, seeding with --seed-ratio=0.0) to `p2pdist get -o OUT` on
   127.0.0.4.

Every file must arrive byte for byte, the empty and the nested ones too; our get must print
`complete: OUT`, exit 0 and leave in OUT exactly the torrent's files (no FILE.part).

Run with Debian's python: /usr/bin/python3 multi_file.py --p2pdist PATH --workdir DIR
Exit 0 pass, 1 fail, 77 skip (mktorrent, python3-libtorrent or aria2 not installed).
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import interop_common as ic

NAME = "multi"  # the torrent's name: the directory its files are in
PIECE_BYTES = 32 * 1024
TREE = [  # (path below NAME, bytes), 3.79 MiB in all; the torrent sorts them
    ("a.bin", 1_000_003),
    ("B/upper.bin", 2 * PIECE_BYTES),  # "B" < "a" bytewise; it ends on a piece boundary
    ("B/z-empty", 0),  # empty, at that boundary
    ("docs/readme.txt", 12_345),
    ("docs/deep.txt", 5_000),  # "docs/deep.txt" < "docs/deep/..." bytewise ('.' < '/')
    ("docs/deep/er/x.bin", 2 * 1024 * 1024 + 17),
    ("docs/deep/y.bin", 700_001),
    ("empty.txt", 0),
    ("exact.bin", 3 * PIECE_BYTES),
    ("z/tiny.bin", 1),
    ("zz/last/empty", 0),  # the last file is empty: it starts where the data ends
]
TOTAL_BYTES = sum(n for _, n in TREE)
DOWNLOAD_TIMEOUT_S = 30
CHECK_TIMEOUT_S = 20
ARIA2_STOP_S = 45  # aria2's own bound on its run
ARIA2_WAIT_S = 50


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise ic.Failure(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def info_json(p2pdist, torrent):
    try:
        return json.loads(run([p2pdist, "info", "--json", "-", torrent]))
    except json.JSONDecodeError as e:
        raise ic.Failure(f"p2pdist info --json - {torrent}: not JSON ({e})")


def make_tree(root):
    for i, (path, size) in enumerate(TREE):
        full = os.path.join(root, *path.split("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        ic.make_data(full, size, 100 + i)
    os.makedirs(os.path.join(root, "no-files-here"))  # a torrent cannot hold an empty directory


def expect_same_tree(got_root, original_root, who):
    """Every file of TREE under got_root equals the original byte for byte."""
    for path, size in TREE:
        got = os.path.join(got_root, *path.split("/"))
        original = os.path.join(original_root, *path.split("/"))
        ic.expect(os.path.isfile(got) and os.path.getsize(got) == size and ic.digest(got) == ic.digest(original),
                  f"{who}: {path} ({size} bytes) equals the original byte for byte")


def files_below(root):
    return sorted(os.path.relpath(os.path.join(d, f), root).replace(os.sep, "/")
                  for d, _, names in os.walk(root) for f in names)


def make_torrents(args, lt, mktorrent, data_dir, announce):
    """mktorrent's torrent of data_dir, checked against p2pdist make-torrent's and libtorrent."""
    torrent = os.path.join(args.workdir, "mktorrent.torrent")
    run([mktorrent, "-a", announce, "-l", "15", "-o", torrent, data_dir])
    ours = os.path.join(args.workdir, "p2pdist.torrent")
    ic.make_torrent(args.p2pdist, data_dir, announce, ours, piece_size="32KiB")

    info = info_json(args.p2pdist, torrent)
    ic.expect(info["multi_file"] is True and info["name"] == NAME,
              f"mktorrent's torrent: p2pdist info reads a multi-file torrent named {info['name']!r}")
    ic.expect(info["total_bytes"] == TOTAL_BYTES and info["piece_bytes"] == PIECE_BYTES
              and info["pieces"] == -(-TOTAL_BYTES // PIECE_BYTES),
              f"mktorrent's torrent: {info['total_bytes']} bytes in {info['pieces']} pieces of {info['piece_bytes']}")
    ours_info = info_json(args.p2pdist, ours)
    ic.expect(ours_info["info_hash"] == info["info_hash"],
              f"p2pdist make-torrent gives mktorrent's info-hash {info['info_hash']} ({ours_info['info_hash']})")
    ic.expect(ours_info["files"] == info["files"] and ours_info["multi_file"] is True,
              "p2pdist make-torrent lists the files as mktorrent does")

    # The files in bytewise order of their paths (mktorrent's), offsets end to end.
    want, offset = [], 0
    for path, size in sorted(TREE, key=lambda e: e[0].encode()):
        want.append({"path": path, "length": size, "offset": offset})
        offset += size
    ic.expect(info["files"] == want, f"p2pdist info: the {len(want)} files, bytewise sorted, offsets end to end")

    ti = lt.torrent_info(torrent)
    fs = ti.files()
    lt_files = [{"path": fs.file_path(i).replace(os.sep, "/"), "length": fs.file_size(i), "offset": fs.file_offset(i)}
                for i in range(fs.num_files())]
    ic.expect(str(ti.info_hash()) == info["info_hash"], f"libtorrent reads the same info-hash {ti.info_hash()}")
    ic.expect(lt_files == [dict(f, path=f"{NAME}/{f['path']}") for f in info["files"]],
              "libtorrent reads the same files, lengths and offsets")
    return torrent


def wait_swarm(p2pdist, torrent, seeds, timeout_s):
    """Scrapes our tracker (from 127.0.0.1) until it lists `seeds` seeds and no leecher;
    Failure at the deadline. (A peer that left without `stopped` expires within 7 s.)"""
    deadline = time.monotonic() + timeout_s
    counts = None
    while time.monotonic() < deadline:
        r = subprocess.run([p2pdist, "scrape", torrent, "--from", "127.0.0.1", "--timeout", "2s", "--json", "-"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode == 0:
            counts = json.loads(r.stdout)
            if counts["complete"] == seeds and counts["incomplete"] == 0:
                ic.log(f"our tracker lists {seeds} seed(s) and no leecher")
                return
        time.sleep(0.5)
    raise ic.Failure(f"our tracker did not list {seeds} seed(s) and no leecher within {timeout_s} s "
                     f"(last scrape: {counts})")


# ---- 1, 2: our seed to libtorrent and aria2 ---------------------------------------------------

def aria2_command(aria2, address, ports, save, torrent, *extra):
    return [aria2, "--enable-dht=false", "--enable-dht6=false", "--bt-enable-lpd=false",
            f"--interface={address}", f"--listen-port={ports}", "--file-allocation=none",
            f"--stop={ARIA2_STOP_S}", f"--dir={save}", "--summary-interval=0", "--console-log-level=warn",
            "--download-result=full", "--no-conf=true", "--disable-ipv6=true", *extra, torrent]


def seed_to_libtorrent(args, lt, torrent, original, seed):
    save = os.path.join(args.workdir, "libtorrent")
    os.makedirs(save)
    lt_ses = ic.LtSession(lt, "127.0.0.20")
    handle = lt_ses.add(torrent, save)
    st = lt_ses.wait(handle, lambda s: s.is_seeding, "complete", DOWNLOAD_TIMEOUT_S)
    ic.expect(st.total_payload_download >= TOTAL_BYTES,
              f"libtorrent downloaded {st.total_payload_download} payload bytes")
    # Its `completed` announce reached the tracker: a `stopped` sent before it is answered
    # could be overtaken by it (two HTTP requests), leaving it listed until it expires (7 s).
    wait_swarm(args.p2pdist, torrent, 2, CHECK_TIMEOUT_S)
    lt_ses.remove(handle)
    seed.wait_line(r"peer 127\.0\.0\.20:\d+ connected \(fast extension\)", 5)
    expect_same_tree(os.path.join(save, NAME), original, "libtorrent")
    # Our seed alone again: the session lives on until the tracker has its `stopped`.
    wait_swarm(args.p2pdist, torrent, 1, CHECK_TIMEOUT_S)


def seed_to_aria2(args, procs, aria2, torrent, original, seed):
    save = os.path.join(args.workdir, "aria2")
    os.makedirs(save)
    a = procs.start("aria2", aria2_command(aria2, "127.0.0.21", "6891-6899", save, torrent,
                                           "--seed-time=0", "--bt-stop-timeout=40"))
    code = a.wait_exit(ARIA2_WAIT_S)
    ic.expect(code == 0, f"aria2 exits 0 once complete (exit code {code})")
    seed.wait_line(r"peer 127\.0\.0\.21:\d+ connected \(fast extension\)", 5)
    expect_same_tree(os.path.join(save, NAME), original, "aria2")


# ---- 3, 4: libtorrent and aria2 seeds to our get ----------------------------------------------

def copy_of(original, parent):
    """A copy of the tree at parent/NAME for a partner to seed (the original stays untouched)."""
    shutil.copytree(original, os.path.join(parent, NAME))
    return parent


def our_get(args, procs, torrent, original, address, partner, name):
    """`p2pdist get -o OUT` on `address`, from `partner` alone; OUT must hold the tree."""
    out = os.path.join(args.workdir, name)
    get = ic.start_get(procs, args.p2pdist, torrent, out, address, f"our get ({name})", extra=("--verbose",))
    get.wait_line(rf"listening on {re.escape(address)}:\d+", 15)
    get.wait_line(rf"peer {re.escape(partner)}:\d+ connected", DOWNLOAD_TIMEOUT_S)
    get.wait_line(rf"^complete: {re.escape(out)} \(", DOWNLOAD_TIMEOUT_S)
    code = get.wait_exit(15)
    ic.expect(code == 0, f"our get exits 0 once complete (exit code {code})")
    expect_same_tree(out, original, f"our get from {partner}")
    left = files_below(out)
    ic.expect(left == sorted(p for p, _ in TREE),
              f"our get: OUT holds exactly the torrent's {len(TREE)} files, no FILE.part ({len(left)} files)")


def libtorrent_to_get(args, procs, lt, torrent, original):
    seed_dir = copy_of(original, os.path.join(args.workdir, "libtorrent-seed"))
    lt_ses = ic.LtSession(lt, "127.0.0.22")
    handle = lt_ses.add(torrent, seed_dir)
    lt_ses.wait(handle, lambda s: s.is_seeding, "seeding after its check", CHECK_TIMEOUT_S)
    # Its `started` announce reaches the tracker before our leecher asks for peers.
    wait_swarm(args.p2pdist, torrent, 1, CHECK_TIMEOUT_S)
    our_get(args, procs, torrent, original, "127.0.0.3", "127.0.0.22", "from-libtorrent")
    st = handle.status()
    ic.expect(st.total_payload_upload >= TOTAL_BYTES, f"libtorrent uploaded {st.total_payload_upload} payload bytes")
    lt_ses.remove(handle)
    wait_swarm(args.p2pdist, torrent, 0, CHECK_TIMEOUT_S)  # its `stopped`, the session alive


def aria2_to_get(args, procs, aria2, torrent, original):
    seed_dir = copy_of(original, os.path.join(args.workdir, "aria2-seed"))
    a = procs.start("aria2 seed", aria2_command(aria2, "127.0.0.23", "6901-6909", seed_dir, torrent,
                                                "--check-integrity=true", "--seed-ratio=0.0", "--seed-time=1"))
    wait_swarm(args.p2pdist, torrent, 1, CHECK_TIMEOUT_S)  # checked, seeding, announced
    our_get(args, procs, torrent, original, "127.0.0.4", "127.0.0.23", "from-aria2")
    a.signal(signal.SIGTERM)
    code = a.wait_exit(15)
    ic.log(f"aria2 seed stopped on SIGTERM (exit code {code})")


def body(args, procs):
    mktorrent = shutil.which("mktorrent")
    if mktorrent is None:
        raise ic.Skip("mktorrent is not installed (apt-get install mktorrent)")
    lt = ic.import_libtorrent()
    aria2 = ic.require_aria2()
    original = os.path.join(args.workdir, "original", NAME)
    make_tree(original)
    _, announce = ic.start_tracker(procs, args.p2pdist)
    torrent = make_torrents(args, lt, mktorrent, original, announce)

    seed = ic.start_seed(procs, args.p2pdist, torrent, original, "127.0.0.2", extra=("--verbose",))
    seed_to_libtorrent(args, lt, torrent, original, seed)
    seed_to_aria2(args, procs, aria2, torrent, original, seed)
    # Stopped, so that the seeds below are alone in the swarm.
    seed.signal(signal.SIGTERM)
    ic.expect(seed.wait_exit(15) == 0, "our seed stops on SIGTERM with exit 0")
    wait_swarm(args.p2pdist, torrent, 0, CHECK_TIMEOUT_S)  # aria2 has left too

    libtorrent_to_get(args, procs, lt, torrent, original)
    aria2_to_get(args, procs, aria2, torrent, original)


if __name__ == "__main__":
    sys.exit(ic.main(__doc__, body))
