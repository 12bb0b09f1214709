"""Processes: units run on joblib's loky worker processes, so CPU-bound steps use every core.

Steps, inputs and context values travel with cloudpickle (notebook-defined functions
included). Workers write outputs to the shared cache and send back cache-backed artifacts,
so large values are not shipped back unless a later step or the user reads them. Events
come back live through a ``multiprocessing`` manager queue (in bunches for batched jobs).
Small ready steps are batched, several per worker call (see :mod:`flowyml.executors.pool`).
A step runs in its worker's main thread, so its ``timeout`` uses ``SIGALRM`` there.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from typing import Any

from flowyml.executors.pool import PoolExecutor, Unit, shipped
from flowyml.executors.worker import read_progress, run_batch


class _QueueChannel:
    """Sends a worker's events to the caller through a manager queue (picklable)."""

    def __init__(self, q: Any) -> None:
        self.q = q

    def send(self, token: str, seq: int, event: Any) -> None:
        self.q.put(("event", token, seq, event))

    def send_many(self, items: list[tuple[str, int, Any]]) -> None:
        self.q.put(("events", items))


class ProcessesExecutor(PoolExecutor):
    """Runs units on ``max_workers`` loky processes (default: one per CPU)."""

    name = "processes"
    lazy_outputs = True
    resubmit_unstarted = True
    batching = True
    started_before_run = True  # a batched job notes each step in a progress file first

    def __init__(self, max_workers: int | None = None, gpus: int | None = None) -> None:
        super().__init__(max_workers or os.cpu_count() or 1, gpus)
        self._manager: Any = None
        self._channel: _QueueChannel | None = None
        self._forwarder: threading.Thread | None = None
        self._progress_dir: str | None = None

    def _pool(self) -> Any:
        from joblib.externals.loky import get_reusable_executor

        # reused across runs (workers stay warm); replaced by loky when a worker died
        return get_reusable_executor(max_workers=self.max_workers, timeout=120)

    def _start(self, units: list[Unit], live: bool) -> Any:
        if self._channel is None:
            self._open_channel()
        return self._pool().submit(run_batch, [shipped(u) for u in units], self._channel,
                                   live=live, lazy=True,
                                   progress=None if live else self._progress_path(units))

    def _progress_path(self, units: list[Unit]) -> str:
        # the workers are on this machine: a file is the cheapest way for a batched job to
        # say which step it is in, and it survives the worker being killed
        if self._progress_dir is None:
            self._progress_dir = tempfile.mkdtemp(prefix="flowyml-progress-")
        return os.path.join(self._progress_dir, units[0].token)

    def _last_started(self, job: Any) -> tuple[str, str, str | None] | None:
        if self._progress_dir is None:
            return None
        return read_progress(os.path.join(self._progress_dir, job.units[0].token))

    def _job_over(self, job: Any) -> None:
        if self._progress_dir is not None and not job.live:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(self._progress_dir, job.units[0].token))

    def _open_channel(self) -> None:
        import multiprocessing

        self._manager = multiprocessing.Manager()
        q = self._manager.Queue()
        self._channel = _QueueChannel(q)

        def forward() -> None:
            while True:
                try:
                    item = q.get()
                except (EOFError, OSError):
                    return
                if item is None:
                    return
                if item[0] == "events":  # a bunch from a batched job
                    for token, seq, event in item[1]:
                        self._inbox.put(("event", token, seq, event))
                else:
                    self._inbox.put(item)

        self._forwarder = threading.Thread(target=forward, name="flowyml-events", daemon=True)
        self._forwarder.start()

    def _worker_died(self, exc: BaseException) -> bool:
        from joblib.externals.loky.process_executor import BrokenProcessPool, TerminatedWorkerError

        return isinstance(exc, TerminatedWorkerError | BrokenProcessPool)

    def close(self) -> None:
        super().close()
        if self._progress_dir is not None:
            shutil.rmtree(self._progress_dir, ignore_errors=True)
            self._progress_dir = None
        if self._channel is not None:
            with contextlib.suppress(EOFError, OSError):
                self._channel.q.put(None)
            if self._forwarder is not None:
                self._forwarder.join(timeout=5)
            self._manager.shutdown()
            self._channel = self._manager = self._forwarder = None
