"""Reading a campaign's records back: the points they measured, with medians and spread.

Shared by the runner's end-of-campaign table, the bench scripts that are campaigns
(bench/fidelity.py, bench/scale.py) and the notebook that plots a result file.
"""

import json
import statistics


def canonical(options):
    return json.dumps(options, sort_keys=True)


def points(records):
    """The records grouped by point (command, group, options; the repeats of one point
    together), in the order the points first appear. Each point: command, group, options,
    records (ok ones), failed (count)."""
    out = {}
    for r in records:
        k = (r.get("command"), r.get("group"), canonical(r.get("options", {})))
        p = out.setdefault(k, {"command": r.get("command"), "group": r.get("group"),
                               "options": r.get("options", {}), "records": [], "failed": 0})
        if r.get("status") == "ok":
            p["records"].append(r)
        else:
            p["failed"] += 1
    return list(out.values())


def latest(records):
    """The last record of every key (a failed run retried later counts once, as it ended)."""
    by_key = {}
    for r in records:
        by_key[r["key"]] = r
    return list(by_key.values())


def varying_options(pts):
    """The option names whose value differs between the points: the campaign's axes."""
    names = []
    for p in pts:
        for n in p["options"]:
            if n not in names:
                names.append(n)
    return [n for n in names if len({canonical(p["options"].get(n)) for p in pts}) > 1]


def median_or_none(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(values) if values else None


def figures(point):
    """The medians and spread of one point's ok runs, by what its command reports."""
    results = [r["result"] for r in point["records"] if isinstance(r.get("result"), dict)]
    f = {"runs": len(point["records"]), "failed": point["failed"],
         "wall_seconds": median_or_none([r.get("wall_seconds") for r in point["records"]])}
    if point["command"] in ("swarm", "simulate"):
        ratios = [d.get("ratio") for d in results]
        ratios = [x for x in ratios if isinstance(x, (int, float))]
        f.update({
            "bound_seconds": median_or_none([(d.get("bound") or {}).get("seconds") for d in results]),
            "binding": next(((d.get("bound") or {}).get("binding") for d in results), None),
            "piece_bound_seconds": median_or_none([(d.get("piece_bound") or {}).get("seconds") for d in results]),
            "pieces": next(((d.get("piece_bound") or {}).get("pieces") for d in results), None),
            "measured_seconds": median_or_none([d.get("distribution_seconds") for d in results]),
            "ratio": median_or_none(ratios), "min_ratio": min(ratios, default=None),
            "max_ratio": max(ratios, default=None),
            "ratio_to_piece_bound": median_or_none([d.get("ratio_to_piece_bound") for d in results]),
            "first_byte_seconds": median_or_none([d.get("first_byte_seconds") for d in results]),
            "cpu_seconds": median_or_none([d.get("cpu_seconds") for d in results]),
        })
    elif point["command"] == "bound" and results:
        d = results[0]
        f.update({"cs_seconds": (d.get("client_server") or {}).get("seconds"),
                  "cs_binding": (d.get("client_server") or {}).get("binding"),
                  "p2p_seconds": (d.get("p2p") or {}).get("seconds"),
                  "p2p_binding": (d.get("p2p") or {}).get("binding")})
    return f


def _cell(v, width, digits=3):
    if isinstance(v, bool) or v is None:
        return f"{'-' if v is None else str(v):>{width}}"
    if isinstance(v, float):
        return f"{v:{width}.{digits}f}"
    return f"{str(v):>{width}}"


def table(records):
    """The end-of-campaign table as lines of text: one line per point, its varying options,
    how many runs ended well, and the medians its command reports."""
    pts = points(latest(records))
    if not pts:
        return ["(no records)"]
    axes = varying_options(pts)
    with_group = any(p["group"] for p in pts)
    commands = {p["command"] for p in pts}
    head = (["group"] if with_group else []) + (["command"] if len(commands) > 1 else []) + axes + ["ok", "failed",
                                                                                                  "wall s"]
    measured = commands & {"swarm", "simulate"}
    if measured:
        head += ["bound s", "measured", "ratio", "min", "max", "/piece"]
    if "bound" in commands:
        head += ["D_cs s", "D_p2p s", "p2p binding"]
    rows = []
    for p in pts:
        f = figures(p)
        row = ([p["group"]] if with_group else []) + ([p["command"]] if len(commands) > 1 else [])
        row += [p["options"].get(a) for a in axes]
        row += [f["runs"], f["failed"], f["wall_seconds"]]
        if measured:
            row += [f.get("bound_seconds"), f.get("measured_seconds"), f.get("ratio"), f.get("min_ratio"),
                    f.get("max_ratio"), f.get("ratio_to_piece_bound")]
        if "bound" in commands:
            row += [f.get("cs_seconds"), f.get("p2p_seconds"), f.get("p2p_binding")]
        rows.append(row)
    return aligned(head, rows)


def aligned(head, rows):
    """Lines of a table whose columns are as wide as their widest cell."""
    widths = [max(len(h), *(len(_cell(r[i], 0)) for r in rows)) for i, h in enumerate(head)]
    lines = ["  ".join(f"{h:>{w}}" for h, w in zip(head, widths))]
    for r in rows:
        lines.append("  ".join(_cell(v, w) for v, w in zip(r, widths)))
    return lines
