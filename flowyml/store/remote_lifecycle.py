"""What the cache lifecycle (:mod:`flowyml.store.lifecycle`: info, gc, budgets, ``why``) needs
from a bucket, as a mixin of :class:`flowyml.store.remote.RemoteStore`: one paginated listing
of the entries, the shared index's use records for last use, and removal that deletes each
entry's ``meta.json`` first (one bulk request per 1,000), so a reader sees a whole entry or a
miss. Metadata is read, never unpickled.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from typing import Any

from flowyml.store import remote_index as _index
from flowyml.store.entry import (
    CacheWarning,
)
from flowyml.store.local import step_dirname
from flowyml.store.urls import (
    short_error,
)

#: unreferenced data objects of a key older than this are removed by its next writer
GARBAGE_GRACE_SECONDS = 3600.0


class RemoteLifecycle:
    """The lifecycle operations of a remote store (see the module docstring). The store
    provides ``fs``, ``entries_path``, ``flush``, ``_current_generation``, ``_unreachable``,
    ``_off`` and the metadata checks these use."""

    # -- lifecycle (flowyml.store.lifecycle calls these for a remote store) ---------------------------
    #: gc leaves an entry alone this long after its last recorded use: uses are recorded at
    #: most once a minute per process (remote_index.USE_RESOLUTION), then written within 5 s
    in_use_seconds = 2 * _index.USE_RESOLUTION + 2 * _index.FLUSH_DELAY

    def _listing(self) -> dict[str, list[tuple[str, int, float]]]:
        """One paginated listing of the entries: entry dir -> [(object name, size, mtime)]."""
        fs = self.fs
        fs.invalidate_cache(self.entries_path)
        try:
            found = fs.find(self.entries_path, detail=True)
        except FileNotFoundError:
            return {}
        out: dict[str, list[tuple[str, int, float]]] = {}
        prefix = self.entries_path + "/"
        for name, info in found.items():
            rel = name[len(prefix):] if name.startswith(prefix) else ""
            step_dir, _, rest = rel.partition("/")
            digest, _, obj = rest.partition("/")
            if not (step_dir and digest and obj) or "/" in obj:
                continue
            out.setdefault(f"{prefix}{step_dir}/{digest}", []).append(
                (obj, int(info.get("size") or 0), _index.mtime_of(info) or 0.0))
        return out

    def lifecycle_entries(self) -> list[Any]:
        """Every committed entry as :class:`flowyml.store.lifecycle.Entry`: one listing of the
        entries (size; ``meta.json``'s time is the commit) and the index's use records
        (last use). An entry without ``meta.json`` is being written, or garbage: not listed."""
        from flowyml.store.lifecycle import Entry

        if self._off:
            return []
        self.flush()  # this process's own uses count too
        try:
            listing = self._listing()
            used = _index.load(self, self._current_generation()).used
        except Exception as exc:  # after a run (the budget) this must not fail the run
            self._unreachable(exc)
            return []
        entries = []
        for entry_dir, objects in listing.items():
            commit = next((m for n, _, m in objects if n == "meta.json"), None)
            if commit is None:
                continue
            step_dir, _, digest = self._rel(entry_dir).partition("/")
            last = max(commit, used.get(self._rel(entry_dir), 0.0))
            entries.append(Entry(step_dir, digest, entry_dir, sum(s for _, s, _ in objects), last))
        self._last_listing = listing
        return entries

    def remove_entries(self, entries: list[Any]) -> list[Any]:
        """Remove ``entries`` (from :meth:`lifecycle_entries`): every ``meta.json`` first,
        in one bulk request per 1,000 (from then on a reader sees no entry and recomputes;
        one that read the metadata just before finds the data gone, reads ``meta.json``
        again and sees a miss), then their data; then the index without them. Also removes
        garbage: objects of uncommitted entries older than an hour (a writer that old is
        dead; a younger one may still be writing). Returns the entries removed."""
        fs = self.fs
        listing = getattr(self, "_last_listing", None) or self._listing()
        removed = [e for e in entries if e.path in listing]
        metas = [f"{e.path}/meta.json" for e in removed]
        data = [f"{e.path}/{n}" for e in removed for n, _, _ in listing[e.path] if n != "meta.json"]
        cutoff = time.time() - GARBAGE_GRACE_SECONDS
        for entry_dir, objects in listing.items():
            if all(n != "meta.json" for n, _, _ in objects) and all(m < cutoff for _, _, m in objects):
                data += [f"{entry_dir}/{n}" for n, _, _ in objects]
        try:
            if metas:
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(metas)
        except Exception as exc:  # e.g. no delete permission: nothing was removed
            self._last_listing = None
            warnings.warn(f"flowyml cache: cannot remove entries from {self.root} "
                          f"({short_error(exc, self._sensitive)}); nothing was removed",
                          CacheWarning, stacklevel=3)
            return []
        with contextlib.suppress(Exception):  # uncommitted already: leftovers are garbage
            if data:
                fs.rm(data)
        if removed:
            gone = {self._rel(e.path) for e in removed}
            with contextlib.suppress(Exception):
                _index.rewrite(self, _index.load(self, self._current_generation()), gone, min_age=0)
            self._memo = None
            for e in removed:
                with contextlib.suppress(OSError):
                    self._local_meta_path(e.path).unlink()
        self._last_listing = None
        return removed

    def step_metas(self, step_name: str) -> list[tuple[float, dict[str, Any]]]:
        """(commit time, metadata) of every committed entry of a step (``flowyml why``):
        one listing of the step, its ``meta.json`` objects fetched concurrently."""
        fs = self.fs
        base = f"{self.entries_path}/{step_dirname(step_name)}"
        fs.invalidate_cache(base)
        try:
            found = fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        times = {n: _index.mtime_of(i) or 0.0 for n, i in found.items() if n.endswith("/meta.json")}
        blobs = fs.cat(sorted(times), on_error="omit") if times else {}
        if len(times) == 1 and not isinstance(blobs, dict):
            blobs = {next(iter(times)): blobs}
        out = []
        for path, blob in blobs.items():
            with contextlib.suppress(ValueError):
                meta = json.loads(blob)
                if isinstance(meta, dict):
                    out.append((times[path], meta))
        return out

    def entry_metas(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        """Entry dir -> its metadata (unverified: gc groups entries by it), from the index
        where it has them, else their ``meta.json`` objects fetched concurrently."""
        out: dict[str, dict[str, Any]] = {}
        with contextlib.suppress(Exception):
            known = _index.load(self, self._current_generation()).metas
            out = {p: known[self._rel(p)] for p in paths if self._rel(p) in known}
        rest = sorted(f"{p}/meta.json" for p in paths if p not in out)
        if rest:
            try:
                blobs = self.fs.cat(rest, on_error="omit")
            except Exception:
                blobs = {}
            if len(rest) == 1 and not isinstance(blobs, dict):
                blobs = {rest[0]: blobs}
            for path, blob in blobs.items():
                with contextlib.suppress(ValueError, TypeError):
                    meta = json.loads(blob)
                    if isinstance(meta, dict):
                        out[path[: -len("/meta.json")]] = meta
        return out

    def read_meta(self, key: str) -> dict[str, Any] | None:
        """The metadata stored for ``key`` (``None``: none, or not for this key); reading is
        not a use."""
        try:
            meta = json.loads(self.fs.cat_file(f"{self.entry_path(key)}/meta.json"))
        except (FileNotFoundError, ValueError):
            return None
        return meta if isinstance(meta, dict) and meta.get("key") == key else None

    def info(self) -> dict[str, dict[str, float]]:
        """Per step: number of committed entries and bytes stored (garbage included)."""
        out: dict[str, dict[str, float]] = {}
        try:
            found = self.fs.find(self.entries_path, detail=True)
        except FileNotFoundError:
            return out
        prefix = self.entries_path + "/"
        for name, detail in sorted(found.items()):
            rel = name[len(prefix):] if name.startswith(prefix) else name
            step_dir = rel.split("/", 1)[0]
            stats = out.setdefault(step_dir, {"entries": 0, "bytes": 0})
            stats["bytes"] += detail.get("size") or 0
            if rel.endswith("/meta.json"):
                stats["entries"] += 1
        return out

