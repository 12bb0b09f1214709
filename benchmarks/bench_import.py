"""Import time: ``import flowyml`` in fresh interpreters, against ``python -c pass``.

Also ``from flowyml import step, Pipeline`` (what a script defining a pipeline pays), the
same statements in FlowyML 2.2.1 (its own venv, see ``_flowyml_ref.py``), and the heavy
modules ``import flowyml`` must not load (IPython, ipywidgets, graphviz, numpy, pandas, dask,
joblib, networkx). Issue target: ``import flowyml`` <= 40 ms over a bare interpreter.

Every interpreter here reads compiled bytecode, as an installed package's ``.pyc`` files
are read: ours in one scratch ``PYTHONPYCACHEPREFIX`` (a warm-up run fills it; with
``PYTHONDONTWRITEBYTECODE`` set, as on some machines, each fresh process would otherwise
compile flowyml's sources again and measure the compiler), FlowyML's where pip put it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import _flowyml_ref as ref
from benchmarks._common import row, scratch_dir, skipped

NAME = "import"
HEAVY = ("IPython", "ipywidgets", "graphviz", "numpy", "pandas", "dask", "joblib", "networkx")
IMPORT = "import flowyml"
DEFINE = "from flowyml import step, Pipeline"


def _env(base: dict[str, str], pycache: Path) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def _spawn(python: str, code: str, env: dict[str, str], cwd: Path | None = None) -> float:
    t0 = time.perf_counter()
    subprocess.run([python, "-c", code], check=True, env=env, cwd=cwd,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _best_costs(python: str, codes: tuple[str, ...], n: int, env: dict[str, str],
                cwd: Path | None = None) -> tuple[float, dict[str, float]]:
    """Best-of-``n`` wall time of a bare start, and of each statement minus that start
    (0 when within noise of a bare start).

    Interleaved, so load on the machine hits all alike; one warm-up run of each first.
    """
    for code in ("pass", *codes):
        _spawn(python, code, env, cwd)
    best = {code: float("inf") for code in ("pass", *codes)}
    for _ in range(n):
        for code in best:
            best[code] = min(best[code], _spawn(python, code, env, cwd))
    bare = best.pop("pass")
    return bare, {code: max(t - bare, 0.0) for code, t in best.items()}


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 5 if quick else 20
    work = scratch_dir("import")
    try:
        env = _env(dict(os.environ), work / "pycache")
        bare, ours = _best_costs(sys.executable, (IMPORT, DEFINE), n, env)
        check = subprocess.run(
            [sys.executable, "-c",
             f"import sys, flowyml; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"],
            capture_output=True, text=True, check=True, env=env,
        ).stdout.strip()
        rows = [
            row(NAME, f"{IMPORT} (fresh process, best of {n}), minus python -c pass",
                ours[IMPORT], "s", baseline="python -c pass", baseline_value=bare,
                ratio=(bare + ours[IMPORT]) / bare, ratio_label="x bare start",
                target="<= 40 ms", met=ours[IMPORT] <= 0.040,
                note=f"heavy modules loaded: {check}" if check else ""),
            row(NAME, f"{DEFINE} (fresh process, best of {n}), minus python -c pass",
                ours[DEFINE], "s", baseline="python -c pass", baseline_value=bare,
                ratio=(bare + ours[DEFINE]) / bare, ratio_label="x bare start", target="report"),
        ]
        rows += _versus_flowyml(quick, ours, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def _versus_flowyml(quick: bool, ours: dict[str, float], work: Path) -> list[dict[str, Any]]:
    """The same statements in FlowyML 2.2.1's venv: one row each, ours beside theirs."""
    found = ref.reference(quick)
    if found.python is None:
        return [skipped(NAME, f"{ref.LABEL} column: {found.reason}")]
    n = 1 if quick else 7  # FlowyML takes ~0.6 s an import here
    home = work / "flowyml-ref"
    home.mkdir()
    # no PYTHON* variables: its venv holds the bytecode pip compiled at install
    env = ref.child_env(home / ".flowyml-home")
    try:
        _, theirs = _best_costs(str(found.python), (IMPORT, DEFINE), n, env, cwd=home)
    except (subprocess.CalledProcessError, OSError) as exc:
        return [skipped(NAME, f"{ref.LABEL} column: {IMPORT} failed there: {exc}")]
    return [
        row(NAME, f"{code} vs {ref.LABEL} (fresh process, best of {n} for FlowyML)", ours[code],
            "s", baseline=f"{ref.LABEL}", baseline_value=theirs[code],
            ratio_label=f"x {ref.LABEL}'s time", target="report")
        for code in (IMPORT, DEFINE)
    ]
