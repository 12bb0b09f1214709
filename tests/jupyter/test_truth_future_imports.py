"""``from __future__ import division, print_function`` opening a Python 2 era notebook (the
first cell of every chapter of Kalman and Bayesian Filters in Python, with ``%matplotlib
inline``). IPython runs it and binds ``division`` and ``print_function`` in the notebook;
flowyml's analysis ran it as ``pass``, so the names looked bound out of its sight and the
cell ran again after every restart ("it changes the namespace"). Real kernels through
nbclient, compared with plain Python (SPEC §9).
"""

from __future__ import annotations

import pytest

from .kernel_runs import everything, three_runs

pytestmark = pytest.mark.slow


def test_a_settled_future_import_cell_is_a_hit_and_binds_its_names_after_a_restart(tmp_path):
    pytest.importorskip("matplotlib")
    cells = [
        "%%step\nfrom __future__ import division, print_function\n%matplotlib inline",
        "%%step\nfrom __future__ import absolute_import\nhalf = 1 / 2",
        "print(type(division).__name__, print_function.compiler_flag > 0, absolute_import.optional, half)",
    ]
    plain, first, again, states = three_runs(tmp_path, cells, everything)
    assert plain[2] == "stdout: _Feature True (2, 5, 0, 'alpha', 1) 0.5\n", plain
    assert first == plain and again == plain
    assert ": cached" in states[0] and ": cached" in states[1], states
