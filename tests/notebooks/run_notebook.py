#!/usr/bin/env python3
"""Runs a notebook top to bottom headless and checks the PNG figures it writes.

1. The committed notebook must hold no outputs (no outputs, no execution counts).
2. It is executed with `python -m nbconvert --to notebook --execute`, the result written to
   OUT/executed/; the committed file is left untouched (checked by hash). The kernel is this
   very interpreter (a kernel spec written to OUT/kernels/ names sys.executable), so run
   this script with Debian's /usr/bin/python3, which sees python3-matplotlib and friends;
   pyenv's python3 does not.
3. The notebook gets P2PDIST (the executable) and P2PDIST_FIGURES (= OUT) from the
   environment; every --expect NAME.png must then exist in OUT, be a valid PNG and not be
   blank (tests/notebooks/check_png.py), and have its sidecar NAME.json beside it: a JSON
   object naming the figure and the notebook, with "parameters" and non-empty "data" (what
   tests/notebooks/check_figures.py compares with the committed copy).

Usage: /usr/bin/python3 run_notebook.py --notebook PATH --p2pdist EXE --out DIR
                                        --expect NAME.png [NAME.png ...] [--timeout S]
Exit 0 pass, 1 fail, 77 skip (nbconvert, nbclient, ipykernel, matplotlib or numpy missing).
"""

import argparse
import hashlib
import importlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import check_png  # noqa: E402  (beside this script)

SKIP = 77
KERNEL_NAME = "p2pdist-python3"
NEEDED = {  # module -> Debian package
    "nbformat": "python3-nbformat",
    "nbconvert": "jupyter-nbconvert",
    "nbclient": "python3-nbclient",
    "ipykernel": "python3-ipykernel",
    "matplotlib": "python3-matplotlib",
    "numpy": "python3-numpy",
}


def missing_modules():
    missing = []
    for module, package in NEEDED.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(f"{module} ({package})")
    return missing


def output_problems(notebook):
    """Cells of the committed notebook that carry outputs or execution counts."""
    problems = []
    for index, cell in enumerate(notebook.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"cell {index} has {len(cell['outputs'])} outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"cell {index} has execution_count {cell['execution_count']}")
    return problems


def write_kernel_spec(jupyter_dir):
    """A kernel spec that runs ipykernel in this interpreter; returns its name.

    nbconvert fails with NoSuchKernel when the name is not found, so the kernel that runs
    is always this one, whatever other "python3" kernel specs the machine has.
    """
    spec_dir = jupyter_dir / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python 3 ({sys.executable})",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return KERNEL_NAME


def sidecar_problem(path, figure, notebook):
    """Why the sidecar JSON at path is not one the notebook wrote for figure, or None."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return f"no readable sidecar {path.name}: {e}"
    if not isinstance(doc, dict):
        return f"{path.name} holds no JSON object"
    if doc.get("figure") != figure or doc.get("notebook") != notebook:
        return (f"{path.name} names figure {doc.get('figure')!r} of notebook {doc.get('notebook')!r}, "
                f"expected {figure!r} of {notebook!r}")
    if not isinstance(doc.get("parameters"), dict) or not isinstance(doc.get("data"), dict) or not doc["data"]:
        return f'{path.name} lacks "parameters" or a non-empty "data" object'
    return None


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", required=True, type=Path)
    parser.add_argument("--p2pdist", required=True, type=Path, help="the built executable")
    parser.add_argument("--out", required=True, type=Path,
                        help="figures go here, the executed notebook to OUT/executed")
    parser.add_argument("--expect", required=True, nargs="+", metavar="NAME.png",
                        help="PNG files the notebook must write into OUT")
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="seconds for each cell (default 240); the whole run gets 30 more")
    args = parser.parse_args(argv)

    missing = missing_modules()
    if missing:
        print(f"SKIP: {sys.executable} lacks {', '.join(missing)}; "
              "install them (scripts/setup.sh) or run with /usr/bin/python3")
        return SKIP

    notebook = args.notebook.resolve()
    exe = args.p2pdist.resolve()
    out = args.out.resolve()
    if not notebook.is_file():
        print(f"FAIL: notebook {notebook} not found")
        return 1
    if not (exe.is_file() and os.access(exe, os.X_OK)):
        print(f"FAIL: p2pdist {exe} is not an executable file")
        return 1

    problems = output_problems(json.loads(notebook.read_text()))
    if problems:
        print(f"FAIL: {notebook.name} is committed with outputs ({'; '.join(problems[:5])}); "
              f"clear them: jupyter nbconvert --clear-output --inplace {notebook}")
        return 1

    out.mkdir(parents=True, exist_ok=True)
    for name in args.expect:  # a stale figure or sidecar from an earlier run must not pass
        (out / name).unlink(missing_ok=True)
        (out / name).with_suffix(".json").unlink(missing_ok=True)
    shutil.rmtree(out / "executed", ignore_errors=True)
    jupyter_dir = out / "jupyter"
    kernel = write_kernel_spec(jupyter_dir)

    env = dict(os.environ)
    env.update({
        "P2PDIST": str(exe),
        "P2PDIST_FIGURES": str(out),
        "JUPYTER_PATH": os.pathsep.join(filter(None, [str(jupyter_dir), env.get("JUPYTER_PATH")])),
        "MPLBACKEND": "Agg",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",  # quiets a debugger warning in ipykernel 6
        "PATH": os.pathsep.join(["/usr/bin", env.get("PATH", "")]),
    })
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
           f"--ExecutePreprocessor.kernel_name={kernel}",
           f"--ExecutePreprocessor.timeout={int(args.timeout)}",
           "--output-dir", str(out / "executed"), str(notebook)]
    before = sha256(notebook)
    print("run:", " ".join(cmd), flush=True)
    # A session of its own, so that on a timeout nbconvert and its kernel stop together.
    proc = subprocess.Popen(cmd, env=env, cwd=notebook.parent, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=args.timeout + 30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        print(f"FAIL: {notebook.name} did not finish within {args.timeout + 30:.0f} s")
        return 1
    if proc.returncode != 0:
        ansi = re.compile(r"\x1b\[[0-9;]*m")  # the traceback's colours
        print(ansi.sub("", stdout)[-4000:])
        print(ansi.sub("", stderr)[-12000:])
        print(f"FAIL: executing {notebook.name} exited {proc.returncode} (the failing cell is above)")
        return 1
    if sha256(notebook) != before:
        print(f"FAIL: executing {notebook.name} modified the committed notebook")
        return 1
    print(f"ok   executed {notebook.name} in {sys.executable} -> {out / 'executed' / notebook.name}")

    failed = 0
    for name in args.expect:
        passed, message = check_png.check(str(out / name))
        failed += not passed
        print(f"{'ok  ' if passed else 'FAIL'} {name}: {message}")
        problem = sidecar_problem((out / name).with_suffix(".json"), name, notebook.name)
        failed += problem is not None
        print(f"{'FAIL' if problem else 'ok  '} {Path(name).stem}.json: {problem or 'sidecar of ' + name}")
    unexpected = sorted({p.name for p in out.glob("*.png")} - set(args.expect))
    if unexpected:
        print(f"note: {len(unexpected)} PNG files not checked: {', '.join(unexpected)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
