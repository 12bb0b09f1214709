"""What runs on a worker of the parallel executors: one shipped unit (or a batch of them),
its events numbered and sent back live through a *channel* (bunched, at most every
``FLUSH_SECONDS``, when a job carries several steps), and, for other processes, its cached
outputs replaced by cache-backed artifacts so that large values are not shipped back unless
someone needs them. The caller's side is :mod:`flowyml.executors.pool`.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import os
import queue
import threading
import time
from typing import Any

from flowyml.events import Event, StepStarted
from flowyml.executors.results import EntryLoader
from flowyml.executors.runner import MAP_PARALLEL, Artifact, UnitOutcome, _source_of, run_unit
from flowyml.store.entry import CacheEntry

#: how long a batched job holds its events before sending them on
FLUSH_SECONDS = 0.05


# ---------------------------------------------------------------------------------------------
# On the worker
# ---------------------------------------------------------------------------------------------


class InboxChannel:
    """Events of a unit running in this process, straight into the executor's inbox."""

    def __init__(self, inbox: queue.Queue) -> None:
        self.inbox = inbox

    def send(self, token: str, seq: int, event: Event) -> None:
        self.inbox.put(("event", token, seq, event))


def run_shipped(steps: list[Any], artifacts: dict[str, Artifact], context: dict[str, Any],
                store: Any, run_id: str, unavailable: dict[str, str], token: str, channel: Any,
                *, lazy: bool, label: str | None = None,
                mapper: Any = True) -> tuple[UnitOutcome, list[Event]]:
    """Run a unit on a worker; return its outcome and every event it emitted, in order.

    ``channel.send(token, seq, event)`` delivers events live; the returned list lets the
    caller replay any the channel lost. ``label`` names the worker in results and events.

    A store with ``replay_first`` (a Dask worker that cannot see the client's cache, sent
    the rest of a unit whose first steps were hits on the client) carries the process state
    those hits changed: it is re-applied first, here, where the rest runs.
    """
    if getattr(store, "replay_first", None):
        from flowyml.tracking import state as _state

        for notes in store.replay_first:
            _state.replay(notes)
    events: list[Event] = []

    def emit(event: Event) -> None:
        if label is not None and getattr(event, "worker", None) is not None:
            event = dataclasses.replace(event, worker=label)
        events.append(event)
        with contextlib.suppress(Exception):  # the outcome carries every event anyway
            channel.send(token, len(events) - 1, event)

    reset = MAP_PARALLEL.set(mapper)  # map_task items: threads here, or the executor's mapper
    try:
        outcome = run_unit(steps, artifacts, context, store, emit, run_id, None, unavailable)
    finally:
        MAP_PARALLEL.reset(reset)
    if label is not None:
        for res in outcome.results:
            res.worker = label
    relayed = getattr(store, "records", None)
    if relayed is not None:  # the caller cannot see this worker's disk: it stores them
        outcome.relayed = relayed
    elif lazy:
        cache_backed(outcome, store)
    return outcome, events


class _Flusher:
    """One thread per process that sends held events once they are ``FLUSH_SECONDS`` old.

    One long-lived thread, not a timer per job: a manager-queue proxy opens a connection per
    thread that uses it.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: dict[BufferedChannel, float] = {}
        self._pid: int | None = None

    def schedule(self, channel: BufferedChannel, due: float) -> None:
        with self._cond:
            if self._pid != os.getpid():  # first use here, or a forked child
                self._pid = os.getpid()
                self._due = {}
                threading.Thread(target=self._loop, name="flowyml-flush", daemon=True).start()
            self._due.setdefault(channel, due)
            self._cond.notify()

    def cancel(self, channel: BufferedChannel) -> None:
        with self._cond:
            self._due.pop(channel, None)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._due:
                    self._cond.wait()
                channel, due = min(self._due.items(), key=lambda kv: kv[1])
                delay = due - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                del self._due[channel]
            channel.flush()


_FLUSHER = _Flusher()


def send_all(channel: Any, items: list[tuple[str, int, Event]]) -> None:
    """Send ``(token, seq, event)`` items through ``channel``, in one message if it can."""
    many = getattr(channel, "send_many", None)
    if many is not None:
        many(items)
        return
    for token, seq, event in items:
        channel.send(token, seq, event)


class BufferedChannel:
    """Holds a job's events and sends them in bunches, each at most ``FLUSH_SECONDS`` late.

    When a worker dies, the caller blames the step that last started, so that must be known
    before the step runs: with a ``progress`` file (a worker on the caller's machine) each
    ``StepStarted`` overwrites it (``token<TAB>step<TAB>worker``, one write, read by the
    caller only if the worker died); otherwise ``StepStarted`` is sent at once, with what is
    held before it, unless ``blame_by_events`` is false (the caller does not blame a dead
    batch by its events). Everything else of a batch of short steps costs no message: what is held
    when the job ends is dropped, its outcome carries it.
    """

    def __init__(self, channel: Any, progress: str | None = None,
                 blame_by_events: bool = True) -> None:
        self.channel = channel
        self._started_now = blame_by_events
        self._items: list[tuple[str, int, Event]] = []
        self._lock = threading.Lock()
        self._sending = threading.Lock()  # one bunch at a time, so events keep their order
        self._closed = False
        self._progress: int | None = None
        if progress is not None:
            with contextlib.suppress(OSError):  # then StepStarted is sent at once instead
                self._progress = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)

    def send(self, token: str, seq: int, event: Event) -> None:
        with self._lock:
            if self._closed:
                return
            self._items.append((token, seq, event))
            first = len(self._items) == 1
        if isinstance(event, StepStarted):
            if self._progress is not None:
                line = f"{token}\t{event.step}\t{event.worker or ''}\n".encode()
                os.pwrite(self._progress, line, 0)
            elif self._started_now:
                self.flush()
                return
        if first:
            _FLUSHER.schedule(self, time.monotonic() + FLUSH_SECONDS)

    def flush(self) -> None:
        with self._sending:
            with self._lock:
                items, self._items = self._items, []
            if items:
                with contextlib.suppress(Exception):  # the outcome carries every event anyway
                    send_all(self.channel, items)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._items = []
        _FLUSHER.cancel(self)
        if self._progress is not None:
            os.close(self._progress)
            self._progress = None


def read_progress(path: str) -> tuple[str, str, str | None] | None:
    """On the caller: ``(unit token, step, worker)`` a dead job last started, if any."""
    try:
        with open(path, "rb") as fh:
            line = fh.readline().decode(errors="replace")
    except OSError:
        return None
    parts = line.rstrip("\n").split("\t")
    if not line.endswith("\n") or len(parts) != 3:
        return None
    return parts[0], parts[1], parts[2] or None


def run_batch(units: list[tuple[Any, ...]], channel: Any, *, live: bool, lazy: bool,
              label: str | None = None, mapper: Any = True, progress: str | None = None,
              blame_by_events: bool = True) -> list[tuple[Any, Any, float]]:
    """Run a job of one or more units on a worker, one after another.

    ``units`` holds ``(steps, artifacts, context, store, run_id, unavailable, token)`` each.
    Returns ``(outcome, events, seconds)`` per unit, or ``(None, exception, seconds)`` for a
    unit that raised outside its steps (a unit alone raises instead, as it always did).
    ``live`` sends every event at once; otherwise they go in bunches (:class:`BufferedChannel`,
    with its ``progress`` file).
    """
    chan = channel if live else BufferedChannel(channel, progress, blame_by_events)
    out: list[tuple[Any, Any, float]] = []
    try:
        for steps, artifacts, context, store, run_id, unavailable, token in units:
            started = time.perf_counter()
            try:
                outcome, events = run_shipped(steps, artifacts, context, store, run_id,
                                              unavailable, token, chan, lazy=lazy, label=label,
                                              mapper=mapper)
            except Exception as exc:
                if len(units) == 1:
                    raise
                out.append((None, exc, time.perf_counter() - started))
                continue
            out.append((outcome, events, time.perf_counter() - started))
    finally:
        if chan is not channel:
            chan.close()
    return out


def cache_backed(outcome: UnitOutcome, store: Any) -> UnitOutcome:
    """Replace the values of stored outputs by artifacts that load from the cache on use.

    Only outputs whose entry is in the store are replaced: values of steps that could not be
    cached must travel back as values.
    """
    for res in outcome.results:
        if res.cache_key is None or not res.artifacts or res.state not in ("done", "cached"):
            continue
        entry = CacheEntry(store.entry_path(res.cache_key),
                           {"outputs": {n: a._hash for n, a in res.artifacts.items() if a._hash}})
        loader = EntryLoader(store, entry)
        lazy = {n: Artifact(n, digest=a._hash, loader=loader, producer=a.producer)
                for n, a in res.artifacts.items()}
        res.artifacts = lazy
        outcome.artifacts.update(lazy)
    return outcome


def _pinned_code_hash(digest: str) -> str:
    return digest


def pin_code_hashes(steps: list[Any]) -> list[Any]:
    """Copies of ``steps`` whose code fingerprint is the one computed here, on the caller.

    A worker process may not see the code the way the caller does (a notebook cell's source
    lives only in the kernel; a function shipped by value loses its module), so cache keys
    computed there could differ. Pinning keeps keys identical across executors. The source
    is pinned too: whether a step seeds a global generator is read from it (the process
    state a step changed, :func:`flowyml.executors.runner._state_notes`).
    """
    pinned = []
    for step in steps:
        clone = copy.copy(step)
        if step.cache not in (False, "input_hash") and not callable(step.cache):
            clone.get_code_hash = functools.partial(_pinned_code_hash, step.get_code_hash())
        if step.cache is not False and getattr(step, "pinned_source", None) is None:
            clone.pinned_source = _source_of(step)
        pinned.append(clone)
    return pinned


