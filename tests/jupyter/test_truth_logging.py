"""SPEC §7 and §9, found by the widened corpus (learn-python3's standard library notebook,
benchmarks/corpus/SOURCES.md): ``logging.basicConfig(format=..., level=...)`` and
``log.setLevel(...)`` in a step cell are process state, like ``np.random.seed``: after a
restart the cached cell must leave logging configured as plain Python would, or every cell
after it logs otherwise (a plain cell showed ``WARNING:root:four`` where plain Python shows
``WARNING|four``, and dropped the debug line). And a cell logging through a handler an
earlier step made must show its lines again on a hit: the handler holds the stream that was
``sys.stderr`` while that step ran (flowyml's recording tee), so those lines were shown but
not recorded.

Real kernels through nbclient, as the notebook runs them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .kernel_runs import printed, run_cells, statuses, three_runs


def _run(folder: Path, cells: list[str], flowyml: bool = True) -> tuple[list[str], list[str]]:
    """Each cell's stderr and stdout text, and its status line, from a fresh kernel."""
    runs = run_cells(folder, cells, flowyml)
    return [printed(o, errors=True) for o in runs], statuses(runs)


def _three(folder: Path, cells: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """Plain, flowyml, flowyml in a fresh kernel (as :func:`_run` sees them), and the
    status lines of the last."""
    return three_runs(folder, cells, lambda o: printed(o, errors=True), allow_errors=True)


@pytest.mark.slow
def test_logging_configured_by_a_cached_cell_is_configured_after_a_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%step\nimport logging\n"
             "logging.basicConfig(format='%(levelname)s|%(message)s', level=logging.INFO)\n"
             "log = logging.getLogger('demo')\nlog.setLevel(logging.DEBUG)\n"
             "quiet = logging.getLogger('demo.quiet')\nquiet.setLevel(logging.ERROR)",
             "%%step\nlog.debug('one')\nlogging.info('two')\nquiet.warning('not shown')",
             "log.debug('three')\nlogging.warning('four')\nquiet.error('five')"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == ["", "DEBUG|one\nINFO|two\n", "DEBUG|three\nWARNING|four\nERROR|five\n"]
    assert first == plain
    assert second == plain
    assert all(": cached" in s for s in states[:2]), states


@pytest.mark.slow
def test_a_handler_made_by_a_step_logging_to_a_file_is_made_again_after_a_restart(
        tmp_path, monkeypatch):
    """``basicConfig(filename=...)``: the file handler is made again by the hit (appending,
    as the cell's ``filemode`` says), so a later cell's lines reach the file."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%step\nimport logging\nlogging.basicConfig(filename='app.log', filemode='a', "
             "format='%(name)s:%(message)s', level=logging.INFO)",
             "logging.getLogger('x').info('hello')\nlogging.shutdown()\n"
             "print(open('app.log').read().splitlines()[-1])"]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    (tmp_path / "app.log").unlink()
    _run(tmp_path, cells)
    (tmp_path / "app.log").unlink()
    second, states = _run(tmp_path, cells)
    assert plain == second == ["", "x:hello\n"]
    assert ": cached" in states[0], states
