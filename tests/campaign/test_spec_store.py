#!/usr/bin/env python3
"""Unit tests of the campaign runner's pure parts: campaign/spec.py (a campaign file and
the runs it expands to), campaign/store.py (the JSON Lines result file) and
campaign/report.py (medians and the end-of-campaign table).

Standard library only, no network, no p2pdist binary, temporary directories only:
    /usr/bin/python3 tests/campaign/test_spec_store.py
Every expected value is worked out by hand in the comment next to its assert.
"""

import contextlib
import hashlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from campaign import report, spec, store  # noqa: E402

CampaignError = spec.CampaignError
StoreError = store.StoreError


def options_of(runs):
    return [r["options"] for r in runs]


# ---- spec.expand ----------------------------------------------------------------------------

class ExpandTest(unittest.TestCase):

    def test_cartesian_product_in_axis_order_times_repeat(self):
        doc = {"command": "swarm", "repeat": 3, "options": {"file-size": "8MiB"},
               "axes": {"N": [2, 4, 8], "mode": ["p2p", "cs"]}}
        runs = spec.expand(doc)
        # 3 values of N x 2 modes x 3 repeats = 18 runs
        self.assertEqual(len(runs), 18)
        # the last axis varies fastest, the repeats of a point come together:
        # (2,p2p) (2,cs) (4,p2p) (4,cs) (8,p2p) (8,cs), each 3 times
        points = [(r["options"]["N"], r["options"]["mode"]) for r in runs[::3]]
        self.assertEqual(points, [(2, "p2p"), (2, "cs"), (4, "p2p"), (4, "cs"), (8, "p2p"), (8, "cs")])
        self.assertEqual([r["repeat"] for r in runs], [0, 1, 2] * 6)
        # the top-level options are in every run
        self.assertTrue(all(r["options"]["file-size"] == "8MiB" for r in runs))
        self.assertEqual(runs[0]["axes"], ["N", "mode"])
        self.assertEqual({r["command"] for r in runs}, {"swarm"})
        self.assertEqual({r["group"] for r in runs}, {""})  # no [[group]]: the group is ""
        self.assertEqual(len({r["key"] for r in runs}), 18)  # every run its own key

    def test_no_axes_is_one_point(self):
        runs = spec.expand({"command": "bound", "options": {"N": 3}})
        self.assertEqual(options_of(runs), [{"N": 3}])  # product of no axes: one point

    def test_group_options_merge_over_top_options(self):
        doc = {"command": "swarm",
               "options": {"a": 1, "b": "top"},
               "group": [{"name": "g1", "options": {"b": "group", "c": True}},
                         {"name": "g2"}]}
        runs = spec.expand(doc)
        self.assertEqual(len(runs), 2)
        # g1: a from the top, b overridden by the group, c added by the group
        self.assertEqual(runs[0]["group"], "g1")
        self.assertEqual(runs[0]["options"], {"a": 1, "b": "group", "c": True})
        # g2 sets no options: the top ones as they are
        self.assertEqual(runs[1]["group"], "g2")
        self.assertEqual(runs[1]["options"], {"a": 1, "b": "top"})

    def test_group_command_overrides_top_command(self):
        doc = {"command": "swarm", "options": {"N": 2},
               "group": [{"name": "bounds", "command": "bound"}, {"name": "swarms"}]}
        runs = spec.expand(doc)
        self.assertEqual([r["command"] for r in runs], ["bound", "swarm"])  # g1 its own, g2 the top's
        self.assertEqual([r["argv"][0] for r in runs], ["bound", "swarm"])
        # same options, different command and group: different keys
        self.assertNotEqual(runs[0]["key"], runs[1]["key"])

    def test_group_axes_replace_top_axes(self):
        doc = {"command": "swarm", "axes": {"N": [2, 4]},
               "group": [{"name": "top-axes"}, {"name": "own-axes", "axes": {"N": [16]}}]}
        runs = spec.expand(doc)
        # top-axes: N = 2, 4 (the top's axes); own-axes: N = 16 only (its own replace them)
        self.assertEqual([(r["group"], r["options"]["N"]) for r in runs],
                         [("top-axes", 2), ("top-axes", 4), ("own-axes", 16)])

    def test_zip_takes_lists_together(self):
        doc = {"command": "swarm", "axes": {"mode": ["p2p", "cs"]},
               "zip": {"N": [2, 4, 8], "peer-up": ["1MB/s", "2MB/s", "4MB/s"]}}
        runs = spec.expand(doc)
        # 2 modes x 3 zipped pairs (not 2 x 3 x 3) = 6
        self.assertEqual(len(runs), 6)
        self.assertEqual([(r["options"]["mode"], r["options"]["N"], r["options"]["peer-up"]) for r in runs],
                         [("p2p", 2, "1MB/s"), ("p2p", 4, "2MB/s"), ("p2p", 8, "4MB/s"),
                          ("cs", 2, "1MB/s"), ("cs", 4, "2MB/s"), ("cs", 8, "4MB/s")])
        self.assertEqual(runs[0]["axes"], ["mode", "N", "peer-up"])  # axes, then the zipped names

    def test_zip_of_unequal_lengths_is_refused(self):
        doc = {"command": "swarm", "zip": {"N": [2, 4, 8], "peer-up": ["1MB/s", "2MB/s"]}}
        with self.assertRaises(CampaignError) as e:
            spec.expand(doc)
        self.assertIn("zip", str(e.exception))  # 3 against 2
        self.assertIn("one length", str(e.exception))

    def test_zip_entry_that_is_not_a_list_is_refused(self):
        with self.assertRaises(CampaignError) as e:
            spec.expand({"command": "swarm", "zip": {"N": [2, 4], "mode": "p2p"}})
        self.assertIn("zip", str(e.exception))

    def test_group_runs_list(self):
        doc = {"command": "swarm", "repeat": 2, "options": {"file-size": "1GB"},
               "group": [{"name": "picked", "command": "bound",
                          "runs": [{"N": 2}, {"N": 5, "peer-up": "3MB/s"}]}]}
        runs = spec.expand(doc)
        # 2 listed runs x 2 repeats = 4; each listed run merged over the options
        self.assertEqual(len(runs), 4)
        self.assertEqual(options_of(runs[::2]), [{"file-size": "1GB", "N": 2},
                                                 {"file-size": "1GB", "N": 5, "peer-up": "3MB/s"}])
        self.assertEqual([r["repeat"] for r in runs], [0, 1, 0, 1])
        self.assertEqual(runs[0]["axes"], [])

    def test_group_runs_with_axes_is_refused(self):
        doc = {"command": "swarm", "group": [{"name": "g", "runs": [{"N": 2}], "axes": {"mode": ["cs"]}}]}
        with self.assertRaises(CampaignError) as e:
            spec.expand(doc)
        self.assertIn("no axes or zip", str(e.exception))

    def test_empty_runs_is_refused(self):
        with self.assertRaises(CampaignError) as e:
            spec.expand({"command": "swarm", "group": [{"name": "g", "runs": []}]})
        self.assertIn("empty", str(e.exception))

    def test_top_level_runs_list(self):
        # `runs` is a known top-level setting (check accepts it): without [[group]] the
        # campaign is those runs, as a group's `runs` would be.
        doc = {"command": "bound", "options": {"file-size": "1GB"}, "runs": [{"N": 2}, {"N": 4}]}
        runs = spec.expand(doc)
        # expected 2 runs: {file-size 1GB, N 2} and {file-size 1GB, N 4}
        self.assertEqual(options_of(runs), [{"file-size": "1GB", "N": 2}, {"file-size": "1GB", "N": 4}])

    def test_top_level_runs_with_axes_is_refused(self):
        doc = {"command": "bound", "runs": [{"N": 2}], "axes": {"N": [3]}}
        with self.assertRaises(CampaignError) as e:
            spec.check(doc)
        self.assertIn("top-level `runs`", str(e.exception))

    def test_the_same_command_line_twice_is_refused(self):
        # N = 2 and N = 2.0 are different values but both give "-N 2"
        with self.assertRaises(CampaignError) as e:
            spec.expand({"command": "bound", "axes": {"N": [2, 2.0]}})
        self.assertIn("appears twice", str(e.exception))

    def test_a_huge_power_is_refused(self):
        # 10**10**10 would take the checker's memory; an exponent above 64 is refused
        with self.assertRaises(CampaignError) as e:
            spec.expand({"command": "bound", "options": {"N": 2, "file-size": "{10**10**10}MB"}})
        self.assertIn("beyond", str(e.exception))
        # 2**10 = 1024 is fine
        runs = spec.expand({"command": "bound", "options": {"N": 2, "file-size": "{2**10}KiB"}})
        self.assertEqual(runs[0]["options"]["file-size"], "1024KiB")

    def test_a_boolean_step_is_refused(self):
        with self.assertRaises(CampaignError):
            spec.expand({"command": "bound", "axes": {"N": {"from": 1, "to": 3, "step": True}}})

    def test_repeat_index_is_in_the_key(self):
        doc = {"command": "swarm", "repeat": 2, "options": {"N": 4}}
        runs = spec.expand(doc)
        self.assertEqual([r["repeat"] for r in runs], [0, 1])
        self.assertNotEqual(runs[0]["key"], runs[1]["key"])  # same options, repeat 0 and 1
        self.assertEqual(runs[0]["key"], spec.run_key("swarm", "", {"N": 4}, 0))
        self.assertEqual(runs[1]["key"], spec.run_key("swarm", "", {"N": 4}, 1))

    def test_a_run_twice_is_refused(self):
        with self.assertRaises(CampaignError) as e:
            spec.expand({"command": "swarm", "axes": {"N": [2, 2]}})  # N=2 twice
        self.assertIn("twice", str(e.exception))

    def test_range_axis_in_a_campaign(self):
        doc = {"command": "bound", "axes": {"N": {"from": 1, "to": 1024, "times": 2},
                                            "peer-up": ["300kbps", "700kbps", "2Mbps"]}}
        runs = spec.expand(doc)
        # N = 1, 2, 4, ..., 1024: 11 values (2^0 .. 2^10) x 3 uploads = 33
        self.assertEqual(len(runs), 33)
        self.assertEqual(sorted({r["options"]["N"] for r in runs}), [2 ** k for k in range(11)])


# ---- ranges ---------------------------------------------------------------------------------

class RangeTest(unittest.TestCase):

    def test_times(self):
        # from 2 to 64 times 2: 2, 4, 8, 16, 32, 64
        self.assertEqual(spec.axis_values("N", {"from": 2, "to": 64, "times": 2}, "w"), [2, 4, 8, 16, 32, 64])

    def test_times_stops_below_to(self):
        # from 1 to 100 times 10: 1, 10, 100; from 1 to 99 times 10: 1, 10 (100 is past 99)
        self.assertEqual(spec.axis_values("N", {"from": 1, "to": 100, "times": 10}, "w"), [1, 10, 100])
        self.assertEqual(spec.axis_values("N", {"from": 1, "to": 99, "times": 10}, "w"), [1, 10])

    def test_times_with_unit(self):
        # from 1 to 4 times 2 in MB/s: 1MB/s, 2MB/s, 4MB/s
        self.assertEqual(spec.axis_values("peer-up", {"from": 1, "to": 4, "times": 2, "unit": "MB/s"}, "w"),
                         ["1MB/s", "2MB/s", "4MB/s"])
        # from 0.5 to 2 times 2: 0.5, 1.0, 2.0, written 0.5MB/s, 1MB/s, 2MB/s (no trailing .0)
        self.assertEqual(spec.axis_values("peer-up", {"from": 0.5, "to": 2, "times": 2, "unit": "MB/s"}, "w"),
                         ["0.5MB/s", "1MB/s", "2MB/s"])

    def test_step(self):
        # from 0 to 10 step 5: 0, 5, 10
        self.assertEqual(spec.axis_values("N", {"from": 0, "to": 10, "step": 5}, "w"), [0, 5, 10])
        # from 1 to 2 step 0.25: 1, 1.25, 1.5, 1.75, 2; the whole ones as ints
        values = spec.axis_values("x", {"from": 1, "to": 2, "step": 0.25}, "w")
        self.assertEqual(values, [1, 1.25, 1.5, 1.75, 2])
        self.assertIs(type(values[0]), int)
        self.assertIs(type(values[-1]), int)
        # from 3 to 10 step 4: 3, 7 (11 is past 10)
        self.assertEqual(spec.axis_values("N", {"from": 3, "to": 10, "step": 4}, "w"), [3, 7])

    def test_step_with_unit(self):
        # from 10 to 30 step 10 in ms: 10ms, 20ms, 30ms
        self.assertEqual(spec.axis_values("rtt", {"from": 10, "to": 30, "step": 10, "unit": "ms"}, "w"),
                         ["10ms", "20ms", "30ms"])

    def test_bad_ranges(self):
        bad = [
            {"from": 1, "to": 4},                                # neither step nor times
            {"from": 1, "to": 4, "step": 1, "times": 2},         # both
            {"from": 1, "step": 1},                              # no to
            {"from": 1, "to": 4, "step": 0},                     # step 0
            {"from": 1, "to": 4, "step": -1},                    # negative step
            {"from": 1, "to": 4, "times": 1},                    # times 1 never grows
            {"from": 0, "to": 4, "times": 2},                    # from 0 never grows
            {"from": 5, "to": 1, "step": 1},                     # empty
            {"from": "1", "to": 4, "step": 1},                   # from not a number
            {"from": 1, "to": 4, "step": 1, "by": 3},            # unknown key
        ]
        for r in bad:
            with self.subTest(r=r), self.assertRaises(CampaignError) as e:
                spec.axis_values("N", r, "camp")
            self.assertIn("'N'", str(e.exception))  # names the axis

    def test_empty_list_axis(self):
        with self.assertRaises(CampaignError) as e:
            spec.axis_values("N", [], "camp")
        self.assertIn("no values", str(e.exception))

    def test_axis_of_a_scalar(self):
        with self.assertRaises(CampaignError):
            spec.axis_values("N", 4, "camp")  # neither a list nor a range table


# ---- templates ------------------------------------------------------------------------------

class TemplateTest(unittest.TestCase):

    def expand_one_axis(self, template, n_values, extra=None):
        doc = {"command": "swarm", "options": dict(extra or {}, out=template), "axes": {"N": n_values}}
        return [r["options"]["out"] for r in spec.expand(doc)]

    def test_name(self):
        # {N}MB/s at N = 2, 4: 2MB/s, 4MB/s
        self.assertEqual(self.expand_one_axis("{N}MB/s", [2, 4]), ["2MB/s", "4MB/s"])

    def test_arithmetic(self):
        # {2*N}MB/s at N = 2, 4: 4MB/s, 8MB/s
        self.assertEqual(self.expand_one_axis("{2*N}MB/s", [2, 4]), ["4MB/s", "8MB/s"])
        # {N/2} at N = 3, 4: 1.5 and 2 (2.0 written without .0)
        self.assertEqual(self.expand_one_axis("{N/2}", [3, 4]), ["1.5", "2"])
        # two expressions in one value: {N}x{N+1} at N = 2: 2x3
        self.assertEqual(self.expand_one_axis("{N}x{N+1}", [2]), ["2x3"])
        # max is allowed: {max(N, 3)} at N = 2, 4: 3, 4
        self.assertEqual(self.expand_one_axis("{max(N, 3)}", [2, 4]), ["3", "4"])

    def test_dashed_name_is_written_with_underscore(self):
        # file-size = 1000 (a number): {file_size // 10}KB = 100KB
        out = self.expand_one_axis("{file_size // 10}KB", [2], extra={"file-size": 1000})
        self.assertEqual(out, ["100KB"])

    def test_list_value_is_filled_item_by_item(self):
        self.assertEqual(spec.fill(["{N}", "x", "{N*3}"], {"N": 2}, "w"), ["2", "x", "6"])  # 2, x, 2*3

    def test_value_without_brace_is_kept(self):
        self.assertEqual(spec.fill("8MiB", {"N": 2}, "w"), "8MiB")
        self.assertEqual(spec.fill(7, {"N": 2}, "w"), 7)

    def assert_template_error(self, template, needle, extra=None):
        with self.assertRaises(CampaignError) as e:
            self.expand_one_axis(template, [2], extra)
        message = str(e.exception)
        self.assertIn(needle, message)
        self.assertIn("option out", message)  # names the option that holds the template
        return message

    def test_unknown_name(self):
        self.assert_template_error("{M}MB/s", "'M' is not a numeric option")

    def test_only_numeric_options_are_names(self):
        # file-size = "8MiB" is a string: {file_size} cannot use it
        self.assert_template_error("{file_size}", "'file_size' is not a numeric option",
                                   extra={"file-size": "8MiB"})

    def test_function_call_not_allowed(self):
        self.assert_template_error("{__import__('os')}", "only arithmetic")
        self.assert_template_error("{N.bit_length()}", "only arithmetic")  # attribute and call

    def test_unclosed_brace(self):
        self.assert_template_error("{N MB/s", "does not close")

    def test_not_an_expression(self):
        self.assert_template_error("{}", "is not an expression")
        self.assert_template_error("{N +}", "is not an expression")

    def test_division_by_zero(self):
        self.assert_template_error("{N/0}", "division by zero")


# ---- argv_of --------------------------------------------------------------------------------

class ArgvTest(unittest.TestCase):

    def test_options_to_command_line(self):
        options = {"N": 4, "file-size": "8MiB", "stay": True, "quiet": False,
                   "tracker": ["a", "b"], "time-scale": 0.2, "rate": 2.0, "pieces": 3}
        self.assertEqual(spec.argv_of("swarm", options, 0), [
            "swarm", "--json", "-",
            "-N", "4",                       # N is the short option
            "--file-size", "8MiB",           # any other name is --name
            "--stay",                        # true: the flag alone
                                             # false: nothing at all
            "--tracker", "a", "--tracker", "b",  # a list repeats the option
            "--time-scale", "0.2",
            "--rate", "2",                   # 2.0 written without .0
            "--pieces", "3",
        ])

    def test_simulate_gets_a_seed_per_repeat(self):
        # repeat index 4: --seed 5 (index + 1)
        self.assertEqual(spec.argv_of("simulate", {"N": 2}, 4), ["simulate", "--json", "-", "-N", "2", "--seed", "5"])

    def test_simulate_keeps_the_campaigns_seed(self):
        argv = spec.argv_of("simulate", {"N": 2, "seed": 9}, 4)
        self.assertEqual(argv, ["simulate", "--json", "-", "-N", "2", "--seed", "9"])  # 9, and no 5
        self.assertEqual(argv.count("--seed"), 1)

    def test_other_commands_get_no_seed(self):
        for command in ("bound", "sweep", "swarm"):
            self.assertNotIn("--seed", spec.argv_of(command, {"N": 2}, 3))

    def test_expand_gives_simulate_seeds_1_2_3(self):
        runs = spec.expand({"command": "simulate", "repeat": 3, "options": {"N": 2}})
        self.assertEqual([r["argv"][-1] for r in runs], ["1", "2", "3"])  # repeats 0,1,2 -> seeds 1,2,3

    def test_a_table_value_is_refused(self):
        with self.assertRaises(CampaignError) as e:
            spec.argv_of("swarm", {"limits": {"a": 1}}, 0)
        self.assertIn("limits", str(e.exception))


# ---- run_key --------------------------------------------------------------------------------

class RunKeyTest(unittest.TestCase):

    # The recipe: sha1 of json.dumps({command, group, options, repeat}, sort_keys=True,
    # separators=(",", ":")), its first 20 hex digits. For swarm, group "", {N: 4, mode: p2p},
    # repeat 0 the canonical text, written by hand (keys sorted, no spaces), is:
    TEXT = '{"command":"swarm","group":"","options":{"N":4,"mode":"p2p"},"repeat":0}'
    # printf '%s' "$TEXT" | sha1sum | cut -c1-20
    KEY = "7028d254292fc66036d7"

    def test_key_from_the_recipe(self):
        self.assertEqual(hashlib.sha1(self.TEXT.encode()).hexdigest()[:20], self.KEY)
        self.assertEqual(spec.run_key("swarm", "", {"N": 4, "mode": "p2p"}, 0), self.KEY)

    def test_option_order_does_not_matter(self):
        self.assertEqual(spec.run_key("swarm", "", {"mode": "p2p", "N": 4}, 0), self.KEY)

    def test_key_changes_with_each_part(self):
        base = ("swarm", "", {"N": 4, "mode": "p2p"}, 0)
        changed = {
            "group": ("swarm", "g", {"N": 4, "mode": "p2p"}, 0),
            "command": ("simulate", "", {"N": 4, "mode": "p2p"}, 0),
            "option value": ("swarm", "", {"N": 8, "mode": "p2p"}, 0),
            "option added": ("swarm", "", {"N": 4, "mode": "p2p", "stay": True}, 0),
            "repeat": ("swarm", "", {"N": 4, "mode": "p2p"}, 1),
        }
        self.assertEqual(spec.run_key(*base), self.KEY)
        keys = {what: spec.run_key(*args) for what, args in changed.items()}
        for what, key in keys.items():
            with self.subTest(what=what):
                self.assertNotEqual(key, self.KEY)
                self.assertRegex(key, r"^[0-9a-f]{20}$")
        self.assertEqual(len(set(keys.values())), len(keys))  # and from each other


# ---- check / load / seconds_of --------------------------------------------------------------

class CheckTest(unittest.TestCase):

    def assert_refused(self, doc, *needles):
        with self.assertRaises(CampaignError) as e:
            spec.check(doc, where="camp.toml")
        message = str(e.exception)
        self.assertIn("camp.toml", message)  # says where
        for n in needles:
            self.assertIn(n, message)
        return message

    def test_a_good_campaign_passes(self):
        spec.check({"command": "swarm", "repeat": 2, "output": "x.jsonl", "run_timeout": "10min",
                    "options": {"file-size": "8MiB"}, "axes": {"N": [2, 4]}}, where="camp.toml")

    def test_unknown_top_level_key(self):
        self.assert_refused({"command": "swarm", "axis": {"N": [2]}}, "unknown setting", "axis")

    def test_bad_command(self):
        self.assert_refused({"command": "download"}, "command", "'download'")
        self.assert_refused({"options": {"N": 2}}, "command")  # none at all, no groups

    def test_bad_repeat(self):
        for repeat in (0, -1, True, 1.5, "3", 100001):
            with self.subTest(repeat=repeat):
                self.assert_refused({"command": "swarm", "repeat": repeat}, "repeat")

    def test_runner_owned_option_names(self):
        self.assert_refused({"command": "swarm", "options": {"json": "-"}}, "--json", "runner")
        self.assert_refused({"command": "swarm", "options": {"repeat": 3}}, "--repeat", "runner")
        self.assert_refused({"command": "swarm", "axes": {"repeat": [1, 2]}}, "--repeat")  # as an axis too

    def test_option_name_with_dashes_refused(self):
        self.assert_refused({"command": "swarm", "options": {"--file-size": "8MiB"}},
                            "'--file-size' is not an option name")
        self.assert_refused({"command": "swarm", "options": {"-N": 2}}, "'-N' is not an option name")

    def test_duplicate_group_names(self):
        self.assert_refused({"command": "swarm", "group": [{"name": "a"}, {"name": "b"}, {"name": "a"}]},
                            "group 3", "'a'", "twice")

    def test_group_problems(self):
        self.assert_refused({"command": "swarm", "group": [{"name": "a", "axis": {}}]}, "group 1", "axis")
        self.assert_refused({"command": "swarm", "group": [{"command": "swarm"}]}, "group 1", "name")
        self.assert_refused({"command": "swarm", "group": [{"name": "a", "command": "seed"}]}, "group 1", "'seed'")
        # [group] (one table) instead of [[group]] (a list of them)
        self.assert_refused({"command": "swarm", "group": {"name": "a"}}, "[[group]]")

    def test_groups_may_carry_the_command(self):
        spec.check({"group": [{"name": "a", "command": "bound"}, {"name": "b", "command": "swarm"}]})
        # but a group with none, and none at the top, is refused
        self.assert_refused({"group": [{"name": "a", "command": "bound"}, {"name": "b"}]}, "group 2", "command")

    def test_bad_parts(self):
        self.assert_refused({"command": "swarm", "options": ["N", 2]}, "options")
        self.assert_refused({"command": "swarm", "runs": {"N": 2}}, "runs")
        self.assert_refused({"command": "swarm", "output": ""}, "output")
        self.assert_refused({"command": "swarm", "run_timeout": "soon"}, "run_timeout")

    def test_check_expands(self):
        # a template error is found by check, before anything runs
        self.assert_refused({"command": "swarm", "options": {"x": "{M}"}}, "'M'")


class LoadTest(unittest.TestCase):

    TOML = """
name = "same"
command = "swarm"
repeat = 2

[options]
file-size = "8MiB"
server-up = "{2*N}MB/s"
time-scale = 0.2

[axes]
N = [2, 4]
peer-up = { from = 1, to = 4, times = 2, unit = "MB/s" }

[[group]]
name = "p2p"
options = { mode = "p2p" }

[[group]]
name = "bounds"
command = "bound"
runs = [{ N = 3 }, { N = 5 }]
"""
    JSON = {
        "name": "same", "command": "swarm", "repeat": 2,
        "options": {"file-size": "8MiB", "server-up": "{2*N}MB/s", "time-scale": 0.2},
        "axes": {"N": [2, 4], "peer-up": {"from": 1, "to": 4, "times": 2, "unit": "MB/s"}},
        "group": [{"name": "p2p", "options": {"mode": "p2p"}},
                  {"name": "bounds", "command": "bound", "runs": [{"N": 3}, {"N": 5}]}],
    }

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(data)
        return path

    def test_toml_and_json_load_to_the_same_runs(self):
        from_toml = spec.load(self.write("a.toml", self.TOML))
        from_json = spec.load(self.write("b.json", json.dumps(self.JSON)))
        self.assertEqual(from_toml, from_json)
        runs_toml, runs_json = spec.expand(from_toml), spec.expand(from_json)
        self.assertEqual(runs_toml, runs_json)
        # p2p: 2 N x 3 peer-up (1, 2, 4 MB/s) x 2 repeats = 12; bounds: 2 runs x 2 repeats = 4
        self.assertEqual(len(runs_toml), 16)
        self.assertEqual(runs_toml[0]["options"], {"file-size": "8MiB", "server-up": "4MB/s",  # 2*2
                                                   "time-scale": 0.2, "mode": "p2p", "N": 2, "peer-up": "1MB/s"})
        self.assertEqual(runs_toml[-1]["options"]["server-up"], "10MB/s")  # bounds run N = 5: 2*5
        self.assertEqual(runs_toml[-1]["command"], "bound")

    def test_name_defaults_to_the_file_name(self):
        doc = spec.load(self.write("my-sweep.toml", 'command = "bound"\n'))
        self.assertEqual(doc["name"], "my-sweep")

    def test_not_toml_names_the_path(self):
        path = self.write("broken.toml", 'command = "swarm\n[axes\n')
        with self.assertRaises(CampaignError) as e:
            spec.load(path)
        self.assertIn(path, str(e.exception))
        self.assertIn("not a valid campaign file", str(e.exception))

    def test_not_json_names_the_path(self):
        path = self.write("broken.json", '{"command": "swarm",')
        with self.assertRaises(CampaignError) as e:
            spec.load(path)
        self.assertIn(path, str(e.exception))

    def test_json_that_is_not_a_table(self):
        path = self.write("list.json", "[1, 2]")
        with self.assertRaises(CampaignError) as e:
            spec.load(path)
        self.assertIn("table", str(e.exception))

    def test_missing_file(self):
        path = os.path.join(self.dir, "nowhere.toml")
        with self.assertRaises(CampaignError) as e:
            spec.load(path)
        self.assertIn(path, str(e.exception))
        self.assertIn("cannot read", str(e.exception))

    def test_load_checks(self):
        path = self.write("bad.toml", 'command = "swarm"\nrepeat = 0\n')
        with self.assertRaises(CampaignError) as e:
            spec.load(path)
        self.assertIn(path, str(e.exception))
        self.assertIn("repeat", str(e.exception))

    def test_shipped_examples_load(self):
        examples = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "campaign", "examples")
        # textbook.toml: N = 1..1024 times 2 (11 values) x 3 peer-up = 33 bound runs
        runs = spec.expand(spec.load(os.path.join(examples, "textbook.toml")))
        self.assertEqual(len(runs), 33)
        # cs-vs-p2p.toml: 4 N x 2 modes x repeat 3 = 24 swarm runs
        runs = spec.expand(spec.load(os.path.join(examples, "cs-vs-p2p.toml")))
        self.assertEqual(len(runs), 24)


class SecondsTest(unittest.TestCase):

    def test_units(self):
        self.assertEqual(spec.seconds_of("90s", "w"), 90)        # 90 s
        self.assertEqual(spec.seconds_of("10min", "w"), 600)     # 10 x 60
        self.assertEqual(spec.seconds_of("500ms", "w"), 0.5)     # 500 / 1000
        self.assertEqual(spec.seconds_of("2h", "w"), 7200)       # 2 x 3600
        self.assertEqual(spec.seconds_of("1.5min", "w"), 90)     # 1.5 x 60
        self.assertEqual(spec.seconds_of(" 30 ", "w"), 30)       # bare number: seconds
        self.assertEqual(spec.seconds_of(45, "w"), 45)           # a number: seconds
        self.assertEqual(spec.seconds_of(0.25, "w"), 0.25)

    def test_bad(self):
        for text in ("ten", "10d", "0s", "-5s", "", "s", 0, -1, True, "nan", "infs"):
            with self.subTest(text=text), self.assertRaises(CampaignError) as e:
                spec.seconds_of(text, "camp: run_timeout")
            self.assertIn("camp: run_timeout", str(e.exception))
            self.assertIn("not a duration", str(e.exception))


# ---- store ----------------------------------------------------------------------------------

class ResultFileTest(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.tmp.name, "results", "r.jsonl")  # results/ does not exist yet
        self.opened = []

    def tearDown(self):
        for f in self.opened:
            f.close()
        self.tmp.cleanup()

    def open(self):
        f = store.ResultFile(self.path)
        self.opened.append(f)
        return f

    def write_raw(self, data):
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "wb") as f:
            f.write(data)

    def read_raw(self):
        with open(self.path, "rb") as f:
            return f.read()

    def test_append_writes_one_line_per_record(self):
        f = self.open()
        self.assertEqual(f.done, {})
        f.append({"key": "a", "n": 1})
        f.append({"key": "b", "status": "ok"})
        # compact JSON, each line ending in \n
        self.assertEqual(self.read_raw(), b'{"key":"a","n":1}\n{"key":"b","status":"ok"}\n')
        self.assertEqual(set(f.done), {"a", "b"})

    def test_reopen_reads_the_records_back(self):
        f = self.open()
        f.append({"key": "a", "n": 1})
        f.append({"key": "b", "n": 2})
        f.close()
        g = self.open()
        self.assertEqual(g.records, [{"key": "a", "n": 1}, {"key": "b", "n": 2}])
        self.assertEqual(g.done, {"a": {"key": "a", "n": 1}, "b": {"key": "b", "n": 2}})
        g.append({"key": "c"})  # appends after them
        self.assertEqual(self.read_raw().count(b"\n"), 3)

    def test_cut_last_line_is_removed_on_open(self):
        whole = b'{"key":"a"}\n{"key":"b"}\n'
        cut = b'{"key":"c","resu'  # 16 bytes: { "key" : "c" , "resu = 1+5+1+3+1+5
        self.write_raw(whole + cut)
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            f = self.open()
        self.assertEqual(self.read_raw(), whole)       # the cut line gone, the rest kept
        self.assertEqual(set(f.done), {"a", "b"})      # c runs again
        self.assertIn("removing a cut last line", err.getvalue())
        self.assertIn("(16 bytes", err.getvalue())
        f.append({"key": "c"})
        self.assertEqual(self.read_raw(), whole + b'{"key":"c"}\n')  # a whole line after the repair

    def test_file_that_is_only_a_cut_line(self):
        self.write_raw(b'{"key":"a","st')
        with contextlib.redirect_stderr(io.StringIO()) as err:
            f = self.open()
        self.assertEqual(self.read_raw(), b"")  # nothing whole in it: emptied
        self.assertEqual(f.done, {})
        self.assertIn("removing a cut last line", err.getvalue())

    def test_whole_file_is_not_touched(self):
        self.write_raw(b'{"key":"a"}\n')
        with contextlib.redirect_stderr(io.StringIO()) as err:
            self.open()
        self.assertEqual(err.getvalue(), "")  # no warning
        self.assertEqual(self.read_raw(), b'{"key":"a"}\n')

    def test_second_runner_is_refused(self):
        f = self.open()
        f.append({"key": "a"})
        with self.assertRaises(StoreError) as e:
            store.ResultFile(self.path)
        self.assertIn("another campaign runner", str(e.exception))
        f.close()
        g = self.open()  # once the first has closed, it opens
        self.assertEqual(set(g.done), {"a"})

    def test_last_record_of_a_key_wins(self):
        self.write_raw(b'{"key":"a","status":"failed"}\n{"key":"b","status":"ok"}\n{"key":"a","status":"ok"}\n')
        f = self.open()
        self.assertEqual(len(f.records), 3)  # every record is kept
        self.assertEqual(f.done["a"]["status"], "ok")  # the retry, not the failure
        f.append({"key": "b", "status": "failed"})
        self.assertEqual(f.done["b"]["status"], "failed")  # append also replaces

    def test_read_records_names_path_and_line_of_garbage(self):
        self.write_raw(b'{"key":"a"}\n\ngarbage here\n{"key":"b"}\n')
        with self.assertRaises(StoreError) as e:
            store.read_records(self.path)
        self.assertIn(f"{self.path}:3:", str(e.exception))  # line 3 (line 2 is blank)
        self.assertIn("not a campaign record", str(e.exception))

    def test_read_records_skips_blank_lines_and_a_cut_tail(self):
        self.write_raw(b'{"key":"a"}\n\n{"key":"b"}\n{"key":"c"')
        self.assertEqual(store.read_records(self.path), [{"key": "a"}, {"key": "b"}])  # c is not whole
        self.assertEqual(self.read_raw()[-10:], b'{"key":"c"')  # reading alone does not repair

    def test_read_records_of_a_missing_file(self):
        self.assertEqual(store.read_records(os.path.join(self.tmp.name, "none.jsonl")), [])

    def test_a_failed_open_does_not_keep_the_lock(self):
        # Opening a file with a garbage line fails; once the file is mended, the same
        # process must be able to open it (the failed ResultFile must not hold the lock).
        self.write_raw(b'{"key":"a"}\ngarbage\n{"key":"b"}\n')
        with self.assertRaises(StoreError) as e:
            store.ResultFile(self.path)
        self.assertIn(":2:", str(e.exception))  # garbage on line 2
        self.write_raw(b'{"key":"a"}\n{"key":"b"}\n')
        f = self.open()  # expected: opens; a leaked lock would say "another campaign runner"
        self.assertEqual(set(f.done), {"a", "b"})

    def test_a_line_that_is_json_but_not_a_record(self):
        # `42` is valid JSON but not a record: refused like any other foreign line, naming it
        self.write_raw(b'{"key":"a"}\n42\n{"key":"b"}\n')
        with self.assertRaises(StoreError) as e:
            store.ResultFile(self.path)
        self.assertIn(":2:", str(e.exception))


# ---- report ---------------------------------------------------------------------------------

def record(key, options, status="ok", command="swarm", group="", wall=None, **result):
    r = {"key": key, "command": command, "group": group, "options": options, "status": status,
         "wall_seconds": wall}
    r["result"] = result if status == "ok" else None
    return r


def swarm_result(ratio, measured, bound=10.0, binding="server"):
    return {"ratio": ratio, "distribution_seconds": measured, "bound": {"seconds": bound, "binding": binding},
            "piece_bound": {"seconds": bound * 1.1, "pieces": 128}, "ratio_to_piece_bound": ratio / 1.1}


class ReportTest(unittest.TestCase):

    A = {"N": 2, "mode": "p2p", "file-size": "8MiB"}
    B = {"N": 4, "mode": "p2p", "file-size": "8MiB"}
    C = {"N": 2, "mode": "cs", "file-size": "8MiB"}

    def records(self):
        return [
            record("a0", dict(self.A), wall=20.0, **swarm_result(1.1, 11.0)),
            record("b0", dict(self.B), wall=40.0, **swarm_result(1.5, 15.0)),
            record("a1", dict(self.A), wall=30.0, **swarm_result(1.0, 10.0)),
            record("a2", dict(self.A), status="failed", wall=99.0),
            record("a3", dict(reversed(list(self.A.items()))), wall=25.0, **swarm_result(1.3, 13.0)),
        ]

    def test_points_group_repeats(self):
        pts = report.points(self.records())
        # A (a0 a1 a2 a3, one with its options in another order) and B, in first-seen order
        self.assertEqual([p["options"]["N"] for p in pts], [2, 4])
        self.assertEqual([r["key"] for r in pts[0]["records"]], ["a0", "a1", "a3"])  # the ok ones
        self.assertEqual(pts[0]["failed"], 1)  # a2
        self.assertEqual(len(pts[1]["records"]), 1)
        self.assertEqual(pts[1]["failed"], 0)

    def test_points_separate_groups_and_commands(self):
        recs = [record("x", {"N": 2}, group="g1"), record("y", {"N": 2}, group="g2"),
                record("z", {"N": 2}, command="simulate", group="g1")]
        self.assertEqual(len(report.points(recs)), 3)  # same options, 3 different (command, group)

    def test_figures_of_a_swarm_point(self):
        f = report.figures(report.points(self.records())[0])
        self.assertEqual(f["runs"], 3)
        self.assertEqual(f["failed"], 1)
        self.assertEqual(f["ratio"], 1.1)             # median of [1.1, 1.0, 1.3]: sorted 1.0 1.1 1.3
        self.assertEqual(f["min_ratio"], 1.0)
        self.assertEqual(f["max_ratio"], 1.3)
        self.assertEqual(f["measured_seconds"], 11.0)  # median of [11, 10, 13]
        self.assertEqual(f["wall_seconds"], 25.0)      # median of the ok runs' [20, 30, 25]; not 99
        self.assertEqual(f["bound_seconds"], 10.0)
        self.assertEqual(f["binding"], "server")
        self.assertEqual(f["pieces"], 128)
        self.assertAlmostEqual(f["ratio_to_piece_bound"], 1.1 / 1.1)  # median of r/1.1 = 1.1/1.1
        self.assertIsNone(f["first_byte_seconds"])   # no result has it

    def test_figures_even_count_and_missing_ratio(self):
        recs = [record("a", {"N": 2}, ratio=1.0), record("b", {"N": 2}, ratio=None),
                record("c", {"N": 2}, ratio=1.2)]
        f = report.figures(report.points(recs)[0])
        self.assertEqual(f["runs"], 3)
        self.assertAlmostEqual(f["ratio"], 1.1)  # None left out: median of [1.0, 1.2] = (1.0+1.2)/2
        self.assertEqual((f["min_ratio"], f["max_ratio"]), (1.0, 1.2))

    def test_figures_of_a_bound_point(self):
        recs = [record("a", {"N": 2}, command="bound",
                       client_server={"seconds": 100.0, "binding": "server"},
                       p2p={"seconds": 60.0, "binding": "peers"})]
        f = report.figures(report.points(recs)[0])
        self.assertEqual((f["cs_seconds"], f["cs_binding"], f["p2p_seconds"], f["p2p_binding"]),
                         (100.0, "server", 60.0, "peers"))
        self.assertNotIn("ratio", f)

    def test_varying_options(self):
        pts = report.points([record("a", dict(self.A)), record("b", dict(self.B)), record("c", dict(self.C))])
        # N: 2 4 2, mode: p2p p2p cs, file-size: always 8MiB
        self.assertEqual(report.varying_options(pts), ["N", "mode"])
        self.assertEqual(report.varying_options(pts[:2]), ["N"])  # A, B: only N differs

    def test_an_option_missing_from_a_point_varies(self):
        pts = report.points([record("a", {"N": 2}), record("b", {"N": 2, "stay": True})])
        self.assertEqual(report.varying_options(pts), ["stay"])  # absent vs true

    def test_latest_counts_a_retried_failure_once(self):
        recs = [record("k", {"N": 2}, status="failed"), record("k", {"N": 2}, ratio=1.0)]
        self.assertEqual([r["status"] for r in report.latest(recs)], ["ok"])

    def test_table(self):
        recs = self.records() + [record("c0", dict(self.C), wall=5.0, **swarm_result(2.0, 20.0))]
        lines = report.table(recs)
        # a header and one line per point: A, B, C
        self.assertEqual(len(lines), 1 + 3)
        head = lines[0].split()
        self.assertIn("N", head)
        self.assertIn("mode", head)
        self.assertNotIn("file-size", head)  # the same in every point
        self.assertNotIn("group", head)      # no groups
        self.assertIn("ratio", head)
        self.assertEqual(len({len(line) for line in lines}), 1)  # columns aligned: one width
        # A: N 2, mode p2p, 3 ok, 1 failed, median wall 25, ratio 1.100
        a = lines[1].split()
        self.assertEqual(a[:4], ["2", "p2p", "3", "1"])
        self.assertEqual(a[4], "25.000")
        self.assertIn("1.100", a)
        self.assertEqual(lines[3].split()[:4], ["2", "cs", "1", "0"])  # C

    def test_table_with_groups_and_a_retry(self):
        recs = [record("k1", {"N": 2}, group="g", ratio=1.0),
                record("k2", {"N": 2}, group="g", status="failed"),
                record("k2", {"N": 2}, group="g", ratio=1.2),  # k2 retried, now ok
                record("k3", {"N": 4}, group="g", ratio=1.4)]
        lines = report.table(recs)
        self.assertEqual(len(lines), 1 + 2)  # points N=2 and N=4
        self.assertEqual(lines[0].split()[:2], ["group", "N"])
        self.assertEqual(lines[1].split()[:4], ["g", "2", "2", "0"])  # the retry counts once, as ok

    def test_table_of_nothing(self):
        self.assertEqual(report.table([]), ["(no records)"])


if __name__ == "__main__":
    unittest.main(verbosity=1)
