"""The executor interface and the scheduler every executor shares.

An executor only knows how to run one *unit* (a step, or an execution group) somewhere and
hand back a future; :func:`schedule` decides what is ready (as soon as its inputs are, not
level by level), feeds results forward and propagates skips and failures.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import traceback
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from flowyml.events import Event, StepFinished
from flowyml.executors.runner import Artifact, StepResult, UnitOutcome, run_unit

Emit = Callable[[Event], None]


class Executor(ABC):
    """Runs units. Subclasses implement :meth:`submit_unit` (and :meth:`close`)."""

    name = "base"
    #: how many units may be in flight at once
    max_in_flight = 1
    #: run a chain of units that only feed each other as one unit (see :func:`fuse_chains`)
    fuse_chains = False

    @abstractmethod
    def submit_unit(self, steps: list[Any], artifacts: dict[str, Artifact], context: dict[str, Any],
                    store: Any, run_id: str, emit: Emit, unavailable: dict[str, str]) -> cf.Future:
        """Start running one unit; the future resolves to a :class:`UnitOutcome`."""

    def fusable(self, steps: list[Any]) -> bool:
        """Whether a unit may be fused with the next one of its chain (``fuse_chains``)."""
        return False

    def check_unit(self, steps: list[Any]) -> str | None:
        """Why this executor can never run ``steps`` (e.g. a resource no worker has), or None.

        Asked once per unit before the run starts, so such a step fails fast, unrun.
        """
        return None

    def wait(self, futures: set[Any]) -> set[Any]:
        """Block until at least one future is done; return the done ones."""
        done = {f for f in futures if f.done()}
        if done:  # e.g. the sequential executor: its futures are resolved on submit
            return done
        done, _ = cf.wait(futures, return_when=cf.FIRST_COMPLETED)
        return done

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers (called once per run when the executor was created for it)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def schedule(
    units: list[list[Any]],
    producers: dict[str, str],
    executor: Executor,
    context: dict[str, Any],
    store: Any,
    run_id: str,
    emit: Emit,
) -> dict[str, StepResult]:
    """Run ``units`` (lists of steps) on ``executor``; return every step's result by name."""
    deps = _unit_deps(units, producers)
    if executor.fuse_chains:
        units = fuse_chains(units, deps, executor.fusable)
        deps = _unit_deps(units, producers)
    results: dict[str, StepResult] = {}
    artifacts: dict[str, Artifact] = {}
    unavailable: dict[str, str] = {}
    # ready-as-soon-as-inputs: count each unit's unfinished dependencies; a unit whose count
    # drops to 0 joins a heap, so the lowest-index ready unit always starts first
    waiting_on = [len(d) for d in deps]
    dependents: list[list[int]] = [[] for _ in units]
    for index, unit_deps in enumerate(deps):
        for dep in unit_deps:
            dependents[dep].append(index)
    ready = [i for i, count in enumerate(waiting_on) if count == 0]
    heapq.heapify(ready)
    remaining = len(units)
    in_flight: dict[Any, int] = {}

    def absorb(index: int, outcome: UnitOutcome) -> None:
        for dependent in dependents[index]:
            waiting_on[dependent] -= 1
            if waiting_on[dependent] == 0:
                heapq.heappush(ready, dependent)
        artifacts.update(outcome.artifacts)
        for res in outcome.results:
            results[res.name] = res
            if not res.artifacts:
                why = "skipped" if res.state == "skipped" else "failed"
                unavailable.update(dict.fromkeys(res.output_names, why))

    # a unit the executor can never run (e.g. a resource no worker has) fails now, unrun
    for index, unit in enumerate(units):
        problem = executor.check_unit(unit)
        if problem is not None:
            waiting_on[index] = -len(units) - 1  # never becomes ready
            ready = [i for i in ready if i != index]
            remaining -= 1
            absorb(index, _refused(unit, problem, run_id, emit))
    heapq.heapify(ready)

    try:
        while remaining or in_flight:
            while ready and len(in_flight) < executor.max_in_flight:
                index = heapq.heappop(ready)
                remaining -= 1
                needed = {n for s in units[index] for n in (*s.inputs, *s.condition_params)}
                view = {n: artifacts[n] for n in needed if n in artifacts}
                gone = {n: unavailable[n] for n in needed if n in unavailable}
                future = executor.submit_unit(units[index], view, _unit_context(units[index], context),
                                              store, run_id, emit, gone)
                in_flight[future] = index
            if not in_flight:
                if remaining:  # cannot happen on a validated DAG
                    stalled = [i for i, count in enumerate(waiting_on) if count]
                    raise RuntimeError(f"flowyml scheduler stalled with units {stalled} pending")
                break
            for future in executor.wait(set(in_flight)):
                index = in_flight.pop(future)
                try:
                    outcome = future.result()
                except BaseException as exc:
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    outcome = crashed(units[index], exc, run_id, emit)
                absorb(index, outcome)
    finally:
        for future in in_flight:
            future.cancel()
    return results


def _unit_deps(units: list[list[Any]], producers: dict[str, str]) -> list[set[int]]:
    """For each unit, the indices of the units it reads from."""
    unit_of = {step.name: i for i, unit in enumerate(units) for step in unit}
    deps: list[set[int]] = []
    for unit in units:
        members = {s.name for s in unit}
        needed = {n for s in unit for n in (*s.inputs, *s.condition_params)}
        deps.append({unit_of[producers[n]] for n in needed
                     if n in producers and producers[n] not in members})
    return deps


def fuse_chains(units: list[list[Any]], deps: list[set[int]],
                fusable: Callable[[list[Any]], bool]) -> list[list[Any]]:
    """Units with a chain ``a -> b -> c`` (``b`` reads only ``a``, and only ``b`` reads ``a``)
    merged into one unit ``a + b + c``, in order.

    Such a chain runs one unit after another anyway, so one worker call for all of it loses
    no parallelism and saves a round trip per link. The executor still answers per step
    (a dead worker fails the step that was running; the ones after it are upstream_failed).
    ``units`` is in DAG order and so is the result (a fused unit takes the place of its
    first member).
    """
    dependents: list[list[int]] = [[] for _ in units]
    for index, unit_deps in enumerate(deps):
        for dep in unit_deps:
            dependents[dep].append(index)
    # only single steps outside execution groups: a group keeps its all-or-nothing meaning
    ok = [len(unit) == 1 and getattr(unit[0], "execution_group", None) is None and fusable(unit)
          for unit in units]
    taken = [False] * len(units)
    fused: list[list[Any]] = []
    for index in range(len(units)):
        if taken[index]:
            continue
        steps = list(units[index])
        current = index
        while (ok[current] and len(dependents[current]) == 1
               and deps[nxt := dependents[current][0]] == {current} and ok[nxt]):
            steps.extend(units[nxt])
            taken[nxt] = True
            current = nxt
        fused.append(steps)
    return fused


def _unit_context(steps: list[Any], context: dict[str, Any]) -> dict[str, Any]:
    """Only the context values a unit can receive: nothing else is shipped to its worker
    (so one unpicklable value only affects the steps that take it)."""
    if len(steps) == 1:
        return {name: context[name] for name in steps[0].receivable if name in context}
    names = frozenset().union(*(step.receivable for step in steps))
    return {name: context[name] for name in names if name in context}


def crashed(steps: list[Any], exc: BaseException, run_id: str, emit: Emit) -> UnitOutcome:
    """A unit whose worker died: every step in it failed with the worker's error."""
    results = []
    for step in steps:
        res = StepResult(step.name, state="failed", output_names=list(step.outputs or [step.name]),
                         error=f"worker failed: {type(exc).__name__}: {exc}",
                         traceback="".join(traceback.format_exception(exc)))
        emit(StepFinished(run_id=run_id, step=step.name, state="failed", error=res.error))
        results.append(res)
    return UnitOutcome(results, {})


def _refused(steps: list[Any], problem: str, run_id: str, emit: Emit) -> UnitOutcome:
    """A unit the executor cannot run at all: every step failed with ``problem``, unrun."""
    results = []
    for step in steps:
        res = StepResult(step.name, state="failed", output_names=list(step.outputs or [step.name]),
                         error=problem)
        emit(StepFinished(run_id=run_id, step=step.name, state="failed", error=problem))
        results.append(res)
    return UnitOutcome(results, {})


def run_unit_local(steps: list[Any], artifacts: dict[str, Artifact], context: dict[str, Any],
                   store: Any, run_id: str, emit: Emit, unavailable: dict[str, str]) -> UnitOutcome:
    """``run_unit`` with the argument order executors submit."""
    return run_unit(steps, artifacts, context, store, emit, run_id, None, unavailable)
