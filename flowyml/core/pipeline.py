"""``Pipeline``: steps wired by their declared inputs and outputs, run on an executor."""

from __future__ import annotations

import functools
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowyml import graph as _graph
from flowyml.core.context import Context
from flowyml.core.step import Step, get_registered_steps, same_definition
from flowyml.events import RunFinished, RunStarted, bus, silent
from flowyml.executors.runner import RUN_CONTEXT_HASHES, Artifact, StepResult, run_inline
from flowyml.store.local import CacheStore, NullStore


class _Outputs(Mapping[str, Any]):
    """Outputs by output name and by step name; cached values load on first access."""

    def __init__(self, results: dict[str, StepResult]) -> None:
        self._artifacts: dict[str, Artifact] = {}
        self._steps: dict[str, StepResult] = {}
        for res in results.values():
            self._artifacts.update(res.artifacts)
            if res.artifacts:
                self._steps[res.name] = res

    def __getitem__(self, key: str) -> Any:
        if key in self._artifacts:
            return self._artifacts[key].value
        if key in self._steps:
            return self._steps[key].output
        raise KeyError(f"no output or step named '{key}' produced a value in this run")

    def __iter__(self) -> Iterator[str]:
        yield from self._artifacts
        yield from (k for k in self._steps if k not in self._artifacts)

    def __len__(self) -> int:
        return len(set(self._artifacts) | set(self._steps))

    def __repr__(self) -> str:
        return f"<outputs {sorted(self)}>"


@dataclass
class PipelineResult:
    """The outcome of one :meth:`Pipeline.run`; never raises for a failed step."""

    pipeline_name: str
    run_id: str
    success: bool
    step_results: dict[str, StepResult] = field(default_factory=dict)
    duration_seconds: float = 0.0
    executor: str = "sequential"

    @property
    def outputs(self) -> Mapping[str, Any]:
        return _Outputs(self.step_results)

    def __getitem__(self, name: str) -> Any:
        return self.outputs[name]

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self.outputs[name]
        except KeyError:
            return default

    @property
    def failed_steps(self) -> list[str]:
        return [n for n, r in self.step_results.items() if not r.success]

    @property
    def cached_steps(self) -> list[str]:
        return [n for n, r in self.step_results.items() if r.cached]

    def summary(self) -> str:
        lines = [f"pipeline '{self.pipeline_name}' run {self.run_id}: "
                 f"{'success' if self.success else 'FAILED'} in {self.duration_seconds:.2f}s"]
        for res in self.step_results.values():
            extra = f" ({res.error})" if res.error else ""
            lines.append(f"  {res.state:<15} {res.name:<30} {res.duration_seconds:8.3f}s{extra}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"PipelineResult({self.pipeline_name!r}, success={self.success}, "
                f"steps={len(self.step_results)}, cached={len(self.cached_steps)})")


class DAG:
    """The built graph of a pipeline.

    Validation and a run need only the plain :class:`flowyml.graph.StepGraph`; the
    ``networkx`` graph in :attr:`graph` is made on first use (drawings, walks).
    """

    def __init__(self, plan: _graph.StepGraph) -> None:
        self.plan = plan
        self.order = plan.order

    @functools.cached_property
    def graph(self) -> Any:
        """The DAG as a ``networkx.DiGraph`` (node attribute ``step``, edge ``artifacts``)."""
        return self.plan.to_networkx()

    @functools.cached_property
    def units(self) -> list[list[Step]]:
        """Scheduling units in order: single steps, or whole execution groups."""
        steps = self.plan.steps
        return [[steps[n] for n in unit] for unit in _graph.group_units(self.plan, self.order)]

    @property
    def producers(self) -> dict[str, str]:
        """Output name -> the step that produces it."""
        return self.plan.producers

    def topological_sort(self) -> list[Step]:
        steps = self.plan.steps
        return [steps[n] for n in self.order]

    @property
    def nodes(self) -> list[str]:
        return list(self.order)

    @property
    def edges(self) -> list[tuple[str, str]]:
        return list(self.plan.edges)

    def upstream(self, name: str) -> set[str]:
        return _graph.ancestors(self.graph, [name])

    def downstream(self, name: str) -> set[str]:
        return _graph.descendants(self.graph, [name])

    def __len__(self) -> int:
        return len(self.plan.steps)


class Pipeline:
    """A named set of steps, wired by their declared inputs and outputs.

    ``run(**context_overrides)`` returns a :class:`PipelineResult`; a step failure is
    recorded there, a broken graph raises (:mod:`flowyml.graph` errors).
    """

    def __init__(
        self,
        name: str,
        context: Context | dict[str, Any] | None = None,
        auto_discover: bool = False,
        enable_cache: bool = True,
        cache_dir: str | Path | None = None,
        executor: Any = "sequential",
        max_workers: int | None = None,
        trust_cache_dir: bool = False,
        cache_max_size: int | str | None = None,
        storage_options: dict[str, Any] | None = None,
        cache_secret: str | bytes | None = None,
        signing_key: Any = None,
        trusted_signers: Any = None,
        verify: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.name = name
        if context is None:
            context = Context()
        elif isinstance(context, dict):
            context = Context(**context)
        self.context: Context = context
        self.auto_discover = auto_discover
        self.enable_cache = enable_cache
        self.cache_dir = cache_dir
        self.executor = executor
        self.max_workers = max_workers
        self.trust_cache_dir = trust_cache_dir
        #: a size budget for the cache, trimmed after each run (else FLOWYML_CACHE_MAX_SIZE)
        self.cache_max_size = cache_max_size
        #: fsspec options of a cache URL (over fsspec's own configuration)
        self.storage_options = storage_options
        #: signs and checks every cache entry (else FLOWYML_CACHE_SECRET); see flowyml.store.signing
        self.cache_secret = cache_secret
        #: publisher keys (else FLOWYML_CACHE_SIGNING_KEY / _TRUSTED_SIGNERS / _VERIFY);
        #: see flowyml.store.signing_keys
        self.signing_key = signing_key
        self.trusted_signers = trusted_signers
        self.verify = verify
        self.options = kwargs
        self._steps: list[Step] = []
        self._positions: dict[str, int] = {}  # step name -> index in _steps (O(1) add_step)
        self._dag: DAG | None = None
        self._dag_signature: Any = None
        self._store: CacheStore | NullStore | None = None
        self.listeners: list[Callable[[Any], None]] = []
        self.last_result: PipelineResult | None = None

    # -- building --------------------------------------------------------------------------
    def add_step(self, step: Step | Callable[..., Any], **step_kwargs: Any) -> Pipeline:
        """Add a step (or a plain function, made a step with ``step_kwargs``). Returns self."""
        if not isinstance(step, Step):
            step = Step(step, **step_kwargs)
        elif step_kwargs:
            raise TypeError(f"add_step got options {sorted(step_kwargs)} for an existing Step "
                            f"'{step.name}'; set them in @step(...) instead")
        position = self._positions.get(step.name)
        existing = self._steps[position] if position is not None else None
        if existing is step:
            return self
        if existing is not None:
            if not same_definition(existing, step):
                raise _graph.DuplicateStepError(
                    f"pipeline '{self.name}' already has a step named '{step.name}' (defined at "
                    f"{existing.defined_at}); {step.defined_at} is a different step. Give one "
                    "of them another name=...")
            self._steps[position] = step  # re-definition replaces
        else:
            self._positions[step.name] = len(self._steps)
            self._steps.append(step)
        self._dag = None
        return self

    def add_steps(self, steps: Iterable[Step | Callable[..., Any]]) -> Pipeline:
        for s in steps:
            self.add_step(s)
        return self

    @classmethod
    def from_steps(cls, *steps: Step, name: str = "pipeline", **kwargs: Any) -> Pipeline:
        if len(steps) == 1 and isinstance(steps[0], list | tuple):
            steps = tuple(steps[0])
        return cls(name, **kwargs).add_steps(steps)

    @property
    def steps(self) -> list[Step]:
        """The steps this pipeline runs.

        The steps added with :meth:`add_step` / :meth:`add_steps` / :meth:`from_steps`; with
        ``auto_discover=True`` and none added, the registered steps scoped to this pipeline
        (plus unscoped ones), looked up again at every build. As in FlowyML, adding a step
        by hand switches discovery off.
        """
        if self.auto_discover and not self._steps:
            return get_registered_steps(self.name)
        return list(self._steps)

    def build(self, context_keys: Iterable[str] | None = None) -> Pipeline:
        """Validate the graph (cycles, duplicate producers, missing inputs). Returns self."""
        keys = frozenset(self.context.keys() if context_keys is None else context_keys)
        steps = self.steps
        # re-validate only when the steps or their wiring changed (a re-run is the common case)
        signature = (keys, tuple((id(s), tuple(s.inputs), tuple(s.outputs), s.execution_group,
                                  tuple(s.condition_params)) for s in steps))
        if self._dag is None or signature != self._dag_signature:
            self._dag = DAG(_graph.plan_dag(steps, available=keys))
            self._dag_signature = signature
        return self

    @property
    def dag(self) -> DAG:
        self.build()
        assert self._dag is not None
        return self._dag

    # -- cache -----------------------------------------------------------------------------
    @property
    def cache(self) -> CacheStore | NullStore:
        """The store: ``cache_dir`` (a path or any fsspec URL), else ``FLOWYML_CACHE_DIR``,
        else ``.flowyml/cache`` next to the script (see :func:`flowyml.store.locations.open_store`)."""
        if self._store is None:
            from flowyml.store.locations import open_store

            self._store = (open_store(self.cache_dir, self.storage_options, self.cache_secret,
                                      trust=self.trust_cache_dir, signing_key=self.signing_key,
                                      trusted_signers=self.trusted_signers, verify=self.verify)
                           if self.enable_cache else NullStore())
        return self._store

    def clear_cache(self, step: str | None = None) -> int:
        return self.cache.clear(step)

    # -- running ---------------------------------------------------------------------------
    def run(
        self,
        executor: Any = None,
        max_workers: int | None = None,
        listeners: Iterable[Callable[[Any], None]] = (),
        **context_overrides: Any,
    ) -> PipelineResult:
        """Run every step whose result is not cached; return a :class:`PipelineResult`."""
        from flowyml.executors import get_executor, schedule

        ctx = self.context.to_dict()
        ctx.update(context_overrides)
        self.build(context_keys=ctx)
        self.cache.check_safety()  # refuse an unsafe cache dir before running anything
        dag = self._dag
        assert dag is not None
        run_id = os.urandom(6).hex()  # uuid4().hex[:12], without importing uuid
        extra = (*self.listeners, *listeners)

        def emit(event: Any) -> None:
            bus.emit(event, extra)

        if not (extra or bus):
            emit = silent  # nobody listens: the runner does not even build events

        exe, owned = get_executor(executor if executor is not None else self.executor,
                                  max_workers or self.max_workers)
        started = time.perf_counter()
        emit(RunStarted(run_id=run_id, pipeline=self.name, steps=tuple(dag.order), executor=exe.name))
        hashes = RUN_CONTEXT_HASHES.set({})  # keyed by parameter and value identity
        try:
            if _runs_inline(exe):
                results = run_inline(dag.units, ctx, self.cache, emit, run_id)
            else:
                results = schedule(dag.units, dag.producers, exe, ctx, self.cache, run_id, emit)
        finally:
            RUN_CONTEXT_HASHES.reset(hashes)
            if owned:
                exe.close()
        ordered = {n: results[n] for n in dag.order if n in results}
        success = all(r.success for r in ordered.values())
        result = PipelineResult(self.name, run_id, success, ordered,
                                time.perf_counter() - started, exe.name)
        emit(RunFinished(run_id=run_id, pipeline=self.name, success=success,
                         duration=result.duration_seconds))
        self.last_result = result
        self._trim_cache(result)
        return result

    def _trim_cache(self, result: PipelineResult) -> None:
        """Down to the budget: least recently used entries no step of this run needs."""
        from flowyml.store import lifecycle

        budget = self.cache_max_size
        if budget is None:
            budget = lifecycle.budget_from_env()
        elif isinstance(budget, str):
            budget = lifecycle.parse_size(budget)
        if budget is None or not self.enable_cache or not getattr(self.cache, "enabled", False):
            return
        line = lifecycle.trim_to_budget(
            self.cache, budget, protect=[r.cache_key for r in result.step_results.values()])
        if line:
            print(line, file=sys.stderr)

    def __repr__(self) -> str:
        return f"Pipeline({self.name!r}, steps={[s.name for s in self.steps]})"


def _runs_inline(executor: Any) -> bool:
    """Whether ``executor`` runs each unit at once in this thread: the stock sequential
    executor, whose whole run :func:`flowyml.executors.runner.run_inline` does without a scheduler."""
    from flowyml.executors.sequential import SequentialExecutor

    return type(executor) is SequentialExecutor
