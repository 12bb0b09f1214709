"""Cells that run the tests they find in the notebook: ``unittest.main(argv=[...],
exit=False)`` runs every ``TestCase`` class of ``__main__`` and ``doctest.testmod()`` the
examples in every docstring, naming none of them. Their code fingerprint covers what they
find (:func:`flowyml.codehash._test_runner`): a hit kept showing "OK" after the test it runs
was edited to fail and the notebook restarted (Chris Albon's mocking notebook). Real
kernels through nbclient, compared with plain Python (SPEC §9)."""

from __future__ import annotations

import re

import pytest

from .kernel_runs import printed, run_cells, statuses

pytestmark = pytest.mark.slow


def view(outputs) -> list[str]:
    """What the runs say of the tests: which failed, how many ran, the verdict (the
    tracebacks name each kernel's own file for the cell)."""
    text = re.sub(r"Ran (\d+) tests? in [\d.]+s", r"Ran \1", printed(outputs, results=True))
    return re.findall(r"(?m)^(?:OK|FAILED.*|Ran \d+|TestResults.*|FAIL: .*|.*\.\.\. (?:ok|FAIL))$", text)


MOCKED = [
    "import unittest\nfrom math import exp",
    "%%step\ndef mock_function(x):\n    return 'not exp'",
    "%%step\nfrom unittest import mock\nclass TestRandom(unittest.TestCase):\n"
    "    @mock.patch('__main__.exp', side_effect=mock_function)\n"
    "    def test_math_exp(self, mocked):\n        assert exp(4) == 'not exp'",
    "%%step\nunittest.main(argv=['ignored', '-v'], exit=False)",
]


def test_an_edited_test_class_runs_its_tests_again_after_a_restart(tmp_path):
    edited = [*MOCKED[:2], MOCKED[2].replace("== 'not exp'", "== 'edited'"), MOCKED[3]]
    run_cells(tmp_path, MOCKED, write=False)
    again = run_cells(tmp_path, MOCKED, write=False)
    assert all(": cached" in s for s in statuses(again)[1:]), statuses(again)
    plain = [view(o) for o in run_cells(tmp_path, edited, flowyml=False, write=False)]
    runs = run_cells(tmp_path, edited, write=False)
    assert plain[3] == ["test_math_exp (__main__.TestRandom.test_math_exp) ... FAIL",
                        "FAIL: test_math_exp (__main__.TestRandom.test_math_exp)", "Ran 1",
                        "FAILED (failures=1)"], plain[3]
    assert [view(o) for o in runs] == plain
    assert ": cached" not in statuses(runs)[3], statuses(runs)


def test_a_test_class_added_in_the_kernel_is_run_by_the_runner_cell(tmp_path):
    """The same kernel: a new failing ``TestCase`` defined below, then the runner cell run
    again (its code unchanged) finds and runs it, as in plain Python."""
    runner = "%%step\nunittest.main(argv=['ignored'], exit=False)"
    cells = ["import unittest",
             "%%step\nclass TestOne(unittest.TestCase):\n    def test_one(self):\n        self.assertEqual(1, 1)",
             runner,
             "%%step\nclass TestTwo(unittest.TestCase):\n    def test_two(self):\n        self.assertEqual(1, 2)",
             runner]
    plain = [view(o) for o in run_cells(tmp_path, cells, flowyml=False, write=False)]
    runs = run_cells(tmp_path, cells, write=False)
    assert plain[2] == ["Ran 1", "OK"] and plain[4] == [
        "FAIL: test_two (__main__.TestTwo.test_two)", "Ran 2", "FAILED (failures=1)"], plain
    assert [view(o) for o in runs] == plain


def test_an_edited_docstring_example_runs_doctest_again_after_a_restart(tmp_path):
    cells = ["import doctest",
             "%%step\ndef double(x):\n    '''\n    >>> double(2)\n    4\n    '''\n    return 2 * x",
             "%%step\nresults = doctest.testmod()\nprint(results)"]
    edited = [cells[0], cells[1].replace("    4\n", "    5\n"), cells[2]]
    run_cells(tmp_path, cells, write=False)
    again = run_cells(tmp_path, cells, write=False)
    assert all(": cached" in s for s in statuses(again)[1:]), statuses(again)
    plain = [view(o) for o in run_cells(tmp_path, edited, flowyml=False, write=False)]
    runs = run_cells(tmp_path, edited, write=False)
    assert plain[2][-1] == "TestResults(failed=1, attempted=1)", plain[2]
    assert [view(o) for o in runs] == plain
