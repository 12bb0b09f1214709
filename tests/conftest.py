"""Shared fixtures: every test gets its own cache dir and a clean step registry."""

from __future__ import annotations

import linecache

import pytest

import flowyml


@pytest.fixture(autouse=True, scope="session")
def _patient_kernels():
    """Kernels get five minutes to start, not nbclient's one: on a loaded machine (CI beside
    other jobs on two cores) a kernel once took longer, and the test failed for it."""
    try:
        from nbclient import NotebookClient
    except ImportError:
        yield
        return
    init = NotebookClient.__init__

    def patient(self, *args, **kwargs):
        kwargs.setdefault("startup_timeout", 300)
        init(self, *args, **kwargs)

    NotebookClient.__init__ = patient
    yield
    NotebookClient.__init__ = init


@pytest.fixture(autouse=True)
def _isolate(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    # this machine's signing key (made for a bucket cache) lives in the test's own folder
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("FLOWYML_CACHE_SIGNING_KEY", "FLOWYML_CACHE_TRUSTED_SIGNERS",
                 "FLOWYML_CACHE_VERIFY"):
        monkeypatch.delenv(name, raising=False)
    flowyml.clear_step_registry()
    yield
    flowyml.clear_step_registry()


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


_cell_counter = iter(range(10**9))


def run_cell(namespace: dict, source: str) -> None:
    """Execute ``source`` the way a notebook cell is: its own pseudo-file, in ``namespace``."""
    filename = f"<ipython-input-{next(_cell_counter)}-test>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    exec(compile(source, filename, "exec"), namespace)


@pytest.fixture
def notebook_ns():
    """A fresh 'notebook' namespace whose functions look notebook-defined."""
    return {"__name__": "__main__"}
