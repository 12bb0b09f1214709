"""Reactive mode: which steps a change makes stale, in which order they re-run, when a wave stops.

After a step cell runs with ``%flowyml auto on``, its stale descendants re-run at once in DAG
order: a *wave*. ``%flowyml run --upto STEP`` is the reverse direction: the stale ancestors
a step needs, then the step. This module decides which steps, in which order, and when to
stop; running one step (as its cell, outputs under that cell) is left to a callback, so
nothing here imports IPython.

The rules, which make loops impossible by construction:

- a wave never contains the step whose cell started it, and visits each step at most once
  (the plan is fixed before the first step runs; a step run by a wave never starts another);
- before each step runs, it is checked again: when what it reads came out unchanged
  from the steps before it in the wave, it is *unchanged* and is not run (nor loaded);
- the first failure (failed, timed out, an input that cannot be resolved) stops the wave;
  the steps after it stay stale;
- an interrupt (the stop button) stops the wave after the step it hit: that step is
  ``interrupted`` (its body was cut short, nothing of it is stored: the cache commits an
  entry only after the body succeeded) and the steps after it stay stale.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flowyml.notebook import staleness as _staleness
from flowyml.notebook.stepcells import StepRunError
from flowyml.render import format_seconds

if TYPE_CHECKING:
    from flowyml.notebook.session import NotebookSession

__all__ = ["STOPPING_STATES", "Wave", "WaveItem", "downstream_wave", "plan_downstream", "plan_upto",
           "run_session_wave", "run_wave", "upto_wave"]

#: states of a wave step after which the wave stops
STOPPING_STATES = frozenset({"failed", "timed_out", "interrupted", "pending", "upstream_failed"})
#: how the headline says why a wave stopped ("stopped at 'c', which ...")
_STOP_WORDS = {"interrupted": "was interrupted", "timed_out": "timed out",
               "pending": "could not get its inputs", "upstream_failed": "has a failed upstream"}
#: a wave step that was not run because what it reads did not change
UNCHANGED = "unchanged"
#: a wave step the wave did not reach (it stopped before): still stale
LEFT_STALE = "stale"


@dataclass
class WaveItem:
    """One step of a wave and how it ended (``pending`` until the wave reaches it)."""

    step: str
    state: str = "pending"
    duration: float | None = None
    time_saved: float | None = None
    error: str | None = None

    def text(self) -> str:
        """``b: done in 0.2 s``, ``c: cached (saved 1.0 s)``, ``d: failed: ZeroDivisionError``."""
        state = self.state
        if state == "done" and self.duration is not None:
            state = f"done in {format_seconds(self.duration)}"
        elif state == "cached" and self.time_saved:
            state = f"cached (saved {format_seconds(self.time_saved)})"
        elif state == UNCHANGED:
            state = "unchanged (its inputs came out the same: not run)"
        elif state == LEFT_STALE:
            state = "stale (not run: the wave stopped before it)"
        elif state == "running":
            state = "running…"
        if self.error and self.state in STOPPING_STATES:
            state += f": {self.error.splitlines()[0] if self.error.strip() else self.error}"
        return f"{self.step}: {state}"


@dataclass
class Wave:
    """A planned (then run) sequence of steps: the stale descendants of ``trigger`` (auto
    mode) or the stale ancestors of ``target`` and the target (``--upto``)."""

    items: list[WaveItem]
    trigger: str | None = None
    target: str | None = None
    stopped_at: str | None = None
    stop_state: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> list[str]:
        return [item.step for item in self.items]

    def item(self, step: str) -> WaveItem:
        for item in self.items:
            if item.step == step:
                return item
        raise KeyError(step)

    def headline(self) -> str:
        """One line: what started the wave and how it ended."""
        if self.trigger is not None:
            start = f"flowyml auto: after '{self.trigger}', {len(self.items)} stale step(s)"
        else:
            start = f"flowyml run --upto {self.target}: {len(self.items)} step(s)"
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.state] = counts.get(item.state, 0) + 1
        done = ", ".join(f"{n} {state}" for state, n in counts.items())
        line = f"{start}: {done}" if done else start
        if self.stopped_at is not None:
            what = _STOP_WORDS.get(self.stop_state or "", self.stop_state)
            line += f"; stopped at '{self.stopped_at}', which {what}"
        return line

    def summary(self) -> str:
        """The headline and one line per step."""
        return "\n".join([self.headline(), *(f"  {item.text()}" for item in self.items)])


def plan_downstream(trigger: str, order: Iterable[str], downstream: Iterable[str],
                    verdicts: Mapping[str, _staleness.Verdict]) -> list[str]:
    """The steps a change of ``trigger`` re-runs: those ``downstream`` of it (its
    descendants in the DAG) that are not fresh, in ``order`` (a topological order).
    Never the trigger itself, never a step twice."""
    below = set(downstream) - {trigger}
    plan, seen = [], set()
    for name in order:
        if name in below and name not in seen:
            verdict = verdicts.get(name)
            if verdict is not None and verdict.state != _staleness.FRESH:
                plan.append(name)
                seen.add(name)
    return plan


def plan_upto(target: str, order: Iterable[str], upstream: Iterable[str],
              verdicts: Mapping[str, _staleness.Verdict]) -> list[str]:
    """What ``target`` needs: its stale ancestors in ``order``, then the target itself
    (a cache hit when it is fresh, so its cell shows its outputs again)."""
    above = set(upstream) - {target}
    plan = [n for n in order if n in above and verdicts.get(n) is not None
            and verdicts[n].state != _staleness.FRESH]
    return [*plan, target]


RunStep = Callable[[str], Any]
Check = Callable[[str, Mapping[str, _staleness.Verdict]], _staleness.Verdict]
Notify = Callable[["Wave", WaveItem], None]


def run_wave(wave: Wave, run_step: RunStep, still_stale: Check | None = None,
             verdicts: Mapping[str, _staleness.Verdict] | None = None,
             on_change: Notify | None = None) -> Wave:
    """Run ``wave``'s steps in order through ``run_step(name)`` (which runs the step as its
    cell and returns its record -- with ``state``, ``duration``, ``time_saved``, ``error``
    -- or raises :class:`flowyml.notebook.stepcells.StepRunError`), stopping at the first failure or
    interrupt. ``still_stale(name, known)`` re-checks a step just before it runs against
    the verdicts ``known`` so far (steps the wave ran are fresh); an unchanged step is not
    run. ``on_change(wave, item)`` is told every change of an item (live status).
    The target of an ``--upto`` wave always runs. Returns ``wave``, its items filled in."""
    known: dict[str, _staleness.Verdict] = dict(verdicts or {})

    def tell(item: WaveItem) -> None:
        if on_change is not None:
            on_change(wave, item)

    for index, item in enumerate(wave.items):
        try:
            if still_stale is not None and item.step != wave.target:
                verdict = still_stale(item.step, known)
                known[item.step] = verdict
                if verdict.state == _staleness.FRESH:
                    item.state = UNCHANGED
                    tell(item)
                    continue
            item.state = "running"
            tell(item)
            rec = run_step(item.step)
        except StepRunError as exc:  # its message repeats the step's name and state
            prefix = f"step '{exc.step}' {exc.state}: "
            text = str(exc)
            item.state, item.error = exc.state, text[len(prefix):] if text.startswith(prefix) else text
        except KeyboardInterrupt:  # between the body's frames: flowyml's own code was cut
            item.state, item.error = "interrupted", "interrupted (KeyboardInterrupt)"
        else:
            item.state = getattr(rec, "state", "done")
            item.duration = getattr(rec, "duration", None)
            item.time_saved = getattr(rec, "time_saved", None) or None
            item.error = getattr(rec, "error", None)
            if item.state in ("done", "cached"):
                known[item.step] = _staleness.Verdict(item.step, _staleness.FRESH)
        if item.state in STOPPING_STATES:
            wave.stopped_at, wave.stop_state = item.step, item.state
            tell(item)
            for rest in wave.items[index + 1:]:
                rest.state = LEFT_STALE
                tell(rest)
            break
        tell(item)
    return wave


# -- over a notebook session ---------------------------------------------------------------
Planned = tuple[Wave, dict[str, _staleness.Verdict]]


def downstream_wave(session: NotebookSession, trigger: str) -> Planned | None:
    """The wave after step ``trigger``'s cell ran (``None``: nothing to do -- it did not
    produce its outputs, the graph is broken, or nothing below it is stale), with the
    verdicts it was planned from."""
    from flowyml.graph import PipelineGraphError, descendants

    rec = session.steps.get(trigger)
    if rec is None or rec.state not in ("done", "cached"):
        return None
    try:
        graph = session.graph()
    except PipelineGraphError:
        return None
    if trigger not in graph:
        return None
    below = descendants(graph, [trigger])
    if not below:
        return None
    verdicts = session.verdicts()
    plan = plan_downstream(trigger, verdicts, below, verdicts)
    if not plan:
        return None
    return Wave([WaveItem(n) for n in plan], trigger=trigger), verdicts


def upto_wave(session: NotebookSession, target: str) -> Planned:
    """``%flowyml run --upto target``: its stale ancestors, then it. Raises KeyError for an
    unknown step and :class:`flowyml.graph.PipelineGraphError` for a broken graph."""
    from flowyml.graph import ancestors

    if target not in session.steps:
        raise KeyError(f"no notebook step named '{target}'; steps: {sorted(session.steps)}")
    graph = session.graph()
    verdicts = session.verdicts()
    plan = plan_upto(target, verdicts, ancestors(graph, [target]), verdicts)
    return Wave([WaveItem(n) for n in plan], target=target), verdicts


def run_session_wave(session: NotebookSession, planned: Planned, run_step: RunStep,
                     on_change: Notify | None = None) -> Wave:
    """Run a planned wave over ``session`` (see :func:`run_wave`), each step re-checked
    with :meth:`NotebookSession.verdict_of` just before it runs. The cell the user ran
    stays the session's "cell run last" (it tells an edited cell from a new one where the
    front end sends no cell id)."""
    wave, verdicts = planned
    last = session._last
    try:
        return run_wave(wave, run_step, session.verdict_of, verdicts, on_change)
    finally:
        session._last = last
