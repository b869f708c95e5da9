#!/usr/bin/python3
"""Self-test of check_figures.py: a fake repository (README.md showing two figures, their PNGs
and committed sidecars) and a fake build folder with the sidecars a notebook test would
write; values moved within and beyond the tolerances must pass and fail, with the figure
and the first value that differs named. Standard library only (run with /usr/bin/python3)."""

import copy
import hashlib
import json
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

CHECKER = pathlib.Path(__file__).resolve().parent / "check_figures.py"
README = """# demo
![model](notebooks/figures/model.png)
![measured](notebooks/figures/measured.png)
"""
MODEL = {"figure": "model.png", "notebook": "model.ipynb", "parameters": {"p2pdist": ["sweep", "--points", 3]},
         "data": {"series": {"p2p": {"N": [1, 2, 3], "hours": [0.1, 0.2, 0.3]}}}}
MEASURED = {"figure": "measured.png", "notebook": "swarms.ipynb", "parameters": {"repeats": 3},
            "data": {"series": {"p2p, seed-limited": {
                "N": [2, 4], "bound_seconds": [1.048576, 1.048576], "measured_seconds": [1.07, 1.16],
                "ratio": [1.02, 1.11], "ratio_to_piece_bound": [0.99, 1.04],
                "unchecked_runs_seconds": [[1.06, 1.07, 1.08], [1.1, 1.16, 1.2]]}}}}
FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


class CheckFigures(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="check_figures_"))
        self.root = self.tmp / "repo"
        self.build = self.tmp / "build"
        (self.root / "notebooks" / "figures").mkdir(parents=True)
        self.build.mkdir()
        (self.root / "README.md").write_text(README)
        for doc in (MODEL, MEASURED):
            self.commit_figure(doc)
            self.write_built(doc)

    def tearDown(self):
        shutil.rmtree(self.tmp)

    def commit_figure(self, doc, commit=FAKE_COMMIT):
        """The PNG and its sidecar in notebooks/figures/, as scripts/refresh_figures.sh copies them."""
        png = self.root / "notebooks" / "figures" / doc["figure"]
        png.write_bytes(b"\x89PNG fake " + doc["figure"].encode())
        committed = {"figure": doc["figure"], "notebook": doc["notebook"], "commit": commit,
                     "png_sha256": hashlib.sha256(png.read_bytes()).hexdigest(),
                     "parameters": doc["parameters"], "data": doc["data"]}
        png.with_suffix(".json").write_text(json.dumps(committed))

    def write_built(self, doc):
        """The sidecar the notebook test writes into the build folder."""
        (self.build / doc["figure"]).with_suffix(".json").write_text(json.dumps(doc))

    def run_checker(self):
        done = subprocess.run([sys.executable, str(CHECKER), "--root", str(self.root), "--from", str(self.build)],
                              capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout

    def moved(self, key, index, value):
        """MEASURED with series["p2p, seed-limited"][key][index] = value, written as built."""
        doc = copy.deepcopy(MEASURED)
        doc["data"]["series"]["p2p, seed-limited"][key][index] = value
        self.write_built(doc)

    def test_agreeing_sidecars_pass(self):
        status, out = self.run_checker()
        self.assertEqual(status, 0, out)
        self.assertIn("not a git checkout", out)
        self.assertIn("2 figures shown in README.md agree", out)

    def test_measured_values_are_reported_not_compared(self):
        doc = copy.deepcopy(MEASURED)
        series = doc["data"]["series"]["p2p, seed-limited"]
        series["measured_seconds"] = [1.07 * 1.25, 1.16 * 0.9]     # a noisy machine: +25 %
        series["ratio"] = [1.02 + 0.27, 1.11 - 0.049]
        series["unchecked_runs_seconds"] = [[9.0], [9.0, 9.0]]
        self.write_built(doc)
        model = copy.deepcopy(MODEL)
        model["data"]["series"]["p2p"]["hours"][1] = 0.2 * (1 + 1e-12)
        self.write_built(model)
        status, out = self.run_checker()
        self.assertEqual(status, 0, out)
        self.assertIn("2 measured times (largest deviation from the committed 25.0%, not compared)", out)
        self.assertIn("4 ratios (largest deviation 0.270, not compared)", out)
        self.assertIn("that the engine is unchanged since is not checked", out)

    def test_bound_in_a_measured_figure_is_a_model_value(self):
        self.moved("bound_seconds", 0, 1.048576 * (1 + 1e-6))
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn(".bound_seconds[0]: committed 1.048576", out)

    def test_model_value_beyond_1e9_fails(self):
        model = copy.deepcopy(MODEL)
        model["data"]["series"]["p2p"]["hours"][2] = 0.3 * (1 + 1e-7)
        self.write_built(model)
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn("FAIL model.png: ", out)
        self.assertIn("data.series.p2p.hours[2]: committed 0.3, now", out)
        self.assertNotIn("FAIL measured.png", out)

    def test_other_shape_fails(self):
        model = copy.deepcopy(MODEL)
        model["data"]["series"]["p2p"]["N"].append(4)
        self.write_built(model)
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn("data.series.p2p.N: 3 values committed, 4 now", out)

    def test_other_parameters_fail(self):
        model = copy.deepcopy(MODEL)
        model["parameters"]["p2pdist"][2] = 4
        self.write_built(model)
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn("FAIL model.png: made with other parameters than the notebook's now: "
                      "parameters.p2pdist[2]: committed 3, now 4", out)

    def test_missing_built_sidecars_skip(self):
        for path in self.build.glob("*.json"):
            path.unlink()
        status, out = self.run_checker()
        self.assertEqual(status, 77, out)
        self.assertIn("SKIP model.png: no model.json in", out)

    def test_committed_sidecar_missing_or_incomplete_fails(self):
        (self.root / "notebooks" / "figures" / "model.json").unlink()
        committed = self.root / "notebooks" / "figures" / "measured.json"
        doc = json.loads(committed.read_text())
        del doc["commit"]
        committed.write_text(json.dumps(doc))
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn("FAIL model.png: no sidecar notebooks/figures/model.json committed beside it", out)
        self.assertIn('FAIL measured.png: notebooks/figures/measured.json has no "commit"', out)

    def test_png_replaced_without_its_sidecar_fails(self):
        (self.root / "notebooks" / "figures" / "model.png").write_bytes(b"\x89PNG another")
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn("FAIL model.png: the PNG is not the one its sidecar was written with", out)

    def test_figure_the_readme_does_not_show_fails(self):
        (self.root / "notebooks" / "figures" / "old.png").write_bytes(b"\x89PNG old")
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn("FAIL notebooks/figures/old.png: README.md does not show it", out)

    @unittest.skipUnless(shutil.which("git"), "git is not installed")
    def test_commit_must_exist_in_a_git_checkout(self):
        def git(*args):
            return subprocess.run(["git", "-C", str(self.root), "-c", "user.name=t", "-c", "user.email=t@t",
                                   *args], capture_output=True, text=True, check=True).stdout.strip()
        git("init", "-q")
        git("commit", "-q", "--allow-empty", "-m", "figures")
        head = git("rev-parse", "HEAD")
        self.commit_figure(MODEL, head)
        self.commit_figure(MEASURED, FAKE_COMMIT)
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn(f"ok   model.png: made at {head[:12]}", out)
        self.assertIn(f"FAIL measured.png: commit {FAKE_COMMIT} does not exist in the repository", out)


    @unittest.skipUnless(shutil.which("git"), "git is not installed")
    def test_measured_figure_from_a_changed_engine_fails(self):
        def git(*args):
            return subprocess.run(["git", "-C", str(self.root), "-c", "user.name=t", "-c", "user.email=t@t",
                                   *args], capture_output=True, text=True, check=True).stdout.strip()
        engine = self.root / "loopback" / "core.cpp"
        engine.parent.mkdir()
        engine.write_text("int engine = 1;\n")
        git("init", "-q")
        git("add", "-A")
        git("commit", "-q", "-m", "engine")
        made_at = git("rev-parse", "HEAD")
        self.commit_figure(MODEL, made_at)
        self.commit_figure(MEASURED, made_at)
        git("add", "-A")
        git("commit", "-q", "-m", "figures")        # only notebooks/figures/ changed: still current
        status, out = self.run_checker()
        self.assertEqual(status, 0, out)
        self.assertIn(f"ok   measured.png: made at {made_at[:12]}, the engine unchanged since", out)

        engine.write_text("int engine = 2;\n")
        (self.root / "tests.txt").write_text("not the engine\n")
        git("add", "-A")
        git("commit", "-q", "-m", "engine changed")
        status, out = self.run_checker()
        self.assertEqual(status, 1, out)
        self.assertIn(f"FAIL measured.png: made by an engine that has changed since: 1 file(s) differ between "
                      f"{made_at[:12]} and HEAD, first loopback/core.cpp", out)
        self.assertIn("ok   model.png", out)      # no measured value: its numbers alone decide

if __name__ == "__main__":
    unittest.main()
