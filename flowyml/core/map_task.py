"""``@map_task``: a step that applies a one-item function to every item of a list.

Called directly with a list it returns a :class:`MapTaskResult`. Inside a pipeline it maps
over its first input item by item, each item cached on its own, so adding one item to a
list of a thousand runs one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from flowyml.core.step import DEFAULT_RETRY_DELAY, Step, _global_registry
from flowyml.hashing import hash_value
from flowyml.timeouts import call_with_timeout


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

    @property
    def map_param(self) -> str:
        """The parameter that receives each item: the first declared input's, else the first."""
        if self.inputs:
            return self.input_binding[self.inputs[0]]
        if self.injectable_params:
            return self.injectable_params[0][0]
        raise TypeError(f"map task '{self.name}' has no parameter to receive the items")

    def __call__(self, collection: Any, *args: Any, **kwargs: Any) -> MapTaskResult:
        items = list(collection) if isinstance(collection, list | tuple) else [collection]
        return self._map(items, lambda item: self._call_item(item, args, kwargs), parallel=True)

    def map_items(self, items: Any, kwargs: dict[str, Any], *, store: Any,
                  key_for: Callable[[Any], str | None], parallel: bool = False) -> MapTaskResult:
        """Pipeline form: each item is looked up in ``store`` under ``key_for(item)`` first."""
        if not isinstance(items, list | tuple):
            raise TypeError(
                f"map task '{self.name}' needs a list (or tuple) for '{self.map_param}', got "
                f"{type(items).__name__}"
            )

        def one(item: Any) -> tuple[Any, bool]:
            key = key_for(item)
            entry = store.lookup(key) if key is not None else None
            if entry is not None:
                return store.load(entry)["result"], True
            t0 = time.perf_counter()
            value = self._call_item(item, (), {**kwargs, self.map_param: item}, keyword=True)
            if key is not None:
                store.store(key, {"result": value}, output_hashes={},
                            parts={"item": hash_value(item)}, duration=time.perf_counter() - t0)
            return value, False

        return self._map(list(items), one, parallel=parallel, tracks_cache=True)

    def _call_item(self, item: Any, args: tuple, kwargs: dict[str, Any], keyword: bool = False) -> Any:
        cfg = self.map_config
        for attempt in range(cfg.retries + 1):
            try:
                if keyword:
                    return call_with_timeout(self.func, kwargs, cfg.timeout_per_item)
                return call_with_timeout(lambda: self.func(item, *args, **kwargs), {}, cfg.timeout_per_item)
            except Exception:
                if attempt == cfg.retries:
                    raise
                self._retries_made += 1
                time.sleep(cfg.retry_delay * (2**attempt))
        raise AssertionError("unreachable")

    _retries_made = 0

    def _map(self, items: list[Any], call: Callable[[Any], Any], *, parallel: bool,
             tracks_cache: bool = False) -> MapTaskResult:
        self._retries_made = 0
        result = MapTaskResult(results=[None] * len(items), total=len(items))

        def record(index: int, outcome: Any, error: BaseException | None) -> None:
            if error is None:
                value, hit = outcome if tracks_cache else (outcome, False)
                result.results[index] = value
                result.successes += 1
                result.cached += hit
            else:
                result.failures += 1
                result.errors[index] = f"{type(error).__name__}: {error}"

        workers = min(self.map_config.concurrency, max(len(items), 1))
        if parallel and workers > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(call, item) for item in items]
                for index, future in enumerate(futures):
                    if result.failures and self.map_config.fail_fast:
                        future.cancel()
                        continue
                    try:
                        record(index, future.result(), None)
                    except Exception as exc:
                        record(index, None, exc)
        else:
            for index, item in enumerate(items):
                if result.failures and self.map_config.fail_fast:
                    break
                try:
                    record(index, call(item), None)
                except Exception as exc:
                    record(index, None, exc)
        result.retries = self._retries_made
        if not tracks_cache and result.success_ratio < self.map_config.min_success_ratio:
            raise RuntimeError(
                f"Map task '{self.name}' failed: success ratio {result.success_ratio:.1%} < "
                f"minimum {self.map_config.min_success_ratio:.1%}. "
                f"{result.failures}/{result.total} items failed: {result.errors}"
            )
        return result


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
            _global_registry.register(instance)
        return instance

    return decorator(_func) if _func is not None else decorator
