"""Values holding a process-wide random generator: every ``scipy.stats`` distribution keeps
numpy's global ``RandomState`` as its ``random_state`` (scikit-learn's statistics example
compares models with ``from scipy.stats import t`` and ``t(df, loc=..., scale=...)``). Its
state is the process's: another in every kernel and moved by every draw, so the digest of
``t`` changed after each restart and every cell reading it ran again. Real kernels through
nbclient, compared with plain Python (SPEC §9).
"""

from __future__ import annotations

import pytest

from .kernel_runs import everything, printed, run_cells, status, three_runs

pytestmark = pytest.mark.slow


def test_cells_reading_a_scipy_distribution_are_hits_after_a_restart(tmp_path):
    pytest.importorskip("scipy")
    cells = [
        "%%step\nimport numpy as np\nfrom scipy.stats import t\ndiffs = np.array([0.02, 0.01, 0.03, 0.0])\n"
        "dof = len(diffs) - 1",
        "%%step\np_val = t.sf(np.mean(diffs) / np.std(diffs, ddof=1), dof)\nprint(f'{p_val:.4f}')",
        "%%step\npost = t(dof, loc=np.mean(diffs), scale=np.std(diffs, ddof=1))",
        "%%step\nprint(f'{post.cdf(0):.4f}', [round(x, 4) for x in post.interval(0.5)])",
        "%%step\nnoise = np.random.rand(2)\nbetter = 1 - post.cdf(0)\nprint(f'{better:.4f}')",
    ]
    plain, first, again, states = three_runs(tmp_path, cells, everything)
    assert plain[1] == "stdout: 0.1647\n" and plain[4] == "stdout: 0.8353\n", plain
    assert first == plain and again == plain
    assert all(": cached" in s for s in states), states


def test_a_cached_distribution_draws_from_the_process_generator_after_an_edit(tmp_path):
    """``dist = norm(0, 1)`` stored, then the cell drawing from it edited and run after a
    restart: the loaded ``dist`` draws from numpy's global generator, as the one plain
    Python made does, so the cell after it sees ``np.random`` where plain Python leaves it
    (it printed other numbers: the loaded ``dist`` held a frozen copy of the generator)."""
    pytest.importorskip("scipy")
    setup = "%%step\nimport numpy as np\nfrom scipy.stats import norm\nnp.random.seed(0)\ndist = norm(0, 1)"
    after = "%%step\ny = np.random.rand()\nprint(round(y, 4))"
    cells = [setup, "%%step\nx = dist.rvs(size=2)\nprint(x.round(4))", after]
    edited = [setup, "%%step\nx = dist.rvs(size=2)\nprint(x.round(4), 'edited')", after]

    def view(runs):
        return [printed(o, results=True, errors=True) for o in runs]

    run_cells(tmp_path, cells)
    plain = view(run_cells(tmp_path, edited, flowyml=False))
    runs = run_cells(tmp_path, edited)
    assert plain == ["", "[1.7641 0.4002] edited\n", "0.6028\n"], plain
    assert view(runs) == plain
    assert ": cached" in status(runs[0]) and "in place" not in status(runs[1]), status(runs[1])
