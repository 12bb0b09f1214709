"""The benchmark suite still runs: ``python -m benchmarks --quick`` completes and prints its
table. Nothing here looks at a timing -- the figures are for people, not for asserts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("overhead", "hashing", "large output", "import", "dag", "notebook", "executors",
              "remote")


@pytest.mark.slow
def test_quick_suite_runs_and_prints_the_table(tmp_path: Path) -> None:
    env = {**os.environ, "FLOWYML_CACHE_DIR": str(tmp_path / "cache"), "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-4000:]
    out = proc.stdout
    header = next(line for line in out.splitlines() if line.startswith("benchmark"))
    for column in ("case", "flowyml", "baseline", "ratio", "target", "met"):
        assert column in header
    table = out[out.index(header):].splitlines()[2:]
    listed = {line.split("  ")[0].strip() for line in table if line.strip()}
    assert set(BENCHMARKS) <= listed, out
    assert "ERROR" not in out
    assert "machine:" in out and "command: python -m benchmarks --quick" in out
    # every benchmark removes its scratch directory (they live under TMPDIR = tmp_path)
    assert not list(tmp_path.glob("flowyml-bench-*")), "scratch directories must be removed"


def test_markdown_table_of_one_benchmark(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--only", "import",
                           "--markdown"], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| benchmark | case | flowyml |")
    assert any(line.startswith("| import |") for line in lines[2:])
    assert not list(tmp_path.glob("flowyml-bench-*")), "scratch directories must be removed"
