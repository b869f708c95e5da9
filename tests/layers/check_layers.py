#!/usr/bin/python3
"""Checks the layering of the sources: which layer may include which, what the pure layers
may not touch (sockets, threads, clocks), and how long a source file may be.

Usage: check_layers.py --root REPO
Prints one line per violation, `path:line: rule: message`, sorted by path and line.
Exit status: 0 clean, 1 violations found, 2 usage error.
Standard library only (run with /usr/bin/python3).
"""

import argparse
import pathlib
import re
import sys

# The layers, from the bottom, and the other layers each may include (a file may always
# include files of its own layer). A layer is a folder: model/ or loopback/<name>/.
LAYERS = {
    "model": (),
    "loopback/protocol": (),
    "loopback/policy": ("loopback/protocol",),
    "loopback/storage": ("loopback/protocol",),
    "loopback/core": ("loopback/protocol", "loopback/policy"),
    "loopback/net": ("loopback/protocol", "loopback/policy", "loopback/storage", "loopback/core"),
    "loopback/sim": ("loopback/protocol", "loopback/policy", "loopback/storage", "loopback/core"),
    "loopback/harness": ("loopback/protocol", "loopback/policy", "loopback/storage",
                         "loopback/core", "loopback/net", "loopback/sim", "model"),
}
# No socket, no thread, no clock in these.
PURE = ("model", "loopback/protocol", "loopback/policy", "loopback/core")
# Top-level folders of the project: an include path starting with one of them is ours.
# cli/, bench/ and tests/ may include anything; nothing in a layer may include them.
PROJECT_TOPS = ("model", "loopback", "cli", "bench", "tests")
# Folders whose sources are checked for layering, and those checked for file size only.
LAYERED_TOPS = ("model", "loopback", "cli")
SIZE_ONLY_TOPS = ("bench", "tests")
# Never scanned (data, seed corpora, and this checker's own fake trees).
EXCLUDED = ("tests/fuzz/corpus", "tests/data", "tests/layers/fixtures")
SOURCE_SUFFIXES = (".cpp", ".hpp")
MAX_LINES = 650

# Headers a pure layer may not include, matched against the path as written. arpa/inet.h
# is allowed: its inet_pton and inet_ntop only turn address text into bytes and back.
FORBIDDEN_HEADER = re.compile(
    r"^(asio(\.hpp|/.*)|boost/asio(\.hpp|/.*)|thread|mutex|shared_mutex|future"
    r"|condition_variable|semaphore|stop_token|sys/socket\.h|netinet/.*|arpa/(?!inet\.h$).*|poll\.h"
    r"|sys/epoll\.h)$")
# Calls a pure layer may not make, matched after comments and string literals are blanked.
FORBIDDEN_CALL = re.compile(
    r"\b(?:steady_clock|system_clock|high_resolution_clock)\s*::\s*now\b"
    r"|\bthis_thread\b|\bsleep_for\b|\bsleep_until\b|\brandom_device\b"
    r"|\bgettimeofday\b|\bclock_gettime\b"
    r"|(?<![\w:])(?:std\s*)?::\s*time\s*\("
    r"|(?<![\w.:>])time\s*\(\s*(?:nullptr|NULL|0)\s*\)")

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]*)[>"]')

# One C++ token of interest at a time, so that a quote inside a comment or a comment
# marker inside a string is read correctly. Numbers are matched so that a digit separator
# (1'000) is not taken for a character literal; identifiers so that an encoding prefix
# (u8"...", LR"(...)") is only recognised at the start of a token.
LEXER = re.compile(
    r'(?P<raw>(?:u8|u|U|L)?R"(?P<delim>[^()\\\s]{0,16})\(.*?\)(?P=delim)")'
    r'|(?P<str>(?:u8|u|U|L)?"(?:\\.|[^"\\\n])*")'
    r"|(?P<chr>(?:u8|u|U|L)?'(?:\\.|[^'\\\n])+')"
    r"|(?P<line>//[^\n]*)"
    r"|(?P<block>/\*.*?\*/)"
    r"|(?P<num>\.?\d(?:[eEpP][+-]|['\w.])*)"
    r"|(?P<ident>[A-Za-z_]\w*)",
    re.DOTALL)


def blank_comments_and_strings(text):
    """The text with comments emptied and string/character literals reduced to "" or '',
    keeping every newline, so that line numbers still hold."""
    def blank(match):
        kind = match.lastgroup
        token = match.group(0)
        newlines = "\n" * token.count("\n")
        if kind in ("raw", "str"):
            return '""' + newlines
        if kind == "chr":
            return "''"
        if kind in ("line", "block"):
            return " " + newlines
        return token
    return LEXER.sub(blank, text)


def layer_of(rel):
    """The layer folder of a path relative to the root ("loopback/net", "model", "cli",
    ...), or None for a file directly in loopback/."""
    parts = rel.split("/")
    if parts[0] == "loopback":
        return "loopback/" + parts[1] if len(parts) > 2 else None
    return parts[0]


def short(layer):
    return layer.removeprefix("loopback/")


def included_project_path(root, rel, quote, path):
    """The include's path relative to the root if it names a file of the project, else None.
    Paths rooted at the repository are the house style; a quoted path is also tried
    relative to the including file, as the compiler does."""
    if path.split("/")[0] in PROJECT_TOPS:
        return path
    if quote == '"':
        resolved = (root / rel).parent / path
        try:
            candidate = resolved.resolve().relative_to(root.resolve()).as_posix()
        except ValueError:
            return None
        if resolved.is_file() and candidate.split("/")[0] in PROJECT_TOPS:
            return candidate
    return None


def check_layered_file(root, rel, text):
    """Violations of the include direction and of purity in one file under model/,
    loopback/ or cli/."""
    layer = layer_of(rel)
    if layer is None or (layer.startswith("loopback/") and layer not in LAYERS):
        known = ", ".join(short(name) for name in LAYERS if name.startswith("loopback/"))
        where = "directly in loopback/" if layer is None else f"in {layer}/"
        return [(1, f"unknown layer: {rel} is {where}, not in a layer folder ({known})")]
    if layer not in LAYERS:  # cli/: may include anything
        return []
    found = []
    pure = layer in PURE
    allowed = LAYERS[layer]
    stripped = blank_comments_and_strings(text).split("\n")
    raw = text.split("\n")
    for number, code in enumerate(stripped, start=1):
        # A directive is recognised on the blanked line (not inside a comment) and read
        # from the line as written (its path is a string literal, blanked in `code`).
        if INCLUDE.match(code):
            match = INCLUDE.match(raw[number - 1])
            quote, path = match.group(1), match.group(2).strip()
            target = included_project_path(root, rel, quote, path)
            if target is not None:
                target_layer = layer_of(target)
                if target_layer != layer and target_layer not in allowed:
                    may = ", ".join(short(name) for name in allowed) or "no other layer"
                    found.append((number, f"wrong-way include: {rel} includes {target} "
                                          f"({short(layer)} may include {may})"))
            elif pure and FORBIDDEN_HEADER.match(path):
                shown = f"<{path}>" if quote == "<" else f'"{path}"'
                found.append((number, f"forbidden header: {shown} in pure layer {short(layer)} "
                                      "(no socket, thread or clock header)"))
            continue
        if pure:
            for call in FORBIDDEN_CALL.finditer(code):
                token = re.sub(r"\s+", "", call.group(0))
                found.append((number, f"forbidden call: {token} in pure layer {short(layer)} "
                                      "(time and threads come from the caller)"))
    return found


def check_size(text):
    lines = len(text.splitlines())
    if lines > MAX_LINES:
        return [(MAX_LINES + 1, f"file size: {lines} lines, more than {MAX_LINES}; split it")]
    return []


def sources(root, top):
    for path in sorted((root / top).rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.suffix in SOURCE_SUFFIXES and path.is_file() and not any(
                rel == ex or rel.startswith(ex + "/") for ex in EXCLUDED):
            yield rel, path.read_text(encoding="utf-8", errors="replace")


def check_tree(root):
    """Every violation under root, as (path, line, message), sorted."""
    violations = []
    for top in LAYERED_TOPS + SIZE_ONLY_TOPS:
        for rel, text in sources(root, top):
            found = check_size(text)
            if top in LAYERED_TOPS:
                found += check_layered_file(root, rel, text)
            violations += [(rel, line, message) for line, message in found]
    return sorted(violations, key=lambda v: (v[0], v[1], v[2]))


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="the repository's top folder")
    args = parser.parse_args(argv)  # exits 2 on a usage error
    root = pathlib.Path(args.root)
    if not any((root / top).is_dir() for top in LAYERED_TOPS):
        print(f"check_layers.py: {root} has none of {', '.join(LAYERED_TOPS)}/: "
              "not the repository?", file=sys.stderr)
        return 2
    violations = check_tree(root)
    for rel, line, message in violations:
        print(f"{rel}:{line}: {message}")
    if violations:
        files = len({rel for rel, _, _ in violations})
        print(f"check_layers.py: {len(violations)} violation(s) in {files} file(s)",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
