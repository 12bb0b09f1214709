"""Import time: ``import flowyml`` in fresh interpreters, against ``python -c pass``.

Also lists the heavy modules ``import flowyml`` must not load (IPython, ipywidgets, graphviz,
numpy, pandas, dask, joblib, networkx). Issue target: <= 150 ms over a bare interpreter.
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

from benchmarks._common import row

NAME = "import"
HEAVY = ("IPython", "ipywidgets", "graphviz", "numpy", "pandas", "dask", "joblib", "networkx")


def _spawn(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t0


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = 5 if quick else 20
    bare, flowyml = [], []
    for _ in range(n):  # interleaved, so load on the machine hits both alike
        bare.append(_spawn("pass"))
        flowyml.append(_spawn("import flowyml"))
    check = subprocess.run(
        [sys.executable, "-c",
         f"import sys, flowyml; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    cost = min(flowyml) - min(bare)
    return [
        row(NAME, "import flowyml (fresh process, best of "
            f"{n}), minus python -c pass", cost, "s", baseline="python -c pass",
            baseline_value=min(bare), ratio=min(flowyml) / min(bare), ratio_label="x bare start",
            target="<= 150 ms", met=cost <= 0.150,
            note=f"heavy modules loaded: {check}" if check else ""),
    ]
