"""The shared index of a remote cache: many entries' metadata and last use in a few objects.

A request to object storage costs milliseconds of client CPU alone (s3fs signs and parses
every one), so a fresh machine that fetched each step's ``meta.json`` by itself would pay
that per step. Instead, a process records what it commits and what it uses, and writes the
records as **one** index object, ``<url>/index/<generation>/<ms>-<uuid>.json``, at most
:data:`FLUSH_DELAY` seconds after the first record (and at exit). A reader lists that
folder once and fetches its objects concurrently: a few requests per run, whatever the
number of steps.

The index is a *hint*, never the commit: ``meta.json`` is. An indexed copy of an entry's
metadata is verified exactly like ``meta.json`` (format, key, signature) and its data like
any data (size, checksum, signed SHA-256), so a forged or stale record is at worst a miss,
and a miss always falls back to reading ``meta.json`` itself. Like a machine's local copy,
the index is valid for one *generation* of the store (``clear()`` starts a new one);
``gc`` rewrites it without the entries it removed.

Last use: each record carries the time a process used the entry (an entry is recorded at
most once per :data:`USE_RESOLUTION` seconds per process), so a hit writes nothing by
itself: a run writes one small object.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import threading
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

INDEX_FORMAT = 1
#: a pending record is written at most this long after it was made
FLUSH_DELAY = 5.0
#: ...or as soon as this many are pending
FLUSH_EVERY = 2000
#: a process records the use of one entry at most this often
USE_RESOLUTION = 60.0
#: a loaded index is reused this long (a miss in it still reads meta.json)
LOAD_TTL = 30.0
#: at most this much of the index is read (newest objects first)
MAX_LOAD_BYTES = 64 * 2**20
#: more index objects than this are merged into one by the next reader...
COMPACT_OVER = 16
#: ...which removes the merged ones older than this (a reader that just listed them is done)
COMPACT_MIN_AGE = 300.0


@dataclass
class Loaded:
    """What a reader knows from the index: entry -> metadata, entry -> last use."""

    generation: str
    at: float
    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)
    objects: list[tuple[str, float]] = field(default_factory=list)  # (path, mtime) read


class _Pending:
    """Records of one location not written yet (shared by its stores in this process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generation: str | None = None
        self.metas: dict[str, dict[str, Any]] = {}
        self.used: dict[str, float] = {}
        self.recorded: dict[str, float] = {}  # entry -> when its use was last recorded here
        self.timer: threading.Timer | None = None
        self.store: Any = None


_PENDING: dict[str, _Pending] = {}
_PENDING_LOCK = threading.Lock()


def folder(store: Any, generation: str) -> str:
    return f"{store.path}/index/{_safe(generation)}"


def record(store: Any, generation: str, rel: str, meta: dict[str, Any] | None = None,
           used: float | None = None) -> None:
    """Remember that entry ``rel`` (``<step dir>/<digest>``) was committed (``meta``) or
    used (``used``: a time) to be written with the next index object."""
    with _PENDING_LOCK:
        pending = _PENDING.get(store._ident)
        if pending is None:
            pending = _PENDING[store._ident] = _Pending()
            if len(_PENDING) == 1:
                atexit.register(flush_all)
    with pending.lock:
        if used is not None and meta is None:
            last = pending.recorded.get(rel)
            if last is not None and used - last < USE_RESOLUTION:
                return
        if pending.generation != generation:  # cleared meanwhile: older records are void
            pending.metas.clear()
            pending.used.clear()
            pending.generation = generation
        pending.store = store
        if meta is not None:
            pending.metas[rel] = meta
        if used is not None:
            pending.used[rel] = used
            pending.recorded[rel] = used
        count = len(pending.metas) + len(pending.used)
        if count >= FLUSH_EVERY:
            _cancel(pending)
        elif pending.timer is None:
            pending.timer = threading.Timer(FLUSH_DELAY, _flush, (store._ident,))
            pending.timer.daemon = True
            pending.timer.start()
            return
        else:
            return
    _flush(store._ident)


def _cancel(pending: _Pending) -> None:
    if pending.timer is not None:
        pending.timer.cancel()
        pending.timer = None


def _flush(ident: str) -> None:
    pending = _PENDING.get(ident)
    if pending is None:
        return
    with pending.lock:
        _cancel(pending)
        if not (pending.metas or pending.used) or pending.store is None or pending.store._off:
            return
        metas, used, generation, store = pending.metas, pending.used, pending.generation, pending.store
        pending.metas, pending.used = {}, {}
    with contextlib.suppress(Exception):  # a hint: losing it costs speed, never correctness
        write(store, str(generation), metas, used)


def flush(store: Any) -> None:
    """Write ``store``'s pending records now."""
    _flush(store._ident)


def flush_all() -> None:
    for ident in list(_PENDING):
        _flush(ident)


def write(store: Any, generation: str, metas: dict[str, dict[str, Any]],
          used: dict[str, float]) -> str:
    """One index object holding ``metas`` and ``used``; returns its path."""
    name = f"{int(time.time() * 1000):013d}-{uuid.uuid4().hex[:12]}.json"
    path = f"{folder(store, generation)}/{name}"
    blob = json.dumps({"format": INDEX_FORMAT, "generation": generation, "entries": metas,
                       "used": used}, separators=(",", ":")).encode()
    store.fs.pipe_file(path, blob)
    return path


def load(store: Any, generation: str) -> Loaded:
    """The index of ``generation``: one listing, then its objects fetched concurrently
    (newest first, up to :data:`MAX_LOAD_BYTES`); unreadable objects are skipped."""

    fs = store.fs
    base = folder(store, generation)
    loaded = Loaded(generation, time.monotonic())
    try:
        fs.invalidate_cache(base)
        listing = fs.ls(base, detail=True)
    except FileNotFoundError:
        return loaded
    found = sorted(((str(i["name"]), mtime_of(i) or 0.0, int(i.get("size") or 0))
                    for i in listing if str(i["name"]).endswith(".json")),
                   key=lambda f: f[0], reverse=True)
    chosen, total = [], 0
    for path, mtime, size in found:
        if total + size > MAX_LOAD_BYTES and chosen:
            break
        chosen.append((path, mtime))
        total += size
    if not chosen:
        return loaded
    blobs = fs.cat([p for p, _ in chosen], on_error="omit") if len(chosen) > 1 else \
        _one(fs, chosen[0][0])
    for path, mtime in reversed(chosen):  # oldest first: newer records win
        blob = blobs.get(path) if isinstance(blobs, dict) else None
        if not isinstance(blob, bytes | bytearray):
            continue
        try:
            doc = json.loads(blob)
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("format") != INDEX_FORMAT:
            continue
        entries, used = doc.get("entries"), doc.get("used")
        if isinstance(entries, dict):
            loaded.metas.update((k, v) for k, v in entries.items() if isinstance(v, dict))
        if isinstance(used, dict):
            for k, v in used.items():
                if isinstance(v, int | float) and v > loaded.used.get(k, 0.0):
                    loaded.used[k] = float(v)
        loaded.objects.append((path, mtime))
    return loaded


def _one(fs: Any, path: str) -> dict[str, bytes]:
    try:
        return {path: fs.cat_file(path)}
    except FileNotFoundError:
        return {}


def worth_compacting(loaded: Loaded) -> bool:
    """More than :data:`COMPACT_OVER` of the loaded objects are old enough to be merged."""
    cutoff = time.time() - COMPACT_MIN_AGE
    return sum(1 for _, mtime in loaded.objects if mtime <= cutoff) > COMPACT_OVER


def rewrite(store: Any, loaded: Loaded, drop: Collection[str] = (), *,
            min_age: float | None = None) -> None:
    """Merge what was loaded into one index object (without ``drop``), then remove the
    merged objects older than ``min_age`` (default :data:`COMPACT_MIN_AGE`: a reader that
    just listed one has fetched it by then)."""
    min_age = COMPACT_MIN_AGE if min_age is None else min_age
    metas = {k: v for k, v in loaded.metas.items() if k not in drop}
    used = {k: v for k, v in loaded.used.items() if k not in drop}
    if metas or used:
        write(store, loaded.generation, metas, used)
    cutoff = time.time() - min_age
    old = [p for p, mtime in loaded.objects if mtime <= cutoff]
    if old:
        with contextlib.suppress(FileNotFoundError):
            store.fs.rm(old)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "0"


def mtime_of(info: dict[str, Any]) -> float | None:
    """The modification time (epoch seconds) of an fsspec ``info`` record, whatever field name
    its filesystem uses; ``None`` when it has none."""
    for name in ("LastModified", "mtime", "last_modified", "updated", "created"):
        value = info.get(name)
        if value is None:
            continue
        if isinstance(value, int | float):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        with contextlib.suppress(ValueError):
            from datetime import datetime

            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    return None
