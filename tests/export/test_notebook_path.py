"""Finding the running notebook's path for ``%flowyml export`` without ``--notebook``."""

from __future__ import annotations

from types import SimpleNamespace

import nbformat

from flowyml_jupyter.notebook_path import current_notebook_path


def _notebook(path):
    nbformat.write(nbformat.v4.new_notebook(), path)
    return path


def test_jpy_session_name_absolute_and_relative(tmp_path, monkeypatch):
    nb = _notebook(tmp_path / "analysis.ipynb")
    shell = SimpleNamespace(user_ns={})
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    assert current_notebook_path(shell) == nb.resolve()
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)  # the kernel runs in a folder below the server root
    monkeypatch.setenv("JPY_SESSION_NAME", "analysis.ipynb")
    assert current_notebook_path(shell) == nb.resolve()


def test_vscode_variable_and_unknown(tmp_path, monkeypatch):
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    nb = _notebook(tmp_path / "code.ipynb")
    assert current_notebook_path(SimpleNamespace(user_ns={"__vsc_ipynb_file__": str(nb)})) == nb.resolve()
    monkeypatch.setenv("JPY_SESSION_NAME", str(tmp_path / "missing.ipynb"))
    assert current_notebook_path(SimpleNamespace(user_ns={})) is None
