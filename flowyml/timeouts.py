"""Run a call with a time limit that is really enforced.

In the main thread a ``SIGALRM`` timer interrupts the call (Python code, ``time.sleep`` and
most blocking I/O), so the process stays healthy and the call's frames unwind normally.
Elsewhere (a worker thread) the call is moved to a separate process (joblib's loky, which
ships notebook-defined functions with cloudpickle) that is killed when time runs out.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any


class StepTimeoutError(TimeoutError):
    """A step attempt ran longer than its ``timeout``."""


def call_with_timeout(fn: Callable[..., Any], kwargs: dict[str, Any], timeout: float | None) -> Any:
    """``fn(**kwargs)``, stopped with :class:`StepTimeoutError` after ``timeout`` seconds."""
    if not timeout or timeout <= 0:
        return fn(**kwargs)
    if _can_alarm():
        with time_limit(timeout):
            return fn(**kwargs)
    return _in_subprocess(fn, kwargs, timeout)


def _can_alarm() -> bool:
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`StepTimeoutError` in the block after ``seconds`` (``SIGALRM``).

    Only the main thread can be interrupted this way; elsewhere (or without ``setitimer``)
    the block runs without a limit -- :func:`call_with_timeout` moves such calls to a
    process instead, which a notebook cell's body cannot do.
    """
    if not seconds or seconds <= 0 or not _can_alarm():
        yield
        return

    def _expired(signum: int, frame: Any) -> None:
        raise StepTimeoutError(f"timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _in_subprocess(fn: Callable[..., Any], kwargs: dict[str, Any], timeout: float) -> Any:
    from concurrent.futures import TimeoutError as FutureTimeout

    from joblib.externals.loky import ProcessPoolExecutor

    pool = ProcessPoolExecutor(max_workers=1)
    try:
        pool.submit(int).result()  # start the worker before the clock starts
        future = pool.submit(fn, **kwargs)
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            raise StepTimeoutError(
                f"timed out after {timeout:g} s (run in a separate process, now stopped)"
            ) from None
    finally:
        pool.shutdown(wait=False, kill_workers=True)
