"""The default executor: every unit runs in the calling thread, one after another."""

from __future__ import annotations

import concurrent.futures as cf
from typing import Any

from flowyml.executors.base import Emit, Executor, run_unit_local
from flowyml.executors.runner import Artifact


class SequentialExecutor(Executor):
    """Runs each unit immediately in the caller's thread (timeouts use SIGALRM there)."""

    name = "sequential"
    max_in_flight = 1

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = 1

    def submit_unit(self, steps: list[Any], artifacts: dict[str, Artifact], context: dict[str, Any],
                    store: Any, run_id: str, emit: Emit, unavailable: dict[str, str]) -> cf.Future:
        future: cf.Future = cf.Future()
        try:
            future.set_result(run_unit_local(steps, artifacts, context, store, run_id, emit, unavailable))
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            future.set_exception(exc)
        return future
