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

import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook


def _run(folder: Path, cells: list[str], flowyml: bool = True) -> tuple[list[str], list[str]]:
    """Each cell's stderr and stdout text, and its status line, from a fresh kernel."""
    if not flowyml:
        cells = [c.split("\n", 1)[1] if c.startswith("%%step") else c for c in cells]
    nb = new_notebook(cells=[new_code_cell(s) for s in
                             ["%load_ext flowyml" if flowyml else "pass", *cells]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / f"nb-{uuid.uuid4().hex[:6]}.ipynb")
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    shown, states = [], []
    for cell in nb.cells[1:]:
        shown.append("".join(o.text for o in cell.outputs if o.output_type == "stream")
                     + "".join(f"ERROR {o.ename}" for o in cell.outputs if o.output_type == "error"))
        status = [o.data["text/plain"] for o in cell.outputs
                  if o.output_type in ("display_data", "execute_result")
                  and o.data.get("text/plain", "").startswith("step '")]
        states.append(status[0] if status else "")
    return shown, states


@pytest.mark.slow
def test_logging_configured_by_a_cached_cell_is_configured_after_a_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%step\nimport logging\n"
             "logging.basicConfig(format='%(levelname)s|%(message)s', level=logging.INFO)\n"
             "log = logging.getLogger('demo')\nlog.setLevel(logging.DEBUG)\n"
             "quiet = logging.getLogger('demo.quiet')\nquiet.setLevel(logging.ERROR)",
             "%%step\nlog.debug('one')\nlogging.info('two')\nquiet.warning('not shown')",
             "log.debug('three')\nlogging.warning('four')\nquiet.error('five')"]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    first, _ = _run(tmp_path, cells)
    second, states = _run(tmp_path, cells)
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
