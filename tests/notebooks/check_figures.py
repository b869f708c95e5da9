#!/usr/bin/python3
"""Checks that the figures the README shows were made by the current code.

For every notebooks/figures/NAME.png that README.md shows, a sidecar NAME.json must be
committed beside it holding "commit" (the commit the figure was made from; it must exist
in the repository when ROOT is a git checkout), "png_sha256" (of the PNG beside it: the
two were copied together) and "data" (the numbers plotted). Its data are then compared
with the sidecar that the notebook test has just written for the same figure (NAME.json in
one of the --from folders, build/notebooks/<test name>/): the same "parameters", and the
same numbers, within these tolerances, chosen by each value's key:

  key starts with "measured_"    a measured time    } reported (the largest deviation), not
  key holds "ratio"              a measured/bound  } compared: see below
                                 ratio
  key starts with "unchecked_"   per-leecher detail (completion order, traces, the first
                                 byte at a few ms): recorded, not compared
  any other number               model values (bounds, N, axes): within 1e-9 relative
  strings, booleans, null        equal

The model figures (distribution_time.ipynb) hold no measured key, so all their numbers must
agree to 1e-9. The loopback figures are real transfers on a shared 2-core machine, and no
tolerance on a time both keeps a test honest and stable there: medians of 7 runs at N = 8
(seed-limited) moved by up to 0.02 in ratio between executions on one machine, and a CI
machine measured 1.56 where this one measures 1.22-1.29 at the same commit. So a figure
with measured values is held to its provenance instead: in a git checkout, nothing that
makes the numbers (ENGINE below: the engine, the model, the CLI, the campaign runner, the notebooks and the bench
records they plot, notebooks/data) may have
changed between the sidecar's commit and HEAD. An engine change therefore fails this test
until scripts/refresh_figures.sh has remade the figures with it; how far today's run lands
from the committed numbers is printed for a human to judge. Outside a git checkout (a
tarball) the provenance cannot be checked and is only noted.

A PNG in notebooks/figures/ that the README does not show fails too: nothing checks it.

Usage: check_figures.py --root ROOT --from DIR [DIR ...] [--p2pdist EXE]
Exit 0 when every figure agrees, 1 naming each figure that does not and its first value that
differs, 77 (skipped) when the notebook test has not written the sidecars (or they are
older than EXE or the notebook: run the notebook tests first). Standard library only.
"""

import argparse
import hashlib
import json
import math
import re
import subprocess
import sys
from pathlib import Path

SKIP = 77
MODEL_REL = 1e-9   # model values: every number that is not a measured one
# What makes the numbers a figure plots; scripts/refresh_figures.sh refuses to run with
# uncommitted changes here (git pathspecs, relative to the repository's root).
ENGINE = ["loopback", "model", "cli", "campaign", ":(glob)notebooks/*.ipynb", "notebooks/data"]
SHOWN = re.compile(r"notebooks/figures/([A-Za-z0-9_.-]+\.png)")
COMMIT_ID = re.compile(r"[0-9a-f]{7,40}")
REFRESH = "regenerate with scripts/refresh_figures.sh"


def shown_figures(readme):
    """The PNG names README.md shows from notebooks/figures/, in order, each once."""
    return list(dict.fromkeys(SHOWN.findall(readme.read_text())))


def kind_of(key, inherited):
    """How values under `key` are compared: "time", "ratio", "unchecked" or `inherited`."""
    if key.startswith("unchecked_"):
        return "unchecked"
    if key.startswith("measured_"):
        return "time"
    if "ratio" in key:
        return "ratio"
    return inherited


def step(path, key):
    """path.key, or path["key"] when the key is not a plain name."""
    return f"{path}.{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key) else f"{path}[{json.dumps(key)}]"


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def first_difference(old, new, path, kind="model", stats=None):
    """The first value where `new` disagrees with the committed `old` (a message), or None.

    stats, when given, counts the values compared per kind and keeps the largest deviation
    of the measured ones: {"model": n, "time": n, "ratio": n, "unchecked": n,
    "largest_time": relative, "largest_ratio": absolute}.
    """
    stats = {} if stats is None else stats
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [*old, *(k for k in new if k not in old)]:
            if key not in new or key not in old:
                return f"{step(path, key)}: {'missing now' if key not in new else 'not in the committed sidecar'}"
        for key in old:
            sub = kind_of(key, kind)
            if sub == "unchecked":
                stats["unchecked"] = stats.get("unchecked", 0) + 1
                continue
            found = first_difference(old[key], new[key], step(path, key), sub, stats)
            if found:
                return found
        return None
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return f"{path}: {len(old)} values committed, {len(new)} now"
        for i, (a, b) in enumerate(zip(old, new)):
            found = first_difference(a, b, f"{path}[{i}]", kind, stats)
            if found:
                return found
        return None
    if is_number(old) and is_number(new):
        stats[kind] = stats.get(kind, 0) + 1
        if kind == "time":
            deviation = abs(new - old) / abs(old) if old else (0.0 if new == old else math.inf)
            stats["largest_time"] = max(stats.get("largest_time", 0.0), deviation)
            return None
        if kind == "ratio":
            stats["largest_ratio"] = max(stats.get("largest_ratio", 0.0), abs(new - old))
            return None
        if not math.isclose(old, new, rel_tol=MODEL_REL, abs_tol=0.0):
            return f"{path}: committed {old!r}, now {new!r} (model values must agree to {MODEL_REL:g} relative)"
        return None
    stats[kind] = stats.get(kind, 0) + 1
    if old != new or type(old) is not type(new):
        return f"{path}: committed {json.dumps(old)[:80]}, now {json.dumps(new)[:80]}"
    return None


def summary(stats):
    """'40 model values, 6 ratios (largest deviation 0.012), ...' for an ok line."""
    parts = [f"{stats.get('model', 0)} model values to {MODEL_REL:g}"]
    if stats.get("time"):
        parts.append(f"{stats['time']} measured times (largest deviation from the committed "
                     f"{stats['largest_time']:.1%}, not compared)")
    if stats.get("ratio"):
        parts.append(f"{stats['ratio']} ratios (largest deviation {stats['largest_ratio']:.3f}, not compared)")
    if stats.get("unchecked"):
        parts.append(f"{stats['unchecked']} unchecked_ entries not compared")
    return ", ".join(parts)


def git(root, *args):
    """(exit status, stdout) of git -C root ARGS; (None, '') when git is not installed."""
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=30)
    except FileNotFoundError:
        return None, ""
    return done.returncode, done.stdout.strip()


def git_checkout(root):
    """True when root is the top of a git work tree (not a folder inside another one)."""
    status, top = git(root, "rev-parse", "--show-toplevel")
    return status == 0 and Path(top).resolve() == root.resolve()


def commit_problem(root, commit, in_git):
    """Why the sidecar's commit id is not acceptable, or None."""
    if not isinstance(commit, str) or not COMMIT_ID.fullmatch(commit):
        return f'"commit" is {json.dumps(commit)}, not a commit id'
    if not in_git:
        return None
    status, _ = git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    if status == 0:
        return None
    status, shallow = git(root, "rev-parse", "--is-shallow-repository")
    if shallow == "true":
        print(f"note: commit {commit} is not in this shallow clone; not checked")
        return None
    return f"commit {commit} does not exist in the repository"


def engine_changes(root, commit):
    """The ENGINE files that differ between `commit` and HEAD (a list), or None when git
    cannot tell (the commit is not in a shallow clone)."""
    status, _ = git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    if status != 0:
        return None
    status, out = git(root, "diff", "--name-only", commit, "HEAD", "--", *ENGINE)
    return out.splitlines() if status == 0 else None


def load(path):
    """The JSON object in path, or a message saying why not."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return None, f"cannot read {path}: {e}"
    if not isinstance(doc, dict):
        return None, f"{path} holds no JSON object"
    return doc, None


def built_sidecar(name, folders, newer_than):
    """The notebook test's sidecar for figure `name` and None, or None and why it is missing."""
    stem = Path(name).stem
    found = [d / f"{stem}.json" for d in folders if (d / f"{stem}.json").is_file()]
    if not found:
        return None, f"no {stem}.json in {', '.join(str(d) for d in folders)}"
    path = found[0]
    for other in newer_than:
        if other.is_file() and path.stat().st_mtime < other.stat().st_mtime:
            return None, f"{path} is older than {other}"
    return path, None


def check_figure(root, name, folders, exe, in_git):
    """('ok'|'fail'|'missing', message) for one figure the README shows."""
    png = root / "notebooks" / "figures" / name
    committed_path = png.with_suffix(".json")
    if not png.is_file():
        return "fail", f"README.md shows it, but notebooks/figures/{name} does not exist"
    if not committed_path.is_file():
        return "fail", f"no sidecar notebooks/figures/{committed_path.name} committed beside it; {REFRESH}"
    committed, problem = load(committed_path)
    if problem:
        return "fail", problem
    for key in ("commit", "png_sha256", "parameters", "data"):
        if key not in committed:
            return "fail", f'notebooks/figures/{committed_path.name} has no "{key}"; {REFRESH}'
    if committed.get("figure") != name:
        return "fail", f'notebooks/figures/{committed_path.name} is for figure {json.dumps(committed.get("figure"))}'
    problem = commit_problem(root, committed["commit"], in_git)
    if problem:
        return "fail", problem
    if hashlib.sha256(png.read_bytes()).hexdigest() != committed["png_sha256"]:
        return "fail", f"the PNG is not the one its sidecar was written with (png_sha256 differs); {REFRESH}"

    notebook = root / "notebooks" / str(committed.get("notebook", ""))
    path, missing = built_sidecar(name, folders, [p for p in (exe, notebook) if p])
    if missing:
        return "missing", missing
    now, problem = load(path)
    if problem:
        return "fail", problem
    if now.get("figure") != name or now.get("notebook") != committed.get("notebook"):
        return "fail", (f"{path} is for {now.get('figure')} of {now.get('notebook')}, the committed sidecar "
                        f"for {name} of {committed.get('notebook')}")
    found = first_difference(committed["parameters"], now.get("parameters"), "parameters")
    if found:
        return "fail", f"made with other parameters than the notebook's now: {found}; {REFRESH}"
    stats = {}
    found = first_difference(committed["data"], now.get("data"), "data", "model", stats)
    if found:
        return "fail", f"the committed figure disagrees with what the notebook plots now: {found}; {REFRESH}"
    made = f"made at {committed['commit'][:12]}"
    if stats.get("time") or stats.get("ratio"):
        if not in_git:
            made += " (not a git checkout: that the engine is unchanged since is not checked)"
        else:
            changed = engine_changes(root, committed["commit"])
            if changed is None:
                made += " (not in this clone: that the engine is unchanged since is not checked)"
            elif changed:
                return "fail", (f"made by an engine that has changed since: {len(changed)} file(s) differ between "
                                f"{committed['commit'][:12]} and HEAD, first {changed[0]}; "
                                f"{summary(stats)}; {REFRESH}")
            else:
                made += ", the engine unchanged since"
    return "ok", f"{made}; {summary(stats)}"


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the repository (README.md, notebooks/)")
    parser.add_argument("--from", dest="folders", required=True, nargs="+", type=Path, metavar="DIR",
                        help="where the notebook tests wrote their figures (build/notebooks/<test>)")
    parser.add_argument("--p2pdist", type=Path, help="the built executable: older sidecars are stale")
    args = parser.parse_args(argv)
    root = args.root.resolve()

    names = shown_figures(root / "README.md")
    failed = 0
    figures = root / "notebooks" / "figures"
    stems = {Path(n).stem for n in names}
    for extra in sorted(figures.glob("*")) if figures.is_dir() else []:
        if extra.suffix in (".png", ".json") and extra.stem not in stems:
            failed += 1
            print(f"FAIL notebooks/figures/{extra.name}: README.md does not show it, so nothing checks "
                  "that it is current; remove it (git rm) or show it in the README")

    in_git = git_checkout(root)
    if not in_git:
        print(f"note: {root} is not a git checkout: the sidecars' commit ids are not checked")
    missing = []
    for name in names:
        outcome, message = check_figure(root, name, args.folders, args.p2pdist, in_git)
        if outcome == "missing":
            missing.append(f"{name}: {message}")
            continue
        failed += outcome == "fail"
        print(f"{'ok  ' if outcome == 'ok' else 'FAIL'} {name}: {message}")
    if failed:
        return 1
    if missing:
        for line in missing:
            print(f"SKIP {line}")
        print("SKIP: the notebook tests have not written these sidecars (skipped, or not run since the "
              "last build): run ctest -L notebook")
        return SKIP
    print(f"{len(names)} figures shown in README.md agree with what the notebooks plot now")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
