"""A tiny pipeline run in a subprocess against a cache URL: ``remote_pipeline.py URL [N]``.

Prints one JSON line: which steps ran, which were cached, a checksum of the results, and
the warnings. ``FLOWYML_TEST_HOLD=PATH`` makes ``make_data`` wait until PATH exists (so many
writers of one key can be lined up).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings

import numpy as np

from flowyml import Pipeline, step


@step(outputs=["data"])
def make_data(n: int) -> np.ndarray:
    hold = os.environ.get("FLOWYML_TEST_HOLD")
    if hold:
        while not os.path.exists(hold):
            time.sleep(0.01)
    return np.arange(n, dtype=np.float64) * float(os.getpid() % 7 + 1) if hold else np.arange(n) * 2.0


@step(inputs=["data"], outputs=["total"])
def summarise(data: np.ndarray) -> float:
    return float(data.sum())


def main() -> None:
    url = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pipeline = Pipeline("remote", cache_dir=url, context={"n": n})
        pipeline.add_steps([make_data, summarise])
        result = pipeline.run()
        data = result["data"]
        total = result["total"]
    print(json.dumps({
        "success": result.success,
        "cached": result.cached_steps,
        "ran": [n for n, r in result.step_results.items() if r.state == "done"],
        "total": total,
        "first": float(data[1]),
        "warnings": [str(w.message) for w in caught],
        "cwd": os.getcwd(),
    }))


if __name__ == "__main__":
    main()
