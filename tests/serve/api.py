#!/usr/bin/env python3
"""`p2pdist serve`'s JSON API against the CLI, and against bad, oversized and slow requests.

Checks that /api/bound and /api/sweep answer exactly what `p2pdist bound/sweep --json -`
print for the same options; that bad values get 400 with the CLI's own message and the
field it names; unknown or repeated parameters, non-printable values, unknown paths, a
foreign Host header, an oversized request line, and a POST get 4xx; that a request's head
must be whole within 10 s (a silent client and 150 trickling a byte a second each get 408,
while others are answered); that 40 requests at once are all answered; that /api/swarm streams samples then the swarm's document, refuses
values over its caps and a second swarm while one runs, and ends the swarm of a client that
goes away; and that SIGTERM ends the server with status 0.

  tests/serve/api.py --p2pdist build/p2pdist
"""

import argparse
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_common  # noqa: E402

check = serve_common.check
cli = serve_common.cli


def get(url, headers=None, method="GET"):
    """(status, parsed JSON or raw text)."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    try:
        return status, json.loads(body)
    except json.JSONDecodeError:
        return status, body.decode(errors="replace")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--p2pdist", required=True)
    args = p.parse_args()
    with serve_common.Server(args.p2pdist) as server:
        u = server.url
        second = subprocess.run([args.p2pdist, "serve", "--listen", f"127.0.0.1:{server.port}"], capture_output=True,
                                text=True, timeout=30)
        check(second.returncode == 1 and "cannot listen" in second.stderr,
              f"a second server on the same port is told it is in use ({second.returncode}: {second.stderr.strip()})")

        # the same documents as the CLI
        status, doc = get(u + "api/bound?N=100&file-size=15Gbit&server-up=30Mbps&peer-up=700kbps&peer-down=2Mbps")
        want = cli(args.p2pdist, "bound", "-N", "100", "--file-size", "15Gbit", "--server-up", "30Mbps",
                   "--peer-up", "700kbps", "--peer-down", "2Mbps")
        check(status == 200 and doc == want, "/api/bound is `p2pdist bound --json -`'s document")
        # by hand: N·F/u_s = 100 x 15e9 / 30e6 = 50 000 s > F/d = 7 500 s
        check(doc["client_server"]["seconds"] == 50000.0, "client-server at N = 100 is 50 000 s (by hand)")
        status, doc = get(u + "api/sweep?x=N&from=1&to=1000&points=7&log=1&peer-up=2Mbps")
        want = cli(args.p2pdist, "sweep", "--x", "N", "--from", "1", "--to", "1000", "--points", "7", "--log",
                   "--peer-up", "2Mbps")
        check(status == 200 and doc == want, "/api/sweep is `p2pdist sweep --json -`'s document")

        # bad values: the CLI's words, and the field
        for query, field, words in (("N=0", "N", "must be at least 1"),
                                    ("peer-up=abc", "peer-up", "'abc' does not start with a number"),
                                    ("N=3&peer-up=1Mbps,2Mbps", "peer-up", "2 values given, but N is 3"),
                                    ("file-size=-5MB", "file-size", "is negative")):
            status, doc = get(u + "api/bound?" + query)
            check(status == 400 and doc.get("field") == field and words in doc.get("error", ""),
                  f"bound?{query}: 400 naming {field} ({doc})")
        for query, field in (("file=/etc/passwd", "file"), ("json=/tmp/x", "json"), ("N=2&N=3", "N"),
                             ("schedule=yes", "schedule"), ("N=%01", "N"), ("N=", "N")):
            status, doc = get(u + "api/bound?" + query)
            check(status == 400 and doc.get("field") == field, f"bound?{query}: 400 naming {field}")
        status, _ = get(u + "api/swarmz")
        check(status == 404, "an unknown path: 404")
        status, _ = get(u + "api/bound", method="POST")
        check(status in (404, 405), f"a POST: {status}")
        status, doc = get(u + "api/bound", headers={"Host": f"attacker.example:{server.port}"})
        check(status == 403, "a foreign Host header (DNS rebinding): 403")
        status, _ = get(u + "api/bound?N=" + "1" * 20000)
        check(status in (400, 414, 431), f"a 20 kB request line: {status}")
        status, doc = get(u + "api/sweep?x=N&from=1&to=1000&points=100000000")
        check(status in (400, 413, 504), f"a sweep of 10^8 points is refused or cut, not served ({status})")

        # a client that half-closes once its request is out (`printf 'GET ...' | nc`) still
        # gets the whole answer
        half = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        half.sendall(b"GET /api/bound?N=5 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        half.shutdown(socket.SHUT_WR)
        said = b""
        while True:
            try:
                chunk = half.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            said += chunk
        half.close()
        head, _, body = said.partition(b"\r\n\r\n")
        check(head.startswith(b"HTTP/1.1 200") and body.strip().endswith(b"}") and json.loads(body)["N"] == 5,
              f"a client that half-closes after its request gets the answer ({said[:40]!r}, {len(said)} bytes)")

        # a request's head must be whole within 10 s: a client silent mid-request and 150
        # clients trickling theirs a byte a second each get 408 by then, and other requests
        # are answered meanwhile
        stalled = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        stalled.sendall(b"GET /api/bound HTTP/1.1\r\nHost: 127.0.0.1")
        started = time.monotonic()
        try:
            said = stalled.recv(100)
        except OSError:
            said = b""
        stalled.close()
        check(said.startswith(b"HTTP/1.1 408") and time.monotonic() - started < 15,
              f"a client silent mid-request: {said[:25]!r} after {time.monotonic() - started:.1f} s")
        trickle = [socket.create_connection(("127.0.0.1", server.port), timeout=30) for _ in range(150)]
        for t in trickle:
            t.setblocking(False)
        started = time.monotonic()
        answered, told = [], 0
        for k, ch in enumerate(b"GET /api/bound HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 40):
            for t in list(trickle):
                try:
                    t.send(bytes([ch]))
                    said = t.recv(100)
                    if said.startswith(b"HTTP/1.1 408"):
                        told += 1
                    trickle.remove(t)
                    t.close()
                except (BlockingIOError, socket.timeout):
                    pass
                except OSError:
                    trickle.remove(t)
                    t.close()
            if k % 3 == 2:
                t0 = time.monotonic()
                status, _ = get(u + "api/bound?N=5")
                answered.append((status, time.monotonic() - t0))
            if not trickle or time.monotonic() - started > 30:
                break
            time.sleep(1.0)
        for t in trickle:
            t.close()
        check(told == 150 and time.monotonic() - started < 20,
              f"150 clients trickling a byte a second: {told} told 408 within {time.monotonic() - started:.0f} s")
        check(answered and all(st == 200 and dt < 5 for st, dt in answered),
              f"meanwhile {len(answered)} other requests answered, the slowest in "
              f"{max(dt for _, dt in answered):.2f} s")

        with concurrent.futures.ThreadPoolExecutor(40) as pool:
            results = list(pool.map(lambda n: get(u + f"api/bound?N={n}"), range(1, 41)))
        check(all(s == 200 and d["N"] == n for n, (s, d) in enumerate(results, 1)), "40 requests at once: all answered")
        # the live swarm: a stream of samples, then the swarm's own document
        with urllib.request.urlopen(u + "api/swarm?N=3&file-size=1MiB&piece-size=64KiB&time-scale=0.2",
                                    timeout=90) as r:
            events = [block.split("\n", 1) for block in r.read().decode().split("\n\n") if block.strip()]
        names = [e[0] for e in events]
        result = json.loads(events[-1][1][len("data: "):]) if names and names[-1] == "event: result" else {}
        check(names.count("event: progress") >= 1 and names[-1] == "event: result" and result.get("data_ok") is True
              and result.get("N") == 3 and result.get("ratio", 0) >= 0.99,
              f"/api/swarm: {names.count('event: progress')} samples, then the result (ratio {result.get('ratio')})")
        with urllib.request.urlopen(u + "api/simulate?N=5&file-size=2MiB&piece-size=64KiB&seed=3", timeout=90) as r:
            events = [block.split("\n", 1) for block in r.read().decode().split("\n\n") if block.strip()]
        result = json.loads(events[-1][1][len("data: "):]) if events and events[-1][0] == "event: result" else {}
        want = cli(args.p2pdist, "simulate", "-N", "5", "--file-size", "2MiB", "--piece-size", "64KiB", "--seed", "3")
        check(result.get("engine") == "simulated" and result.get("distribution_seconds") == want["distribution_seconds"],
              f"/api/simulate: the simulation's document, the CLI's for the same seed "
              f"({result.get('distribution_seconds')} s)")
        status, doc = get(u + "api/swarm?N=1000")
        check(status == 400 and doc.get("field") == "N", "/api/swarm over the leecher cap: 400 naming N")
        status, doc = get(u + "api/swarm?N=2&file-size=10GiB")
        check(status == 400 and doc.get("field") == "file-size", "/api/swarm over the file cap: 400 naming file-size")
        status, doc = get(u + "api/swarm?N=2&file=/etc/passwd")
        check(status == 400 and doc.get("field") == "file", "/api/swarm with a path: 400")
        # one at a time; a client that goes away ends its swarm
        slow = urllib.request.urlopen(u + "api/swarm?N=3&file-size=32MiB&server-up=1MB/s", timeout=30)
        slow.read(10)
        status, doc = get(u + "api/swarm?N=2")
        check(status == 409, f"a second swarm while one runs: {status}")
        children = lambda: subprocess.run(["ps", "-o", "pid=", "--ppid", str(server.proc.pid)],  # noqa: E731
                                          capture_output=True, text=True).stdout.split()
        check(len(children()) == 1, f"the running swarm is the server's child ({children()})")
        slow.close()
        try:
            serve_common.wait_for(lambda: not children(), 15, "the swarm to end")
            check(True, "the client went away: its swarm ended")
        except TimeoutError:
            check(False, f"the client went away but its swarm runs on ({children()})")
        serve_common.wait_for(lambda: get(u + "api/swarm?N=0")[0] != 409, 15, "the swarm slot to free")
        check(server.stop() == 0, "SIGTERM: the server ends with status 0")
    return serve_common.verdict()


if __name__ == "__main__":
    sys.exit(main())
