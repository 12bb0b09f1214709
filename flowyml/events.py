"""Frozen events the runner emits; listeners (widgets, progress bars, tests) subscribe.

Every event is keyword-only so fields can be added without breaking listeners. A listener
that raises is reported once and never breaks a run.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

Listener = Callable[["Event"], None]


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all events: which run, and when (``time.time()``)."""

    run_id: str
    time: float = field(default_factory=time.time)


@dataclass(frozen=True, kw_only=True)
class RunStarted(Event):
    pipeline: str
    steps: tuple[str, ...]
    executor: str = "sequential"


@dataclass(frozen=True, kw_only=True)
class StepStarted(Event):
    step: str
    attempt: int = 1
    worker: str | None = None


@dataclass(frozen=True, kw_only=True)
class StepRetrying(Event):
    step: str
    attempt: int
    error: str
    delay: float


@dataclass(frozen=True, kw_only=True)
class StepFinished(Event):
    """A step reached a final state: done, cached, failed, skipped, timed_out, interrupted
    or upstream_failed."""

    step: str
    state: str
    duration: float = 0.0
    cached: bool = False
    attempts: int = 0
    error: str | None = None
    time_saved: float = 0.0
    worker: str | None = None
    #: why a stored entry of its key was not taken ("data.csv changed")
    rerun_reason: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunFinished(Event):
    pipeline: str
    success: bool
    duration: float


class EventBus:
    """Fan events out to listeners; thread-safe subscribe/unsubscribe."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._broken: set[int] = set()

    def subscribe(self, listener: Listener) -> Listener:
        with self._lock:
            if listener not in self._listeners:
                self._listeners = [*self._listeners, listener]
        return listener

    def unsubscribe(self, listener: Listener) -> None:
        with self._lock:
            self._listeners = [x for x in self._listeners if x is not listener]

    def __bool__(self) -> bool:
        return bool(self._listeners)

    def emit(self, event: Event, extra: tuple[Listener, ...] = ()) -> None:
        for listener in (*self._listeners, *extra):
            try:
                listener(event)
            except Exception as exc:  # a broken listener must not break the run
                if id(listener) not in self._broken:
                    self._broken.add(id(listener))
                    warnings.warn(f"flowyml event listener {listener!r} failed: {exc!r}", stacklevel=2)


def silent(event: Event) -> None:
    """The emitter used when nobody listens: the runner skips building events for it."""


#: the process-wide bus; ``flowyml.subscribe(listener)`` adds to it
bus = EventBus()
subscribe = bus.subscribe
unsubscribe = bus.unsubscribe
