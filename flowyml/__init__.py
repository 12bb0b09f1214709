"""flowyml: notebook work as a real, cached, restartable pipeline.

Importing flowyml is light: the public names below load their module at first use (PEP 562
``__getattr__``), so ``import flowyml`` runs no flowyml code beyond this file, and nothing
loads IPython, ipywidgets, graphviz, numpy, pandas, dask, joblib or networkx until a feature
needs them. ``from flowyml import step, Pipeline`` loads only what those two need.
"""

from __future__ import annotations

# ``typing.TYPE_CHECKING`` would import typing (~8 ms here); type checkers treat any
# ``TYPE_CHECKING`` name as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from flowyml.codehash import code_fingerprint
    from flowyml.core.context import Context, context
    from flowyml.core.map_task import MapTaskConfig, MapTaskResult, MapTaskStep, map_task
    from flowyml.core.pipeline import Pipeline, PipelineResult
    from flowyml.core.resources import GPUConfig, NodeAffinity, ResourceRequirements, resources
    from flowyml.core.step import (
        Step,
        StepRegistry,
        clear_step_registry,
        get_registered_steps,
        step,
    )
    from flowyml.events import subscribe, unsubscribe
    from flowyml.executors.runner import StepResult
    from flowyml.graph import (
        CycleError,
        DuplicateOutputError,
        DuplicateStepError,
        MissingInputError,
        PipelineGraphError,
        UnboundInputError,
    )
    from flowyml.hashing import UnhashableValueError, hash_value
    from flowyml.store.entry import CacheLoadError, CacheWarning
    from flowyml.store.local import CacheStore, NullStore, UnsafeCacheDirError
    from flowyml.store.locations import open_store
    from flowyml.store.signing_keys import UntrustedEntryError
    from flowyml.store.urls import CacheUnavailableError

__version__ = "0.1.0"

__all__ = [
    # defining steps
    "step",
    "Step",
    "map_task",
    "MapTaskStep",
    "MapTaskResult",
    "MapTaskConfig",
    "StepRegistry",
    "get_registered_steps",
    "clear_step_registry",
    # context and resources
    "Context",
    "context",
    "ResourceRequirements",
    "GPUConfig",
    "NodeAffinity",
    "resources",
    # running
    "Pipeline",
    "PipelineResult",
    "StepResult",
    "subscribe",
    "unsubscribe",
    # caching
    "open_store",
    "CacheStore",
    "NullStore",
    "CacheWarning",
    "CacheLoadError",
    "UnsafeCacheDirError",
    "CacheUnavailableError",
    "UntrustedEntryError",
    "hash_value",
    "code_fingerprint",
    "UnhashableValueError",
    # graph errors
    "PipelineGraphError",
    "CycleError",
    "DuplicateOutputError",
    "DuplicateStepError",
    "MissingInputError",
    "UnboundInputError",
]

#: where each public name lives; ``__getattr__`` imports the module at first use
_SOURCES = {
    "flowyml.core.step": ("step", "Step", "StepRegistry", "get_registered_steps",
                          "clear_step_registry"),
    "flowyml.core.map_task": ("map_task", "MapTaskStep", "MapTaskResult", "MapTaskConfig"),
    "flowyml.core.context": ("Context", "context"),
    "flowyml.core.resources": ("ResourceRequirements", "GPUConfig", "NodeAffinity", "resources"),
    "flowyml.core.pipeline": ("Pipeline", "PipelineResult"),
    "flowyml.executors.runner": ("StepResult",),
    "flowyml.events": ("subscribe", "unsubscribe"),
    "flowyml.store.locations": ("open_store",),
    "flowyml.store.urls": ("CacheUnavailableError",),
    "flowyml.store.local": ("CacheStore", "NullStore", "UnsafeCacheDirError"),
    "flowyml.store.entry": ("CacheWarning", "CacheLoadError"),
    "flowyml.store.signing_keys": ("UntrustedEntryError",),
    "flowyml.hashing": ("hash_value", "UnhashableValueError"),
    "flowyml.codehash": ("code_fingerprint",),
    "flowyml.graph": ("PipelineGraphError", "CycleError", "DuplicateOutputError",
                      "DuplicateStepError", "MissingInputError", "UnboundInputError"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module at first use and kept in this namespace; or a
    submodule (``flowyml.hashing.fingerprint``), as when this package imported them all."""
    module = _MODULE_OF.get(name)
    if module is None:
        return _submodule(__name__, name)
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def _submodule(package: str, name: str) -> Any:
    """``package.name`` imported (which also binds it on ``package``), else AttributeError."""
    if not name.startswith("_"):
        from importlib import import_module

        try:
            return import_module(f"{package}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{package}.{name}":
                raise
    raise AttributeError(f"module {package!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext flowyml``: delegate to :mod:`flowyml_jupyter`."""
    from flowyml_jupyter import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext flowyml``."""
    from flowyml_jupyter import unload_ipython_extension as _unload

    _unload(ipython)
