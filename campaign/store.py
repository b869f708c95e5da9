"""The result file of a campaign: JSON Lines, one whole record per run, never half a one.

Only the runner writes it (the workers hand their results back), as runs end: one write()
of whole lines, each ending in a newline, with O_APPEND, then fsync. A line cut by
a crash of the machine itself can only be the last one; opening the file removes it (and
says so), so the run it belonged to is run again. An exclusive lock (flock) keeps a second
runner off a file that one is writing.
"""

import errno
import fcntl
import json
import os
import sys


class StoreError(RuntimeError):
    pass


def read_records(path):
    """Every whole record of a result file, in order; a last line without its newline is
    left out (see ResultFile)."""
    records = []
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return records
    lines = data.split(b"\n")
    for number, line in enumerate(lines[:-1], 1):  # the part after the last newline is not whole
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            record = e
        if not isinstance(record, dict) or not isinstance(record.get("key"), str):
            why = f" ({record})" if isinstance(record, json.JSONDecodeError) else ""
            raise StoreError(f"{path}:{number}: not a campaign record{why}; the file was written by "
                             f"something else or edited by hand")
        records.append(record)
    return records


class ResultFile:
    """An open, locked result file: the keys it holds and a way to append a record."""

    def __init__(self, path):
        self.path = os.path.abspath(path)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(self.fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise StoreError(f"{self.path}: another campaign runner is writing this file") from None
            raise
        try:
            self._drop_cut_line()
            self.records = read_records(self.path)
        except BaseException:
            self.close()
            raise
        self.done = {}
        for r in self.records:
            self.done[r["key"]] = r  # the last record of a key wins (a retried failure)

    def _drop_cut_line(self):
        size = os.fstat(self.fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as f:
            f.seek(max(0, size - (1 << 20)))
            tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else (size - len(tail) if size > len(tail) else 0)
        if cut < 0 and size > len(tail):
            raise StoreError(f"{self.path}: its last line is over 1 MiB and has no end; not touching it")
        print(f"campaign: {self.path}: removing a cut last line ({size - keep} bytes, a run that was "
              f"being written when the machine stopped); it runs again", file=sys.stderr)
        os.ftruncate(self.fd, keep)
        os.fsync(self.fd)

    def append(self, *records):
        """Writes whole records (one write, then one fsync for all of them)."""
        data = b"".join((json.dumps(r, separators=(",", ":")) + "\n").encode() for r in records)
        written = os.write(self.fd, data)
        if written != len(data):  # a short write to a regular file: the disk is full
            os.ftruncate(self.fd, os.fstat(self.fd).st_size - written)
            raise StoreError(f"{self.path}: short write ({written} of {len(data)} bytes): disk full?")
        os.fsync(self.fd)
        for r in records:
            self.records.append(r)
            self.done[r["key"]] = r

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
