"""Threads: independent steps run concurrently in this process (I/O-bound work, GIL-free
libraries). Outputs stay in memory; events are delivered on the caller's thread.

A step with a ``timeout`` cannot be stopped inside a thread, so each attempt of it runs in a
separate process that is killed when time runs out (see :mod:`flowyml.timeouts`).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flowyml.executors.pool import PoolExecutor, Unit, shipped
from flowyml.executors.worker import InboxChannel, run_batch


class ThreadsExecutor(PoolExecutor):
    """Runs units on a pool of ``max_workers`` threads (default: CPUs + 4, at most 32)."""

    name = "threads"

    def __init__(self, max_workers: int | None = None, gpus: int | None = None) -> None:
        super().__init__(max_workers or min(32, (os.cpu_count() or 1) + 4), gpus)
        self._pool = ThreadPoolExecutor(max_workers=self.max_workers,
                                        thread_name_prefix="flowyml-thread")
        self._channel = InboxChannel(self._inbox)

    def _start(self, units: list[Unit], live: bool) -> Any:
        # events go straight into the inbox: nothing to save by holding them back
        return self._pool.submit(run_batch, [shipped(u) for u in units], self._channel,
                                 live=True, lazy=False)

    def close(self) -> None:
        super().close()
        self._pool.shutdown(wait=True, cancel_futures=True)
