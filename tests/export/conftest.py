"""Helpers for the export tests: notebooks from cell sources, subprocesses with a tmp cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def make_notebook(path: Path, *sources: str) -> Path:
    """Write a notebook whose code cells hold ``sources``."""
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def run(args: list[str], cwd: Path, cache: Path | None, timeout: float = 120
        ) -> subprocess.CompletedProcess[str]:
    """Run a command the way a user would, with ``FLOWYML_CACHE_DIR`` at ``cache``."""
    env = {k: v for k, v in os.environ.items() if k != "FLOWYML_CACHE_DIR"}
    if cache is not None:
        env["FLOWYML_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def flowyml_cmd() -> list[str]:
    """The installed console script."""
    script = BIN / "flowyml"
    assert script.exists(), "the flowyml console script is not installed in this environment"
    return [str(script)]


def step_states(summary: str) -> dict[str, str]:
    """``{step: state}`` from ``PipelineResult.summary()`` lines (``  state  name  1.0s``)."""
    states = {}
    for line in summary.splitlines():
        parts = line.split()
        if line.startswith("  ") and len(parts) >= 3 and parts[2].endswith("s"):
            states[parts[1]] = parts[0]
    return states
