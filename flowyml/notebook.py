"""The notebook's steps: define them from cells, run them with the cache, say what is stale.

:class:`NotebookSession` is the logic behind ``%%step`` and ``%flowyml``; it never imports
IPython. A ``%%step`` cell *is* the function :func:`flowyml.analysis.make_step_function`
builds (parameters = the values it reads, globals = the user namespace), registered as an
ordinary :class:`flowyml.Step`, so its cache key is exactly the one a pipeline run -- or the
exported module -- computes. Running the body itself is left to a callback, so the magic can
run it as a normal cell (prints, displays, tracebacks) while this module handles the cache,
retries, time limits, conditions and provenance.
"""

from __future__ import annotations

import difflib
import inspect
import time
import types
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowyml import cache as _cache
from flowyml import staleness as _staleness
from flowyml.analysis import assigned_names, infer_io, make_step_function
from flowyml.cellspec import StepCellSpec
from flowyml.core.step import Step, _global_registry
from flowyml.events import Event, StepFinished, StepRetrying, StepStarted, bus
from flowyml.hashing import UnhashableValueError, hash_value
from flowyml.runner import backoff
from flowyml.timeouts import StepTimeoutError, time_limit

#: the origin module of notebook steps (re-running a cell replaces its step)
NOTEBOOK_ORIGIN = "__notebook__"
#: states after which a step's outputs are in the namespace
PRODUCED = ("done", "cached")


class StepDefinitionError(ValueError):
    """A ``%%step`` cell cannot become a step (bad inputs/outputs, name clash...)."""


class StepRunError(RuntimeError):
    """A step cell did not produce its outputs; the details were shown above.

    IPython shows only the one-line message (``_render_traceback_``): the body's own
    traceback has already been displayed like a normal cell's.
    """

    def __init__(self, step: str, state: str, message: str) -> None:
        super().__init__(message)
        self.step, self.state = step, state

    def _render_traceback_(self) -> list[str]:
        return [f"flowyml: {self}"]


@dataclass
class NotebookStep:
    """One ``%%step`` cell: its definition, its last run and what its outputs came from."""

    name: str
    body: str
    params: list[str]
    outputs: list[str]
    step: Step
    spec: StepCellSpec
    state: str = "pending"
    made: _staleness.Provenance | None = None
    duration: float = 0.0
    attempts: int = 0
    error: str | None = None
    time_saved: float = 0.0
    cache_key: str | None = None
    uncacheable_reason: str | None = None
    runs: int = 0  # how many times the body was executed in this session


@dataclass(frozen=True)
class StepStatus:
    """A row of ``%flowyml status``."""

    name: str
    state: str
    why: str
    duration: float = 0.0
    time_saved: float = 0.0
    error: str | None = None


@dataclass
class RunReport:
    """What ``%flowyml run`` did."""

    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    result: Any = None

    def summary(self) -> str:
        if not (self.ran or self.cached or self.failed or self.skipped):
            return "flowyml: nothing to run, every step is up to date"
        parts = [f"ran {', '.join(self.ran)}" if self.ran else "",
                 f"loaded from cache {', '.join(self.cached)}" if self.cached else "",
                 f"skipped {', '.join(self.skipped)}" if self.skipped else "",
                 f"FAILED {', '.join(self.failed)}" if self.failed else "",
                 f"left untouched (fresh) {', '.join(self.fresh)}" if self.fresh else ""]
        return "flowyml: " + "; ".join(p for p in parts if p)


def is_code_dependency(value: Any) -> bool:
    """Modules, functions and classes a cell reads are code, not data: they go into the
    code fingerprint (through the function's globals), not into the parameters."""
    return (inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value)
            or isinstance(value, Step | types.MethodType))


class NotebookSession:
    """The steps of one notebook kernel, over its user namespace ``ns``."""

    def __init__(self, namespace: dict[str, Any], cache_dir: str | Path | None = None,
                 emit: Callable[[Event], None] | None = None) -> None:
        self.ns = namespace
        self.cache_dir = cache_dir
        self.context: dict[str, Any] = {}
        self.steps: dict[str, NotebookStep] = {}
        self._stores: dict[Path, _cache.CacheStore] = {}
        self._known: dict[str, tuple[Any, str]] = {}  # output name -> (value, digest)
        self._emit = emit or bus.emit

    # -- cache -----------------------------------------------------------------------------
    @property
    def store(self) -> _cache.CacheStore:
        """The store at ``cache_dir``, else ``FLOWYML_CACHE_DIR``, else ``./.flowyml/cache``."""
        root = Path(self.cache_dir) if self.cache_dir is not None else _cache.default_cache_dir()
        root = root.expanduser().resolve()
        if root not in self._stores:
            self._stores[root] = _cache.CacheStore(root)
        return self._stores[root]

    # -- defining --------------------------------------------------------------------------
    def producers(self, exclude: str | None = None) -> dict[str, str]:
        """Output name -> the notebook step producing it."""
        return {out: rec.name for rec in self.steps.values() if rec.name != exclude
                for out in rec.outputs}

    def define(self, spec: StepCellSpec, body: str) -> NotebookStep:
        """Turn a cell into a registered step (replacing the cell's previous version)."""
        try:
            io = infer_io(body)
        except SyntaxError as exc:
            raise StepDefinitionError(
                f"%%step: the cell body has a syntax error at line {exc.lineno}: {exc.msg}"
            ) from None
        if spec.outputs is not None:
            assigned = assigned_names(body)
            missing = [o for o in spec.outputs if o not in assigned]
            if missing:
                raise StepDefinitionError(
                    f"%%step: declared output(s) {missing} are never assigned in the cell "
                    f"(it assigns {sorted(io.writes)}); assign them or fix --outputs"
                )
            outputs = list(spec.outputs)
        else:
            outputs = list(io.writes)
        if not outputs:
            raise StepDefinitionError(
                "%%step: the cell assigns no variable at top level, so the step has no output; "
                "assign its result to a name (e.g. `result = ...`) or declare -o NAME"
            )
        name = spec.name or outputs[0]
        others = self.producers(exclude=name)
        if spec.inputs is not None:
            params = list(spec.inputs)
        else:
            params = [n for n in io.reads if not is_code_dependency(self.ns.get(n))]
            unknown = [n for n in params
                       if n not in self.ns and n not in self.context and n not in others]
            if unknown:
                known = [k for k in self.ns if not k.startswith("_")] + list(others)
                hints = "".join(
                    f" Did you mean {close[0]!r} for {u!r}?" for u in unknown
                    if (close := difflib.get_close_matches(u, known, n=1))
                )
                raise StepDefinitionError(
                    f"%%step {name}: the cell reads {unknown}, which no cell above defines and "
                    f"no step produces. Define it in an ordinary cell, set it with "
                    f"`%flowyml context {unknown[0]}=...`, or declare --inputs.{hints}"
                )
        both = [p for p in params if p in outputs]
        if both:
            raise StepDefinitionError(
                f"%%step {name}: the cell reads and reassigns {both}; a step must not "
                f"overwrite its own input. Give the result a new name (e.g. {both[0]}_new)."
            )
        clash = {o: others[o] for o in outputs if o in others}
        if clash:
            out, other = next(iter(clash.items()))
            raise StepDefinitionError(
                f"%%step {name}: output '{out}' is already produced by step '{other}'. Give "
                f"the result a new name, or drop the old step with `%flowyml forget {other}`."
            )
        condition = (_condition_function(spec.condition, self.ns)
                     if spec.condition is not None else None)
        tags: dict[str, Any] = dict(spec.tags)
        if spec.pipeline is not None:
            tags["pipeline"] = spec.pipeline
        func = make_step_function(name, params, outputs, body, self.ns,
                                  filename=f"<flowyml-step-{name}>")
        try:
            step = Step(func, name=name, inputs=params, outputs=outputs, cache=spec.cache,
                        retry=spec.retries, timeout=spec.timeout,
                        resources=spec.resources or None, tags=tags, condition=condition,
                        execution_group=spec.group, description=spec.description)
            step.origin = (NOTEBOOK_ORIGIN, name)
            _global_registry.register(step)
        except (ValueError, TypeError) as exc:
            raise StepDefinitionError(f"%%step {name}: {exc}") from None
        old = self.steps.get(name)
        rec = NotebookStep(name, body, params, outputs, step, spec)
        if old is not None:  # same cell run again: keep what its outputs were made from
            rec.made, rec.state, rec.runs = old.made, old.state, old.runs
            rec.duration, rec.time_saved = old.duration, old.time_saved
        self.steps[name] = rec
        return rec

    def forget(self, name: str) -> None:
        """Drop a step (the cell was deleted or renamed)."""
        if name not in self.steps:
            raise KeyError(f"no notebook step named '{name}'; steps: {sorted(self.steps)}")
        del self.steps[name]
        _global_registry.unregister(name)

    # -- values and keys -------------------------------------------------------------------
    def value_of(self, rec: NotebookStep, param: str) -> Any:
        """The value a parameter receives: an upstream output, else a context value, else the
        notebook variable. Raises KeyError naming where it should come from."""
        producer = self.producers(exclude=rec.name).get(param)
        if producer is None and param in self.context:
            return self.context[param]
        if param in self.ns:
            return self.ns[param]
        if producer is not None:
            raise KeyError(f"step '{rec.name}' needs '{param}' from step '{producer}', which has "
                           f"not run yet; run its cell or `%flowyml run {rec.name}`")
        raise KeyError(f"step '{rec.name}' needs '{param}', which is not defined; define it in "
                       f"a cell or with `%flowyml context {param}=...`")

    def digest_of(self, name: str, value: Any) -> str:
        """Content digest of ``value``; step outputs still in place are not re-hashed."""
        known = self._known.get(name)
        if known is not None and known[0] is value:
            return known[1]
        return hash_value(value)

    def _remember_outputs(self, values: dict[str, Any], digests: dict[str, str | None]) -> None:
        for out, value in values.items():
            digest = digests.get(out)
            if digest is not None:
                self._known[out] = (value, digest)
            else:
                self._known.pop(out, None)

    def cache_key(self, rec: NotebookStep, values: dict[str, Any]
                  ) -> tuple[str | None, dict[str, Any] | None, dict[str, str | None]]:
        """(key, decodable parts, digest of each parameter): the runner's key for these values."""
        digests: dict[str, str | None] = {}
        unhashable: str | None = None
        for param, value in values.items():
            try:
                digests[param] = self.digest_of(param, value)
            except UnhashableValueError as exc:
                digests[param] = None
                unhashable = unhashable or f"parameter '{param}' cannot be hashed: {exc}"
        rec.uncacheable_reason = unhashable
        if rec.step.cache is False or unhashable:
            return None, None, digests
        code = None if rec.step.cache == "input_hash" else rec.step.get_code_hash()
        params = {p: d for p, d in digests.items() if d is not None}
        return (_cache.make_key(rec.name, code, params),
                _cache.key_parts(rec.name, code, params), digests)

    # -- running a cell --------------------------------------------------------------------
    def run_cell_step(self, rec: NotebookStep,
                      execute: Callable[[], BaseException | None]) -> NotebookStep:
        """Run a step cell: cache hit -> outputs into the namespace; miss -> ``execute()`` runs
        the body in the namespace (returning the exception it raised, if any), with retries
        and the time limit, then the outputs are stored. Raises :class:`StepRunError` when
        the step did not produce its outputs (not for a false condition)."""
        run_id = uuid.uuid4().hex[:12]
        step = rec.step
        rec.error, rec.attempts, rec.time_saved, rec.cache_key = None, 0, 0.0, None
        started = time.perf_counter()

        def finish(state: str, raise_error: bool = False) -> NotebookStep:
            rec.state = state
            rec.duration = time.perf_counter() - started
            self._emit(StepFinished(run_id=run_id, step=rec.name, state=state,
                                    duration=rec.duration, cached=state == "cached",
                                    attempts=rec.attempts, error=rec.error,
                                    time_saved=rec.time_saved))
            if raise_error:
                raise StepRunError(rec.name, state, f"step '{rec.name}' {state}: {rec.error}")
            return rec

        try:
            values = {p: self.value_of(rec, p) for p in rec.params}
        except KeyError as exc:
            rec.error = exc.args[0]
            return finish("pending", raise_error=True)
        if step.condition is not None:
            try:
                holds = _condition_holds(rec, self)
            except Exception as exc:
                rec.error = f"--condition {rec.spec.condition!r} failed: {type(exc).__name__}: {exc}"
                return finish("failed", raise_error=True)
            if not holds:
                rec.error = None
                return finish("skipped")
        for param, value in values.items():  # the body reads context values as variables
            if param in self.context and self.ns.get(param) is not value:
                self.ns[param] = value
        key, parts, digests = self.cache_key(rec, values)
        self._emit(StepStarted(run_id=run_id, step=rec.name, attempt=1))
        store = self.store
        entry = store.lookup(key) if key is not None else None
        if entry is not None:
            try:
                outputs = store.load(entry)
            except _cache.CacheLoadError as exc:  # removed since the lookup: recompute
                warnings.warn(str(exc), _cache.CacheWarning, stacklevel=2)
                outputs = {}
            if set(rec.outputs) <= set(outputs):
                self.ns.update({o: outputs[o] for o in rec.outputs})
                hashes = {o: entry.output_hashes.get(o) for o in rec.outputs}
                self._remember_outputs({o: outputs[o] for o in rec.outputs}, hashes)
                rec.made = _staleness.Provenance(self._code_now(rec), digests, hashes)
                rec.time_saved, rec.cache_key = entry.duration, key
                return finish("cached")

        attempts = 1 + max(int(step.retry or 0), 0)
        compute = 0.0
        for attempt in range(1, attempts + 1):
            rec.attempts = attempt
            if attempt > 1:
                self._emit(StepStarted(run_id=run_id, step=rec.name, attempt=attempt))
            t0 = time.perf_counter()
            try:
                with time_limit(step.timeout):
                    error = execute()
            except StepTimeoutError as exc:  # fired outside the body's own frames
                error = exc
            compute = time.perf_counter() - t0
            rec.runs += 1
            if error is None:
                missing = [o for o in rec.outputs if o not in self.ns]
                if missing:
                    rec.error = f"the cell did not assign output(s) {missing}"
                    return finish("failed", raise_error=True)
                break
            rec.error = f"{type(error).__name__}: {error}".rstrip(": ")
            if isinstance(error, KeyboardInterrupt):
                rec.error = "interrupted (KeyboardInterrupt)"
                return finish("interrupted", raise_error=True)
            state = "timed_out" if isinstance(error, StepTimeoutError) else "failed"
            if attempt == attempts:
                return finish(state, raise_error=True)
            delay = backoff(step, attempt)
            self._emit(StepRetrying(run_id=run_id, step=rec.name, attempt=attempt,
                                    error=rec.error, delay=delay))
            time.sleep(delay)

        rec.error = None
        outputs = {o: self.ns[o] for o in rec.outputs}
        hashes: dict[str, str | None] = {}
        for out, value in outputs.items():
            try:
                hashes[out] = hash_value(value)
            except UnhashableValueError as exc:
                hashes[out] = None
                rec.uncacheable_reason = f"output '{out}' cannot be hashed: {exc}"
        self._remember_outputs(outputs, hashes)
        rec.made = _staleness.Provenance(self._code_now(rec), digests, hashes)
        if key is not None and None not in hashes.values() and store.store(
                key, outputs, output_hashes=hashes, parts=parts, duration=compute):
            rec.cache_key = key
        return finish("done")

    # -- staleness -------------------------------------------------------------------------
    def order(self) -> list[str]:
        """The notebook steps in DAG order (definition order where the graph is broken)."""
        from flowyml import graph as _graph

        steps = [rec.step for rec in self.steps.values()]
        names = {p for rec in self.steps.values() for p in rec.params}
        try:
            return _graph.topological_order(_graph.build_dag(steps, available=names))
        except _graph.PipelineGraphError:
            return list(self.steps)

    def graph(self) -> Any:
        """The networkx DAG of the notebook steps (for the DAG widget)."""
        from flowyml import graph as _graph

        names = {p for rec in self.steps.values() for p in rec.params}
        return _graph.build_dag([rec.step for rec in self.steps.values()], available=names)

    def _param_digests(self, rec: NotebookStep) -> dict[str, str | None]:
        """The digest of each parameter's current value (``None``: missing or unhashable)."""
        digests: dict[str, str | None] = {}
        for param in rec.params:
            try:
                digests[param] = self.digest_of(param, self.value_of(rec, param))
            except (KeyError, UnhashableValueError):
                digests[param] = None
        return digests

    def _code_now(self, rec: NotebookStep) -> str | None:
        try:
            return rec.step.get_code_hash()
        except Exception:
            return None

    def verdicts(self) -> dict[str, _staleness.Verdict]:
        """Fresh / stale / never-run, with reasons, for every step in DAG order."""
        order = self.order()
        made, code_now, inputs_now = {}, {}, {}
        for name in order:
            rec = self.steps[name]
            made[name] = rec.made
            code_now[name] = self._code_now(rec)
            inputs_now[name] = self._param_digests(rec)
        return _staleness.assess(order, made, code_now, inputs_now, self.producers())

    def status(self) -> list[StepStatus]:
        """One row per step: its state (done, cached, stale, failed, pending...) and why."""
        rows = []
        for name, verdict in self.verdicts().items():
            rec = self.steps[name]
            if verdict.state == _staleness.STALE:
                state = "stale"
            elif verdict.state == _staleness.NEVER_RUN:
                state = rec.state if rec.state not in PRODUCED else "pending"
            else:
                state = rec.state
            why = verdict.why if verdict.state != _staleness.FRESH else ""
            if rec.error and state not in PRODUCED:
                why = f"{why}; {rec.error}" if why else rec.error
            rows.append(StepStatus(name, state, why, rec.duration, rec.time_saved, rec.error))
        return rows

    # -- %flowyml run ----------------------------------------------------------------------
    def run_stale(self, targets: list[str] | None = None, executor: Any = None,
                  max_workers: int | None = None, listeners: tuple[Any, ...] = ()) -> RunReport:
        """Run the stale and never-run steps (those ``targets`` need, or all) in DAG order
        through a :class:`flowyml.Pipeline`; fresh steps are not touched."""
        from flowyml import graph as _graph
        from flowyml.core.pipeline import Pipeline

        verdicts = self.verdicts()
        wanted = set(verdicts)
        if targets:
            unknown = [t for t in targets if t not in self.steps]
            if unknown:
                raise KeyError(f"no notebook step named {unknown}; steps: {sorted(self.steps)}")
            wanted = set(targets) | _graph.ancestors(self.graph(), targets)
        to_run = [n for n, v in verdicts.items() if n in wanted and v.state != _staleness.FRESH]
        report = RunReport(fresh=[n for n in verdicts if n in wanted and n not in to_run])
        if not to_run:
            return report
        produced_here = {o for n in to_run for o in self.steps[n].outputs}
        ctx: dict[str, Any] = {}
        for name in to_run:
            rec = self.steps[name]
            needs = [*rec.params, *rec.step.condition_params]
            for param in needs:
                if param in produced_here or param in ctx:
                    continue
                try:
                    ctx[param] = self.value_of(rec, param)
                except KeyError:
                    if param in rec.params:
                        raise
        pipe = Pipeline("notebook", context=ctx, cache_dir=self.store.root)
        pipe.add_steps([self.steps[n].step for n in to_run])
        result = pipe.run(executor=executor, max_workers=max_workers, listeners=listeners)
        report.result = result
        for name, res in result.step_results.items():
            rec = self.steps[name]
            rec.state, rec.duration, rec.attempts = res.state, res.duration_seconds, res.attempts
            rec.error, rec.time_saved, rec.cache_key = res.error, res.time_saved, res.cache_key
            if res.state == "done":
                rec.runs += 1
                report.ran.append(name)
            elif res.state == "cached":
                report.cached.append(name)
            elif res.state == "skipped":
                report.skipped.append(name)
            else:
                report.failed.append(name)
            if not res.artifacts or res.state not in PRODUCED:
                continue
            values = {o: res.artifacts[o].value for o in rec.outputs if o in res.artifacts}
            hashes: dict[str, str | None] = {}
            for out in values:
                try:
                    hashes[out] = res.artifacts[out].hash
                except UnhashableValueError:
                    hashes[out] = None
            self.ns.update(values)
            self._remember_outputs(values, hashes)
            rec.made = _staleness.Provenance(self._code_now(rec), self._param_digests(rec), hashes)
        return report


def _condition_function(expr: str, namespace: dict[str, Any]) -> types.FunctionType:
    """``def _condition(<names EXPR reads>): return EXPR`` with the notebook as globals, so the
    runner passes it context values and upstream outputs by name, as for ``@step``."""
    reads = [n for n in infer_io(expr).reads if not is_code_dependency(namespace.get(n))]
    source = f"def _condition({', '.join(reads)}):\n    return ({expr})\n"
    code = compile(source, "<flowyml-condition>", "exec")
    fn_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    return types.FunctionType(fn_code, namespace, "_condition")


def _condition_holds(rec: NotebookStep, session: NotebookSession) -> bool:
    kwargs = {}
    for param in rec.step.condition_params:
        if param in session.context:
            kwargs[param] = session.context[param]
        elif param in session.ns:
            kwargs[param] = session.ns[param]
        else:
            raise NameError(f"name '{param}' is not defined")
    return bool(rec.step.condition(**kwargs))


