"""``@map_task``: a step that applies a one-item function to every item of a list.

Called directly with a list it returns a :class:`MapTaskResult`. Inside a pipeline it maps
over its first input item by item, each item cached on its own, so adding one item to a
list of a thousand runs one call.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowyml.core.step import DEFAULT_RETRY_DELAY, Step, global_registry
from flowyml.executors.runner import NOT_RUN
from flowyml.hashing import hash_value
from flowyml.timeouts import awaited, call_with_timeout


@dataclass
class MapTaskResult:
    """Per-item results (``None`` where an item failed) and counts."""

    results: list[Any] = field(default_factory=list)
    successes: int = 0
    failures: int = 0
    errors: dict[int, str] = field(default_factory=dict)
    total: int = 0
    cached: int = 0
    retries: int = 0

    @property
    def success_ratio(self) -> float:
        return self.successes / self.total if self.total else 1.0

    @property
    def successful_results(self) -> list[Any]:
        return [r for i, r in enumerate(self.results) if i not in self.errors]


class StoredMapResult(MapTaskResult):
    """The result of a map task whose whole output list came from the cache: every item a
    hit, no failure. The list is loaded on first use of ``results`` (or of the counts)."""

    def __init__(self, artifact: Any) -> None:  # an Artifact of the runner, loaded lazily
        self._artifact = artifact

    @property  # type: ignore[override]
    def results(self) -> list[Any]:
        return self._artifact.value

    @property  # type: ignore[override]
    def total(self) -> int:
        return len(self.results)

    successes = cached = total
    failures = retries = 0

    @property  # type: ignore[override]
    def errors(self) -> dict[int, str]:
        return {}


@dataclass
class MapTaskConfig:
    """How a map task runs its items."""

    concurrency: int = 4
    retries: int = 0
    retry_delay: float = DEFAULT_RETRY_DELAY
    min_success_ratio: float = 1.0
    fail_fast: bool = False
    timeout_per_item: float | None = None

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"map_task concurrency must be >= 1, got {self.concurrency}")
        if not 0.0 <= self.min_success_ratio <= 1.0:
            raise ValueError(f"min_success_ratio must be within [0, 1], got {self.min_success_ratio}")


class MapTaskStep(Step):
    """A :class:`Step` whose function processes one item of its input list."""

    is_map_task = True

    def __init__(self, func: Callable[..., Any], config: MapTaskConfig, name: str | None = None,
                 **step_kwargs: Any) -> None:
        super().__init__(func=func, name=name, **step_kwargs)
        self.map_config = config
        self._is_map_task = True

    def whole_list_result(self, artifact: Any) -> StoredMapResult:
        """The result of a run whose whole output list was one cache hit (the runner's
        ``artifact``, loaded on first use)."""
        return StoredMapResult(artifact)

    @property
    def map_param(self) -> str:
        """The parameter that receives each item: the first declared input's, else the first."""
        if self.inputs:
            return self.input_binding[self.inputs[0]]
        if self.injectable_params:
            return self.injectable_params[0][0]
        raise TypeError(f"map task '{self.name}' has no parameter to receive the items")

    def map_items(self, items: Any, kwargs: dict[str, Any], *, store: Any,
                  key_for: Callable[[Any], str | None], parallel: bool | Mapper = False) -> MapTaskResult:
        """Pipeline form: each item is looked up in ``store`` under ``key_for(item)`` first.

        ``parallel``: False runs items one by one, True on ``concurrency`` threads, and a
        :data:`Mapper` hands them to something else (the Dask executor fans them out as
        separate tasks across its workers).
        """
        if not isinstance(items, list | tuple):
            raise TypeError(
                f"map task '{self.name}' needs a list (or tuple) for '{self.map_param}', got "
                f"{type(items).__name__}"
            )

        def one(item: Any) -> tuple[Any, bool, int]:
            key = key_for(item)
            entry = store.lookup(key) if key is not None else None
            if entry is not None:
                return store.load(entry)["result"], True, 0
            t0 = time.perf_counter()
            limit = self.map_config.timeout_per_item
            func = awaited(self.func, limit)  # an `async def`: its limit a timer in its loop
            value, retries = self._call_item(lambda: call_with_timeout(
                func, {**kwargs, self.map_param: item}, None if func is not self.func else limit))
            if key is not None:
                parts_of = getattr(key_for, "parts_of", None)  # the item key's parts: gc
                if store.store(key, {"result": value}, output_hashes={},  # groups items by them
                               parts=parts_of(item) if parts_of else {"item": hash_value(item)},
                               duration=time.perf_counter() - t0) and parts_of:
                    from flowyml.store.lifecycle import mark_grouped

                    mark_grouped(store, self.name)
            return value, False, retries

        mapper = parallel if callable(parallel) else (threaded_mapper if parallel else sequential_mapper)
        return self._collect(list(items), one, mapper, in_pipeline=True)

    def __call__(self, collection: Any, *args: Any, **kwargs: Any) -> MapTaskResult:
        items = list(collection) if isinstance(collection, list | tuple) else [collection]
        timeout = self.map_config.timeout_per_item

        def one(item: Any) -> tuple[Any, bool, int]:
            value, retries = self._call_item(
                lambda: call_with_timeout(lambda: awaited(self.func, timeout)(item, *args, **kwargs), {},
                                          None if inspect.iscoroutinefunction(self.func) else timeout))
            return value, False, retries

        return self._collect(items, one, threaded_mapper, in_pipeline=False)

    def _call_item(self, attempt_once: Callable[[], Any]) -> tuple[Any, int]:
        """One item with the mapping's retries; returns (value, retries made)."""
        cfg = self.map_config
        for attempt in range(cfg.retries + 1):
            try:
                return attempt_once(), attempt
            except Exception:
                if attempt == cfg.retries:
                    raise
                time.sleep(cfg.retry_delay * (2**attempt))
        raise AssertionError("unreachable")

    def _collect(self, items: list[Any], one: Callable[[Any], tuple[Any, bool, int]],
                 mapper: Mapper, *, in_pipeline: bool) -> MapTaskResult:
        result = MapTaskResult(results=[None] * len(items), total=len(items))
        outcomes = mapper(one, items, max(1, self.map_config.concurrency), self.map_config.fail_fast)
        for index, (outcome, error) in enumerate(outcomes):
            if outcome is NOT_RUN:
                continue
            if error is None:
                value, hit, retries = outcome
                result.results[index] = value
                result.successes += 1
                result.cached += hit
                result.retries += retries
            else:
                result.failures += 1
                result.errors[index] = f"{type(error).__name__}: {error}"
        if not in_pipeline and result.success_ratio < self.map_config.min_success_ratio:
            raise RuntimeError(
                f"Map task '{self.name}' failed: success ratio {result.success_ratio:.1%} < "
                f"minimum {self.map_config.min_success_ratio:.1%}. "
                f"{result.failures}/{result.total} items failed: {result.errors}"
            )
        return result


Outcome = tuple[Any, BaseException | None]
#: ``mapper(call, items, concurrency, fail_fast) -> [(call(item), None) or (None, error) or (NOT_RUN, None)]``
Mapper = Callable[[Callable[[Any], Any], list[Any], int, bool], list[Outcome]]


def sequential_mapper(call: Callable[[Any], Any], items: list[Any], concurrency: int,
                      fail_fast: bool) -> list[Outcome]:
    """Items one after another in this thread."""
    out: list[Outcome] = []
    failed = False
    for item in items:
        if failed and fail_fast:
            out.append((NOT_RUN, None))
            continue
        try:
            out.append((call(item), None))
        except Exception as exc:
            out.append((None, exc))
            failed = True
    return out


def threaded_mapper(call: Callable[[Any], Any], items: list[Any], concurrency: int,
                    fail_fast: bool) -> list[Outcome]:
    """Items on up to ``concurrency`` threads."""
    workers = min(concurrency, max(len(items), 1))
    if workers <= 1:
        return sequential_mapper(call, items, concurrency, fail_fast)
    from concurrent.futures import ThreadPoolExecutor

    out: list[Outcome] = []
    failed = False
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(call, item) for item in items]
        for future in futures:
            if failed and fail_fast and future.cancel():
                out.append((NOT_RUN, None))
                continue
            try:
                out.append((future.result(), None))
            except Exception as exc:
                out.append((None, exc))
                failed = True
    return out


def map_task(
    _func: Callable[..., Any] | None = None,
    *,
    concurrency: int = 4,
    retries: int = 0,
    retry_delay: float = DEFAULT_RETRY_DELAY,
    min_success_ratio: float = 1.0,
    fail_fast: bool = False,
    timeout_per_item: float | None = None,
    name: str | None = None,
    register: bool = True,
    pipeline: str | None = None,
    **step_kwargs: Any,
) -> Any:
    """Make a one-item function a :class:`MapTaskStep` (``@map_task`` or ``@map_task(...)``)."""
    config = MapTaskConfig(
        concurrency=concurrency, retries=retries, retry_delay=retry_delay,
        min_success_ratio=min_success_ratio, fail_fast=fail_fast, timeout_per_item=timeout_per_item,
    )

    def decorator(func: Callable[..., Any]) -> MapTaskStep:
        kwargs = dict(step_kwargs)
        instance = MapTaskStep(func, config, name=name, **kwargs)
        if pipeline is not None:
            instance.tags["pipeline"] = pipeline
        if register:
            global_registry.register(instance)
        return instance

    return decorator(_func) if _func is not None else decorator
