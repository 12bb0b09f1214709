"""Executors: where a pipeline's units run, and the runner (``runner``: one step with its
cache, retries and timeouts) that every executor ships to its workers. ``get_executor``
resolves a name or instance. Submodules load at first use: importing the runner does not
load the executors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowyml.executors.base import Executor

__all__ = ["EXECUTORS", "Executor", "SequentialExecutor", "get_executor", "schedule"]

#: name -> "module:Class"; modules are imported only when chosen
EXECUTORS = {
    "sequential": "flowyml.executors.sequential:SequentialExecutor",
    "threads": "flowyml.executors.threads:ThreadsExecutor",
    "processes": "flowyml.executors.processes:ProcessesExecutor",
    "dask": "flowyml.executors.dask:DaskExecutor",
}


def get_executor(spec: Any = None, max_workers: int | None = None) -> tuple[Executor, bool]:
    """An executor for ``spec`` (name, instance, or a dask Client / address for "dask").

    Returns ``(executor, owned)``: ``owned`` executors were made for this run and are closed
    after it.
    """
    from flowyml.executors.base import Executor

    if spec is None:
        spec = "sequential"
    if isinstance(spec, Executor):
        return spec, False
    if _is_dask_client(spec):
        from flowyml.executors.dask import DaskExecutor

        return DaskExecutor(client=spec), True
    if isinstance(spec, str) and spec not in EXECUTORS and _is_address(spec):
        from flowyml.executors.dask import DaskExecutor

        return DaskExecutor(address=spec, max_workers=max_workers), True
    if isinstance(spec, str) and spec in EXECUTORS:
        module_name, _, cls_name = EXECUTORS[spec].partition(":")
        import importlib

        cls = getattr(importlib.import_module(module_name), cls_name)
        return (cls(max_workers=max_workers) if max_workers else cls()), True
    raise ValueError(
        f"unknown executor {spec!r}; valid executors are {sorted(EXECUTORS)}, an Executor "
        "instance, a dask.distributed Client or a Dask scheduler address like 'tcp://host:8786'"
    )


def _is_dask_client(spec: Any) -> bool:
    # recognised by type, without importing distributed
    cls = type(spec)
    return cls.__name__ == "Client" and cls.__module__.split(".")[0] == "distributed"


def _is_address(spec: str) -> bool:
    import re

    return "://" in spec or re.fullmatch(r"[\w.\-\[\]:]+:\d+", spec) is not None


def __getattr__(name: str) -> Any:
    """``Executor``, ``schedule`` and ``SequentialExecutor`` at first use."""
    if name in ("Executor", "schedule"):
        from flowyml.executors import base

        return getattr(base, name)
    if name == "SequentialExecutor":
        from flowyml.executors.sequential import SequentialExecutor

        return SequentialExecutor
    if name in ("base", "runner", "worker", "pool", "sequential", "threads", "processes", "dask",
                "relay"):  # flowyml.executors.runner after `import flowyml`
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
