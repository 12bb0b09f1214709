"""A real IPython shell with the flowyml extension loaded, clean for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from IPython.core.getipython import get_ipython
from IPython.testing.globalipapp import start_ipython

import flowyml_jupyter


def _fresh(ip):
    flowyml_jupyter.unload_ipython_extension(ip)
    ip.reset(new_session=True)
    flowyml_jupyter.load_ipython_extension(ip)
    return ip


@pytest.fixture
def ip():
    """The shell; ``ip.restart()`` simulates a kernel restart (new namespace, same cache)."""
    start_ipython()
    shell = get_ipython()
    _fresh(shell)
    shell.restart = lambda: _fresh(shell)
    yield shell
    flowyml_jupyter.unload_ipython_extension(shell)
    shell.reset(new_session=True)


@pytest.fixture
def session(ip):
    """The extension's :class:`flowyml.notebook.session.NotebookSession` for ``ip``."""
    return flowyml_jupyter._LOADED[id(ip)].session


def step_cell(ip, line, body, cell_id=None):
    """Run a ``%%step`` cell the way the notebook does (through ``run_cell``); ``cell_id`` is
    the id a front end such as JupyterLab sends with each cell (nbclient sends none)."""
    return ip.run_cell(f"%%step {line}\n{body}", cell_id=cell_id)


@pytest.fixture
def here(tmp_path, monkeypatch):
    """The notebook's folder (its working directory) with a data.csv; the cache in it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / ".flowyml" / "cache"))
    monkeypatch.delenv("FLOWYML_TRACK_FILES", raising=False)
    (tmp_path / "data.csv").write_text("a\n1\n2\n")
    return tmp_path


def edit_file(path: Path, text: str) -> None:
    """Write ``text`` so that the modification time surely moves (coarse clocks)."""
    path.write_text(text)
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def before_and_after_a_restart(ip, capsys, cells: list[str]) -> list[tuple[list, list[str], dict[str, str]]]:
    """Run ``cells`` as bare ``%%step`` cells, restart the kernel (``ip.restart()``: a new
    namespace, the same cache), run them again. Per round: the errors, the printed lines
    (status lines left out) and each step's state."""
    import flowyml_jupyter

    rounds = []
    for again in (False, True):
        results = [step_cell(ip, "", body) for body in cells]
        errors = [r.error_in_exec for r in results if not r.success]
        out = [line for line in capsys.readouterr().out.splitlines() if not line.startswith("step '")]
        session = flowyml_jupyter._LOADED[id(ip)].session
        rounds.append((errors, out, {name: rec.state for name, rec in session.steps.items()}))
        if not again:
            ip.restart()
    return rounds
