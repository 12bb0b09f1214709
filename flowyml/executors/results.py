"""What a run passes around and hands back: artifacts, step results, unit outcomes.

An :class:`Artifact` is a named value with its content digest, in memory or still in the
cache (loaded once, on first use, by an :class:`EntryLoader`); a :class:`StepResult` is what
happened to one step; a :class:`UnitOutcome` is what a worker returns for a unit. These
are data, kept apart from :mod:`flowyml.executors.runner` (the stages that fill them) so
the executors and the pipeline can read them without the running machinery.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

from flowyml.hashing import hash_value
from flowyml.keys import stored_name
from flowyml.store import local as _cache

# ---------------------------------------------------------------------------------------------
# Artifacts: a value with its content digest, either in memory or in the cache
# ---------------------------------------------------------------------------------------------


class EntryLoader:
    """Loads a cache entry once, on first use, for all the artifacts it holds."""

    def __init__(self, store: Any, entry: _cache.CacheEntry) -> None:
        self.store, self.entry = store, entry
        self._values: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def get(self, name: str) -> Any:
        with self._lock:
            if self._values is None:
                self._values = self.store.load(self.entry)
            if name not in self._values and name in self.entry.meta.get("notes", {}).get("absent", ()):
                return None  # a notebook step left it unbound (a loop that did not run)
            return self._values[name]

    def __getstate__(self) -> dict[str, Any]:
        return {"store": self.store, "entry": self.entry, "_values": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


_UNSET = object()


class Artifact:
    """A named value and its content digest; the value may still sit in the cache."""

    __slots__ = ("_hash", "_loader", "_value", "name", "producer")

    def __init__(
        self,
        name: str,
        value: Any = _UNSET,
        *,
        digest: str | None = None,
        loader: EntryLoader | None = None,
        producer: str | None = None,
    ) -> None:
        self.name, self.producer = name, producer
        self._value, self._hash, self._loader = value, digest, loader

    @property
    def value(self) -> Any:
        """The value (loaded from its cache entry on first access)."""
        if self._value is _UNSET:
            self._value = self._loader.get(stored_name(self.name))  # type: ignore[union-attr]
        return self._value

    @property
    def loaded(self) -> bool:
        """Whether the value is in memory (not still waiting in the cache)."""
        return self._value is not _UNSET

    @property
    def hash(self) -> str:
        """The content digest (computed on first use); raises UnhashableValueError."""
        if self._hash is None:
            self._hash = hash_value(self.value)
        return self._hash

    def __getstate__(self) -> tuple[Any, ...]:
        # the "not loaded" sentinel is per process: ship a flag instead of it
        loaded = self._value is not _UNSET
        return (self.name, self.producer, self._value if loaded else None, self._hash,
                self._loader, loaded)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.name, self.producer, value, self._hash, self._loader, loaded = state
        self._value = value if loaded else _UNSET

    def __repr__(self) -> str:
        where = "loaded" if self.loaded else "in cache"
        return f"Artifact({self.name!r}, {where}, hash={self._hash!r})"


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass
class StepResult:
    """What happened to one step in one run."""

    name: str
    state: str = "pending"
    success: bool = False
    error: str | None = None
    traceback: str | None = None
    duration_seconds: float = 0.0
    cached: bool = False
    skipped: bool = False
    skip_reason: str | None = None
    retries: int = 0
    attempts: int = 0
    cache_key: str | None = None
    uncacheable_reason: str | None = None
    time_saved: float = 0.0
    worker: str | None = None
    output_names: list[str] = field(default_factory=list)
    #: how the function returned several outputs: "tuple", "list" or "dict" ("single": one)
    output_shape: str = "single"
    artifacts: dict[str, Artifact] = field(default_factory=dict, repr=False)
    map_result: Any = field(default=None, repr=False)
    #: why a stored entry of the same key was not taken (a file it read changed)
    rerun_reason: str | None = None
    #: the record of the files the step read and wrote (flowyml.tracking.files)
    files: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def outputs(self) -> dict[str, Any]:
        """The step's outputs by name (loaded from the cache on first access)."""
        return {name: art.value for name, art in self.artifacts.items()}

    @property
    def output(self) -> Any:
        """The return value, rebuilt the same way whether computed or loaded from the cache:
        the single output, or several as the tuple, list or dict the function returned."""
        if not self.artifacts:
            return None
        names = [n for n in self.output_names if n in self.artifacts]
        if len(self.output_names) == 1:
            return self.artifacts[names[0]].value
        if self.output_shape == "dict":
            return {n: self.artifacts[n].value for n in names}
        values = [self.artifacts[n].value for n in names]
        return values if self.output_shape == "list" else tuple(values)


@dataclass
class UnitOutcome:
    """What a worker hands back for a unit: each step's result and the artifacts it made."""

    results: list[StepResult]
    artifacts: dict[str, Artifact]
    #: entries a worker could not store itself, for the caller to store (key, outputs, options)
    relayed: list[tuple[str, dict[str, Any], dict[str, Any]]] = field(default_factory=list)


_HOST_PID: list[str] = []  # "host:pid", computed once per process (two syscalls per step)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_HOST_PID.clear)


def worker_name() -> str:
    """``host:pid:thread`` of the worker running a step."""
    if not _HOST_PID:
        import socket

        _HOST_PID.append(f"{socket.gethostname()}:{os.getpid()}")
    return f"{_HOST_PID[0]}:{threading.current_thread().name}"


# ---------------------------------------------------------------------------------------------
# Outputs: a return value split onto the declared names, and its shape to rebuild it
# ---------------------------------------------------------------------------------------------


class StepOutputError(TypeError):
    """A step returned something that does not match its declared outputs."""


def default_shape(names: list[str]) -> str:
    """How an entry stored without a recorded shape returns several outputs (a tuple)."""
    return "single" if len(names) <= 1 else "tuple"


def shape_of(value: Any, names: list[str]) -> str:
    """How ``value`` holds several outputs ("tuple", "list", "dict"; "single": one), so
    :attr:`StepResult.output` rebuilds it the same way from the cache."""
    if len(names) <= 1:
        return "single"
    return "dict" if isinstance(value, dict) else "list" if isinstance(value, list) else "tuple"


def split_outputs(step: Any, value: Any) -> dict[str, Any]:
    """Map a return value onto the step's declared outputs, or raise StepOutputError."""
    names = step.outputs
    if not names:
        return {step.name: value}
    if len(names) == 1:
        return {names[0]: value}
    if isinstance(value, dict) and set(value) == set(names):
        return {n: value[n] for n in names}
    if isinstance(value, tuple | list) and len(value) == len(names):
        return dict(zip(names, value, strict=True))
    got = f"{type(value).__name__}" + (f" of length {len(value)}" if hasattr(value, "__len__") else "")
    raise StepOutputError(
        f"step '{step.name}' declares outputs {names} but returned a {got}; return a tuple of "
        f"{len(names)} values or a dict with keys {names}"
    )
