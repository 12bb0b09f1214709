"""flowyml: notebook work as a real, cached, restartable pipeline.

Importing flowyml is light: no IPython, ipywidgets, graphviz, numpy, pandas, dask, joblib or
networkx until a feature needs them.
"""

from __future__ import annotations

from typing import Any

from flowyml.cache import CacheLoadError, CacheStore, CacheWarning, NullStore, UnsafeCacheDirError
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
from flowyml.graph import (
    CycleError,
    DuplicateOutputError,
    DuplicateStepError,
    MissingInputError,
    PipelineGraphError,
    UnboundInputError,
)
from flowyml.hashing import UnhashableValueError, code_fingerprint, hash_value
from flowyml.runner import StepResult
from flowyml.stores import CacheUnavailableError, open_store

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


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext flowyml``: delegate to :mod:`flowyml_jupyter`."""
    from flowyml_jupyter import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext flowyml``."""
    from flowyml_jupyter import unload_ipython_extension as _unload

    _unload(ipython)
