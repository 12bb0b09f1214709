"""Notebook data a cell reaches only through the functions it calls (SPEC §7, §9: an edited,
restarted notebook shows what plain Python shows). ``def total(): return sum(results)`` in
one cell, ``t = total()`` in another: the second depends on ``results`` without naming it.
Its key did not hold ``results``, so after ``results`` was edited it stayed a hit showing
the old sum (with a DataFrame and ``df[c].mean()`` the same); and a cell calling
``add(x)``, which appends to a global list, or ``bump()``, which rebinds a global with
``global``, was a hit after a restart that did neither, so a later cell saw the list empty
and the counter at zero: such data is now a new version the calling cell makes, as an input
it changed in place is. Real kernels through nbclient."""

from __future__ import annotations

from pathlib import Path

import pytest

from .kernel_runs import printed, run_cells, statuses

pytestmark = pytest.mark.slow


def _edited(folder: Path, cells: list[str], edited: list[str]) -> tuple[list[str], list[str], list[str]]:
    """``cells`` run with flowyml; then ``edited`` in plain Python and with flowyml in a
    fresh kernel (the cache warm): what each cell of the two printed, and the statuses."""
    run_cells(folder, cells)
    plain = [printed(o) for o in run_cells(folder, edited, flowyml=False)]
    runs = run_cells(folder, edited)
    return plain, [printed(o) for o in runs], statuses(runs)


def test_a_cell_calling_a_function_that_reads_notebook_data_re_runs_when_the_data_is_edited(tmp_path):
    pytest.importorskip("pandas")
    cells = ["%%step\nimport pandas as pd\ndef total():\n    return sum(results)\n"
             "def col_mean(c):\n    return df[c].mean()",
             "%%step\nresults = [1, 2]\ndf = pd.DataFrame({'a': [1, 2]})",
             "%%step\nt = total()\nm = col_mean('a')\nprint(t, m)"]
    edited = [cells[0], "%%step\nresults = [1, 2, 3]\ndf = pd.DataFrame({'a': [1, 5]})", cells[2]]
    plain, stepped, status = _edited(tmp_path, cells, edited)
    assert plain[2] == "6 3.0\n"
    assert stepped == plain
    assert "cached" in status[0] and "cached" not in status[2], status
    # unchanged, it stays a hit after a restart
    again = run_cells(tmp_path, edited)
    assert all("cached" in s for s in statuses(again)), statuses(again)


def test_a_cell_changing_notebook_data_through_a_function_leaves_it_changed_after_a_restart(tmp_path):
    cells = ["%%step\ndef add(x):\n    results.append(x)\ndef bump():\n    global counter\n"
             "    counter += 1",
             "%%step\nresults = []\ncounter = 0",
             "%%step\nadd(1)\nadd(2)\nbump()\nbump()",
             "%%step\nprint(results, counter)"]
    edited = [*cells[:3], "%%step\nprint(results, counter, len(results))"]
    plain, stepped, status = _edited(tmp_path, cells, edited)
    assert plain[3] == "[1, 2] 2 2\n"
    assert stepped == plain
    # the calling cell made new versions of both (kept with its entry): a hit restores them
    assert all("cached" in s for s in status[:3]), status
    # the data edited above it: it runs again on the new values
    edited = [cells[0], "%%step\nresults = [7]\ncounter = 10", *edited[2:]]
    plain = [printed(o) for o in run_cells(tmp_path, edited, flowyml=False)]
    runs = run_cells(tmp_path, edited)
    assert plain[3] == "[7, 1, 2] 12 3\n" and [printed(o) for o in runs] == plain
    assert "cached" not in statuses(runs)[2], statuses(runs)


def test_a_cell_setting_a_class_attribute_through_a_function_runs_again_after_a_restart(tmp_path):
    """``def set_lr(v): Config.lr = v`` and a cell ``set_lr(0.5)``: a hit after a restart
    left ``Config.lr`` at 0.1 for every later cell. A class is stored by name, so the change
    cannot be kept: the cell runs again every time (as a cell assigning ``Config.lr`` itself
    does), and which run of it ran is part of later keys."""
    cells = ["%%step\nclass Config:\n    lr = 0.1\ndef set_lr(v):\n    Config.lr = v",
             "%%step\nset_lr(0.5)",
             "%%step\nprint(Config.lr)"]
    edited = [*cells[:2], "%%step\nprint(Config.lr, 'edited')"]
    plain, stepped, status = _edited(tmp_path, cells, edited)
    assert plain[2] == "0.5 edited\n" and stepped == plain
    assert "cached" not in status[1] and "Config" in status[1], status


def test_an_animation_cell_whose_function_moves_lines_a_cell_above_drew_is_a_hit_after_a_restart(tmp_path):
    """Hands-On ML 3's gradient descent comparison: ``[p] = ax.plot(...)`` in one cell,
    ``def animate(i): p.set_data(...)`` in the next, ``FuncAnimation(fig, animate, ...)`` in
    a third. The line cannot be hashed by content; its digest was remembered only until the
    next cell ran, so the third cell's key held it after a restart (where the cell before
    was a hit) but not in the first run (where it ran): a miss after every restart, 24 s of
    animation. It is keyed by the version its step recorded, in both."""
    pytest.importorskip("matplotlib")
    cells = ["%%step\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
             "from matplotlib.animation import FuncAnimation\nxs = [0, 1, 2, 3]",
             "%%step\nfig, ax = plt.subplots()\n[p] = ax.plot(xs, xs)",
             "%%step\ndef animate(i):\n    p.set_data(xs[:i], xs[:i])\n    return [p]",
             "%%step\nmatplotlib.rc('animation', html='jshtml')\nFuncAnimation(fig, animate, frames=3)"]
    run_cells(tmp_path, cells)
    runs = run_cells(tmp_path, cells)
    assert all(": cached" in s for s in statuses(runs)), statuses(runs)
    shown = [o for o in runs[3] if o.output_type == "execute_result"]
    assert shown and "Animation" in shown[0].data.get("text/html", ""), runs[3]
