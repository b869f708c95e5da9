#!/usr/bin/python3
"""Self-test of check_layers.py: runs it on the fake trees in fixtures/ (each breaks one
rule, or none) and on trees written here (file size, relative includes), and compares the
exact output and exit status. Standard library only (run with /usr/bin/python3)."""

import pathlib
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
CHECKER = HERE / "check_layers.py"
FIXTURES = HERE / "fixtures"
PURE_NOTE = "(no socket, thread or clock header)"
CALL_NOTE = "(time and threads come from the caller)"


def run(root):
    """(exit status, stdout lines) of the checker on root."""
    done = subprocess.run([sys.executable, str(CHECKER), "--root", str(root)],
                          capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout.splitlines()


def write_tree(root, files):
    """Writes {relative path: text} under root."""
    for rel, text in files.items():
        path = pathlib.Path(root) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


class Fixtures(unittest.TestCase):
    def expect(self, case, violations):
        status, lines = run(FIXTURES / case)
        self.assertEqual(lines, violations)
        self.assertEqual(status, 1 if violations else 0)

    def test_clean_tree_passes(self):
        self.expect("clean", [])

    def test_wrong_way_include(self):
        self.expect("wrong_way_include", [
            "loopback/core/session.cpp:3: wrong-way include: loopback/core/session.cpp includes "
            "loopback/net/client.hpp (core may include protocol, policy)"])

    def test_asio_in_core(self):
        self.expect("asio_in_core", [
            f"loopback/core/session.cpp:2: forbidden header: <asio/ip/tcp.hpp> in pure layer "
            f"core {PURE_NOTE}"])

    def test_thread_in_policy(self):
        self.expect("thread_in_policy", [
            f"loopback/policy/choker.hpp:4: forbidden header: <thread> in pure layer policy "
            f"{PURE_NOTE}"])

    def test_clock_in_protocol(self):
        self.expect("clock_in_protocol", [
            f"loopback/protocol/tracker_codec.cpp:4: forbidden call: steady_clock::now in pure "
            f"layer protocol {CALL_NOTE}"])

    def test_clock_only_in_comments_and_strings_passes(self):
        # The fixture does name the forbidden calls and headers, only never in code.
        text = (FIXTURES / "clock_in_comment/loopback/protocol/time.hpp").read_text()
        for token in ("steady_clock::now", "this_thread", "#include <thread>", "sleep_until",
                      "::time(0)", "gettimeofday", "high_resolution_clock::now"):
            self.assertIn(token, text)
        self.expect("clock_in_comment", [])

    def test_unknown_layer_folder(self):
        self.expect("unknown_layer", [
            "loopback/util/strings.hpp:1: unknown layer: loopback/util/strings.hpp is in "
            "loopback/util/, not in a layer folder "
            "(protocol, policy, storage, core, net, sim, harness)"])


class WrittenTrees(unittest.TestCase):
    def test_file_of_651_lines_fails_650_passes(self):
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, {"model/ok.cpp": "int x;\n" * 650,
                              "tests/model/long.cpp": "int y;\n" * 651,
                              "tests/fuzz/corpus/x/long.cpp": "int z;\n" * 700,
                              "tests/layers/fixtures/a/model/long.cpp": "int z;\n" * 700})
            self.assertEqual(run(root), (1, [
                "tests/model/long.cpp:651: file size: 651 lines, more than 650; split it"]))

    def test_relative_include_is_resolved(self):
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, {"loopback/net/client.hpp": "#pragma once\n",
                              "loopback/policy/choker.hpp": "#pragma once\n",
                              "loopback/policy/choker.cpp":
                                  '#include "choker.hpp"\n#include "../net/client.hpp"\n'})
            self.assertEqual(run(root), (1, [
                "loopback/policy/choker.cpp:2: wrong-way include: loopback/policy/choker.cpp "
                "includes loopback/net/client.hpp (policy may include protocol)"]))

    def test_model_includes_no_layer_of_loopback(self):
        with tempfile.TemporaryDirectory() as root:
            write_tree(root, {"model/sweep.cpp": '#include "loopback/protocol/types.hpp"\n'})
            self.assertEqual(run(root), (1, [
                "model/sweep.cpp:1: wrong-way include: model/sweep.cpp includes "
                "loopback/protocol/types.hpp (model may include no other layer)"]))

    def test_usage_errors_exit_2(self):
        with tempfile.TemporaryDirectory() as root:
            self.assertEqual(run(root)[0], 2)  # none of model/, loopback/, cli/
        done = subprocess.run([sys.executable, str(CHECKER)], capture_output=True, timeout=60)
        self.assertEqual(done.returncode, 2)


if __name__ == "__main__":
    unittest.main()
