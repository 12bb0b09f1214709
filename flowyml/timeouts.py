"""Run a call with a time limit that is really enforced.

In the main thread a ``SIGALRM`` timer interrupts the call (Python code, ``time.sleep`` and
most blocking I/O), so the process stays healthy and the call's frames unwind normally.
Elsewhere (a worker thread) the call is moved to a separate process (joblib's loky, which
ships notebook-defined functions with cloudpickle) that is killed when time runs out.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator
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


def awaited(fn: Callable[..., Any], timeout: float | None = None) -> Callable[..., Any]:
    """``fn`` itself, or for a coroutine function (an ``async def`` step, a ``%%step`` cell
    that awaits) a plain function that runs it to the end, within ``timeout`` seconds (a
    timer in its event loop cancels it, in any thread): the runners and file recording then
    treat it as any other step function. (A partial of a module-level function: the
    processes executor pickles it.)"""
    if not inspect.iscoroutinefunction(fn):
        return fn
    return functools.partial(run_to_end, fn, timeout)


def run_to_end(fn: Callable[..., Any], timeout: float | None, /, *args: Any, **kwargs: Any) -> Any:
    """``await fn(*args, **kwargs)`` from plain code, within ``timeout`` seconds: in an event
    loop of its own, made for the call (``asyncio.run``). Where this thread already runs a
    loop (a Jupyter kernel, an async application), which cannot be waited on from inside,
    the loop of its own runs in a helper thread, with this context (so the step's file
    recording follows it)."""
    import asyncio  # (loaded when an `async def` step first runs: `import flowyml` stays light)
    from concurrent.futures import ThreadPoolExecutor

    coroutine = within(fn(*args, **kwargs), timeout)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    context = contextvars.copy_context()
    with ThreadPoolExecutor(1, thread_name_prefix="flowyml-await") as pool:
        return pool.submit(context.run, asyncio.run, coroutine).result()


async def within(awaitable: Awaitable[Any], seconds: float | None) -> Any:
    """``await awaitable``, cancelled after ``seconds`` with :class:`StepTimeoutError`. (Not
    ``asyncio.wait_for``: it cannot tell its own time-out from a ``TimeoutError`` of the
    awaited code, and IPython's cell runner turns the cancellation into a shown traceback,
    after which the awaited cell ends normally.)"""
    import asyncio

    if not seconds or seconds <= 0:
        return await awaitable
    task = asyncio.ensure_future(awaitable)
    expired: list[bool] = []

    def expire() -> None:
        expired.append(True)
        task.cancel(f"timed out after {seconds:g} s")  # what the traceback shows

    timer = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        outcome = await task
    except asyncio.CancelledError:
        if not expired:
            raise
        outcome = None
    finally:
        timer.cancel()
    if expired:
        raise StepTimeoutError(f"timed out after {seconds:g} s")
    return outcome


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
