"""Runs a campaign on Dask's distributed scheduler: a LocalCluster on this machine, or the
scheduler and workers of a cluster (`--scheduler tcp://host:8786`).

Every run is one invocation of the p2pdist binary with `--json -`, done by a worker; the
runner alone writes the result file (campaign/store.py), one whole record as each run
ends. What the file already holds is not run again, so a campaign cut short by Ctrl-C, a
killed worker or a lost scheduler loses at most the runs that were in flight.

Real swarms need their host to themselves: a `swarm` run asks for the worker resource
`swarm` (1 unit), which a LocalCluster's one worker has and which a cluster's operator
gives to one worker per host (`dask worker ... --resources swarm=1`); the runner refuses a
cluster where a host offers more than one. `bound`, `sweep` and `simulate` runs ask for
nothing and pack onto every worker thread; in a campaign that mixes them with swarms
they run first, and the swarms after, so a swarm never shares its host with them.
"""

import concurrent.futures
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

from . import report, spec, store, task

PACKED = ("bound", "sweep", "simulate")
DEFAULT_SIMULATE_SECONDS_PER_BLOCK = 1e-5  # a simulated leecher-block costs ~10 us here


class SetupError(RuntimeError):
    """The campaign cannot start: what is wrong and what to do."""


def binary_info(binary):
    """(version string, commit or None) of the local binary, or SetupError."""
    if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
        raise SetupError(f"{binary}: no p2pdist binary there (build it, or give --bin)")
    version = task.binary_version(binary)
    if not version:
        raise SetupError(f"{binary} --version failed")
    m = re.search(r"\(commit ([0-9a-f]+)", version)
    return version, (m[1] if m else None)


def command_options(binary, command):
    """The long option names `p2pdist COMMAND --help` lists (and N)."""
    said = subprocess.run([binary, command, "--help"], capture_output=True, text=True, timeout=30).stdout
    names = set(re.findall(r"--([a-z][a-z0-9-]*)", said))
    if re.search(r"^\s*-N,", said, re.M):
        names.add("N")
    return names


def check_options(binary, runs):
    """Every option of every run is one its command takes: else SetupError naming it."""
    known = {}
    for r in runs:
        cmd = r["command"]
        if cmd not in known:
            known[cmd] = command_options(binary, cmd)
        for name in r["options"]:
            if name not in known[cmd] or name in spec.RUNNER_OPTIONS:
                where = f"group {r['group']!r}: " if r["group"] else ""
                raise SetupError(f"{where}`p2pdist {cmd}` has no option --{name} "
                                 f"(see `p2pdist {cmd} --help`)")


# --- estimates --------------------------------------------------------------------------

def _bound_argv(options):
    argv = ["bound", "--json", "-"]
    defaults = {"peer-down": "unlimited", "piece-size": "256KiB", "file-size": "32MiB", "server-up": "4MB/s",
                "peer-up": "2MB/s", "N": 8}
    for name in ("N", "file-size", "server-up", "peer-up", "peer-down", "piece-size"):
        v = options.get(name, defaults[name])
        argv += ["-N" if name == "N" else f"--{name}", spec.number_text(v)]
    return argv


def estimate(binary, runs):
    """Estimated wall seconds of every run (a list in the runs' order), and the problems
    found on the way (bad parameters the bound already refuses).

    swarm: the bound of its mode x 1.1 + 1 s (a swarm lands within a few percent of the
    bound, plus start and teardown), twice that with --fault (it runs a baseline first);
    simulate: ~10 us per leecher-block; bound and sweep: one such run timed here."""
    cache, problems = {}, []

    def bound_of(options):
        argv = _bound_argv(options)
        k = tuple(argv)
        if k not in cache:
            proc = subprocess.run([binary] + argv, capture_output=True, text=True, timeout=60)
            cache[k] = json.loads(proc.stdout) if proc.returncode == 0 else proc.stderr.strip()
        return cache[k]

    timed = {}

    def time_one(r):
        if r["command"] not in timed:
            t0 = time.monotonic()
            subprocess.run([binary] + r["argv"], capture_output=True, timeout=60)
            timed[r["command"]] = time.monotonic() - t0
        return timed[r["command"]]

    def one(r):
        cmd, o = r["command"], r["options"]
        if cmd in ("bound", "sweep"):
            return time_one(r)
        if "file" in o:
            return 10.0  # a user's file: its size is not known here
        b = bound_of(o)
        if isinstance(b, str):
            problems.append(f"{r['group'] or cmd} {o}: {b}")
            return 0.0
        mode = "client_server" if o.get("mode") == "cs" else "p2p"
        if cmd == "swarm":
            est = b[mode]["seconds"] * 1.1 + 1.0
            return est * 2 if o.get("fault") and not o.get("no-baseline") else est
        blocks = b["file_bits"] / 8 / 16384
        return 0.05 + b["N"] * blocks * DEFAULT_SIMULATE_SECONDS_PER_BLOCK

    # the bounds first, in parallel (each is a few ms of process start)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        distinct = {}
        for r in runs:
            if r["command"] in ("swarm", "simulate") and "file" not in r["options"]:
                distinct.setdefault(tuple(_bound_argv(r["options"])), r["options"])
        list(pool.map(bound_of, distinct.values()))
    out = [one(r) for r in runs]
    return out, sorted(set(problems))


def duration_text(seconds):
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- the cluster ------------------------------------------------------------------------

def connect(args):
    """A Dask client: to the scheduler given, or to a LocalCluster of one worker on
    127.0.0.1 with this machine's cores as threads and the `swarm` resource."""
    import cloudpickle
    from distributed import Client, LocalCluster
    cloudpickle.register_pickle_by_value(task)  # workers need no checkout of this repository
    if args.scheduler or args.scheduler_file:
        try:
            if args.scheduler_file:
                return Client(scheduler_file=args.scheduler_file, timeout=args.connect_timeout), None
            return Client(args.scheduler, timeout=args.connect_timeout), None
        except (OSError, TimeoutError) as e:
            raise SetupError(f"cannot reach the Dask scheduler at {args.scheduler or args.scheduler_file}: {e}") \
                from None
    threads = args.workers or os.cpu_count() or 1
    cluster = LocalCluster(n_workers=1, threads_per_worker=threads, processes=False,
                           dashboard_address=None, resources={"swarm": 1})
    return Client(cluster), cluster


def check_cluster(client, worker_bin, version, needs_swarm, wait_seconds):
    """The workers' binaries are the campaign's and a host offers one swarm slot at most.
    Returns (threads, swarm slots)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        info = client.scheduler_info()
        workers = info.get("workers", {})
        if workers or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    if not workers:
        raise SetupError(f"the scheduler has no workers after {wait_seconds:g} s (start some with "
                         f"`dask worker SCHEDULER_ADDRESS`)")
    said = client.run(task.binary_version, worker_bin)
    wrong = {addr: v for addr, v in said.items() if v != version}
    if wrong:
        lines = "; ".join(f"{a}: {v or 'cannot run ' + worker_bin}" for a, v in sorted(wrong.items()))
        raise SetupError(f"workers whose p2pdist is not the campaign's ({version}): {lines}. Install the same "
                         f"build at {worker_bin} on every worker host (or give --worker-bin)")
    slots_by_host = {}
    for w in workers.values():
        slots_by_host[w.get("host")] = slots_by_host.get(w.get("host"), 0) + w.get("resources", {}).get("swarm", 0)
    crowded = [h for h, s in slots_by_host.items() if s > 1]
    if crowded:
        raise SetupError(f"host(s) {', '.join(map(str, crowded))} offer more than one `swarm` slot: two swarms "
                         f"there would share the cores and both measure wrong. Give --resources swarm=1 to one "
                         f"worker per host")
    swarm_slots = sum(1 for s in slots_by_host.values() if s >= 1)
    if needs_swarm and not swarm_slots:
        raise SetupError("no worker offers the `swarm` resource, so no swarm can run: start one worker per host "
                         "with --resources swarm=1")
    threads = sum(w.get("nthreads", 1) for w in workers.values())
    return threads, swarm_slots


# --- progress ---------------------------------------------------------------------------

class Progress:
    """done / failed / running / left and an ETA on stderr: redrawn in place on a terminal,
    a line every `every` seconds otherwise."""

    def __init__(self, total, estimates, client, quiet=False, every=15.0):
        self.total, self.client = total, client
        self.estimates = estimates  # key -> seconds
        self.done = self.failed = 0
        self.est_done = 0.0
        self.started = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.quiet = quiet
        self.every = 0.5 if self.tty else every
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.running = 0
        self.capacity = 1  # tasks that can run at once in the current phase
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def start(self):
        if not self.quiet:
            self.thread.start()

    def finished(self, key, ok):
        with self.lock:
            if ok:
                self.done += 1
            else:
                self.failed += 1
            self.est_done += self.estimates.get(key, 0.0)

    def line(self):
        with self.lock:
            done, failed, est_done = self.done, self.failed, self.est_done
        try:
            # tasks the scheduler has handed to workers, some still waiting there for a thread
            # or the swarm slot: at most `capacity` of them run
            processing = self.client.processing()
            tasks = [int(k.rsplit("-", 1)[1]) for ks in processing.values() for k in ks
                     if k.startswith("p2pdist-runs-")]
            self.running = sum(sorted(tasks, reverse=True)[:self.capacity])
        except Exception:  # noqa: BLE001  the count is only shown; a busy scheduler keeps the last one
            pass
        elapsed = time.monotonic() - self.started
        left = self.total - done - failed
        est_left = sum(self.estimates.values()) - est_done
        eta = elapsed * est_left / est_done if est_done > 0 else None
        width = 24
        filled = int(width * (done + failed) / self.total) if self.total else width
        bar = "#" * filled + "." * (width - filled)
        return (f"[{bar}] {done} done, {failed} failed, {min(self.running, left)} running, "
                f"{left - min(self.running, left)} left; {duration_text(elapsed)} so far, "
                f"ETA {duration_text(eta)}")

    def _loop(self):
        while not self.stop.wait(self.every):
            self.show()

    def show(self, final=False):
        if self.quiet:
            return
        text = self.line()
        if self.tty:
            sys.stderr.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            sys.stderr.write("campaign: " + text + "\n")
        sys.stderr.flush()

    def close(self):
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
        self.show(final=True)


# --- the campaign -----------------------------------------------------------------------

def record_of(run, campaign_name, out, binary_version_text, commit):
    ok = out.get("exit_code") == 0 and out.get("result") is not None
    rec = {"key": run["key"], "campaign": campaign_name, "command": run["command"], "group": run["group"],
           "options": run["options"], "repeat": run["repeat"], "argv": ["p2pdist"] + run["argv"],
           "status": "ok" if ok else "failed", "exit_code": out.get("exit_code"),
           "host": out.get("host"), "worker": out.get("worker"),
           "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(out.get("started_unix", time.time()))),
           "wall_seconds": out.get("wall_seconds"),
           "p2pdist": {"version": binary_version_text, "commit": commit},
           "result": out.get("result")}
    if not ok:
        rec["stderr"] = out.get("stderr", "")
    return rec


def batches(runs, estimates, threads, task_seconds=0.5):
    """Short runs packed into tasks of about `task_seconds` each (by their estimates), yet
    at least four tasks per worker thread while there are runs enough."""
    total = sum(estimates[r["key"]] for r in runs)
    target = max(min(task_seconds, total / (4 * max(threads, 1))), 1e-9)
    out, current, filled = [], [], 0.0
    for r in runs:
        current.append(r)
        filled += estimates[r["key"]]
        if filled >= target:
            out.append(current)
            current, filled = [], 0.0
    if current:
        out.append(current)
    return out


def execute(client, runs, results, campaign_name, worker_bin, version, commit, estimates, timeouts, threads,
            swarm_slots, quiet=False):
    """Runs `runs` on the client's cluster, appending a record to `results` as each ends.
    Packed commands first, then the swarms. Returns (ok, failed) counts."""
    from distributed import as_completed

    progress = Progress(len(runs), {r["key"]: estimates[r["key"]] for r in runs}, client, quiet=quiet)
    progress.start()
    ok = failed = 0
    try:
        for phase in (lambda r: r["command"] in PACKED, lambda r: r["command"] not in PACKED):
            batch = [r for r in runs if phase(r)]
            if not batch:
                continue
            resources = None if batch[0]["command"] in PACKED else {"swarm": 1}
            progress.capacity = threads if resources is None else swarm_slots
            chunks = batches(batch, estimates, threads) if resources is None else [[r] for r in batch]
            futures = client.map(task.execute_batch, [worker_bin] * len(chunks), [version] * len(chunks),
                                 [[r["argv"] for r in c] for c in chunks],
                                 [[timeouts[r["key"]] for r in c] for c in chunks],
                                 key=[f"p2pdist-runs-{c[0]['key']}-{len(c)}" for c in chunks],
                                 resources=resources, pure=False)
            chunk_of = {f.key: c for f, c in zip(futures, chunks)}
            for fut in as_completed(futures):
                chunk = chunk_of.pop(fut.key)
                try:
                    outs = fut.result()
                except task.BinaryMismatch as e:
                    raise SetupError(f"a worker's binary changed under the campaign: {e}") from None
                except Exception as e:  # noqa: BLE001  a run's failure is recorded, the campaign goes on
                    if type(e).__name__ == "CancelledError":
                        raise
                    outs = [{"exit_code": None, "stderr": f"campaign: the run raised {type(e).__name__}: {e}"}
                            for _ in chunk]
                fut.release()
                recs = [record_of(run, campaign_name, out, version, commit) for run, out in zip(chunk, outs)]
                results.append(*recs)
                for rec in recs:
                    ok += rec["status"] == "ok"
                    failed += rec["status"] != "ok"
                    progress.finished(rec["key"], rec["status"] == "ok")
    finally:
        progress.close()
    return ok, failed


def prepare(doc, overrides):
    """The runs of a campaign dict after the command line's overrides: --only, --axis,
    --set, --repeat, --command. Each run gets its command."""
    doc = json.loads(json.dumps(doc))  # a copy
    if overrides.get("command"):  # every group's, e.g. the same grid through `simulate`
        doc["command"] = overrides["command"]
        for g in doc.get("group", []):
            g.pop("command", None)
    if overrides.get("repeat"):
        doc["repeat"] = overrides["repeat"]
    if overrides.get("only"):
        want = set(overrides["only"])
        names = {g["name"] for g in doc.get("group", [])}
        missing = want - names
        if missing:
            raise spec.CampaignError(f"--only: no group named {', '.join(sorted(missing))} "
                                     f"(groups: {', '.join(sorted(names)) or 'none'})")
        doc["group"] = [g for g in doc["group"] if g["name"] in want]
    for name, values in overrides.get("axes", {}).items():
        found = False
        for g in [doc] + doc.get("group", []):
            if name in g.get("axes", {}):
                g["axes"][name] = values
                found = True
        if not found:
            raise spec.CampaignError(f"--axis {name}: the campaign has no axis {name!r}")
    for name, value in overrides.get("set", {}).items():
        for g in [doc] + doc.get("group", []):
            for part in ("axes", "zip"):
                g.get(part, {}).pop(name, None)
            if g is doc or "options" in g:
                g.setdefault("options", {})[name] = value
            for r in g.get("runs", []):
                r[name] = value
    return doc, spec.check(doc)


def parse_value(text):
    """A command-line override's value: a number when it reads as one, else the text."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def pairs(items, what):
    out = {}
    for item in items or []:
        if "=" not in item:
            raise spec.CampaignError(f"{what} {item!r}: write NAME=VALUE")
        name, value = item.split("=", 1)
        out[name.strip()] = value
    return out


def run_campaign(args, doc):
    """The runner's work for parsed arguments and a loaded campaign dict; returns the exit
    status (0 all ran well, 1 some failed, 2 cannot start, 3 lost the scheduler, 130 Ctrl-C)."""
    overrides = {"command": args.command, "repeat": args.repeat,
                 "only": args.only.split(",") if args.only else None,
                 "axes": {k: [parse_value(x) for x in v.split(",")] for k, v in pairs(args.axis, "--axis").items()},
                 "set": {k: parse_value(v) for k, v in pairs(args.set, "--set").items()}}
    doc, runs = prepare(doc, overrides)
    binary = os.path.abspath(args.bin)
    version, commit = binary_info(binary)
    check_options(binary, runs)
    output = args.out or doc.get("output") or os.path.join("build", "campaigns", f"{doc['name']}.jsonl")
    output = os.path.abspath(output)

    est_list, problems = estimate(binary, runs)
    if problems:
        raise SetupError("the bound refuses some runs' parameters:\n  " + "\n  ".join(problems[:10]))
    estimates = {r["key"]: e for r, e in zip(runs, est_list)}
    timeout_setting = doc.get("run_timeout")
    timeouts = {r["key"]: (spec.seconds_of(timeout_setting, "run_timeout") if timeout_setting
                           else min(4 * estimates[r["key"]] + 120, 7200.0)) for r in runs}

    if args.dry_run:
        return dry_run(doc, runs, estimates, output, args)

    results = store.ResultFile(output)
    try:
        old_version = {r.get("p2pdist", {}).get("version") for r in results.records if r.get("status") == "ok"}
        old_version.discard(None)
        if old_version and old_version != {version} and not args.mixed_versions:
            raise SetupError(f"{output} holds runs of {', '.join(sorted(old_version))}; this binary is {version}. "
                             f"Resuming would mix two engines in one result: give another --out, or "
                             f"--mixed-versions to resume anyway")
        todo = [r for r in runs if r["key"] not in results.done
                or (args.retry_failed and results.done[r["key"]].get("status") != "ok")]
        print(f"campaign {doc['name']}: {len(runs)} runs, {len(runs) - len(todo)} already in {output}, "
              f"{len(todo)} to run", file=sys.stderr, flush=True)
        status = 0
        if todo:
            status = _run_on_cluster(args, doc, todo, results, binary, version, commit, estimates, timeouts)
        mine = [results.done[r["key"]] for r in runs if r["key"] in results.done]
        if not (args.quiet or args.no_table):
            print("\n".join(report.table(mine)))
        failed = sum(1 for r in mine if r.get("status") != "ok")
        if status == 0 and failed:
            print(f"campaign: {failed} run(s) failed; their records hold the exit code and stderr "
                  f"(--retry-failed runs them again)", file=sys.stderr)
            status = 1
        if status == 0 and len(mine) < len(runs):
            status = 1
        print(f"campaign: results in {output}", file=sys.stderr)
        return status
    finally:
        results.close()


def _run_on_cluster(args, doc, todo, results, binary, version, commit, estimates, timeouts):
    client, cluster = connect(args)
    interrupted = {"yes": False}
    previous = signal.getsignal(signal.SIGINT)

    def on_sigint(signum, frame):
        interrupted["yes"] = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)
    signal.signal(signal.SIGTERM, on_sigint)
    try:
        worker_bin = args.worker_bin or binary
        threads, swarm_slots = check_cluster(client, worker_bin, version,
                                             any(r["command"] == "swarm" for r in todo), args.connect_timeout)
        packed = sum(estimates[r["key"]] for r in todo if r["command"] in PACKED) / max(threads, 1)
        swarms = sum(estimates[r["key"]] for r in todo if r["command"] not in PACKED) / max(swarm_slots, 1)
        print(f"campaign: {threads} worker thread(s), {swarm_slots} swarm host(s); estimated "
              f"{duration_text(packed + swarms)}", file=sys.stderr, flush=True)
        execute(client, todo, results, doc["name"], worker_bin, version, commit, estimates, timeouts, threads,
                swarm_slots, quiet=args.quiet)
        return 0
    except KeyboardInterrupt:
        for proc in list(task.in_flight()):  # a LocalCluster's runs: lost anyway, end them now
            proc.kill()
        print(f"\ncampaign: interrupted; {len(results.records)} records are safe in {results.path}; run the same "
              f"command again to do the rest", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001
        if type(e).__name__ in ("CancelledError", "CommClosedError") or isinstance(e, (OSError, TimeoutError)):
            print(f"campaign: lost the Dask scheduler ({type(e).__name__}: {e}); the records written are safe in "
                  f"{results.path}; rerun to do the rest", file=sys.stderr)
            return 3
        raise
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            client.close(timeout=10)
            if cluster is not None:
                cluster.close(timeout=10)
        except Exception:  # noqa: BLE001  closing a client whose scheduler is gone
            pass


def dry_run(doc, runs, estimates, output, args):
    done = {r["key"]: r for r in store.read_records(output)}
    todo = [r for r in runs if r["key"] not in done]
    pts = {}
    for r in runs:
        k = (r["group"], report.canonical(r["options"]))
        pts.setdefault(k, {"group": r["group"], "options": r["options"], "runs": 0, "est": 0.0})
        pts[k]["runs"] += 1
        pts[k]["est"] += estimates[r["key"]]
    varying = report.varying_options(list(pts.values()))
    commands = ", ".join(sorted({r["command"] for r in runs}))
    print(f"campaign {doc['name']}: {commands}, {len(pts)} points x {doc.get('repeat', 1)} "
          f"repeat(s) = {len(runs)} runs; {len(runs) - len(todo)} already in {output}")
    head = (["group"] if any(p["group"] for p in pts.values()) else []) + varying + ["runs", "est. s"]
    shown = list(pts.values())
    rows = [([p["group"]] if "group" in head else []) + [p["options"].get(v) for v in varying]
            + [p["runs"], float(f"{p['est']:.3g}")] for p in shown[:args.show]]
    print("\n".join(report.aligned(head, rows)))
    if len(shown) > args.show:
        print(f"... and {len(shown) - args.show} more points (--show N)")
    threads = args.workers or os.cpu_count() or 1
    packed = sum(estimates[r["key"]] for r in todo if r["command"] in PACKED)
    swarms = sum(estimates[r["key"]] for r in todo if r["command"] not in PACKED)
    print(f"estimated: {duration_text(packed / threads + swarms)} on this machine ({threads} threads, one swarm "
          f"at a time); {duration_text(packed + swarms)} of runs in all. From the bounds: a swarm takes its bound "
          f"x 1.1 + 1 s")
    print("first command: p2pdist " + " ".join(runs[0]["argv"]) if runs else "no runs")
    return 0

