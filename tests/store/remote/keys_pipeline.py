"""A pipeline module for tests/remote/test_publisher_keys.py, run with ``flowyml run``.

``FLOWYML_TEST_N`` sets the context value ``n`` (a new value: new keys);
``FLOWYML_TEST_RAN=PATH`` makes each step append its name to PATH when its body runs.
"""

from __future__ import annotations

import os

import numpy as np

from flowyml import Pipeline, step


def _ran(name: str) -> None:
    path = os.environ.get("FLOWYML_TEST_RAN")
    if path:
        with open(path, "a") as fh:
            fh.write(name + "\n")


@step(outputs=["data"])
def make_data(n: int) -> np.ndarray:
    _ran("make_data")
    return np.arange(n) * 2.0  # over INLINE_BYTES on a bucket: a data object of its own


@step(inputs=["data"], outputs=["total"])
def summarise(data: np.ndarray) -> float:
    _ran("summarise")
    return float(data.sum())


pipeline = Pipeline("keys", context={"n": int(os.environ.get("FLOWYML_TEST_N", "5000"))})
pipeline.add_steps([make_data, summarise])
