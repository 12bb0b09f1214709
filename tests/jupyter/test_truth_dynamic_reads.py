"""SPEC §9: an edited, restarted notebook shows what plain Python shows, also where a cell
reads a notebook value its code does not name. Found by probing (issue 19): each of these
stayed a cache hit showing the old value after ``thr`` was edited.

- a default argument evaluated when the ``def`` ran (``def f(x, k=thr)``, ``lambda x,
  k=thr: ...``): part of the function, not of its code, so ``f(3)`` was keyed as before;
- the namespace read as a dict (``globals()['thr']``, ``'{thr}'.format(**globals())``,
  ``'%(thr)s' % vars()``): the names come from strings, as an evaluated string's do.

Real kernels through nbclient."""

from __future__ import annotations

import pytest

from .kernel_runs import printed, run_cells, statuses

pytestmark = pytest.mark.slow


def test_cells_reading_a_value_through_a_default_or_the_namespace_dict_re_run_when_it_is_edited(tmp_path):
    cells = ["%%step\nthr = 1",
             "%%step\ndef f(x, k=thr):\n    return x * k\ng = lambda x, *, k=thr: x + k",
             "%%step\nprint(f(3), g(3))",
             "%%step\nprint(globals()['thr'], '{thr}!'.format(**globals()), '%(thr)s' % vars())",
             "%%step\ndef h(x, k=2):\n    return x * k",
             "%%step\nprint(h(3))"]
    edited = ["%%step\nthr = 5", *cells[1:]]
    run_cells(tmp_path, cells)
    plain = [printed(o) for o in run_cells(tmp_path, edited, flowyml=False)]
    runs = run_cells(tmp_path, edited)
    assert plain[2:4] == ["15 8\n", "5 5! 5\n"]
    assert [printed(o) for o in runs] == plain
    states = statuses(runs)
    assert all(": cached" not in s for s in states[:4]), states
    assert all(": cached" in s for s in states[4:]), states  # a literal default: as before
