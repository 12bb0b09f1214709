"""Steps for the isolated-worker tests (imported by the Dask workers, so not in a test file)."""

from __future__ import annotations

import os
import socket

import numpy as np

from flowyml import step


@step(outputs=["base"], register=False)
def make_base(n: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64)


@step(inputs=["base"], outputs=["scaled"], register=False)
def scale(base: np.ndarray, k: int) -> np.ndarray:
    return base * k


# it lists /tmp, which differs in every isolated worker (and on the client): tracked, that
# listing would be a changed input at every lookup; these tests are about where values go
@step(inputs=["scaled"], outputs=["where"], register=False, track_files=False)
def where_am_i(scaled: np.ndarray) -> dict:
    """Which process and which /tmp the step ran in (a worker's /tmp is its own tmpfs)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "sum": float(scaled.sum()),
            "tmp": sorted(os.listdir("/tmp"))[:5]}


STEPS = [make_base, scale, where_am_i]
