"""Golden files: each notebook in golden/ exports to exactly the module beside it.

Regenerate the expected modules with ``FLOWYML_UPDATE_GOLDEN=1 pytest tests/export``.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flowyml.export import export_notebook

from .conftest import run, step_states

GOLDEN = Path(__file__).parent / "golden"
NOTEBOOKS = sorted(GOLDEN.glob("*.ipynb"))
RUFF = Path(sys.executable).parent / "ruff"


def test_there_are_golden_notebooks():
    assert {p.stem for p in NOTEBOOKS} >= {"basic", "options", "leftovers"}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_export_matches_golden(notebook, tmp_path):
    copy = shutil.copy(notebook, tmp_path / notebook.name)  # exported next to the notebook
    out = export_notebook(copy, tmp_path / f"{notebook.stem}.py")
    expected = notebook.with_suffix(".py")
    if os.environ.get("FLOWYML_UPDATE_GOLDEN") == "1":
        shutil.copy(out, expected)
    assert out.read_text() == expected.read_text()


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_golden_module_is_clean_python(notebook, tmp_path):
    module = notebook.with_suffix(".py")
    ast.parse(module.read_text())
    # a directory of its own, so ruff sees flowyml as a third-party package, as users do
    shutil.copy(module, tmp_path / module.name)
    proc = subprocess.run([str(RUFF), "check", "--isolated", "--select", "E,F,W,I,B",
                           "--line-length", "100", module.name],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_module_written_elsewhere_shares_the_notebooks_cache(tmp_path):
    notebook = shutil.copy(GOLDEN / "basic.ipynb", tmp_path / "basic.ipynb")
    out = export_notebook(notebook, tmp_path / "dist" / "pipeline.py")
    text = out.read_text()
    assert 'Path(__file__).resolve().parent / "../.flowyml/cache"' in text
    assert 'os.environ.get("FLOWYML_CACHE_DIR")' in text
    env = {k: v for k, v in os.environ.items() if k != "FLOWYML_CACHE_DIR"}
    proc = subprocess.run([sys.executable, str(out)], cwd=tmp_path / "dist", env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / ".flowyml" / "cache").is_dir()  # the notebook's, not dist/.flowyml
    assert not (tmp_path / "dist" / ".flowyml").exists()


def test_golden_basic_runs_as_a_script(tmp_path):
    module = tmp_path / "basic.py"
    shutil.copy(GOLDEN / "basic.py", module)
    first = run([sys.executable, str(module)], cwd=tmp_path, cache=tmp_path / "cache")
    assert first.returncode == 0, first.stderr
    assert step_states(first.stdout) == {"raw": "done", "clean": "done", "report": "done"}
    assert '{"total": ' in first.stdout  # the step's own print reaches stdout
    again = run([sys.executable, str(module)], cwd=tmp_path, cache=tmp_path / "cache")
    assert step_states(again.stdout) == {"raw": "cached", "clean": "cached", "report": "cached"}


def test_golden_options_keep_every_option(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("golden_options", GOLDEN / "options.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    load, flt, stamp = module.load, module.filter_values, module.stamp
    assert (load.retry, load.timeout) == (2, 30.0)
    assert load.tags == {"owner": "data", "team": "ml"}
    assert load.resources == {"cpu": "2", "memory": "1Gi"}
    assert flt.cache == "input_hash" and flt.execution_group == "prep"
    assert flt.tags == {"pipeline": "demo"}
    assert flt.description == "Keep values above the threshold."
    assert stamp.cache is False
    assert stamp.condition(enabled=True, kept=[1, 2]) is True
    assert stamp.condition(enabled=True, kept=[1]) is False
    assert flt.inputs == ["values"] and stamp.inputs == ["kept"]
    assert dict(module.pipeline.context.to_dict()) == {"THRESHOLD": 0.5, "enabled": True}
    assert module.pipeline.run(enabled=False).step_results["stamp"].skipped
