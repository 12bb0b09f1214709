"""IPython syntax in step cells, as the IPython kernel's own teaching notebooks use it
(ipython/ipython-in-depth, "IPython Kernel": ``%%capture out``, ``%env``, ``!cmd``, cell magics
such as ``%%writefile`` and ``%%bash``), found by the corpus (benchmarks/corpus/SOURCES.md).

A real IPython shell (tests/jupyter/conftest.py) for what one kernel shows, real kernels
through nbclient for what must survive a restart.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import pytest

from tests.jupyter.conftest import step_cell
from tests.jupyter.kernel_runs import is_status, printed, run_cells, status, three_runs


def _stepped(cells: list[str]) -> list[str]:
    """The cells with a bare ``%%step`` on each."""
    return [f"%%step\n{c}" for c in cells]


def _printed(outputs: list[Any]) -> str:
    return printed(outputs, errors=True)


def test_an_edited_magic_line_is_a_new_body_not_a_hit_on_the_old_line(ip, session, here,
                                                                       monkeypatch):
    """``x = 1`` / ``%env FLOWYML_T_ENV=1`` edited to ``...=2``: the magic line was a comment
    in the step's code (not in the fingerprint), so the edit was a hit that replayed
    "env: ...=1" and left the variable at 1. Plain IPython sets it to 2."""
    monkeypatch.delenv("FLOWYML_T_ENV", raising=False)
    step_cell(ip, "", "x = 1\n%env FLOWYML_T_ENV=1")
    assert os.environ["FLOWYML_T_ENV"] == "1"
    step_cell(ip, "", "x = 1\n%env FLOWYML_T_ENV=2")
    assert os.environ["FLOWYML_T_ENV"] == "2"
    assert all(rec.state == "done" for rec in session.steps.values())
    monkeypatch.delenv("FLOWYML_T_ENV", raising=False)


@pytest.mark.slow
def test_capture_into_a_name_binds_it_and_it_survives_a_restart(tmp_path, monkeypatch):
    """``%%capture`` then ``%%capture captured`` over the same prints (Capturing Output.ipynb):
    the two were one step (the magic line was not in the fingerprint), so the second was a
    hit and never bound ``captured``; and ``captured`` was no output of the step, so after a
    restart the cells reading it failed. It is an output now, stored with the step."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["import sys\n", "%%capture\nprint('hi, stdout')\nprint('hi, stderr', file=sys.stderr)",
             "%%capture captured\nprint('hi, stdout')\nprint('hi, stderr', file=sys.stderr)",
             "print(repr(captured.stdout), repr(captured.stderr))"]
    plain, first, second, states = three_runs(tmp_path, _stepped(cells), _printed)
    assert plain[3] == "'hi, stdout\\n' 'hi, stderr\\n'\n"
    assert plain == first == second
    assert all(": cached" in s for s in states[1:]), states


@pytest.mark.slow
def test_cell_magics_and_shell_assignments_run_as_ordinary_cells(tmp_path, monkeypatch):
    """``%%writefile mod.py`` then ``import mod`` (Beyond Plain Python.ipynb, Cell
    Magics.ipynb), ``files = !ls``: under a bare ``%%step`` these were refused with a
    UsageError, so the module was never written and every cell using it failed. They run as
    IPython runs them now (not cached, said in their status line), before and after a
    restart, and the cells after them are steps as usual."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%writefile mod4b.py\ndef f(x):\n    return 2 * x",
             "import mod4b\nprint(mod4b.f(3))",
             "files = !ls\nprint(sorted(f for f in files if f.endswith('.py')))",
             "n_py = sum(f.endswith('.py') for f in files)\nprint(n_py)"]
    plain = [_printed(o) for o in run_cells(tmp_path, cells, flowyml=False, write=False)]
    first_run = run_cells(tmp_path, _stepped(cells), write=False)
    second_run = run_cells(tmp_path, _stepped(cells), write=False)
    first, second = [_printed(o) for o in first_run], [_printed(o) for o in second_run]
    assert plain[1:] == first[1:] == second[1:] == ["6\n", "['mod4b.py']\n", "1\n"]
    assert first[0] == second[0] == "Overwriting mod4b.py\n"  # plain wrote it first
    for run in (first_run, second_run):
        assert "'%%writefile': not cached, ran as an ordinary cell" in status(run[0])
        assert "'!ls': not cached" in status(run[2])
    assert ": cached" in status(second_run[3]), status(second_run[3])


def _shown(outputs: list[Any]) -> list[str]:
    """The text of what a cell displays (as the front end holds it after all updates),
    without flowyml's status line."""
    return [o.data.get("text/plain", "") for o in outputs
            if o.output_type in ("display_data", "execute_result") and not is_status(o)]


@pytest.mark.slow
def test_updates_of_a_display_by_id_are_replayed_after_a_restart(tmp_path, monkeypatch):
    """``display(x, display_id=...)`` then ``handle.update(...)`` / ``update_display(...)``
    in later cells (Updating Displays.ipynb, a progress bar): the front end shows the last
    update where the display was. A hit replayed the display without its id and not the
    update, so after a restart the first cell showed 'x' again, and the bar 0/10."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["from IPython.display import display, update_display\nimport time",
             "handle = display('x', display_id='upd4b')",
             "handle.display('y')",
             "handle.update('z')",
             "shown = display('a', display_id=True)\nfor i in range(3):\n    shown.update(i)",
             "display('p', display_id='here4b');",
             "update_display('q', display_id='here4b')"]
    plain, first, second, states = three_runs(tmp_path, _stepped(cells), _shown)
    assert plain[1:] == [["'z'"], ["'z'"], [], ["2"], ["'q'"], []]
    assert plain == first == second
    assert all(": cached" in s for s in states), states


@pytest.mark.slow
def test_the_last_value_underscore_is_the_value_after_a_hit(tmp_path, monkeypatch):
    """``2+10`` then ``_+10`` (Beyond Plain Python.ipynb): a hit returned a proxy showing
    "12" as the cell's value, so IPython set ``_`` to the proxy and ``_+10`` failed after a
    restart (TypeError). A small builtin value is returned as itself now."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["2+10", "_+10", "10+20;", "_", "print(type(_).__name__, __)",
             "('a', [1.5, None], {2: b'x'})", "_[1]"]
    plain, first, second, states = three_runs(tmp_path, _stepped(cells),
                                              lambda o: [*_shown(o), _printed(o)])
    assert plain == [["12", ""], ["22", ""], [""], ["22", ""], ["int 22\n"],
                     ["('a', [1.5, None], {2: b'x'})", ""], ["[1.5, None]", ""]]
    assert plain == first == second
    assert all(": cached" in s for s in states), states


def test_a_timeit_cell_binds_nothing_and_its_setup_names_are_no_inputs(ip, session, here, capsys):
    """``%%timeit a = np.random.rand(100, 100)`` / ``np.linalg.eigvals(a)`` (Cell
    Magics.ipynb): IPython runs the setup and the body in a namespace of their own. The
    setup's ``a`` was taken for an input nothing defines (the cell ran as an ordinary cell,
    with a note plain IPython does not print), and ``%%timeit`` over ``x = 5`` made ``x`` an
    output the cell never binds in the notebook (the step failed). Both are steps now."""
    ip.run_cell("import numpy as np")
    capsys.readouterr()
    first = step_cell(ip, "", "%%timeit -n1 -r1 a = np.ones(3)\nnp.sort(a)")
    second = step_cell(ip, "", "%%timeit -n1 -r1\nx = 5")
    out = capsys.readouterr().out
    assert first.success and second.success, (first.error_in_exec, second.error_in_exec)
    assert out.count("per loop") == 2 and "ordinary cell" not in out
    assert "x" not in ip.user_ns and "a" not in ip.user_ns
    assert [rec.state for rec in session.steps.values()] == ["done", "done"]


def test_names_a_shell_line_expands_are_inputs(ip, session, here, capfd):
    """``files = !ls`` then ``!echo $files`` (Beyond Plain Python.ipynb): IPython puts the
    value of ``files`` into the command. The line was a comment to flowyml, so after
    ``files`` changed the step was a hit that showed the old list (the edit test found it:
    the cache lied). ``$name`` and ``{expr}`` are reads now; a name the notebook does not
    define (``$HOME``) is the shell's, no input."""
    ip.run_cell("files = ['a.csv']")
    step_cell(ip, "", "!echo listed $files {len(files)}")
    first = capfd.readouterr().out
    ip.run_cell("files = ['a.csv', 'b.csv']")
    step_cell(ip, "", "!echo listed $files {len(files)}")
    second = capfd.readouterr().out
    assert "listed [a.csv] 1" in first
    assert "listed [a.csv, b.csv] 2" in second, second
    step_cell(ip, "", "!echo home $HOME")
    assert f"home {os.environ['HOME']}" in capfd.readouterr().out
    assert [rec.state for rec in session.steps.values()] == ["done", "done"]


def test_debug_after_a_failed_step_opens_the_frame_that_raised(ip, session, here):
    """``mod.g(0)`` raising, then ``%debug`` (Beyond Plain Python.ipynb): the last error
    IPython kept was flowyml's one-line report, so the debugger opened flowyml's own frame
    (``cellrun.py``, ``report``). It is the body's error now, as after a plain cell."""
    ip.run_cell("def f(x):\n    return 1.0 / (x - 1)")
    failed = step_cell(ip, "", "y = f(1)")
    assert not failed.success
    assert isinstance(sys.last_value, ZeroDivisionError)
    tb = sys.last_traceback
    while tb.tb_next is not None:
        tb = tb.tb_next
    assert tb.tb_frame.f_code.co_name == "f"
