"""Cells that read the whole namespace: ``dir()``, ``globals()``, ``vars()``, ``locals()``
(listing the notebook's variables, as teaching notebooks do). What they list changes with
every name any cell binds, named in them or not, so a hit showed the old list after a cell
above was edited to bind one more name and the notebook restarted. Such a cell runs every
time and says why; ``dir(x)``, ``vars(x)`` and writes through ``globals()[name] = ...``
are not such reads. Real kernels through nbclient, compared with plain Python (SPEC §9)."""

from __future__ import annotations

import pytest

from .kernel_runs import printed, run_cells, statuses

pytestmark = pytest.mark.slow

HIDDEN = "('In', 'Out', 'exit', 'quit', 'get_ipython', 'open')"
CELLS = [
    "%%step\nx = 1",
    f"%%step\nprint(sorted(n for n in dir() if not n.startswith('_') and n not in {HIDDEN}))",
    "%%step\nprint(sorted(k for k, v in globals().items() if isinstance(v, int) and not k.startswith('_')))",
    "%%step\nprint(sorted(k for k in vars() if k in ('x', 'y', 'z')))",
    "%%step\nprint(vars(x.__class__)['__doc__'][:6], dir(x)[:2])",
]


def test_cells_listing_the_namespace_show_a_name_an_edited_cell_adds(tmp_path):
    edited = [CELLS[0] + "\ny = 2", *CELLS[1:]]
    run_cells(tmp_path, CELLS, write=False)
    plain = [printed(o) for o in run_cells(tmp_path, edited, flowyml=False, write=False)]
    runs = run_cells(tmp_path, edited, write=False)
    assert plain[1:4] == ["['x', 'y']\n"] * 3, plain
    assert [printed(o) for o in runs] == plain
    states = statuses(runs)
    for state in states[1:4]:  # (vars()'s strings name y too: its key is a new one)
        assert ": cached" not in state, state
    assert "re-ran: it reads the whole namespace" in states[1], states
    assert ": cached" in states[4], states  # dir(x), vars(x): an object's attributes
