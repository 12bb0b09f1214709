"""Helpers for the reliability suite: subprocess runs of the fixture pipeline, entry listing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowyml.store.local import CacheStore

HERE = Path(__file__).parent
SCRIPT = HERE / "fixture_pipeline.py"
REPO = HERE.parent.parent


def script_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWYML_TEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def start_pipeline(cache_dir: Path, n_floats: int, **env: str) -> subprocess.Popen:
    """Start ``fixture_pipeline.py`` in its own process (stdout/stderr captured)."""
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(cache_dir), str(n_floats)],
        env=script_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def finish(proc: subprocess.Popen, timeout: float = 120) -> dict:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"pipeline process failed ({proc.returncode}):\n{err}"
    return json.loads(out.strip().splitlines()[-1])


def run_pipeline(cache_dir: Path, n_floats: int, **env: str) -> dict:
    return finish(start_pipeline(cache_dir, n_floats, **env))


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Wait until ``path`` exists (the process froze at its hook) or fail with its stderr."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before its hook:\n"
                                 f"{proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"process never reached its hook ({path})")
        time.sleep(0.01)


def step_dir(cache_dir: Path, step_name: str) -> Path:
    return CacheStore(cache_dir).entries_dir / step_name


def entries(cache_dir: Path, step_name: str) -> list[Path]:
    """Complete entry directories of a step (temporary ones start with a dot)."""
    d = step_dir(cache_dir, step_name)
    return sorted(p for p in d.iterdir() if not p.name.startswith(".")) if d.exists() else []


def leftovers(cache_dir: Path, step_name: str) -> list[Path]:
    """Temporary directories of interrupted or losing writers."""
    d = step_dir(cache_dir, step_name)
    return sorted(p for p in d.iterdir() if p.name.startswith(".")) if d.exists() else []


@pytest.fixture
def cache_warnings():
    """Record every warning (no de-duplication), for counting reports."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught
