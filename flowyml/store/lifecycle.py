"""The cache over time: what is stored and when it was last used, and what to throw away.

* **Last use** is the entry file's modification time, touched on every hit (one system
  call, no data written): :func:`scan` reads it with one ``stat``, never the file.
* :func:`gc` keeps, per step, the ``keep_latest`` most recently used versions (an entry, or a
  map task's items of one definition with its whole list, or an accepted alias with its
  target), every entry a current definition would hit (``protect``) and every entry used
  within ``grace`` (default :data:`IN_USE_SECONDS`: a reader may hold it; the report counts
  what that spared, and says so); of the rest it removes those older than
  ``older_than``, or the least recently used down to ``max_size``, or all. An entry is one
  file, removed by one ``unlink`` (atomic: a reader has it open whole, or finds nothing),
  and only when its modification time is still the one the scan saw (a use since, or a
  rewrite, keeps it). Entries still being written are ``.<name>.tmp-*`` files, which gc
  never touches. Entries of the older layout (a directory each) can never be hit; gc
  always removes them.
* :func:`trim_to_budget` is gc with ``keep_latest=0`` after a run (``FLOWYML_CACHE_MAX_SIZE``).
* Why a step will hit or re-run is :mod:`flowyml.store.explain`.
* Accepting an edit (:mod:`flowyml.store.aliases`) stores an alias entry; gc keeps it with the
  entry it points at.

Works on the store's operations only (its entries directory, ``entry_path``), so another
store with the same layout gets the same lifecycle.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowyml.sizes import parse_size, size_text

#: an entry used this recently is in use: gc leaves it alone
IN_USE_SECONDS = 60.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Entry:
    """One stored entry, as :func:`scan` sees it."""

    step: str        # the step's directory name
    name: str        # the entry's file name (a digest of its key)
    path: str
    size: int        # bytes on disk
    last_used: float  # seconds since the epoch
    legacy: bool = False  # an entry of the older layout (a directory): never read, gc removes it


@dataclass
class GcReport:
    """What :func:`gc` removed (or would remove, ``dry_run``), what stays, and what it spared
    only because it was used within the grace period (``spared``: it may be in use)."""

    removed: list[Entry] = field(default_factory=list)
    kept: int = 0
    kept_bytes: int = 0
    dry_run: bool = False
    spared: list[Entry] = field(default_factory=list)
    grace: float = IN_USE_SECONDS
    max_size: int | None = None

    @property
    def freed(self) -> int:
        return sum(e.size for e in self.removed)

    def summary(self, verb: str | None = None, hint: str = "; --grace 0s to remove them") -> str:
        verb = verb or ("would remove" if self.dry_run else "removed")
        steps = sorted({e.step for e in self.removed})
        which = f" (steps {', '.join(steps[:8])}{', ...' if len(steps) > 8 else ''})" if steps else ""
        text = (f"{verb} {len(self.removed)} entries, {size_text(self.freed)}{which}; "
                f"{self.kept} entries, {size_text(self.kept_bytes)} stay")
        if self.max_size is not None and self.kept_bytes > self.max_size:
            text += f"; still over {size_text(self.max_size)}"
        if self.spared:
            text += (f"; {len(self.spared)} entries used in the last {_span(self.grace)} kept: "
                     f"they may be in use{hint}")
        return text


def _span(seconds: float) -> str:
    """``60`` -> ``minute``, ``90`` -> ``1m30s``, ``7200`` -> ``2h``: a grace period in words."""
    if seconds == 60:
        return "minute"
    seconds = round(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def parse_age(text: str) -> float:
    """``"30d"`` -> seconds; also ``s``, ``m``, ``h``, ``w``, and plain seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text))
    if not match:
        raise ValueError(f"not an age: {text!r}; use a number with s, m, h, d or w (e.g. 30d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def entries_dir(store: Any) -> str | None:
    """The local entries directory (``None``: no cache, or a remote one, which does its own
    I/O: see the end of this module)."""
    from flowyml.store.local import CacheStore

    if not isinstance(store, CacheStore) or not store.enabled or not store.root.exists():
        return None
    return str(store.entries_dir)


def scan(store: Any, tombs: list[str] | None = None) -> list[Entry]:
    """Every complete entry of ``store``: a ``scandir`` per directory, an ``lstat`` per entry.
    Leftover tombs of an interrupted gc are appended to ``tombs`` when given."""
    if is_remote_store(store):
        return store.lifecycle_entries()
    from flowyml.store.local import scan_step_dir

    base = entries_dir(store)
    if base is None:
        return []
    found: list[Entry] = []
    for step in os.scandir(base):
        if step.name.startswith(".") or not step.is_dir(follow_symlinks=False):
            continue
        try:
            rows = scan_step_dir(step.path, tombs)
        except FileNotFoundError:
            continue  # removed meanwhile
        found.extend(Entry(step.name, *row) for row in rows)
    return found


def entry_names(store: Any, keys: Iterable[str | None]) -> set[str]:
    """The entry directory names of ``keys`` (the entries those keys would hit)."""
    return {os.path.basename(str(store.entry_path(k))) for k in keys if k}


def gc(store: Any, *, keep_latest: int = 1, older_than: float | None = None,
       max_size: int | None = None, protect: Iterable[str | None] = (), dry_run: bool = False,
       now: float | None = None, grace: float | None = None) -> GcReport:
    """Remove old entries (see the module docstring); ``protect`` are keys never removed.

    ``keep_latest`` counts *versions* of a step, not entry files: a map task's item entries
    made by one definition (same code, same other inputs) and its whole-list entry are one
    version, and an accepted alias goes with the entry it points at. ``grace`` (seconds;
    default: the store's, a minute locally) spares entries used that recently: they may be
    in use. The report counts what the grace spared, so the summary can say so."""
    if keep_latest < 0:
        raise ValueError(f"keep_latest must be >= 0, got {keep_latest}")
    if grace is not None and grace < 0:
        raise ValueError(f"grace must be >= 0 seconds, got {grace}")
    now = time.time() if now is None else now
    tombs: list[str] = []
    entries = scan(store, tombs)
    protected = entry_names(store, protect)
    keep = _kept_versions(store, entries, keep_latest, protected)
    legacy = [e for e in entries if e.legacy]
    if grace is None:
        grace = store.in_use_seconds if is_remote_store(store) else IN_USE_SECONDS
    eligible = sorted((e for e in entries if e.name not in keep and not e.legacy),
                      key=lambda e: e.last_used)
    if older_than is not None:
        eligible = [e for e in eligible if now - e.last_used > older_than]
    total = sum(e.size for e in entries if not e.legacy)

    def select(pool: list[Entry]) -> list[Entry]:
        if max_size is None:
            return pool
        left, chosen = total, []
        for e in pool:
            if left <= max_size:
                break
            chosen.append(e)
            left -= e.size
        return chosen

    chosen = legacy + select([e for e in eligible if now - e.last_used >= grace])
    report = GcReport(dry_run=dry_run, grace=grace, max_size=max_size,
                      spared=[e for e in select(eligible) if now - e.last_used < grace])
    if is_remote_store(store):
        report.removed = list(chosen) if dry_run else store.remove_entries(chosen)
        chosen = []
    doomed: list[str] = []
    for e in chosen:
        if dry_run:
            report.removed.append(e)
        elif not e.legacy:
            if _unlink_unused(e):
                report.removed.append(e)
        elif (tomb := _bury(e)) is not None:
            report.removed.append(e)
            doomed.append(tomb)
    _delete(doomed)
    gone = {e.path for e in report.removed}
    report.kept = sum(1 for e in entries if e.path not in gone)
    report.kept_bytes = sum(e.size for e in entries if e.path not in gone)
    if not dry_run:
        for tomb in tombs:  # of an interrupted gc
            shutil.rmtree(tomb, ignore_errors=True)
    return report


def _kept_versions(store: Any, entries: list[Entry], keep_latest: int,
                   protected: set[str]) -> set[str]:
    """Names of the entries gc keeps whatever their age: the ``keep_latest`` most recently
    used versions of each step, the ``protected`` entries and the entries they alias.

    A step's entries are grouped into versions from their metadata (read only for steps
    with more entries than are kept anyway): a map task's item entries of one definition
    (their key parts without ``<item>``) with the whole-list entry of that definition (the
    same parts plus the items list), and an alias with the entry it points at."""
    by_step: dict[str, list[Entry]] = {}
    for e in entries:
        if not e.legacy:
            by_step.setdefault(e.step, []).append(e)
    keep = set(protected)
    wanted = [e for e in entries if e.name in protected and not e.legacy]
    grouped = {step for step, group in by_step.items()
               if keep_latest and len(group) > keep_latest and _grouped(store, step)}
    wanted += [e for step in grouped for e in by_step[step]]
    metas = _entry_metas(store, wanted)
    for e in wanted:
        target = _alias_target(store, metas.get(e.path))
        if e.name in protected and target:
            keep.add(target)
    if not keep_latest:
        return keep
    for step, group in by_step.items():
        if len(group) <= keep_latest:
            keep.update(e.name for e in group)
            continue
        if step not in grouped:  # every entry is a version of its own
            group.sort(key=lambda e: e.last_used, reverse=True)
            keep.update(e.name for e in group[:keep_latest])
            continue
        versions = _versions(store, group, metas)
        versions.sort(key=lambda v: max(e.last_used for e in v), reverse=True)
        keep.update(e.name for version in versions[:keep_latest] for e in version)
    return keep


def _versions(store: Any, group: list[Entry], metas: Mapping[str, dict[str, Any]]) -> list[list[Entry]]:
    """One step's entries as versions (see :func:`_kept_versions`)."""
    parent = {e.name: e.name for e in group}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(a: str, b: str) -> None:
        if a in parent and b in parent:
            parent[root(a)] = root(b)

    items: dict[str, str] = {}  # (code, params without the item) -> an item entry's name
    wholes: list[tuple[str, Any, dict[str, Any]]] = []
    for e in group:
        meta = metas.get(e.path) or {}
        target = _alias_target(store, meta)
        if target:
            join(e.name, target)
            continue
        parts = meta.get("parts") if isinstance(meta.get("parts"), dict) else {}
        params = parts.get("params") if isinstance(parts.get("params"), dict) else None
        if params is None:
            continue
        if "<item>" in params:
            shared = {k: v for k, v in params.items() if k != "<item>"}
            sig = _signature(parts.get("code"), shared)
            if sig in items:
                join(e.name, items[sig])
            else:
                items[sig] = e.name
        else:
            wholes.append((e.name, parts.get("code"), params))
    for name, code, params in wholes:  # a whole-list entry: its items' parts + the list
        for param in params:
            sig = _signature(code, {k: v for k, v in params.items() if k != param})
            if sig in items:
                join(name, items[sig])
                break
    out: dict[str, list[Entry]] = {}
    for e in group:
        out.setdefault(root(e.name), []).append(e)
    return list(out.values())


def _signature(code: Any, params: Mapping[str, Any]) -> str:
    import json

    return json.dumps([code, dict(params)], sort_keys=True, default=str)


def _alias_target(store: Any, meta: Mapping[str, Any] | None) -> str | None:
    """The entry name an accepted alias points at (``None``: not an alias)."""
    from flowyml.store.aliases import alias_of

    record = alias_of(meta)
    return next(iter(entry_names(store, [record["key"]])), None) if record else None


def _entry_metas(store: Any, entries: list[Entry]) -> dict[str, dict[str, Any]]:
    """Entry path -> its metadata (unverified; for grouping only), for ``entries``."""
    if not entries:
        return {}
    if is_remote_store(store):
        return store.entry_metas([e.path for e in entries])
    out = {}
    for e in entries:
        meta = _grouping_meta(e.path)
        if meta is not None:
            out[e.path] = meta
    return out


#: a file in a step's directory saying that some of its entries are not versions of their
#: own (map task items, accepted aliases): gc reads that step's metadata to group them
GROUPED_MARK = ".grouped"
_MARKED: set[str] = set()


def mark_grouped(store: Any, step_name: str) -> None:
    """Note (once per process and step) that ``step_name`` has item or alias entries, so
    that gc groups its entries into versions; other steps' entries are read by nobody.
    A remote store needs no mark (gc reads its metadata from the shared index)."""
    from flowyml.store.local import step_dirname

    base = entries_dir(store)
    if base is None:
        return
    path = os.path.join(base, step_dirname(step_name), GROUPED_MARK)
    if path in _MARKED:
        return
    with contextlib.suppress(OSError):
        if not os.path.exists(path):
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600))
        _MARKED.add(path)


def _grouped(store: Any, step_dir: str) -> bool:
    """Whether gc must read the entries of ``step_dir`` to group them (see mark_grouped)."""
    if is_remote_store(store):
        return True
    base = entries_dir(store)
    return base is not None and os.path.exists(os.path.join(base, step_dir, GROUPED_MARK))


#: what an entry's metadata holds when it is not a version of its own: an alias, an item
_GROUPING_MARKS = (b'"alias"', b'"<item>"', b'"item"')


def _grouping_meta(path: str) -> dict[str, Any] | None:
    """The metadata of a local entry when it may be an alias or a map task's item, else
    ``None`` (an ordinary entry: a version by itself). One ``pread`` of the file's end; the
    JSON is parsed only when its bytes name an alias or an item (gc reads every entry of a
    step with more than ``keep_latest`` of them: this keeps that to a few microseconds)."""
    import struct

    from flowyml.store.entry import TRAILER, read_meta

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        try:
            n = os.fstat(fd).st_size
            tail = os.pread(fd, min(n, 16384), max(n - 16384, 0))
        finally:
            os.close(fd)
        length = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)[0]
    except (OSError, struct.error):
        return None
    if length + TRAILER.size > len(tail):
        return read_meta(path)  # a large metadata block: read it whole
    text = tail[len(tail) - TRAILER.size - length: len(tail) - TRAILER.size]
    if not any(mark in text for mark in _GROUPING_MARKS):
        return None
    return read_meta(path)


def _unlink_unused(entry: Entry) -> bool:
    """Remove an entry file unless it was used or rewritten since the scan (its
    modification time moved): one ``lstat`` and one ``unlink``."""
    try:
        if os.lstat(entry.path).st_mtime != entry.last_used:
            return False
        os.unlink(entry.path)
    except OSError:
        return False
    return True


def _bury(entry: Entry) -> str | None:
    """Rename an entry directory (older layout) to a private tomb. ``None`` when it was
    removed or replaced meanwhile."""
    tomb = os.path.join(os.path.dirname(entry.path), f".{entry.name}.gc-{uuid.uuid4().hex[:8]}")
    try:
        os.rename(entry.path, tomb)
    except OSError:
        return None
    return tomb


def _delete(tombs: list[str]) -> None:
    """Delete tombs (entry directories of the older layout: plain files in a directory);
    ``rmdir`` dominates, so a few threads (the calls release the GIL) share the work."""
    if not tombs:
        return
    if len(tombs) < 64:
        for tomb in tombs:
            _delete_one(tomb)
        return
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
        list(pool.map(_delete_one, tombs, chunksize=256))


def _delete_one(tomb: str) -> None:
    try:
        with os.scandir(tomb) as files:
            for f in files:
                os.unlink(f.path)
        os.rmdir(tomb)
    except OSError:
        shutil.rmtree(tomb, ignore_errors=True)


def budget_from_env() -> int | None:
    text = os.environ.get("FLOWYML_CACHE_MAX_SIZE")
    return parse_size(text) if text else None


def trim_to_budget(store: Any, max_size: int, protect: Iterable[str | None] = ()) -> str | None:
    """Least recently used entries that no current step needs, down to ``max_size``; the
    one line to show when something went, or when the cache stays over its budget because
    entries are in use (``None`` otherwise)."""
    report = gc(store, keep_latest=0, max_size=max_size, protect=protect)
    if not report.removed and not (report.spared and report.kept_bytes > max_size):
        return None
    return (f"flowyml: cache over its {size_text(max_size)} budget: "
            f"{report.summary('trimmed', hint='; they go at a later run')}")


# ---------------------------------------------------------------------------------------------
# info
# ---------------------------------------------------------------------------------------------


def info(store: Any, current: Mapping[str, str | None] | None = None) -> dict[str, Any]:
    """Per step directory: entries, bytes, last use, and (given the current keys by step
    name) the entry the current definition would hit and whether it is stored; totals."""
    from flowyml.store.local import step_dirname

    steps: dict[str, dict[str, Any]] = {}
    for e in scan(store):
        row = steps.setdefault(e.step, {"entries": 0, "bytes": 0, "last_used": 0.0})
        row["entries"] += 1
        row["bytes"] += e.size
        row["last_used"] = max(row["last_used"], e.last_used)
        row.setdefault("_names", set()).add(e.name)
    for name, key in (current or {}).items():
        row = steps.setdefault(step_dirname(name), {"entries": 0, "bytes": 0, "last_used": None})
        wanted = next(iter(entry_names(store, [key])), None) if key else None
        row["current"] = wanted
        row["current_stored"] = wanted is not None and wanted in row.get("_names", ())
    for row in steps.values():
        row.pop("_names", None)
    return {"root": str(store.root), "steps": dict(sorted(steps.items())),
            "total": {"entries": sum(r["entries"] for r in steps.values()),
                      "bytes": sum(r["bytes"] for r in steps.values())}}


def info_text(report: Mapping[str, Any], now: float | None = None) -> str:
    """``flowyml cache info`` as a table."""
    now = time.time() if now is None else now
    rows = report["steps"]
    lines = [f"cache at {report['root']}"]
    if not rows:
        return "\n".join([*lines, "  (empty)"])
    width = max(4, *(len(k) for k in rows))
    lines.append(f"  {'step':<{width}}  {'entries':>7}  {'size':>10}  {'last used':>10}  current")
    for name, r in rows.items():
        used = ago(now - r["last_used"]) if r.get("last_used") else "-"
        cur = "" if "current" not in r else (
            "stored (a hit)" if r["current_stored"] else "not stored (will run)")
        lines.append(f"  {name:<{width}}  {r['entries']:>7}  {size_text(r['bytes']):>10}  "
                     f"{used:>10}  {cur}".rstrip())
    t = report["total"]
    lines.append(f"  {'total':<{width}}  {t['entries']:>7}  {size_text(t['bytes']):>10}")
    return "\n".join(lines)


def ago(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit} ago"
    return f"{max(seconds, 0):.0f}s ago"


# ---------------------------------------------------------------------------------------------
# Remote stores (flowyml.store.remote.RemoteStore) do their own I/O: lifecycle_entries,
# remove_entries, step_metas, read_meta, in_use_seconds
# ---------------------------------------------------------------------------------------------


def is_remote_store(store: Any) -> bool:
    return hasattr(store, "lifecycle_entries") and bool(getattr(store, "enabled", False))
