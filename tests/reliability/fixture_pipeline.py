"""A three-step pipeline the reliability tests run in real subprocesses.

``python fixture_pipeline.py CACHE_DIR N_FLOATS`` runs ``seed -> make_big -> summarise`` and
prints one JSON line: each step's state, and the sum the last step computed.

Fault injection is switched on by environment variables, read only in this script (never
inside a step body, so cache keys do not depend on them):

* ``FLOWYML_TEST_HOOK`` -- where to freeze the process while it stores ``make_big``'s
  output, so the test can SIGKILL it there: ``mid-data`` (a quarter of the array written to
  the temporary entry file), ``before-meta`` (the whole array written, the metadata trailer
  not), ``before-rename`` (the temporary file complete, not yet renamed into place),
  ``in-step`` (inside the ``slow`` step, for SIGINT).
* ``FLOWYML_TEST_READY``: a file the hook creates when the process is frozen.
* ``FLOWYML_TEST_GO``: a file to wait for before running (lines up concurrent runs).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from flowyml import Pipeline, step
from flowyml.store import entry as flowyml_entry

HOOK = os.environ.get("FLOWYML_TEST_HOOK", "")
READY = os.environ.get("FLOWYML_TEST_READY", "")


def _freeze() -> None:
    Path(READY).write_text(str(os.getpid()))
    time.sleep(600)


@step(outputs=["n"])
def seed(n_floats: int) -> int:
    return int(n_floats)


@step(inputs=["n"], outputs=["big"])
def make_big(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


@step(inputs=["big"], outputs=["total"])
def summarise(big: np.ndarray) -> float:
    if os.environ.get("FLOWYML_TEST_HOOK") == "in-step":
        _freeze()
    return float(big.sum())


class _FreezingFile:
    """A file whose writes freeze the process once ``limit`` bytes have been written."""

    def __init__(self, fh, limit: int) -> None:
        self._fh, self._limit, self._written = fh, limit, 0

    def write(self, data) -> int:
        n = self._fh.write(data)
        self._written += n
        if self._written >= self._limit:
            self._fh.flush()
            _freeze()
        return n

    def __getattr__(self, name):
        return getattr(self._fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._fh.close()


def install_hook(n_floats: int) -> None:
    if HOOK in ("mid-data", "before-meta"):
        # a quarter of the array, or all of it (the metadata trailer comes after it)
        limit = n_floats * 8 // 4 if HOOK == "mid-data" else n_floats * 8

        def _open(path, mode="r", *args, **kwargs):
            fh = open(path, mode, *args, **kwargs)  # noqa: SIM115 - handed to the store
            if ("w" in mode or "x" in mode) and "make_big" in str(path):
                return _FreezingFile(fh, limit)
            return fh
        flowyml_entry.open = _open  # shadows the builtin inside flowyml.store.entry (the writer) only
    elif HOOK == "before-rename":
        real_rename = os.rename

        def _rename(src, dst, *args, **kwargs):
            if "make_big" in str(dst) and ".tmp-" in str(src):
                _freeze()
            return real_rename(src, dst, *args, **kwargs)
        os.rename = _rename


def main() -> int:
    cache_dir, n_floats = sys.argv[1], int(sys.argv[2])
    install_hook(n_floats)
    go = os.environ.get("FLOWYML_TEST_GO")
    if go:
        while not os.path.exists(go):
            time.sleep(0.005)
    pipeline = Pipeline("reliability", cache_dir=cache_dir).add_steps([seed, make_big, summarise])
    try:
        result = pipeline.run(n_floats=n_floats)
    except KeyboardInterrupt:
        print(json.dumps({"interrupted": True}), flush=True)
        return 130
    states = {name: r.state for name, r in result.step_results.items()}
    print(json.dumps({"states": states, "total": result["total"], "success": result.success}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
