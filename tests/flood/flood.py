#!/usr/bin/env python3
"""A bounded flood against a p2pdist tracker and peers on loopback, from its own process.

Tracker flood (--tracker HOST:PORT): HTTP connections of these kinds, in a shuffled mix:
  random     a valid announce for a random info-hash, peer id and port
  fake_peer  a valid announce for the real torrent (--info-hash / --torrent), fake peer id
             and port: it tries to fill the real swarm with peers that do not exist
  malformed  a broken request (bad escapes, short info_hash, unknown path, POST, binary junk)
  oversized  a request whose headers exceed any sane limit (32 KiB)
  silent     connects and says nothing until --hold seconds pass or the server closes
  partial    sends half a request line, then nothing (slowloris)
  keepalive  three pipelined announces with "Connection: keep-alive" on one connection
Peer flood (--peer HOST:PORT, repeatable): TCP connections of these kinds:
  silent      connects and says nothing
  handshake   a valid BitTorrent handshake for the torrent, then nothing
  wrong_hash  a handshake for a random info-hash
  close       connects and closes at once (half of them with a reset)

Both floods are bounded: --announces and --peer-connections connections in total, at most
--concurrency sockets open at once, nothing new started after --duration seconds and
every socket closed by --duration + --hold + 5 s; SIGINT or SIGTERM ends it at once (it
still reports, with "interrupted": true). Every endpoint must be in 127.0.0.0/8
(others are refused). Connections come from --source (a 127.0.0.x address, so that the
tracker sees the flood apart from the honest peers).

Prints one JSON object on stdout: per flood and kind, connections started, connected,
answered (tracker: an HTTP status line came back; peer: any byte came back, and for
`handshake` whether a handshake for the same torrent came back), closed by the server,
and errors by errno name (ECONNREFUSED, ECONNRESET, ...); the duration and rate.

Python 3 standard library only. Example:
  /usr/bin/python3 flood.py --tracker 127.0.0.1:6969 --torrent a.torrent \\
      --peer 127.0.0.2:40000 --announces 10000 --peer-connections 5000 --concurrency 800
"""

import argparse
import errno
import hashlib
import ipaddress
import json
import os
import random
import resource
import selectors
import signal
import socket
import sys
import time
import urllib.parse

TRACKER_KINDS = {"random": 30, "fake_peer": 20, "malformed": 15, "oversized": 5, "silent": 15,
                 "partial": 5, "keepalive": 10}
PEER_KINDS = {"silent": 30, "handshake": 30, "wrong_hash": 20, "close": 20}
MAX_READ_BYTES = 64 * 1024  # more than any answer we expect; the rest is not read
ANSWER_TIMEOUT_S = 5.0      # a request kind waits this long for its answer


# ---- inputs --------------------------------------------------------------------------------

def loopback_endpoint(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    try:
        addr = ipaddress.IPv4Address(host)
        port_n = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an IPv4 address and a port")
    if not addr.is_loopback:
        raise argparse.ArgumentTypeError(f"{text!r}: refused: only 127.0.0.0/8 may be flooded")
    if not 0 < port_n < 65536:
        raise argparse.ArgumentTypeError(f"{text!r}: port out of range")
    return (str(addr), port_n)


def loopback_address(text):
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected an IPv4 address")
    if not addr.is_loopback:
        raise argparse.ArgumentTypeError(f"{text!r}: refused: the source must be in 127.0.0.0/8")
    return str(addr)


def bencode_end(data, i):
    """Index just past the bencoded value starting at data[i] (ValueError if malformed)."""
    c = data[i:i + 1]
    if c == b"i":
        return data.index(b"e", i) + 1
    if c in (b"l", b"d"):
        i += 1
        while data[i:i + 1] != b"e":
            i = bencode_end(data, i)
        return i + 1
    if c.isdigit():
        colon = data.index(b":", i)
        return colon + 1 + int(data[i:colon])
    raise ValueError(f"bad bencode at byte {i}")


def torrent_info_hash(path):
    """SHA-1 of the raw `info` value of a .torrent file."""
    with open(path, "rb") as f:
        data = f.read(16 << 20)
    if data[:1] != b"d":
        raise ValueError(f"{path}: not a bencoded dictionary")
    i = 1
    while data[i:i + 1] != b"e":
        key_end = bencode_end(data, i)
        key = data[data.index(b":", i) + 1:key_end]
        value_end = bencode_end(data, key_end)
        if key == b"info":
            return hashlib.sha1(data[key_end:value_end]).digest()
        i = value_end
    raise ValueError(f"{path}: no info dictionary")


# ---- payloads ------------------------------------------------------------------------------

def quote(b):
    return urllib.parse.quote_from_bytes(b, safe="")


def announce_line(rng, info_hash, keepalive=False):
    peer_id = b"-FL0001-" + rng.randbytes(12)
    query = (f"info_hash={quote(info_hash)}&peer_id={quote(peer_id)}&port={rng.randint(1024, 65535)}"
             f"&uploaded=0&downloaded=0&left={rng.randint(0, 1 << 30)}&compact=1&event=started")
    conn = "keep-alive" if keepalive else "close"
    return (f"GET /announce?{query} HTTP/1.1\r\nHost: tracker\r\nConnection: {conn}\r\n\r\n").encode()


def malformed_request(rng):
    choices = [
        b"GET /announce?info_hash=%ZZ%ZZ&peer_id=x&port=1 HTTP/1.1\r\n\r\n",
        b"GET /announce?info_hash=short&peer_id=abc&port=99999 HTTP/1.1\r\n\r\n",
        b"GET /announce HTTP/1.1\r\n\r\n",
        b"GET /nothing-here HTTP/1.1\r\n\r\n",
        b"POST /announce HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"GET /scrape?info_hash=" + b"%00" * 19 + b" HTTP/1.1\r\n\r\n",
        b"\x13BitTorrent protocol" + bytes(8) + rng.randbytes(40),
        rng.randbytes(rng.randint(1, 2048)),
        b"GET " + b"/" * 3000 + b"\r\n\r\n",
        b"GET /announce?" + b"&".join([b"a=b"] * 500) + b" HTTP/1.1\r\n\r\n",
    ]
    return rng.choice(choices)


def oversized_request(rng, info_hash):
    head = announce_line(rng, info_hash)[:-2]  # without the blank line that ends it
    return head + b"X-Padding: " + b"a" * (32 * 1024) + b"\r\n\r\n"


def handshake(info_hash, rng):
    return b"\x13BitTorrent protocol" + bytes(8) + info_hash + b"-FL0001-" + rng.randbytes(12)


# ---- the event loop ------------------------------------------------------------------------

class Counter:
    def __init__(self):
        self.by_kind = {}
        self.errors = {}

    def kind(self, name):
        return self.by_kind.setdefault(name, {"started": 0, "connected": 0, "answered": 0,
                                              "server_closed": 0, "errors": 0})

    def error(self, kind, code):
        self.kind(kind)["errors"] += 1
        name = errno.errorcode.get(code, str(code)) if isinstance(code, int) else code
        self.errors[name] = self.errors.get(name, 0) + 1

    def summary(self):
        total = {k: sum(v[k] for v in self.by_kind.values())
                 for k in ("started", "connected", "answered", "server_closed", "errors")}
        return {"total": total, "by_kind": self.by_kind, "errors": self.errors}


class Conn:
    """One flood connection: connect, send `payload`, then read until `deadline`, EOF or
    error; `hold` kinds keep the socket open (silent) until their deadline."""
    __slots__ = ("flood", "kind", "sock", "payload", "sent", "received", "deadline", "state",
                 "close_at_once", "reset", "expect_hash")

    def __init__(self, flood, kind, payload, deadline, close_at_once=False, reset=False, expect_hash=None):
        self.flood, self.kind, self.payload = flood, kind, payload
        self.sent, self.received = 0, b""
        self.deadline, self.state = deadline, "connecting"
        self.close_at_once, self.reset, self.expect_hash = close_at_once, reset, expect_hash
        self.sock = None


class Flooder:
    def __init__(self, args, info_hash):
        self.args = args
        self.info_hash = info_hash
        self.rng = random.Random(args.seed)
        self.sel = selectors.DefaultSelector()
        self.open = 0
        self.max_open = 0
        self.counters = {"tracker": Counter(), "peer": Counter()}
        self.handshakes_answered = 0
        self.handshakes_matching = 0
        self.statuses = {}
        self.keepalive_responses = 0
        self.sources = [str(ipaddress.IPv4Address(args.source) + i) for i in range(args.sources)]
        self.interrupted = False

    def interrupt(self, *_):
        """SIGINT/SIGTERM: stop now, close every socket and still report."""
        self.interrupted = True

    # -- plan --

    def plan(self):
        jobs = []
        if self.args.tracker:
            kinds, weights = zip(*TRACKER_KINDS.items())
            jobs += [("tracker", k) for k in self.rng.choices(kinds, weights, k=self.args.announces)]
        if self.args.peer:
            kinds, weights = zip(*PEER_KINDS.items())
            jobs += [("peer", k) for k in self.rng.choices(kinds, weights, k=self.args.peer_connections)]
        self.rng.shuffle(jobs)
        return jobs

    def make(self, flood, kind, now):
        a, rng, ih = self.args, self.rng, self.info_hash
        hold = now + a.hold
        answer = now + ANSWER_TIMEOUT_S
        if flood == "tracker":
            target = a.tracker
            if kind == "random":
                c = Conn(flood, kind, announce_line(rng, rng.randbytes(20)), answer)
            elif kind == "fake_peer":
                c = Conn(flood, kind, announce_line(rng, ih), answer)
            elif kind == "malformed":
                c = Conn(flood, kind, malformed_request(rng), answer)
            elif kind == "oversized":
                c = Conn(flood, kind, oversized_request(rng, ih), answer)
            elif kind == "silent":
                c = Conn(flood, kind, b"", hold)
            elif kind == "partial":
                c = Conn(flood, kind, b"GET /announce?info_hash=", hold)
            else:  # keepalive
                c = Conn(flood, kind, b"".join(announce_line(rng, ih, keepalive=True) for _ in range(3)), answer)
        else:
            target = rng.choice(a.peer)
            if kind == "silent":
                c = Conn(flood, kind, b"", hold)
            elif kind == "handshake":
                c = Conn(flood, kind, handshake(ih, rng), hold, expect_hash=ih)
            elif kind == "wrong_hash":
                c = Conn(flood, kind, handshake(rng.randbytes(20), rng), answer)
            else:  # close
                c = Conn(flood, kind, b"", answer, close_at_once=True, reset=rng.random() < 0.5)
        return c, target

    # -- sockets --

    def start(self, flood, kind, now):
        c, target = self.make(flood, kind, now)
        counter = self.counters[flood]
        counter.kind(kind)["started"] += 1
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:
            counter.error(kind, e.errno)
            return
        c.sock = s
        s.setblocking(False)
        try:
            s.bind((self.rng.choice(self.sources), 0))
            err = s.connect_ex(target)
        except OSError as e:
            err = e.errno
        if err not in (0, errno.EINPROGRESS):
            counter.error(kind, err)
            s.close()
            return
        self.open += 1
        self.max_open = max(self.max_open, self.open)
        self.sel.register(s, selectors.EVENT_WRITE, c)

    def finish(self, c, error=None, server_closed=False):
        counter = self.counters[c.flood]
        if error is not None:
            counter.error(c.kind, error)
        if server_closed:
            counter.kind(c.kind)["server_closed"] += 1
        if c.received:
            self.account_answer(c)
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        if c.reset:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        c.sock.close()
        self.open -= 1

    def account_answer(self, c):
        counter = self.counters[c.flood]
        if c.flood == "tracker":
            if c.received.startswith(b"HTTP/1."):
                counter.kind(c.kind)["answered"] += 1
                status = c.received[9:12].decode("ascii", "replace")
                self.statuses[status] = self.statuses.get(status, 0) + 1
                if c.kind == "keepalive":
                    self.keepalive_responses += c.received.count(b"HTTP/1.")
        else:
            counter.kind(c.kind)["answered"] += 1
            if c.kind == "handshake" and len(c.received) >= 48:
                self.handshakes_answered += 1
                if c.received[28:48] == c.expect_hash:
                    self.handshakes_matching += 1

    def on_event(self, c, mask, now):
        s = c.sock
        if c.state == "connecting":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.finish(c, error=err)
                return
            self.counters[c.flood].kind(c.kind)["connected"] += 1
            if c.close_at_once:
                self.finish(c)
                return
            c.state = "sending" if c.payload else "reading"
            self.sel.modify(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if c.payload else 0), c)
            if not c.payload:
                return
        if mask & selectors.EVENT_READ:
            try:
                data = s.recv(16384)
            except BlockingIOError:
                data = None
            except OSError as e:
                self.finish(c, error=e.errno)
                return
            if data is not None:
                if not data:
                    self.finish(c, server_closed=True)
                    return
                if len(c.received) < MAX_READ_BYTES:
                    c.received += data
        if c.state == "sending" and mask & selectors.EVENT_WRITE:
            try:
                n = s.send(c.payload[c.sent:c.sent + 65536])
            except BlockingIOError:
                n = 0
            except OSError as e:
                # The server may answer and close before it read everything (431, 400).
                if c.received:
                    self.finish(c, server_closed=True)
                else:
                    self.finish(c, error=e.errno)
                return
            c.sent += n
            if c.sent >= len(c.payload):
                c.state = "reading"
                self.sel.modify(s, selectors.EVENT_READ, c)

    def run(self):
        jobs = self.plan()
        t0 = time.monotonic()
        stop_new = t0 + self.args.duration
        hard_stop = stop_new + self.args.hold + 5
        i = 0
        ready_said = False
        while True:
            now = time.monotonic()
            while i < len(jobs) and self.open < self.args.concurrency and now < stop_new and not self.interrupted:
                self.start(*jobs[i], now)
                i += 1
            if not ready_said and (self.open >= self.args.concurrency or i >= len(jobs)):
                # For scripts that wait until the flood is at full strength.
                print(f"flood.py: flooding, {self.open} sockets open", file=sys.stderr, flush=True)
                ready_said = True
            if self.open == 0 and (i >= len(jobs) or now >= stop_new):
                break
            if now >= hard_stop or self.interrupted:
                for key in list(self.sel.get_map().values()):
                    self.finish(key.data, error=None if self.interrupted else "TIMEOUT_ABORT")
                break
            for key, mask in self.sel.select(timeout=0.05):
                self.on_event(key.data, mask, now)
            now = time.monotonic()
            for key in list(self.sel.get_map().values()):
                c = key.data
                if now >= c.deadline:
                    # A request kind that got nothing in time counts as a timeout; a hold
                    # kind simply ends its hold.
                    timed_out = c.state != "reading" or (not c.received and c.kind not in ("silent", "partial", "handshake"))
                    self.finish(c, error="TIMEOUT" if timed_out else None)
        elapsed = time.monotonic() - t0
        skipped = len(jobs) - i
        out = {
            "duration_s": round(elapsed, 3),
            "connections": i,
            "not_started": skipped,
            "rate_per_s": round(i / elapsed, 1) if elapsed > 0 else None,
            "max_open": self.max_open,
            "interrupted": self.interrupted,
            "sources": self.sources,
        }
        if self.args.tracker:
            out["tracker"] = self.counters["tracker"].summary()
            out["tracker"]["http_status"] = self.statuses
            out["tracker"]["keepalive_responses"] = self.keepalive_responses
        if self.args.peer:
            out["peer"] = self.counters["peer"].summary()
            out["peer"]["handshakes_answered"] = self.handshakes_answered
            out["peer"]["handshakes_for_our_torrent"] = self.handshakes_matching
        return out


def raise_fd_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed + 64:
        raise SystemExit(f"flood.py: --concurrency {needed} needs more file descriptors than the "
                         f"limit allows ({soft}); lower --concurrency")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--tracker", type=loopback_endpoint, help="the tracker's HOST:PORT")
    ap.add_argument("--peer", type=loopback_endpoint, action="append", default=[],
                    help="a peer's HOST:PORT (repeatable)")
    ap.add_argument("--info-hash", help="the real torrent's info-hash (40 hex digits)")
    ap.add_argument("--torrent", help="the real torrent's .torrent file (instead of --info-hash)")
    ap.add_argument("--announces", type=int, default=2000, help="tracker connections in total")
    ap.add_argument("--peer-connections", type=int, default=1000, help="peer connections in total")
    ap.add_argument("--concurrency", type=int, default=500, help="most sockets open at once")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds after which nothing new starts")
    ap.add_argument("--hold", type=float, default=3.0, help="seconds a silent connection stays open")
    ap.add_argument("--source", type=loopback_address, default="127.0.0.66",
                    help="first source address (127.0.0.0/8)")
    ap.add_argument("--sources", type=int, default=1, help="source addresses used, from --source up")
    ap.add_argument("--seed", type=int, default=1, help="seed of the random choices")
    ap.add_argument("--output", default="-", help="where the JSON report goes ('-': stdout)")
    args = ap.parse_args(argv)
    if not args.tracker and not args.peer:
        ap.error("give --tracker and/or --peer")
    for name in ("announces", "peer_connections", "concurrency", "sources"):
        if getattr(args, name) < (1 if name in ("concurrency", "sources") else 0):
            ap.error(f"--{name.replace('_', '-')}: out of range")
    if not (0 < args.duration <= 3600 and 0 <= args.hold <= 600):
        ap.error("--duration must be in (0, 3600] s and --hold in [0, 600] s")
    if not ipaddress.IPv4Address(args.source) + (args.sources - 1) in ipaddress.IPv4Network("127.0.0.0/8"):
        ap.error("--source/--sources: every source must be in 127.0.0.0/8")
    if args.torrent:
        info_hash = torrent_info_hash(args.torrent)
    elif args.info_hash:
        try:
            info_hash = bytes.fromhex(args.info_hash)
        except ValueError:
            info_hash = b""
        if len(info_hash) != 20:
            ap.error("--info-hash: expected 40 hex digits")
    else:
        info_hash = os.urandom(20)
    raise_fd_limit(args.concurrency)
    flooder = Flooder(args, info_hash)
    signal.signal(signal.SIGINT, flooder.interrupt)
    signal.signal(signal.SIGTERM, flooder.interrupt)
    result = flooder.run()
    result["info_hash"] = info_hash.hex()
    text = json.dumps(result, indent=1, sort_keys=True) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w") as f:
            f.write(text)
    print(f"flood.py: done, {result['connections']} connections in {result['duration_s']} s",
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
