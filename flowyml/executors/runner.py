"""Run one step (or one execution group) with caching, retries, timeouts and conditions.

This is the unit every executor ships to a worker: :func:`run_unit` takes the artifacts the
unit reads and returns its results and new artifacts. It knows nothing of scheduling.
:func:`run_step` reads as its stages (bind, key, look up, call with retries, store,
report); the data they fill (:class:`Artifact`, :class:`StepResult`, :class:`UnitOutcome`)
lives in :mod:`flowyml.executors.results` and is imported here under its old names.
"""

from __future__ import annotations

import functools
import threading
import time
import traceback
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from flowyml import keys as _keys
from flowyml.events import Event, StepFinished, StepRetrying, StepStarted, silent
from flowyml.executors.results import (
    Artifact,
    EntryLoader,
    StepOutputError,
    StepResult,
    UnitOutcome,
    default_shape,
    shape_of,
    split_outputs,
    worker_name,
)
from flowyml.hashing import UnhashableValueError, hash_value
from flowyml.keys import key_digest, stored_name
from flowyml.store import local as _cache
from flowyml.timeouts import StepTimeoutError, awaited, call_with_timeout

if TYPE_CHECKING:
    from flowyml.tracking import files as _files

Emit = Callable[[Event], None]
MAX_RETRY_DELAY = 30.0

#: set by the parallel executors: a map task's items then run concurrently (up to its
#: ``concurrency``) instead of one after another
MAP_PARALLEL: ContextVar[Any] = ContextVar("flowyml_map_parallel", default=False)
#: what a mapper returns for an item it never started (``fail_fast`` after a failure)
NOT_RUN: Any = object()
#: digests of the context values of the current run (a value received by many steps is
#: hashed once); set by Pipeline.run for the steps that run in its thread
RUN_CONTEXT_HASHES: ContextVar[dict[str, str] | None] = ContextVar("flowyml_run_context_hashes",
                                                                   default=None)


class StepInputError(TypeError):
    """A step cannot be called: a required parameter has no value."""


class UncacheableWarning(UserWarning):
    """A step runs without cache because one of its values cannot be hashed."""


class StepNotCached(Exception):
    """Raised for a step that would have to run, when the store only probes the cache
    (``store.probe_only``: the Dask client looking for hits before shipping a unit)."""



# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def run_unit(
    steps: list[Any],
    artifacts: dict[str, Artifact],
    context: dict[str, Any],
    store: Any,
    emit: Emit,
    run_id: str,
    context_hashes: dict[str, str] | None = None,
    unavailable: dict[str, str] | None = None,
) -> UnitOutcome:
    """Run ``steps`` (one step, or an execution group in DAG order) one after another.

    ``unavailable`` maps outputs that will never come to why ("skipped" or "failed"), so a
    step reading one is skipped or marked upstream_failed instead of crashing.
    """
    available = dict(artifacts)
    produced: dict[str, Artifact] = {}
    results = []
    if context_hashes is None:
        context_hashes = RUN_CONTEXT_HASHES.get()
    ctx_hashes = {} if context_hashes is None else context_hashes
    gone = dict(unavailable or {})
    worker = worker_name()  # every step of a unit runs in this thread
    for step in steps:
        result = run_step(step, available, context, store, emit, run_id, ctx_hashes, gone, worker)
        results.append(result)
        available.update(result.artifacts)
        produced.update(result.artifacts)
        if not result.artifacts:
            why = "skipped" if result.state == "skipped" else "failed"
            gone.update(dict.fromkeys(result.output_names, why))
    return UnitOutcome(results, produced)


def run_inline(
    units: list[list[Any]],
    context: dict[str, Any],
    store: Any,
    emit: Emit,
    run_id: str,
) -> dict[str, StepResult]:
    """Run every unit in this thread, in the given (DAG) order; results by step name.

    What :func:`flowyml.executors.schedule` does with an executor that runs each unit at
    once in the calling thread, without its per-unit bookkeeping (futures, ready heap,
    input views): with every unit finished before the next starts, DAG order *is* the
    scheduler's order. The semantics are the same: a step whose inputs were skipped or
    failed upstream is skipped or ``upstream_failed``, and a unit that raises fails all of
    its steps with the error, as a crashed worker does.
    """
    available: dict[str, Artifact] = {}
    gone: dict[str, str] = {}
    results: dict[str, StepResult] = {}
    context_hashes = RUN_CONTEXT_HASHES.get()
    ctx_hashes = {} if context_hashes is None else context_hashes
    worker = worker_name()
    for unit in units:
        try:
            for step in unit:
                result = run_step(step, available, context, store, emit, run_id, ctx_hashes,
                                  gone, worker)
                results[step.name] = result
                if result.artifacts:
                    available.update(result.artifacts)
                else:
                    why = "skipped" if result.state == "skipped" else "failed"
                    gone.update(dict.fromkeys(result.output_names, why))
        except Exception as exc:
            for step in unit:
                done = results.pop(step.name, None)
                for name in done.artifacts if done is not None else ():
                    available.pop(name, None)
                results[step.name] = _unit_failed(step, exc, run_id, emit)
                gone.update(dict.fromkeys(results[step.name].output_names, "failed"))
    return results


def _unit_failed(step: Any, exc: BaseException, run_id: str, emit: Emit) -> StepResult:
    """A step of a unit that raised: failed with the error (as for a crashed worker)."""
    result = StepResult(step.name, state="failed", output_names=list(step.outputs or [step.name]),
                        error=f"worker failed: {type(exc).__name__}: {exc}",
                        traceback="".join(traceback.format_exception(exc)))
    emit(StepFinished(run_id=run_id, step=step.name, state="failed", error=result.error))
    return result


def run_step(
    step: Any,
    available: dict[str, Artifact],
    context: dict[str, Any],
    store: Any,
    emit: Emit,
    run_id: str,
    context_hashes: dict[str, str],
    unavailable: dict[str, str] | None = None,
    worker: str | None = None,
) -> StepResult:
    """Run one step, as a handful of stages (each a function below, named for its stage):

    1. :func:`_bind_inputs` — skip when an input never came or the condition is false, else
       bind each parameter to an artifact or a context value;
    2. :func:`_cache_key` — the key (``None``: the step runs without cache);
    3. :func:`_look_up` — take a stored entry when its recorded files still hold, the global
       generators it drew from allow it, and it is trusted;
    4. :func:`_call_with_retries` — on a miss, call the function with retries and timeout,
       recording the files it touches and the process state it changes
       (a map task runs its items instead: :func:`_run_map`);
    5. :func:`_store_outputs` — the outputs as artifacts, stored with digests and notes;
    6. :func:`_report` — the final state, the duration and the ``StepFinished`` event.

    ``worker`` names the thread running it (``host:pid:thread``; found here when not given).
    """
    result = StepResult(step.name, output_names=list(step.outputs or [step.name]),
                        worker=worker or worker_name())
    started = time.perf_counter()

    def finish(state: str) -> StepResult:
        return _report(result, state, started, step, emit, run_id)

    state, kwargs_src = _bind_inputs(step, available, context, unavailable, result)
    if state is not None:
        return finish(state)
    if emit is not silent:
        emit(StepStarted(run_id=run_id, step=step.name, attempt=1, worker=result.worker))
    key, parts = _cache_key(step, kwargs_src, context_hashes, store, result)
    solo = _solo_enter()  # from its lookup (a hit re-applies state) to its entry's notes
    try:
        if key is not None and (state := _look_up(step, key, store, result, solo)) is not None:
            return finish(state)

        if getattr(store, "probe_only", False):
            raise StepNotCached(step.name)
        kwargs = {param: src.value if isinstance(src, Artifact) else src
                  for param, src in kwargs_src.items()}
        if getattr(step, "is_map_task", False):
            return finish(_run_map(step, kwargs, kwargs_src, store, result, context_hashes, key,
                                   parts))
        computed = _call_with_retries(step, kwargs, key, store, result, emit, run_id, finish)
        if isinstance(computed, str):
            return finish(computed)
        _store_outputs(step, key, parts, kwargs_src, computed, store, result, solo)
    finally:
        _solo_leave()
    return finish("done")


def _report(result: StepResult, state: str, started: float, step: Any, emit: Emit,
            run_id: str) -> StepResult:
    """Finish ``result`` in ``state``: its duration, and the ``StepFinished`` event that
    tells the listeners (widgets, progress bars, the scheduler's log)."""
    result.state = state
    result.duration_seconds = time.perf_counter() - started
    if emit is not silent:
        emit(StepFinished(
            run_id=run_id, step=step.name, state=state, duration=result.duration_seconds,
            cached=result.cached, attempts=result.attempts, error=result.error,
            time_saved=result.time_saved, worker=result.worker,
            rerun_reason=result.rerun_reason,
        ))
    return result


def _bind_inputs(step: Any, available: dict[str, Artifact], context: dict[str, Any],
                 unavailable: dict[str, str] | None,
                 result: StepResult) -> tuple[str | None, dict[str, Any]]:
    """``(None, bound)`` with parameter -> Artifact or context value when the step is to
    run, else ``(state, {})``: "skipped" (its inputs come from skipped steps, or its
    condition is false), "upstream_failed" (an input was never produced) or "failed" (the
    condition raised, or a parameter has no value); the reason is written in ``result``."""
    missing = [n for n in step.inputs if n not in available and n not in context]
    if unavailable:
        missing += [n for n in step.condition_params if n in unavailable and n not in missing]
    else:
        unavailable = {}
    if missing:
        result.skipped = True
        if all(unavailable.get(n) == "skipped" for n in missing):
            result.success = True
            result.skip_reason = f"input(s) {missing} come from skipped steps"
            return "skipped", {}
        result.skip_reason = f"upstream did not produce {missing}"
        result.error = f"step '{step.name}' not run: input(s) {missing} were not produced upstream"
        return "upstream_failed", {}
    try:
        if step.condition is not None and not _condition_holds(step, available, context):
            result.skipped, result.success = True, True
            result.skip_reason = "condition is false"
            return "skipped", {}
        return None, _bind(step, available, context)
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.traceback = traceback.format_exc()
        return "failed", {}


def _look_up(step: Any, key: str, store: Any, result: StepResult,
             solo: int | None = None) -> str | None:
    """"cached" when the store holds a usable entry for ``key`` (``result`` then filled
    from it, its recorded process state replayed), "failed" when the entry cannot be
    trusted (strict signing, or an unusable key: the step never runs), ``None`` to run.

    An entry is passed over (the reason in ``result.rerun_reason``) when a file it read
    changed, when it drew from a global random generator now in another known state, when
    ambient settings it depends on (pandas options, a plot's matplotlib style) differ from
    those it ran with, or -- looked up alone in the main thread (``solo``), where the user
    sees plain Python's state -- when it ran beside other steps while the process state it
    may have set moved.

    The state a hit changed is re-applied here, in the process that would have run the
    step; a store that only probes for the Dask client (which runs nothing itself) is
    handed it instead (``defer_state``), to re-apply on the worker that runs the rest."""
    try:
        entry = store.lookup(key)
    except Exception as exc:
        from flowyml.store.signing_keys import UntrustedEntryError  # loaded when signing is

        if not isinstance(exc, UntrustedEntryError):
            raise
        result.error = str(exc)
        return "failed"
    notes = entry.meta.get("notes") if entry is not None else None
    if notes:  # files and process-wide state are notes of the entry: loaded when there are
        from flowyml.tracking import files as _files

        if (note := _files.note_of(entry.meta)) is not None:
            entry = _files_hold(result, store, entry, note, step)
        if entry is not None and "state" in notes:
            entry = _state_holds(result, store, entry, notes["state"], solo)
    if entry is None:
        return None
    _take_hit(result, store, entry, key)
    if getattr(step, "is_map_task", False):
        result.map_result = step.whole_list_result(result.artifacts[result.output_names[0]])
    return "cached"


@dataclass
class _Computed:
    """What a successful call left: the return value split into outputs, the files it
    touched, its own run time, and the process state from before the first attempt."""

    value: Any
    outputs: dict[str, Any]
    observed: _files.Observed | None
    seconds: float
    before: Any


def _call_with_retries(step: Any, kwargs: dict[str, Any], key: str | None, store: Any,
                       result: StepResult, emit: Emit, run_id: str,
                       finish: Callable[[str], StepResult]) -> _Computed | str:
    """Call the step's function up to ``1 + retry`` times, each under its ``timeout``,
    waiting :func:`backoff` between attempts; the final state ("failed", "timed_out") when
    every attempt failed. A cached step's file reads and writes are recorded, and the
    process-wide state (seeds, options, ``sys.path``) is snapshot first (what is made of
    it depends on whether the step ran alone: :func:`_state_notes`). An interrupt finishes
    the step as "interrupted" and propagates."""
    from flowyml.tracking import files as _files
    from flowyml.tracking import state as _state

    attempts = 1 + max(int(step.retry or 0), 0)
    tracking = _tracking(step, store) if key is not None else None
    # an `async def` step runs to its end inside the call, its time limit a timer in its loop
    func, timeout = awaited(step.func, step.timeout), step.timeout
    if func is not step.func:
        timeout = None
    func = func if tracking is None else _files.Recorded(func, tracking)
    observed = None
    before = _state.snapshot() if key is not None else None
    for attempt in range(1, attempts + 1):
        result.attempts = attempt
        t0 = time.perf_counter()
        try:
            value = call_with_timeout(func, kwargs, timeout)
            if tracking is not None:
                value, observed = value
            outputs = split_outputs(step, value)
        except KeyboardInterrupt:
            result.error = "interrupted (KeyboardInterrupt)"
            finish("interrupted")
            raise
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.traceback = traceback.format_exc()
            timed_out = isinstance(exc, StepTimeoutError)
            if attempt < attempts and not isinstance(exc, StepOutputError | StepInputError):
                delay = backoff(step, attempt)
                emit(StepRetrying(run_id=run_id, step=step.name, attempt=attempt, error=result.error, delay=delay))
                result.retries += 1
                time.sleep(delay)
                continue
            return "timed_out" if timed_out else "failed"
        return _Computed(value, outputs, observed, time.perf_counter() - t0, before)
    raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover


def _store_outputs(step: Any, key: str | None, parts: Any, kwargs_src: dict[str, Any],
                   computed: _Computed, store: Any, result: StepResult,
                   solo: int | None = None) -> None:
    """Mark ``result`` done with the computed outputs as artifacts and, when the step has a
    key, store them with their digests, what ``flowyml why`` compares, the files recorded
    and the process state the step changed (replayed on a later hit)."""
    result.success, result.error, result.traceback = True, None, None
    result.output_shape = shape_of(computed.value, result.output_names)
    result.artifacts = {n: Artifact(n, v, producer=step.name) for n, v in computed.outputs.items()}
    if key is not None:
        changed = _state_notes(step, computed.before, solo)
        _store(key, parts, computed.outputs, result, store, computed.seconds,
               explain=_explain(step, kwargs_src), observed=computed.observed,
               notes={"state": changed} if changed else None)


def _tracking(step: Any, store: Any) -> _files.Tracking | None:
    """How the step's files are recorded (``None``: not at all): ``track_files`` and
    ``FLOWYML_TRACK_FILES`` turn reads off, declared ``files`` are always tracked."""
    from flowyml.tracking import files as _files

    if getattr(step, "is_map_task", False):
        return None
    enabled = getattr(step, "track_files", True) and _files.enabled_by_env()
    declared = getattr(step, "files", None) or ()
    if not enabled and not declared:
        return None
    return _files.Tracking(declared, enabled=enabled, skip=[str(getattr(store, "root", "") or "")],
                           code=getattr(step.func, "__code__", None), step=step.name)


def _files_hold(result: StepResult, store: Any, entry: _cache.CacheEntry,
                note: dict[str, Any], step: Any) -> _cache.CacheEntry | None:
    """The entry when the files it recorded still hold (the ones it wrote put back), else
    ``None`` with the reason in ``result.rerun_reason`` (the step re-runs)."""
    from flowyml.tracking import files as _files

    recorded = getattr(step, "track_files", True) and _files.enabled_by_env()
    reason = _files.stale_reason(note, recorded=recorded) or (recorded and _files.put_back(
        note, lambda: store.load(entry).get(_files.FILES_OUTPUT, {}))) or None
    if reason is not None:
        result.rerun_reason = reason
        return None
    result.files = note
    return entry


def _state_holds(result: StepResult, store: Any, entry: _cache.CacheEntry,
                 notes: dict[str, Any], solo: int | None) -> _cache.CacheEntry | None:
    """The entry with the process state it changed re-applied (or handed to the probing
    store), else ``None`` with the reason in ``result.rerun_reason``."""
    from flowyml.tracking import state as _state

    defer = getattr(store, "defer_state", None)
    if defer is not None:  # the Dask client: the state belongs to the worker
        defer(notes)
        return entry
    reason = _state.refusal(notes, plain=solo is not None and _in_main_thread())
    if reason is not None:
        result.rerun_reason = reason
        return None
    _state.replay(notes)  # the seed, options, paths it set, in order
    return entry


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# -- steps running in this process ------------------------------------------------------------
# Process-wide state can be attributed to a step only when no other step ran in the process
# meanwhile (the threads executor runs steps side by side; so does a Dask worker with several
# threads). Every step counts itself from its lookup to its entry's notes.

_solo_lock = threading.Lock()
#: [steps running now, steps started so far] in this process
_solo = [0, 0]


def _solo_enter() -> int | None:
    """Count a step as running; a token when it is the only one (``None``: others run)."""
    with _solo_lock:
        _solo[0] += 1
        _solo[1] += 1
        return _solo[1] if _solo[0] == 1 else None


def _solo_still(token: int | None) -> bool:
    """Whether the step that got ``token`` has been alone since (no other step started)."""
    return token is not None and _solo[1] == token


def _solo_leave() -> None:
    with _solo_lock:
        _solo[0] -= 1


def _state_notes(step: Any, before: dict[str, Any] | None,
                 solo: int | None) -> dict[str, Any] | None:
    """The process state a step changed, for its entry: recorded (re-applied on a hit) when
    it ran alone in this process from its lookup to now; else only which items moved
    meanwhile, by it or the steps beside it (:func:`flowyml.tracking.state.untracked`)."""
    from flowyml.tracking import state as _state

    if before is None:
        return None

    def source() -> str:
        return _source_of(step)

    if _solo_still(solo):
        changed = _state.record(before, source)
        if _solo_still(solo):  # no step started while the state was read
            return changed
    return _state.untracked(before, source)


def _source_of(step: Any) -> str:
    """The step function's source (to see whether it seeds a generator), else ``""``: the
    one read on the caller for a step shipped to another process (``pinned_source``), whose
    function travels by value, without a file to read it from."""
    import inspect

    pinned = getattr(step, "pinned_source", None)
    if pinned is not None:
        return pinned
    code = getattr(step.func, "__code__", None)
    if code is not None:
        return _code_source(code)
    try:
        return inspect.getsource(step.func)
    except (OSError, TypeError):
        return ""


@functools.lru_cache(maxsize=1024)
def _code_source(code: Any) -> str:
    """The source of a code object (read once: a code object's source does not change;
    a redefined function or a re-run cell has a new one)."""
    import inspect

    try:
        return inspect.getsource(code)
    except (OSError, TypeError):
        return ""


def _take_hit(result: StepResult, store: Any, entry: _cache.CacheEntry, key: str) -> None:
    """Fill ``result`` from a verified entry without loading it: each output's digest is the
    one recorded when it was stored, and its value loads on first use."""
    loader = EntryLoader(store, entry)
    hashes = entry.output_hashes
    producer = result.name
    result.artifacts = {
        n: Artifact(n, digest=hashes.get(stored_name(n)), loader=loader, producer=producer)
        for n in result.output_names
    }
    result.cached = result.success = True
    result.output_shape = entry.meta.get("shape") or default_shape(result.output_names)
    result.time_saved = entry.duration
    result.cache_key = key


def backoff(step: Any, attempt: int) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): exponential, capped."""
    return min(step.retry_delay * (2 ** (attempt - 1)), MAX_RETRY_DELAY)


def _explain(step: Any, kwargs_src: dict[str, Any]) -> dict[str, Any] | None:
    """What ``flowyml why`` compares later (code parts, small context values)."""
    from flowyml.store.explain import explain_facts

    try:
        return explain_facts(step.func, {p: v for p, v in kwargs_src.items()
                                         if not isinstance(v, Artifact)})
    except Exception:
        return None


def _store(key: str, parts: Any, outputs: dict[str, Any], result: StepResult,
           store: Any, duration: float, explain: dict[str, Any] | None = None,
           observed: _files.Observed | None = None, notes: dict[str, Any] | None = None) -> None:
    from flowyml.tracking import files as _files

    hashes = {}
    for n, a in result.artifacts.items():
        try:
            hashes[stored_name(n)] = a.hash
        except UnhashableValueError:
            a._hash = hashes[stored_name(n)] = key_digest(key, n)
    if callable(parts):
        parts = parts()
    stored = {stored_name(n): v for n, v in outputs.items()}
    notes = dict(notes or {})
    if observed is not None and observed.note:
        result.files = observed.note
        notes[_files.NOTE] = observed.note
        if observed.kept:
            stored[_files.FILES_OUTPUT] = observed.kept
    if store.store(key, stored, output_hashes=hashes, parts=parts, duration=duration,
                   shape=result.output_shape, explain=explain, notes=notes or None):
        result.cache_key = key


#: a map task's whole output list is stored as one entry too (besides each item's) when
#: it is estimated at most this big: a rerun over the same list is then one lookup instead
#: of one per item, while large outputs, where per-item lookups cost little next to the
#: data, are not stored twice
MAP_WHOLE_MAX_BYTES = 16 * 2**20


def _run_map(step: Any, kwargs: dict[str, Any], kwargs_src: dict[str, Any], store: Any,
             result: StepResult, context_hashes: dict[str, str], key: str | None = None,
             parts: Any = None) -> str:
    """A map task inside a pipeline: each item is its own cached call.

    ``key`` is the map task's key as a whole (its code, the items list's digest, the other
    values it receives); when every item succeeds and the list is small, the list is stored
    under it, so the next run over the same items is one lookup (see :func:`run_step`).
    """
    t0 = time.perf_counter()
    items_param = step.map_param
    items = kwargs.pop(items_param)
    rest_src = {p: s for p, s in kwargs_src.items() if p != items_param}
    outcome = step.map_items(items, kwargs, store=store, parallel=MAP_PARALLEL.get(),
                             key_for=_item_keyer(step, rest_src, context_hashes))
    result.map_result = outcome
    result.attempts = 1
    result.retries = outcome.retries
    if outcome.failures and outcome.success_ratio < step.map_config.min_success_ratio:
        result.error = (
            f"map task '{step.name}': {outcome.failures}/{outcome.total} items failed "
            f"(success ratio {outcome.success_ratio:.0%} < required "
            f"{step.map_config.min_success_ratio:.0%}); first error: "
            f"{next(iter(outcome.errors.values()))}"
        )
        return "failed"
    result.success = True
    result.cached = outcome.total > 0 and outcome.cached == outcome.total
    out_name = result.output_names[0]
    values = list(outcome.results)
    result.artifacts = {out_name: Artifact(out_name, values, producer=step.name)}
    if (key is not None and not outcome.failures
            and _estimated_size(values, MAP_WHOLE_MAX_BYTES) is not None):
        _store(key, parts, {out_name: values}, result, store, time.perf_counter() - t0,
               explain=_explain(step, kwargs_src))
    return "cached" if result.cached else "done"


def _item_keyer(step: Any, rest_src: dict[str, Any],
                context_hashes: dict[str, str]) -> Callable[[Any], str | None]:
    """``key_for(item)`` of a map task's items: the parts every item shares (code, the other
    values it receives) are hashed once, each item's value once per item."""
    none: Callable[[Any], str | None] = lambda item: None  # noqa: E731
    if step.cache is False:
        return none
    try:
        shared = {p: _src_hash(p, s, context_hashes) for p, s in rest_src.items()}
    except UnhashableValueError:
        return none
    name = step.name
    code = None if step.cache == "input_hash" else step.get_code_hash()

    digests: dict[int, str] = {}  # id(item) -> its digest, from key_for to parts_of

    def key_for(item: Any) -> str | None:
        try:
            digest = hash_value(item)
        except UnhashableValueError:
            return None
        digests[id(item)] = digest
        return _keys.make_key(name, code, {**shared, "<item>": digest})

    def parts_of(item: Any) -> dict[str, Any]:
        """What an item entry records as its parts (gc tells one definition's items by them)."""
        digest = digests.pop(id(item), None) or hash_value(item)
        return _keys.key_parts(name, code, {**shared, "<item>": digest})

    key_for.parts_of = parts_of  # type: ignore[attr-defined]
    return key_for


def _estimated_size(value: Any, limit: int) -> int | None:
    """A rough size in bytes of ``value`` once pickled, or ``None`` when it is over ``limit``
    or made of objects whose size this cannot tell (without pickling it)."""
    total = 0
    stack = [value]
    while stack:
        obj = stack.pop()
        cls = type(obj)
        if cls in (int, float, bool, complex) or obj is None:
            total += 16
        elif cls in (str, bytes, bytearray):
            total += 16 + len(obj)
        elif cls in (list, tuple, set, frozenset):
            total += 16 + 8 * len(obj)
            stack.extend(obj)
        elif cls is dict:
            total += 16 + 16 * len(obj)
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(getattr(obj, "nbytes", None), int):  # numpy arrays and scalars
            if getattr(getattr(obj, "dtype", None), "hasobject", False):
                return None  # nbytes counts only the pointers
            total += 128 + obj.nbytes
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            total += 64
            stack.extend(vars(obj).values())
        else:
            return None
        if total > limit:
            return None
    return total


def _condition_holds(step: Any, available: dict[str, Artifact], context: dict[str, Any]) -> bool:
    kwargs = {}
    for name, has_default in step.condition_signature:
        if name in available:
            kwargs[name] = available[name].value
        elif name in context:
            kwargs[name] = context[name]
        elif not has_default:
            raise StepInputError(
                f"condition of step '{step.name}' asks for '{name}', which is neither an "
                "upstream output nor a context value"
            )
    return bool(step.condition(**kwargs))


def _bind(step: Any, available: dict[str, Artifact], context: dict[str, Any]) -> dict[str, Any]:
    """Parameter name -> Artifact (declared inputs) or plain value (context)."""
    bound: dict[str, Any] = {}
    for input_name, param in step.input_binding.items():
        if input_name in available:
            bound[param] = available[input_name]
        else:
            bound[param] = context[input_name]
    for param, has_default in step.injectable_params:
        if param in bound:
            continue
        if param in context:
            bound[param] = context[param]
        elif not has_default:
            raise StepInputError(
                f"step '{step.name}' needs parameter '{param}', but it is neither a declared "
                f"input nor in the context. Pass it with pipeline.run({param}=...), add it to "
                f"the pipeline's context, give it a default, or declare it in inputs=[...]."
            )
    return bound


def _src_hash(param: str, src: Any, context_hashes: dict[str, str]) -> str:
    if isinstance(src, Artifact):
        return src.hash
    token = f"{param}:{id(src)}"
    digest = context_hashes.get(token)
    if digest is None:
        digest = hash_value(src)
        context_hashes[token] = digest
    return digest


def _cache_key(step: Any, kwargs_src: dict[str, Any], context_hashes: dict[str, str],
               store: Any, result: StepResult) -> tuple[str | None, Any]:
    """The step's key and what to record as its parts (a zero-argument callable for the
    default strategies: the decodable parts are only built when an entry is written)."""
    if step.cache is False or not store.enabled:
        return None, None
    try:
        if callable(step.cache) and not isinstance(step.cache, bool | str):
            inputs = {n: kwargs_src[p].value if isinstance(kwargs_src[p], Artifact) else kwargs_src[p]
                      for n, p in step.input_binding.items()}
            ctx = {p: v for p, v in kwargs_src.items() if not isinstance(v, Artifact)}
            user_key = str(step.cache(inputs, ctx))
            return _keys.custom_key(step.name, user_key), {"custom": user_key}
        params = {p: _src_hash(p, s, context_hashes) for p, s in kwargs_src.items()}
    except UnhashableValueError as exc:
        if getattr(step, "is_map_task", False):
            return None, None  # no whole entry; the items are still cached one by one
        param = next((p for p, s in kwargs_src.items() if not _hashable(s, context_hashes, p)), "?")
        result.uncacheable_reason = f"parameter '{param}' cannot be hashed: {exc}"
        warnings.warn(f"step '{step.name}' runs without cache: {result.uncacheable_reason}",
                      UncacheableWarning, stacklevel=2)
        return None, None
    code = None if step.cache == "input_hash" else step.get_code_hash()
    return _keys.make_key(step.name, code, params), functools.partial(_keys.key_parts, step.name, code, params)


def _hashable(src: Any, context_hashes: dict[str, str], param: str) -> bool:
    try:
        _src_hash(param, src, context_hashes)
        return True
    except UnhashableValueError:
        return False
