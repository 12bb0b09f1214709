"""The caller's side of the parallel executors: shipping units, slots, batches, dead workers.

A parallel executor only says how to start a unit somewhere (:meth:`PoolExecutor._start`)
and how to recognise a dead worker. Everything else lives here:

* :func:`flowyml.executors.worker.run_shipped` is what runs on the worker: the unit, its events numbered and sent
  back live through a *channel*, and (for other processes) its cached outputs replaced by
  cache-backed artifacts, so large values are not shipped back unless someone needs them.
* :class:`PoolExecutor` hands the scheduler futures that complete only inside :meth:`wait`,
  on the thread that called ``Pipeline.run``: events are delivered there, in order, before
  the unit's results (late duplicates of the live copies are dropped); units wait for free
  cpu/gpu slots; a unit whose worker died is retried if its step allows, otherwise its steps
  fail with a message naming the worker.
* Small units are *batched*: an executor with ``batching`` sends several ready units to one
  worker as one job, as many as it expects to finish in ``batch_seconds`` (judged from the
  measured time of the units that came back; a run starts with one unit per job, so
  independent long steps are never serialised). Each unit of a batch keeps its own outcome,
  events and failure; a job that fails as a whole (its worker died, its arguments could not
  be pickled) is split and its units re-sent one per job, so the culprit is named exactly as
  if it had never been batched.
* A job of several steps sends its events in bunches (at most every ``FLUSH_SECONDS``) rather
  than one message per event; the outcome carries them all anyway.
"""

from __future__ import annotations

import concurrent.futures as cf
import math
import os
import queue
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from flowyml.events import Event, StepFinished, StepRetrying, StepStarted
from flowyml.executors.base import Emit, Executor
from flowyml.executors.runner import Artifact, StepResult, UnitOutcome, run_unit
from flowyml.executors.worker import pin_code_hashes

#: how many times a unit that never started is re-sent after its pool broke
MAX_FREE_RESUBMITS = 3
#: the most units one job carries
MAX_BATCH = 128


# ---------------------------------------------------------------------------------------------
# Slots: cpu/gpu counts as local concurrency limits
# ---------------------------------------------------------------------------------------------


def unit_needs(steps: list[Any]) -> tuple[int, int]:
    """(cpu slots, gpus) a unit occupies: its most demanding step's, at least one cpu slot."""
    cpu, gpu = 1, 0
    for step in steps:
        req = getattr(step, "resource_requirements", None)
        if req is not None:
            cpu = max(cpu, math.ceil(req.cpu_cores))
            gpu = max(gpu, req.get_gpu_count())
    return cpu, gpu


def detect_gpus() -> int | None:
    """GPUs this process may use, from ``CUDA_VISIBLE_DEVICES``; None when unknown."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return None
    return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])


# ---------------------------------------------------------------------------------------------
# The caller's side
# ---------------------------------------------------------------------------------------------


@dataclass(eq=False)
class Unit:
    steps: list[Any]
    args: tuple[Any, ...]  # artifacts, context, store, run_id, unavailable
    emit: Emit
    proxy: cf.Future
    needs: tuple[int, int]
    token: str = ""
    delivered: set[int] = field(default_factory=set)
    last_started: tuple[str, str | None] | None = None
    crashes: int = 0
    crashed_step: str | None = None
    free_resubmits: int = 0
    #: the job carrying it now
    job: _Job | None = None
    #: run alone with live events (set when the job it was batched in failed as a whole)
    alone: bool = False
    #: whether its events so far were delivered and must not be delivered again
    keep_delivered: bool = False


def is_chain(steps: list[Any]) -> bool:
    """Whether a unit is a chain fused by the scheduler (not an execution group)."""
    return len(steps) > 1 and all(getattr(s, "execution_group", None) is None for s in steps)


def shipped(unit: Unit) -> tuple[Any, ...]:
    """What :func:`run_batch` takes for ``unit``."""
    return (unit.steps, *unit.args, unit.token)


@dataclass(eq=False)
class _Job:
    """What one worker call carries: one unit, or a batch of small ones."""

    units: list[Unit]
    token: str
    live: bool
    future: Any = None
    #: the unit whose step started last (the one to blame if the worker dies)
    current: Unit | None = None


class PoolExecutor(Executor):
    """An executor whose units run on a pool; see the module docstring."""

    name = "pool"
    #: a unit's cached outputs come back as cache-backed artifacts (other processes)
    lazy_outputs = False
    #: a dead worker breaks the whole pool, so units that never started are simply re-sent
    resubmit_unstarted = False
    #: several small ready units may go to a worker as one job
    batching = False
    #: how long a batch is expected to run (from the measured time of units that came back)
    batch_seconds = 0.02
    #: a worker's StepStarted reaches the caller before the step runs (a synchronous send),
    #: so a dead batch can be blamed on the unit that was running; otherwise its units are
    #: all re-sent alone, uncounted, and a unit that kills its worker again is blamed then
    started_before_run = False

    def __init__(self, max_workers: int, gpus: int | None = None) -> None:
        if not isinstance(max_workers, int) or max_workers < 1:
            raise ValueError(f"{self.name} executor: max_workers must be an integer >= 1, "
                             f"got {max_workers!r}")
        self.max_workers = max_workers
        # a batching executor takes every ready unit and forms the batches itself
        self.max_in_flight = 1_000_000 if self.batching else max_workers
        self.fuse_chains = self.batching
        self.gpus = detect_gpus() if gpus is None else gpus
        self._free = [max_workers, self.gpus if self.gpus is not None else 0]
        self._inbox: queue.Queue = queue.Queue()
        self._units: dict[str, Unit] = {}  # unit token -> unit, for live events
        self._jobs: dict[str, _Job] = {}
        self._waiting: deque[Unit] = deque()
        #: seconds a unit is expected to take on a worker (None until one came back)
        self._unit_seconds: float | None = None

    # -- what subclasses provide -------------------------------------------------------------
    def _start(self, units: list[Unit], live: bool) -> Any:
        """Start a job of ``units`` (tokens are fresh) with :func:`run_batch`; return a future
        with ``add_done_callback``."""
        raise TypeError(f"{type(self).__name__} must implement _start")

    def _slots(self, steps: list[Any]) -> tuple[int, int]:
        """The local (cpu slots, gpus) a unit holds while it runs."""
        cpu, gpu = unit_needs(steps)
        return cpu, gpu if self.gpus is not None else 0

    def _batchable(self, unit: Unit) -> bool:
        """Whether ``unit`` may share a job with others."""
        return not unit.alone and self.fusable(unit.steps)

    def fusable(self, steps: list[Any]) -> bool:
        """Small-unit candidates, for batches and chains alike: one cpu slot, no GPU, no map
        task (its items fan out on their own). Subclasses may narrow this."""
        return (self.batching and unit_needs(steps) == (1, 0)
                and not any(getattr(s, "is_map_task", False) for s in steps))

    def _worker_died(self, exc: BaseException) -> bool:
        """Whether ``exc`` means the worker running the unit died (so it may be retried)."""
        return False

    def _dead_worker(self, exc: BaseException) -> str | None:
        """The dead worker's name, when the error tells."""
        return None

    def _received(self, unit: Unit, outcome: UnitOutcome) -> None:
        """A unit's outcome arrived (on the caller's thread), before it is handed on."""

    def _last_started(self, job: _Job) -> tuple[str, str, str | None] | None:
        """``(unit token, step, worker)`` a job whose worker died had last started, when the
        executor can tell more than the events that arrived (a progress file)."""
        return None

    def _job_over(self, job: _Job) -> None:
        """A job's answer was handled (clean up what was kept for it)."""

    # -- Executor interface ------------------------------------------------------------------
    def check_unit(self, steps: list[Any]) -> str | None:
        cpu, gpu = unit_needs(steps)
        names = ", ".join(f"'{s.name}'" for s in steps)
        if cpu > self.max_workers:
            return (f"step {names} asks for cpu={cpu} but the {self.name} executor has only "
                    f"{self.max_workers} worker slot(s); run with max_workers>={cpu} or lower the "
                    "step's resources")
        if gpu and self.gpus is not None and gpu > self.gpus:
            return (f"step {names} asks for {gpu} GPU(s) but the {self.name} executor has "
                    f"{self.gpus} (from CUDA_VISIBLE_DEVICES or gpus=); lower the step's "
                    "resources or make GPUs visible")
        return None

    def submit_unit(self, steps: list[Any], artifacts: dict[str, Artifact], context: dict[str, Any],
                    store: Any, run_id: str, emit: Emit, unavailable: dict[str, str]) -> cf.Future:
        if self.lazy_outputs:  # runs in another process
            steps = pin_code_hashes(steps)
        unit = Unit(steps, (artifacts, context, store, run_id, unavailable), emit, cf.Future(),
                     self._slots(steps))
        self._waiting.append(unit)
        self._launch_waiting()
        return unit.proxy

    def wait(self, futures: set[Any]) -> set[Any]:
        """Deliver events and finish units on this (the caller's) thread until one is done."""
        while True:
            done = {f for f in futures if f.done()}
            if done:
                return done
            try:
                self._handle(self._inbox.get(timeout=1.0))
            except queue.Empty:
                continue
            while True:
                try:
                    self._handle(self._inbox.get_nowait())
                except queue.Empty:
                    break

    def close(self) -> None:
        for job in list(self._jobs.values()):
            if job.future is not None:
                job.future.cancel()
        self._jobs.clear()
        self._units.clear()
        self._waiting.clear()

    # -- internals ---------------------------------------------------------------------------
    def _batch_size(self) -> int:
        """How many units the next job may carry: enough to fill ``batch_seconds`` at the
        measured time per unit, but no more than a fair share of what waits per free slot."""
        if not self.batching or self._unit_seconds is None:
            return 1
        fill = int(self.batch_seconds / max(self._unit_seconds, 1e-6))
        share = math.ceil((len(self._waiting) + 1) / (self._free[0] + 1))
        return max(1, min(fill, share, MAX_BATCH))

    def _note_seconds(self, seconds: float) -> None:
        # a slow unit counts at once, fast ones bring the estimate down gradually: a long
        # step seen once keeps batches small for a while
        previous = self._unit_seconds
        self._unit_seconds = seconds if previous is None else max(seconds,
                                                                  0.7 * previous + 0.3 * seconds)

    def _launch_waiting(self) -> None:
        # strictly first come, first served, so a unit needing many slots is not starved
        while self._waiting:
            unit = self._waiting[0]
            if unit.needs[0] > self._free[0] or unit.needs[1] > self._free[1]:
                return
            self._waiting.popleft()
            self._free[0] -= unit.needs[0]
            self._free[1] -= unit.needs[1]
            batch = [unit]
            if self._batchable(unit):
                size = self._batch_size()
                while len(batch) < size and self._waiting and self._batchable(self._waiting[0]):
                    batch.append(self._waiting.popleft())
            self._launch(batch)

    def _launch(self, units: list[Unit]) -> None:
        first = units[0]
        live = len(units) == 1 and (len(first.steps) == 1 or first.alone)
        job = _Job(units, uuid.uuid4().hex, live)
        for unit in units:
            unit.token = uuid.uuid4().hex
            unit.job = job
            if not unit.keep_delivered:
                unit.delivered = set()
            unit.keep_delivered = False
            unit.last_started = None
            self._units[unit.token] = unit
        self._jobs[job.token] = job
        try:
            job.future = self._start(units, live)
        except Exception as exc:
            self._forget(job)
            if len(units) > 1:
                self._split(job)
            elif is_chain(first.steps):
                _ChainRun(self, first).start()
            else:
                first.proxy.set_result(self._failed(first, self._cannot_start(first, exc), exc))
            return
        token = job.token
        job.future.add_done_callback(lambda _f: self._inbox.put(("done", token, 0, None)))

    def _forget(self, job: _Job) -> None:
        self._jobs.pop(job.token, None)
        for unit in job.units:
            self._units.pop(unit.token, None)
        first = job.units[0]
        self._free[0] += first.needs[0]
        self._free[1] += first.needs[1]

    def _split(self, job: _Job) -> None:
        """Re-send the units of a job that failed as a whole, each alone with live events;
        the events already delivered are not delivered twice."""
        for unit in reversed(job.units):
            unit.alone = unit.keep_delivered = True
            self._waiting.appendleft(unit)

    def _handle(self, item: tuple[str, str, int, Any]) -> None:
        kind, token, seq, event = item
        if kind == "event":
            unit = self._units.get(token)
            if unit is not None:  # else a late event of a finished or re-sent unit
                self._deliver(unit, seq, event)
            return
        job = self._jobs.get(token)
        if job is None:
            return
        self._forget(job)
        try:
            exc = job.future.exception()
        except cf.CancelledError as cancelled:
            exc = cancelled
        if exc is not None and not job.live and self._worker_died(exc):
            where = self._last_started(job)
            unit = next((u for u in job.units if where and u.token == where[0]), None)
            if unit is not None:
                unit.last_started = (where[1], where[2])
                job.current = unit
        self._job_over(job)
        if exc is None:
            for unit, (outcome, events, seconds) in zip(job.units, job.future.result(),
                                                        strict=True):
                if outcome is None:
                    self._on_error(unit, events)  # the unit's own error, not the batch's
                    continue
                self._note_seconds(seconds)
                self._finish(unit, outcome, events)
        elif self._worker_died(exc) and len(job.units) > 1 and self.started_before_run:
            self._job_died(job, exc)
        elif len(job.units) > 1:
            self._split(job)
        else:
            self._on_error(job.units[0], exc)
        self._launch_waiting()

    def _job_died(self, job: _Job, exc: BaseException) -> None:
        """The worker of a batch died: the unit whose step started last is treated as if it
        had run alone (retried or failed, naming the step); the others are re-sent, alone,
        without counting it against them (their outcomes were lost with the worker)."""
        culprit = job.current or job.units[0]
        self._split(_Job([u for u in job.units if u is not culprit], job.token, job.live))
        culprit.alone = True
        self._on_error(culprit, exc)

    def _finish(self, unit: Unit, outcome: UnitOutcome, events: list[Event]) -> None:
        self._received(unit, outcome)
        for index, event in enumerate(events):
            self._deliver(unit, index, event)
        for res in outcome.results:
            if res.name == unit.crashed_step:
                res.retries += unit.crashes
                res.attempts += unit.crashes
        unit.proxy.set_result(outcome)

    def _deliver(self, unit: Unit, seq: int, event: Event) -> None:
        if isinstance(event, StepStarted):  # known even when already delivered once
            unit.last_started = (event.step, event.worker)
            if unit.job is not None:
                unit.job.current = unit
        if seq in unit.delivered:
            return
        unit.delivered.add(seq)
        unit.emit(event)

    def _on_error(self, unit: Unit, exc: BaseException) -> None:
        if not self._worker_died(exc):
            if is_chain(unit.steps):  # e.g. one step's context cannot be pickled
                _ChainRun(self, unit).start()
                return
            unit.proxy.set_result(self._failed(unit, self._cannot_start(unit, exc), exc))
            return
        if (self.resubmit_unstarted and unit.last_started is None
                and unit.free_resubmits < MAX_FREE_RESUBMITS):
            unit.free_resubmits += 1  # never started: its pool broke under another unit
            self._waiting.appendleft(unit)
            return
        step_name, worker = unit.last_started or (unit.steps[0].name, None)
        worker = worker or self._dead_worker(exc) or "(unknown)"
        message = (f"worker {worker} died while running step '{step_name}' "
                   f"({type(exc).__name__}: {exc})")
        step = next(s for s in unit.steps if s.name == step_name)
        retry = unit.crashes < int(step.retry or 0)
        if retry:
            unit.crashes += 1
            unit.crashed_step = step_name
            unit.emit(StepRetrying(run_id=unit.args[3], step=step_name, attempt=unit.crashes,
                                   error=message, delay=0.0))
        if is_chain(unit.steps):
            # the outcomes of the steps before it died with the worker: each step runs
            # again on its own, the dead one retried or failed as if it had run alone
            failed = None if retry else self._failed(unit, message, exc, attempts=1,
                                                     only=[step]).results[0]
            _ChainRun(self, unit, step_name, unit.crashes, failed).start()
            return
        if retry:
            self._waiting.appendleft(unit)
            return
        unit.proxy.set_result(self._failed(unit, message, exc, attempts=unit.crashes + 1))

    def _cannot_start(self, unit: Unit, exc: BaseException) -> str:
        names = ", ".join(f"'{s.name}'" for s in unit.steps)
        hint = ""
        if any(word in f"{type(exc).__name__} {exc}".lower() for word in ("pickl", "serializ")):
            hint = (" — the step, its inputs or its context values must be picklable (cloudpickle) "
                    "to run in another process; use executor='threads' for this one")
        return f"step {names} could not run on the {self.name} executor: {type(exc).__name__}: {exc}{hint}"

    def _failed(self, unit: Unit, message: str, exc: BaseException, attempts: int = 0,
                only: list[Any] | None = None) -> UnitOutcome:
        """Every step of ``unit`` (or ``only`` these) failed with ``message``."""
        results = []
        trace = "".join(traceback.format_exception(exc))
        for step in unit.steps if only is None else only:
            res = StepResult(step.name, state="failed", error=message, traceback=trace,
                             output_names=list(step.outputs or [step.name]), attempts=attempts,
                             retries=max(attempts - 1, 0) if step.name == unit.crashed_step else 0)
            if unit.last_started and unit.last_started[0] == step.name:
                res.worker = unit.last_started[1]
            unit.emit(StepFinished(run_id=unit.args[3], step=step.name, state="failed",
                                   error=message, attempts=attempts, worker=res.worker))
            results.append(res)
        return UnitOutcome(results, {})


class _ChainRun:
    """A fused chain whose job failed as a whole, run again one step per job.

    Each step gets the outputs of the ones before it; a step reading an output that will not
    come (its producer failed or was skipped) is answered here, unrun; the step the worker
    died in carries its crash count (``crashes``), or its final result (``failed``).
    """

    def __init__(self, executor: PoolExecutor, unit: Unit, dead: str | None = None,
                 crashes: int = 0, failed: StepResult | None = None) -> None:
        self.executor, self.unit = executor, unit
        self.dead, self.crashes, self.failed = dead, crashes, failed
        self.outcome = UnitOutcome([], {})

    def start(self) -> None:
        self._next(0)

    def _absorb(self, outcome: UnitOutcome) -> None:
        self.outcome.results.extend(outcome.results)
        self.outcome.artifacts.update(outcome.artifacts)

    def _next(self, index: int) -> None:
        unit = self.unit
        artifacts, context, store, run_id, unavailable = unit.args
        while index < len(unit.steps):
            step = unit.steps[index]
            if step.name == self.dead and self.failed is not None:
                self._absorb(UnitOutcome([self.failed], {}))
                index += 1
                continue
            gone = dict(unavailable)
            for res in self.outcome.results:
                if not res.artifacts:
                    why = "skipped" if res.state == "skipped" else "failed"
                    gone.update(dict.fromkeys(res.output_names, why))
            needed = (*step.inputs, *step.condition_params)
            pool = {**artifacts, **self.outcome.artifacts}
            view = {n: pool[n] for n in needed if n in pool}
            lost = {n: gone[n] for n in needed if n in gone}
            ctx = {n: context[n] for n in step.receivable if n in context}
            if lost:  # skipped or upstream_failed, decided before anything would run
                self._absorb(run_unit([step], view, ctx, store, unit.emit, run_id, None, lost))
                index += 1
                continue
            sub = Unit([step], (view, ctx, store, run_id, lost), unit.emit, cf.Future(),
                        unit.needs, alone=True)
            if step.name == self.dead:
                sub.crashes, sub.crashed_step = self.crashes, step.name
            sub.proxy.add_done_callback(lambda f, i=index: self._done(i, f.result()))
            self.executor._waiting.appendleft(sub)
            return
        unit.proxy.set_result(self.outcome)

    def _done(self, index: int, outcome: UnitOutcome) -> None:
        self._absorb(outcome)
        self._next(index + 1)
