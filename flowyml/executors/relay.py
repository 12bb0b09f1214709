"""Dask workers that cannot see the client's cache directory: results travel through Dask.

Whether a worker sees the client's local cache is never assumed: the client writes a marker
file with a random token into the cache directory and asks every worker whether it can read
it (:func:`shares_disk`). A remote store (a URL) is shared by construction.

Where the disk is not shared, the client does the caching itself:

* before shipping a unit it looks the unit up in its own store (:func:`probe_unit`), step
  by step: a unit whose steps are all hits (or skipped) never leaves the client, and its
  outputs stay lazy there; of a unit that starts with hits (a fused chain, a group) only the
  rest is shipped;
* a unit that has to run is shipped with its input *values* (:func:`with_values`) and a
  :class:`RelayStore`, which never hits and hands every entry the worker would have stored
  back with the outcome; the client stores them in its own cache, so the next run (and the
  notebook) finds them there. Values come back through Dask, never as cache-backed artifacts
  the client could not load, so there is no ``CacheLoadError`` for a value a worker computed.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path
from typing import Any

from flowyml.executors.runner import Artifact, StepNotCached, UnitOutcome, run_unit
from flowyml.store.local import NullStore

MARKERS = ".flowyml-markers"


def place_marker(root: Path) -> tuple[str, str]:
    """Write a fresh marker into ``root``; return ``(path, token)``."""
    folder = Path(root) / MARKERS
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    cutoff = time.time() - 86400
    for old in folder.iterdir():  # markers of runs that ended without removing theirs
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < cutoff:
                old.unlink()
    token = uuid.uuid4().hex
    path = folder / token
    path.write_text(token)
    return str(path), token


def sees_marker(path: str, token: str) -> bool:
    """Run on a worker: can it read the client's marker?"""
    try:
        with open(path) as fh:
            return fh.read() == token
    except OSError:
        return False


def remove_marker(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


class RelayStore(NullStore):
    """The store a worker gets when it cannot see the client's cache: never hits, and each
    entry it would store is sent back with the unit's outcome (``records``)."""

    enabled = True

    def __init__(self, target: Any = None, replay_first: list[dict[str, Any]] | None = None) -> None:
        self.target = target  # the client's store (stays on the client)
        self.records: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        #: the process state changed by the unit's first steps, hits on the client: the
        #: worker re-applies it before running the rest (see run_unit)
        self.replay_first = list(replay_first or ())

    def __getstate__(self) -> dict[str, Any]:
        return {"target": None, "records": [], "replay_first": self.replay_first}

    def store(self, key: str, outputs: dict[str, Any], **options: Any) -> bool:
        self.records.append((key, outputs, options))
        return True


class _ProbeStore:
    """The client's store, for lookups only: a step that would run raises StepNotCached."""

    probe_only = True

    def __init__(self, store: Any) -> None:
        self._store = store
        #: state notes of the hits, in order (the client's own state is not the steps')
        self.deferred: list[dict[str, Any]] = []

    def defer_state(self, notes: dict[str, Any]) -> None:
        """A hit's process-state notes: re-applied on the worker, not in the client."""
        self.deferred.append(notes)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_store", "deferred"):
            raise AttributeError(name)
        return getattr(self._store, name)


def probe_unit(steps: list[Any], artifacts: dict[str, Artifact], context: dict[str, Any],
               store: Any, run_id: str, emit: Any, unavailable: dict[str, str],
               deferred: list[dict[str, Any]] | None = None,
               ) -> tuple[UnitOutcome, list[Any], dict[str, str]]:
    """Answer the unit from the client's cache as far as it goes, step by step.

    Returns the outcome of the steps answered here (hits, skips), the steps left to run on
    a worker (from the first one that would have to run on), and what those steps must know
    is unavailable. A step's events are emitted only once it is answered here; the events
    of the step that would have to run are dropped (it starts again on the worker).

    The process state the hits changed (a seed, an option) is not re-applied in the client,
    whose state is not the steps': its notes are appended to ``deferred``, for the worker
    that runs the rest (:class:`RelayStore` ``replay_first``). Nor is the global-generator
    check made here: it compares the client's generators, which the steps never drew from.
    """
    available = dict(artifacts)
    gone = dict(unavailable)
    probe = _ProbeStore(store)
    results: list[Any] = []
    produced: dict[str, Artifact] = {}
    for step in steps:
        held: list[Any] = []
        try:
            res = run_unit([step], available, context, probe, held.append, run_id, None,
                           gone).results[0]
        except StepNotCached:
            break
        for event in held:
            emit(event)
        for art in res.artifacts.values():  # their loaders read the client's store itself
            loader = getattr(art, "_loader", None)
            if loader is not None and isinstance(loader.store, _ProbeStore):
                loader.store = store
        results.append(res)
        available.update(res.artifacts)
        produced.update(res.artifacts)
        if not res.artifacts:
            gone.update(dict.fromkeys(res.output_names, "skipped" if res.state == "skipped"
                                      else "failed"))
    if deferred is not None:
        deferred.extend(probe.deferred)
    return UnitOutcome(results, produced), steps[len(results):], gone


def with_values(artifacts: dict[str, Artifact]) -> dict[str, Artifact]:
    """The same artifacts, loaded: a worker that cannot see the client's cache gets values."""
    out = {}
    for name, art in artifacts.items():
        out[name] = art if art.loaded else Artifact(art.name, art.value, digest=art._hash,
                                                    producer=art.producer)
    return out


def store_relayed(store: Any, outcome: UnitOutcome) -> None:
    """On the client: store what the worker could not, and keep cache keys honest."""
    failed = set()
    for key, outputs, options in outcome.relayed:
        if not store.store(key, outputs, **options):
            failed.add(key)
    outcome.relayed = []
    if failed:
        for res in outcome.results:
            if res.cache_key in failed:
                res.cache_key = None
