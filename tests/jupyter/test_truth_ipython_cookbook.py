"""What the IPython Cookbook (2nd edition) and DSIRP notebooks revealed (SPEC §9: a restarted
notebook shows what plain Python shows). Real kernels through nbclient.

- Names a called function binds in the notebook's namespace without the cell assigning
  them: sympy's ``var('x y')`` puts ``x`` and ``y`` in its caller's globals through the
  frame (the Cookbook's symbolic chapter starts every notebook with it), and a notebook
  function with ``global CONFIG`` binds ``CONFIG`` when a later cell calls it. A hit cannot
  bind them again: after a restart, the cells reading them failed with a NameError, or read
  what an earlier cell had bound to the same name (a wrong result). Such a cell runs every
  time and says why.
- ``_`` after a hit holds the cell's value for any small value, not only numbers, strings,
  arrays and frames: ``expr1.subs(x, S(1) / 2)`` then ``_.evalf()`` failed after a restart
  (``'ReplayedResult' object has no attribute 'evalf'``: a sympy Rational was not kept).
- A magic line continued with backslashes (``%timeit [abs(x[i] - y[j]) \\`` over two more
  lines) is one line, as IPython runs it: the cell was taken for a Python syntax error and
  ran as an ordinary cell, never cached.
"""

from __future__ import annotations

import pytest

from .kernel_runs import as_plain, everything, three_runs

pytestmark = pytest.mark.slow

BINDER = '''
import inspect


def var(names):
    """Bind each name to its upper-cased text in the caller's globals (as sympy's var)."""
    frame = inspect.currentframe().f_back
    try:
        for name in names.split():
            frame.f_globals[name] = name.upper()
    finally:
        del frame
'''


def test_names_a_called_function_binds_through_the_frame_exist_after_a_restart(tmp_path):
    (tmp_path / "binder.py").write_text(BINDER)
    cells = [
        "%%step\nx = 5\nk = 1",
        "%%step\nfrom binder import var\nvar('x y')",
        "%%step\nprint(x, y)",
        "%%step\ndef setup():\n    global CONFIG\n    CONFIG = {'lr': 3}",
        "%%step\nsetup()",
        "%%step\nprint(CONFIG['lr'])",
    ]
    plain, states = as_plain(tmp_path, cells)
    assert plain[2] == "stdout: X Y\n" and plain[5] == "stdout: 3\n", plain
    assert "re-ran" in states[1] and "x, y out of flowyml's sight" in states[1], states
    assert "re-ran" in states[4] and "CONFIG out of flowyml's sight" in states[4], states
    assert "cached" in states[0] and "cached" in states[3], states


def test_sympys_var_then_solve_as_the_cookbook_does(tmp_path):
    """The IPython Cookbook's ``02_solvers``: ``var('x y z a')``, then cells solving with
    them; after a restart every such cell failed (``name 'x' is not defined``)."""
    pytest.importorskip("sympy")
    cells = [
        "%%step\nfrom sympy import *\nvar('x y z a')",
        "%%step\nsolve(x**2 - a, x)",
        "%%step\nsolve([x + 2*y + 1, x - 3*y - 2], x, y)",
    ]
    plain, states = as_plain(tmp_path, cells)
    assert plain[1] == "out: [-sqrt(a), sqrt(a)]\n", plain
    assert "cached" in states[1] and "cached" in states[2], states


def test_underscore_holds_a_library_values_result_after_a_restart(tmp_path):
    cells = [
        "%%step\nfrom fractions import Fraction\nhalf = Fraction(1, 2)\nhalf + Fraction(7, 4)",
        "%%step\nprint(_.limit_denominator(2), _ * 2)",
        "%%step\nimport collections\nP = collections.namedtuple('P', 'x y')\nP(1, 2)",
        "print(_.x + _.y)",
    ]
    plain, states = as_plain(tmp_path, cells)
    assert plain[1] == "stdout: 2 9/2\n" and plain[3] == "stdout: 3\n", plain
    assert "cached" in states[0] and "cached" in states[2], states


def test_sympys_result_then_evalf_as_the_cookbook_does(tmp_path):
    pytest.importorskip("sympy")
    cells = [
        "%%step\nfrom sympy import symbols, S\nx = symbols('x')\nexpr1 = (x + 1) ** 2",
        "%%step\nexpr1.subs(x, S(1) / 2)",
        "%%step\n_.evalf()",
    ]
    plain, states = as_plain(tmp_path, cells)
    assert plain[2] == "out: 2.25000000000000\n", plain
    assert all("cached" in s for s in states), states


def test_a_magic_line_continued_with_backslashes_is_a_step_like_any_other(tmp_path):
    cells = [
        "%%step\nx = list(range(30))\ny = list(range(30))",
        "%%step\n%timeit -n 2 -r 2 [abs(x[i] - y[j]) \\\n    for i in range(30) \\\n    for j in range(30)]\nk = 1",
        "%%step\n!echo one \\\n  two\nprint(k + 1)",
    ]
    plain, first, again, states = three_runs(tmp_path, cells, everything)
    assert "loop" in plain[1] and "one two" in plain[2] and plain[2].endswith("stdout: 2\n"), plain
    assert "not cached" not in " ".join(states) and "cached" in states[1] and "cached" in states[2], states
    def text(shown: str) -> str:  # a hit replays the two prints as one chunk
        return shown.replace("stdout: ", "")

    assert text(first[2]) == text(plain[2]) and text(again[2]) == text(plain[2]), (first, again)


def test_a_line_magic_the_notebook_registers_is_cached_as_a_call_of_its_function(tmp_path):
    """``@register_line_magic def hello(line)`` then ``%hello french`` (the Cookbook's
    ``04_magic``): the magic is the notebook's own function, so its cell is cached like a
    call of it, and an edit of the function re-runs it (it ran every time, as an
    extension's magic would: "what only IPython can do again")."""
    define = ("%%step\nfrom IPython.core.magic import register_line_magic\n\n"
              "@register_line_magic\ndef hello(line):\n"
              "    print('Salut ' + line if line == 'tout le monde' else 'Hello ' + line)")
    cells = [define, "%%step\n%hello world", "%%step\n%hello tout le monde"]
    plain, states = as_plain(tmp_path, cells)
    assert plain[1:] == ["stdout: Hello world\n", "stdout: Salut tout le monde\n"], plain
    assert all("cached" in s for s in states), states
    edited = [define.replace("'Salut '", "'Bonjour '"), *cells[1:]]
    plain, states = as_plain(tmp_path, edited)
    assert plain[2] == "stdout: Bonjour tout le monde\n", plain


def test_lsmagic_lists_the_magics_registered_now_and_a_magics_help_is_cached(tmp_path):
    """``%lsmagic`` shows the kernel's magics, which a notebook registers as it goes: a hit
    showed the list of the run before an edit renamed one (``%hello`` for ``%hi``). It runs
    every time, as ``%whos`` does; ``%run?`` (the help of ``%run``) is IPython's own magic,
    cached, and its status line no longer calls it an extension's."""
    define = ("%%step\nfrom IPython.core.magic import register_line_magic\n\n"
              "@register_line_magic\ndef hello(line):\n    print(line)")
    cells = [define, "%%step\n%lsmagic", "%%step\n%run?"]
    three_runs(tmp_path, cells, everything)
    edited = [define.replace("def hello", "def hi"), *cells[1:]]
    plain, first, again, states = three_runs(tmp_path, edited, everything)
    assert "%hi " in plain[1] and "%hello" not in plain[1], plain
    assert "%hi " in first[1] and "%hello" not in first[1], first
    assert "%hi " in again[1] and "%hello" not in again[1], again
    assert "re-ran" in states[1] and "`%lsmagic`" in states[1], states
    assert "cached" in states[2], states


def test_a_library_warning_shows_once_as_in_plain_python(tmp_path):
    """Python shows a warning once per place under the default filters (the Cookbook's
    networkx ``UserWarning: No data for colormapping`` from two cells drawing graphs). flowyml
    stored each step inside ``warnings.catch_warnings()``, whose exit resets every module's
    record of warnings shown: the second cell showed the warning again."""
    (tmp_path / "lib.py").write_text(
        "import warnings\n\n\ndef f(x):\n    warnings.warn('careful', UserWarning)\n    return x\n")
    cells = ["%%step\nimport lib\na = lib.f(1)", "%%step\nb = lib.f(2)", "%%step\nprint(a + b)"]
    plain, states = as_plain(tmp_path, cells)
    assert "careful" in plain[0] and "careful" not in plain[1], plain
    assert all("cached" in s for s in states), states
