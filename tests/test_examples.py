"""The plain-Python example runs as a script, and a second run is all cache hits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart_pipeline.py"


def test_example_pipeline_runs_and_then_hits_the_cache(tmp_path):
    env = {**os.environ, "FLOWYML_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, str(EXAMPLE)], capture_output=True, text=True,
                           env=env, timeout=120, check=True).stdout for _ in range(2)]
    assert "y = 3.0" in runs[0] and runs[0].count(" done ") == 3
    assert runs[1].count(" cached ") == 3
