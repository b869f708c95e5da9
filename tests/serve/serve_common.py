"""Shared by the serve tests: start `p2pdist serve` on a free loopback port and end it by
PID; the checks' record; the CLI's own documents to compare with."""

import json
import re
import signal
import subprocess
import time


class Server:
    """`p2pdist serve --listen 127.0.0.1:0`; .url is where it answers."""

    def __init__(self, p2pdist):
        self.proc = subprocess.Popen([p2pdist, "serve", "--listen", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # printed once it listens
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            self.stop()
            raise RuntimeError(f"serve did not say where it listens: {line!r} {self.proc.stderr.read()[-500:]!r}")
        self.port = int(m[1])
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self):
        """SIGTERM, then SIGKILL after 10 s; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def wait_for(predicate, seconds, what):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.05)


failures = []


def check(ok, what):
    """Records one check (printed ok or FAIL)."""
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def verdict():
    """Prints the outcome of every check; returns the exit status."""
    print("FAILED: " + "; ".join(failures) if failures else "all passed")
    return 1 if failures else 0


def cli(p2pdist, *args):
    """`p2pdist ARGS --json -`'s document."""
    return json.loads(subprocess.run([p2pdist, *args, "--json", "-"], capture_output=True, text=True,
                                     timeout=30, check=True).stdout)
