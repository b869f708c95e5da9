"""A campaign file and the runs it describes.

A campaign is a TOML (or JSON) document:

    name = "cs-vs-p2p"
    command = "swarm"                  # bound, sweep, swarm or simulate
    repeat = 3                         # runs of every point (keys carry the index)
    output = "build/campaigns/cs-vs-p2p.jsonl"
    run_timeout = "10min"              # optional: a run still going after this is ended

    [options]                          # every run, as the command's long options
    file-size = "32MiB"
    server-up = "{N}MB/s"              # {expression}: arithmetic over numeric values

    [axes]                             # every combination of these
    N = [2, 4, 8]
    mode = ["p2p", "cs"]
    peer-up = { from = 1, to = 4, times = 2, unit = "MB/s" }   # 1MB/s, 2MB/s, 4MB/s

    [[group]]                          # optional: several families, each with its own
    name = "download-bound"            # command, options, axes, `zip` (lists taken
    options = { peer-down = "1MB/s" }  # together) or an explicit `runs` list; the top
    axes = { N = [4, 16] }             # level's options and axes apply to every group
                                       # unless it sets its own

Option values: a string or number is passed as it is (`N` becomes `-N`, anything else
`--name`), `true` is a flag, `false` leaves it out, a list repeats the option. `--json` and
`--repeat` belong to the runner. `simulate` runs get `--seed` = repeat index + 1 unless
the campaign sets a seed.

A run is keyed by the command, its group, its options and its repeat index: the key is
what a result file is resumed by.
"""

import ast
import hashlib
import itertools
import json
import math
import operator
import os
import tomllib

COMMANDS = ("bound", "sweep", "swarm", "simulate")
RUNNER_OPTIONS = ("json", "repeat")  # the runner sets these itself


class CampaignError(ValueError):
    """A campaign file that cannot be run, with what is wrong and where."""


def load(path):
    """Reads a campaign file (.toml or .json) into a plain dict, checked."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise CampaignError(f"{path}: cannot read: {e.strerror}") from None
    try:
        if str(path).endswith(".json"):
            doc = json.loads(data)
        else:
            doc = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CampaignError(f"{path}: not a valid campaign file: {e}") from None
    if not isinstance(doc, dict):
        raise CampaignError(f"{path}: a campaign is a table of settings")
    doc.setdefault("name", os.path.splitext(os.path.basename(str(path)))[0])
    check(doc, where=str(path))
    return doc


_TOP_KEYS = {"name", "command", "repeat", "output", "run_timeout", "options", "axes", "zip", "runs", "group"}
_GROUP_KEYS = {"name", "command", "options", "axes", "zip", "runs"}


def check(doc, where="campaign"):
    """Raises CampaignError naming the first thing wrong with a campaign dict; returns its
    runs (expand's), which building every run is the last check of."""
    unknown = set(doc) - _TOP_KEYS
    if unknown:
        raise CampaignError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))} "
                            f"(known: {', '.join(sorted(_TOP_KEYS))})")
    if doc.get("command") not in COMMANDS and not (doc.get("group") and "command" not in doc):
        raise CampaignError(f"{where}: `command` must be one of {', '.join(COMMANDS)}, not {doc.get('command')!r}")
    repeat = doc.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= 100000:
        raise CampaignError(f"{where}: `repeat` must be a whole number from 1 to 100000, not {repeat!r}")
    if "output" in doc and not (isinstance(doc["output"], str) and doc["output"]):
        raise CampaignError(f"{where}: `output` must be a file path")
    if "run_timeout" in doc:
        seconds_of(doc["run_timeout"], f"{where}: run_timeout")
    if "runs" in doc and any(k in doc for k in ("axes", "zip", "group")):
        raise CampaignError(f"{where}: a top-level `runs` list goes without axes, zip and groups "
                            f"(put the runs in a group)")
    groups = doc.get("group", [])
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise CampaignError(f"{where}: `group` must be a list of tables ([[group]])")
    names = set()
    for i, g in enumerate(groups):
        gw = f"{where}: group {i + 1}"
        bad = set(g) - _GROUP_KEYS
        if bad:
            raise CampaignError(f"{gw}: unknown setting(s) {', '.join(sorted(bad))}")
        name = g.get("name")
        if not isinstance(name, str) or not name:
            raise CampaignError(f"{gw}: every group needs a `name`")
        if name in names:
            raise CampaignError(f"{gw}: the name {name!r} is used twice")
        if g.get("command", doc.get("command")) not in COMMANDS:
            raise CampaignError(f"{gw}: `command` must be one of {', '.join(COMMANDS)}, not {g.get('command')!r}")
        names.add(name)
    for g in [doc] + groups:
        for part in ("options", "axes", "zip"):
            if part in g and not isinstance(g[part], dict):
                raise CampaignError(f"{where}: `{part}` must be a table of option = value")
        if "runs" in g and not (isinstance(g["runs"], list) and all(isinstance(r, dict) for r in g["runs"])):
            raise CampaignError(f"{where}: `runs` must be a list of tables of options")
    return expand(doc, where=where)  # every run must be buildable


def seconds_of(text, where):
    """'90s', '10min', '2h', '500ms' or a number of seconds."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip()
        for unit, factor in (("ms", 1e-3), ("min", 60.0), ("s", 1.0), ("h", 3600.0)):
            if s.endswith(unit):
                try:
                    value = float(s[: -len(unit)]) * factor
                except ValueError:
                    value = math.nan
                break
        else:
            try:
                value = float(s)
            except ValueError:
                value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise CampaignError(f"{where}: {text!r} is not a duration (e.g. 90s, 10min, 2h)")
    return value


def axis_values(name, spec, where):
    """The values of one axis: a list, or a range table {from, to, step | times, unit}."""
    if isinstance(spec, list):
        if not spec:
            raise CampaignError(f"{where}: axis {name!r} has no values")
        return spec
    if not isinstance(spec, dict):
        raise CampaignError(f"{where}: axis {name!r} must be a list or a range {{from, to, step or times}}")
    bad = set(spec) - {"from", "to", "step", "times", "unit"}
    if bad or "from" not in spec or "to" not in spec or ("step" in spec) == ("times" in spec):
        raise CampaignError(f"{where}: axis {name!r}: a range is {{from = A, to = B, step = S}} or "
                            f"{{from = A, to = B, times = K}}, optionally with unit = \"MB/s\"")
    lo, hi = spec["from"], spec["to"]
    numbers = [spec[k] for k in ("from", "to", "step", "times") if k in spec]
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
        raise CampaignError(f"{where}: axis {name!r}: from, to, step and times must be numbers")
    values = []
    if "step" in spec:
        step = spec["step"]
        if not isinstance(step, (int, float)) or step <= 0:
            raise CampaignError(f"{where}: axis {name!r}: step must be a positive number")
        count = int(math.floor((hi - lo) / step + 1e-9)) + 1
        values = [lo + k * step for k in range(max(count, 0))]
    else:
        times = spec["times"]
        if not isinstance(times, (int, float)) or times <= 1 or lo <= 0:
            raise CampaignError(f"{where}: axis {name!r}: times must be above 1 and from above 0")
        v = lo
        while v <= hi * (1 + 1e-9):
            values.append(v)
            v *= times
    if not values:
        raise CampaignError(f"{where}: axis {name!r}: the range from {lo} to {hi} is empty")
    if len(values) > 1_000_000:
        raise CampaignError(f"{where}: axis {name!r}: more than a million values")
    values = [int(round(v)) if float(v).is_integer() else v for v in values]
    unit = spec.get("unit")
    return [f"{number_text(v)}{unit}" for v in values] if unit else values


def number_text(v):
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.12g}" if isinstance(v, float) else str(v)


_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
        ast.USub: operator.neg, ast.UAdd: operator.pos}
_FUNCS = {"min": min, "max": max, "round": round, "int": int}


def _evaluate(node, names, where):
    if isinstance(node, ast.Expression):
        return _evaluate(node.body, names, where)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise CampaignError(f"{where}: {node.id!r} is not a numeric option of this run")
        return names[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left, names, where), _evaluate(node.right, names, where)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > 1e6):
            raise CampaignError(f"{where}: {left} ** {right} is beyond what an option needs")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_evaluate(node.operand, names, where))
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and not node.keywords):
        return _FUNCS[node.func.id](*(_evaluate(a, names, where) for a in node.args))
    raise CampaignError(f"{where}: only arithmetic (+ - * / // % **, min, max, round, int) "
                        f"over numeric options is allowed in {{...}}")


def fill(value, options, where):
    """Replaces every {expression} in a string value by its number, computed over the run's
    numeric options (an option name with '-' is written with '_': {file_size})."""
    if isinstance(value, list):
        return [fill(v, options, where) for v in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    names = {k.replace("-", "_"): v for k, v in options.items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out, i = [], 0
    while i < len(value):
        start = value.find("{", i)
        if start < 0:
            out.append(value[i:])
            break
        end = value.find("}", start)
        if end < 0:
            raise CampaignError(f"{where}: {value!r} opens a {{ it does not close")
        out.append(value[i:start])
        text = value[start + 1:end]
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            raise CampaignError(f"{where}: {{{text}}} is not an expression") from None
        try:
            out.append(number_text(_evaluate(tree, names, where)))
        except (ZeroDivisionError, OverflowError, TypeError) as e:
            raise CampaignError(f"{where}: {{{text}}}: {e}") from None
        i = end + 1
    return "".join(out)


def _check_option_name(name, where):
    if not isinstance(name, str) or not name or name.startswith("-") or " " in name:
        raise CampaignError(f"{where}: {name!r} is not an option name (write file-size, not --file-size)")
    if name in RUNNER_OPTIONS:
        raise CampaignError(f"{where}: --{name} is the runner's own (use the campaign's `repeat`; "
                            f"every run writes its JSON to the runner)")


def _points(group, top, where):
    """The option sets of one group, before templates: options x axes x zip, or its runs."""
    options = dict(top.get("options", {}))
    options.update(group.get("options", {}))
    if "runs" in group:
        if any(k in group for k in ("axes", "zip")):
            raise CampaignError(f"{where}: a group with `runs` has no axes or zip")
        if not group["runs"]:
            raise CampaignError(f"{where}: `runs` is empty")
        return [dict(options, **r) for r in group["runs"]], []
    axes = dict(top.get("axes", {})) if "axes" not in group else {}
    axes.update(group.get("axes", {}))
    zipped = dict(top.get("zip", {})) if "zip" not in group else {}
    zipped.update(group.get("zip", {}))
    names = list(axes)
    lists = [axis_values(n, axes[n], where) for n in names]
    if zipped:
        lengths = {n: len(v) if isinstance(v, list) else -1 for n, v in zipped.items()}
        if len(set(lengths.values())) != 1 or -1 in lengths.values() or 0 in lengths.values():
            raise CampaignError(f"{where}: every `zip` entry must be a list, all of one length "
                                f"(lengths: {lengths})")
        names.append(tuple(zipped))
        lists.append(list(zip(*zipped.values())))
    points = []
    for combo in itertools.product(*lists):
        p = dict(options)
        for n, v in zip(names, combo):
            if isinstance(n, tuple):
                p.update(zip(n, v))
            else:
                p[n] = v
        points.append(p)
    axis_names = [n for n in names if not isinstance(n, tuple)] + (list(zipped) if zipped else [])
    return points, axis_names


def run_key(command, group, options, repeat_index):
    """The identity of one run: stable across processes, machines and Python versions."""
    text = json.dumps({"command": command, "group": group, "options": options, "repeat": repeat_index},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def argv_of(command, options, repeat_index):
    """The p2pdist command line of one run (without the binary)."""
    argv = [command, "--json", "-"]
    for name, value in options.items():
        flag = "-N" if name == "N" else f"--{name}"
        for v in value if isinstance(value, list) else [value]:
            if v is True:
                argv.append(flag)
            elif v is False or v is None:
                continue
            elif isinstance(v, (str, int, float)):
                argv += [flag, number_text(v)]
            else:
                raise CampaignError(f"option {name}: {v!r} is not a value a command line can carry "
                                    f"(a string, a number, true/false or a list of them)")
    if command == "simulate" and "seed" not in options:
        argv += ["--seed", str(repeat_index + 1)]
    return argv


def expand(doc, where="campaign"):
    """Every run of a campaign, in order: dicts with key, group, options, repeat, argv."""
    repeat = doc.get("repeat", 1)
    groups = doc.get("group") or [{"name": "", **({"runs": doc["runs"]} if "runs" in doc else {})}]
    runs, seen = [], {}
    for g in groups:
        gw = f"{where}: group {g['name']!r}" if g["name"] else where
        command = g.get("command", doc.get("command"))
        points, axis_names = _points(g, doc, gw)
        for raw in points:
            for name in raw:
                _check_option_name(name, gw)
            options = {k: fill(v, raw, f"{gw}: option {k}") for k, v in raw.items()}
            for r in range(repeat):
                key = run_key(command, g["name"], options, r)
                argv = argv_of(command, options, r)
                same = (g["name"], tuple(argv), r)
                if key in seen or same in seen:
                    raise CampaignError(f"{gw}: the run {options} appears twice")
                seen[key] = seen[same] = True
                runs.append({"key": key, "command": command, "group": g["name"], "options": options, "repeat": r,
                             "axes": axis_names, "argv": argv})
    if len(runs) > 10_000_000:
        raise CampaignError(f"{where}: {len(runs)} runs; split the campaign")
    return runs
