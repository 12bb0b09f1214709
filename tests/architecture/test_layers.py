"""The house keeps its shape: import-linter's contracts (pyproject.toml) hold on the code, a
new upward import or cycle breaks them, and docs/architecture.md matches the code."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
        "sys.exit(lint_imports_command())", "--no-cache"]


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(LINT, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_contracts_hold_on_the_code():
    out = lint(ROOT)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Contracts: 2 kept, 0 broken." in out.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for package in ("flowyml", "flowyml_jupyter"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _add_line(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n\ndef _added():\n    {line}\n")


def test_an_upward_import_breaks_the_layers(copy: Path):
    # even inside a function: the store reaching up into the notebook
    _add_line(copy / "flowyml" / "store" / "local.py", "from flowyml.notebook import session  # noqa")
    out = lint(copy)
    assert out.returncode != 0
    assert "flowyml.store is not allowed to import flowyml.notebook" in out.stdout
    assert "flowyml.store.local -> flowyml.notebook.session" in out.stdout


def test_a_cycle_between_siblings_breaks_the_house(copy: Path):
    # remote imports local_copy; local_copy importing remote back closes a loop
    _add_line(copy / "flowyml" / "store" / "local_copy.py", "from flowyml.store import remote  # noqa")
    out = lint(copy)
    assert out.returncode != 0
    assert "No cycles are allowed in flowyml.store" in out.stdout


def test_the_architecture_doc_is_drawn_from_this_code():
    out = subprocess.run([sys.executable, str(ROOT / "docs" / "make_architecture.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
