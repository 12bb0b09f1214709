"""A step cell whose body raises shows what a plain cell shows (SPEC §6: "tracebacks look
exactly as in a normal cell"): one error, the body's own, with IPython's traceback of the
cell, and nothing of flowyml's after it. It used to show that traceback and then a second
error, ``StepRunError: step 'x' failed: ...``, which no plain run has; tutorials demonstrate
exceptions (``1/0``, ``{}['k']``) in cells of their own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from .kernel_runs import run_cells, status

_COUNT = re.compile(r"In\[\d+\]")  # the execution count: flowyml's notebook has one more cell


def _shown(outputs: list[Any]) -> list[tuple[Any, ...]]:
    """Streams and errors (ename, evalue, traceback lines), the status line left out."""
    out: list[tuple[Any, ...]] = []
    for o in outputs:
        if o.output_type == "stream":
            out.append((o.name, o.text))
        elif o.output_type == "error":
            out.append(("error", o.ename, o.evalue, [_COUNT.sub("In[]", line) for line in o.traceback]))
    return out


def test_a_failing_step_cell_shows_the_error_of_a_plain_cell_and_nothing_more(tmp_path: Path):
    cells = [
        "%%step\ndef f(v):\n    return {}[v]\nx = 1\nprint('before')\ny = f('k')",
        "%%step\nimport sys\nz = 2\nprint(type(sys.last_value).__name__, sys.last_value)",
        "%%step\nq = 1 / 0",
    ]
    plain = run_cells(tmp_path, cells, flowyml=False)
    stepped = run_cells(tmp_path, cells, flowyml=True)
    for p, s in zip(plain, stepped, strict=True):
        assert _shown(s) == _shown(p)
    assert [o.ename for o in stepped[0] if o.output_type == "error"] == ["KeyError"]
    frames = [line for line in _shown(stepped[0])[1][3] if "Cell" in line]
    assert len(frames) == 2 and not any("flowyml" in line for line in _shown(stepped[0])[1][3])
    assert "failed" in status(stepped[0]) and "KeyError" in status(stepped[0])
    # `%debug` / `sys.last_value` after it: the body's error, as after a plain cell
    assert _shown(stepped[1]) == [("stdout", "KeyError 'k'\n")]


def test_a_stop_iteration_and_a_usage_error_are_shown_once_as_plain(tmp_path: Path):
    """Found by the edit test on 155 notebooks: ``print(next(g))`` on a spent generator
    showed its StopIteration and then a RuntimeError (PEP 479 makes one of a StopIteration
    raised out of the async magic), and a misspelt magic in a step cell (``% matplotlib
    inline``, ThinkBayes2's first cells; ``store["obj1"]`` read as ``%store``) printed its
    UsageError twice."""
    cells = ["%%step\ng = iter([])", "%%step\nprint(next(g))",
             "%%step\nx = 1\n% matplotlib inline\n", "%%step\nimport sys\nprint(type(sys.last_value).__name__)"]
    plain = run_cells(tmp_path, cells, flowyml=False)
    stepped = run_cells(tmp_path, cells, flowyml=True)
    for p, s in zip(plain, stepped, strict=True):
        assert _shown(s) == _shown(p)
    assert [o.ename for o in stepped[1] if o.output_type == "error"] == ["StopIteration"]
    assert [o.text for o in stepped[2] if o.output_type == "stream"] == [
        "UsageError: Line magic function `%` not found.\n"]


def test_a_step_cell_failing_after_it_drew_shows_the_error_then_the_figure_as_plain(tmp_path: Path):
    """The inline backend shows a cell's figures after its error (at the end of the cell):
    the error is shown where the body raised it, not after the step ended."""
    pytest.importorskip("matplotlib")
    cells = ["%%step\nimport matplotlib.pyplot as plt\nplt.plot([1, 2])\nv = undefined_name"]
    (plain,) = run_cells(tmp_path, cells, flowyml=False)
    (stepped,) = run_cells(tmp_path, cells, flowyml=True)

    def kinds(outputs: list[Any]) -> list[str]:
        return [o.output_type if o.output_type == "error" else next(iter(sorted(o.get("data", {}))), "")
                for o in outputs if o.output_type in ("error", "display_data")
                and not o.get("data", {}).get("text/plain", "").startswith("step '")]

    assert kinds(plain) == ["error", "image/png"], kinds(plain)
    assert kinds(stepped) == kinds(plain)


def test_a_retried_step_cell_shows_each_attempts_error_the_last_as_the_cells(tmp_path: Path):
    cells = ["%%step --retries 1\nw = 1\nprint('try')\nraise ValueError('bad')"]
    (outputs,) = run_cells(tmp_path, cells, flowyml=True)
    shown = _shown(outputs)
    assert [item[:3] for item in shown] == [("stdout", "try\n"), ("error", "ValueError", "bad"),
                                            ("stdout", "try\n"), ("error", "ValueError", "bad")]
    assert "failed" in status(outputs)


def test_in_ipython_the_failing_cells_error_is_the_bodys(ip, capsys):
    result = ip.run_cell("%%step\nd = {}\nv = d['missing']")
    assert not result.success and isinstance(result.error_in_exec, KeyError)
    printed = capsys.readouterr().out
    assert printed.count("Traceback (most recent call last)") == 1
    assert "StepRunError" not in printed and "KeyError" in printed
