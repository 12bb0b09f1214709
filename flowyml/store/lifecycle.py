"""The cache over time: what is stored and when it was last used, what to throw away, and
why a step will hit or re-run.

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
* :func:`why` compares the key parts a step has now with the stored entries of that step
  (their parts and ``explain`` facts are in the entry's metadata) and names what differs;
  :func:`explain` gives the same as a :class:`Why` that also follows the step's inputs up
  the DAG to the steps that re-run first (:func:`plan_steps`, :func:`explain_planned`).
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
from flowyml.tracking import files as _files

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


def _entries_dir(store: Any) -> str | None:
    """The local entries directory (``None``: no cache, or a remote one, which does its own
    I/O: see the end of this module)."""
    from flowyml.store.local import CacheStore

    if not isinstance(store, CacheStore) or not store.enabled or not store.root.exists():
        return None
    return str(store.entries_dir)


def scan(store: Any, tombs: list[str] | None = None) -> list[Entry]:
    """Every complete entry of ``store``: a ``scandir`` per directory, an ``lstat`` per entry.
    Leftover tombs of an interrupted gc are appended to ``tombs`` when given."""
    if _remote(store):
        return store.lifecycle_entries()
    from flowyml.store.local import scan_step_dir

    base = _entries_dir(store)
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
        grace = store.in_use_seconds if _remote(store) else IN_USE_SECONDS
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
    if _remote(store):
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
    if _remote(store):
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

    base = _entries_dir(store)
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
    if _remote(store):
        return True
    base = _entries_dir(store)
    return base is not None and os.path.exists(os.path.join(base, step_dir, GROUPED_MARK))


#: what an entry's metadata holds when it is not a version of its own: an alias, an item
_GROUPING_MARKS = (b'"alias"', b'"<item>"', b'"item"')


def _grouping_meta(path: str) -> dict[str, Any] | None:
    """The metadata of a local entry when it may be an alias or a map task's item, else
    ``None`` (an ordinary entry: a version by itself). One ``pread`` of the file's end; the
    JSON is parsed only when its bytes name an alias or an item (gc reads every entry of a
    step with more than ``keep_latest`` of them: this keeps that to a few microseconds)."""
    import struct

    from flowyml.store.local import TRAILER, read_meta

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
        used = _ago(now - r["last_used"]) if r.get("last_used") else "-"
        cur = "" if "current" not in r else (
            "stored (a hit)" if r["current_stored"] else "not stored (will run)")
        lines.append(f"  {name:<{width}}  {r['entries']:>7}  {size_text(r['bytes']):>10}  "
                     f"{used:>10}  {cur}".rstrip())
    t = report["total"]
    lines.append(f"  {'total':<{width}}  {t['entries']:>7}  {size_text(t['bytes']):>10}")
    return "\n".join(lines)


def _ago(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit} ago"
    return f"{max(seconds, 0):.0f}s ago"


# ---------------------------------------------------------------------------------------------
# why
# ---------------------------------------------------------------------------------------------


def explain_facts(func: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """What is stored next to an entry for :func:`why`: the code's parts (own code, each
    helper and constant) and a short ``repr`` of small input values (never large ones)."""
    from flowyml.hashing import code_parts

    facts: dict[str, Any] = {}
    with contextlib.suppress(Exception):  # no source, a builtin: the key still says "code"
        facts["code"] = code_parts(func)
    shown = {}
    for name, value in values.items():
        if isinstance(value, bool | int | float | str | type(None)):
            text = repr(value)
            if len(text) <= 80:
                shown[name] = text
    if shown:
        facts["values"] = shown
    return facts


def step_metas(store: Any, step_name: str, items: bool = False) -> list[tuple[float, dict[str, Any]]]:
    """(last use, metadata) of every stored entry of ``step_name`` (reading is not a use);
    a map task's item entries only with ``items``."""
    found = _step_metas(store, step_name)
    if items:
        return found
    return [(used, m) for used, m in found if not _is_item(m)]


def _is_item(meta: Mapping[str, Any]) -> bool:
    """Whether an entry holds one item of a map task (not a version of the step)."""
    parts = meta.get("parts")
    if not isinstance(parts, dict):
        return False
    params = parts.get("params")
    return "<item>" in params if isinstance(params, dict) else set(parts) == {"item"}


def _step_metas(store: Any, step_name: str) -> list[tuple[float, dict[str, Any]]]:
    from flowyml.store.local import read_meta, scan_step_dir, step_dirname

    if _remote(store):
        return store.step_metas(step_name)
    base = _entries_dir(store)
    folder = os.path.join(base, step_dirname(step_name)) if base else None
    metas: list[tuple[float, dict[str, Any]]] = []
    if folder and os.path.isdir(folder):
        for _, path, _, used, legacy in scan_step_dir(folder):
            meta = None if legacy else read_meta(path)
            if meta is not None:
                metas.append((used, meta))
    return metas


@dataclass
class Why:
    """Why a step will hit or re-run: ``hit`` when its own key (code and inputs as they are
    now) matches a stored entry; ``reasons`` otherwise (what differs from the nearest entry,
    or why no key is known); ``upstream``: the inputs it reads from steps that re-run first,
    with their own :class:`Why`."""

    step: str
    hit: bool
    reasons: list[str] = field(default_factory=list)
    problem: str | None = None
    nearest_used: float | None = None
    stored: bool = True  # something of the step is stored
    upstream: list[tuple[str, str, Why]] = field(default_factory=list)

    @property
    def reruns(self) -> bool:
        return not self.hit or bool(self.upstream)

    def because(self) -> str:
        """Why it re-runs, as a clause (after "re-runs because")."""
        own = [] if self.hit else [self.problem or "; ".join(self.reasons) or "its key differs"]
        if not self.stored and not self.problem:
            own = ["nothing of it is stored yet"]
        ups = [f"it reads `{name}` from `{producer}`, which re-runs because {up.because()}"
               for name, producer, up in self.upstream]
        return "; and ".join(own + ups)

    def text(self) -> str:
        """The sentence ``why`` prints."""
        name = self.step
        if self.problem is not None and not self.upstream:
            return f"step '{name}' will run: {self.problem}"
        if not self.upstream:
            if self.hit:
                return f"step '{name}' will be a cache hit: its code and inputs match a stored entry"
            if not self.stored:
                return f"step '{name}' will run: nothing of it is stored yet"
            said = "; ".join(self.reasons) if self.reasons else "its key differs"
            if self.nearest_used is None:
                return f"step '{name}' will re-run: {said}"
            when = _ago(time.time() - self.nearest_used)
            return f"step '{name}' will re-run: against the nearest stored entry (used {when}), {said}"
        ups = "; and ".join(f"it reads `{n}` from `{p}`, which re-runs because {up.because()}"
                            for n, p, up in self.upstream)
        if self.hit:
            return (f"step '{name}' will re-run: its own code and inputs match a stored entry, "
                    f"but {ups}")
        own = self.problem or "; ".join(self.reasons) or (
            "nothing of it is stored yet" if not self.stored else "its key differs")
        return f"step '{name}' will re-run: {own}; and {ups}"


def explain(store: Any, step_name: str, parts: Mapping[str, Any] | None,
            facts: Mapping[str, Any] | None = None, problem: str | None = None,
            upstream: list[tuple[str, str, Why]] | None = None) -> Why:
    """:class:`Why` for ``step_name``: its key ``parts`` now against its stored entries,
    naming what differs from the nearest one. ``upstream``: re-running producers of its
    inputs (then ``parts`` are made with the digests those inputs had last time)."""
    from flowyml.keys import key_from_parts

    ups = list(upstream or [])
    if parts is None:
        return Why(step_name, False, problem=problem or "it is not cached", upstream=ups)
    key = key_from_parts(step_name, dict(parts))
    every = _step_metas(store, step_name)
    metas = [(used, m) for used, m in every if not _is_item(m)]
    found = next((m for _, m in metas if m.get("key") == key), None)
    if found is not None:
        gone = _dangling(store, found)
        if gone:
            return Why(step_name, False, [gone], upstream=ups)
        changed = _files.stale_reason(_files.note_of(found), recorded=_files.enabled_by_env())
        if changed:
            return Why(step_name, False, [f"{changed} (its code and inputs match a stored entry, "
                                          "made from the file as it was)"], upstream=ups)
        return Why(step_name, True, upstream=ups)
    if not metas:
        items = len(every)
        if items:  # a map task whose whole list was not stored (too large, or a failure)
            return Why(step_name, False, [f"its whole list is not stored; each item is looked "
                                          f"up on its own ({items} item entries stored)"],
                       upstream=ups)
        return Why(step_name, False, stored=False, upstream=ups)
    scored = []
    for used, meta in metas:
        reasons = differences(dict(parts), meta.get("parts") or {}, facts or {},
                               meta.get("explain") or {})
        scored.append((len(reasons), -used, reasons))
    scored.sort(key=lambda s: (s[0], s[1]))
    _, used, reasons = scored[0]
    return Why(step_name, False, reasons, nearest_used=-used, upstream=ups)


def _dangling(store: Any, meta: Mapping[str, Any]) -> str | None:
    """For an accepted alias whose target is gone or was replaced: why it will not hit."""
    from flowyml.store.aliases import alias_of

    record = alias_of(meta)
    if record is None:
        return None
    target = _read_meta(store, record["key"])
    if target is None:
        return "its accepted edit points at an entry that is no longer stored"
    if target.get("checksum") != record.get("checksum"):
        return "the entry its edit was accepted against was replaced"
    return None


def why(store: Any, step_name: str, parts: Mapping[str, Any] | None,
        facts: Mapping[str, Any] | None = None, problem: str | None = None) -> str:
    """Why ``step_name`` will hit or re-run: its key ``parts`` now against the stored entries
    of that step, naming what differs from the nearest one (the text of :func:`explain`)."""
    return explain(store, step_name, parts, facts, problem).text()


def differences(now: dict[str, Any], then: dict[str, Any], facts: Mapping[str, Any],
                 old_facts: Mapping[str, Any]) -> list[str]:
    reasons: list[str] = []
    if now.get("code") != then.get("code"):
        new_code, old_code = facts.get("code") or {}, old_facts.get("code") or {}
        named = []
        for part in sorted(set(new_code) | set(old_code)):
            if new_code.get(part) != old_code.get(part):
                if part == "<own>":
                    named.append("its own code changed")
                elif part not in old_code:
                    named.append(f"it now uses `{part}`")
                elif part not in new_code:
                    named.append(f"it no longer uses `{part}`")
                elif str(new_code[part]).startswith("="):
                    named.append(f"constant `{part}` {old_code[part][1:]} → {new_code[part][1:]}")
                else:
                    named.append(f"helper `{part}` changed")
        reasons += named or ["its code changed"]
    new_params, old_params = now.get("params") or {}, then.get("params") or {}
    new_vals, old_vals = facts.get("values") or {}, old_facts.get("values") or {}
    for name in sorted(set(new_params) | set(old_params)):
        if name not in old_params:
            reasons.append(f"new input `{name}`")
        elif name not in new_params:
            reasons.append(f"input `{name}` is no longer given")
        elif new_params[name] != old_params[name]:
            if name in new_vals and name in old_vals:
                reasons.append(f"`{name}` changed {old_vals[name]} → {new_vals[name]}")
            else:
                reasons.append(f"input `{name}` changed")
    return reasons


@dataclass
class Planned:
    """What :func:`plan_steps` knows of one step before anything runs: the key ``parts``
    and ``why`` facts it would run with now (``None`` and the ``problem`` when they are not
    known), and for inputs made by steps that re-run first (``rerun``: input -> producer)
    the ``assumed`` parts made with the digests those inputs had last time."""

    parts: dict[str, Any] | None
    facts: dict[str, Any]
    problem: str | None = None
    rerun: dict[str, str] = field(default_factory=dict)
    assumed: dict[str, Any] | None = None


def plan(pipeline: Any) -> dict[str, tuple[dict[str, Any] | None, dict[str, Any], str | None]]:
    """For each step of ``pipeline``: the key parts and ``why`` facts it would run with now,
    or ``None`` and the reason they are not known without running something first."""
    return {name: (p.parts, p.facts, p.problem) for name, p in plan_steps(pipeline).items()}


def plan_steps(pipeline: Any) -> dict[str, Planned]:
    """:class:`Planned` for each step of ``pipeline``. Nothing runs: an upstream step's
    output digests come from the entry its current key would hit (read from its metadata;
    reading does not count as a use); when that entry is not stored (it re-runs), from its
    most recently used entry, so that its readers can still be compared with their own
    entries. A map task's key is its whole-list key (the items list's digest)."""
    from flowyml import keys as _keys
    from flowyml.hashing import UnhashableValueError, hash_value
    from flowyml.keys import stored_name

    dag = pipeline.dag
    store = pipeline.cache
    context = dict(pipeline.context.items())
    producers = dag.producers
    digests: dict[str, str | None] = {}  # from the entry a producer's current key hits
    last: dict[str, str | None] = {}  # from a re-running producer's latest entry
    out: dict[str, Planned] = {}
    for step in dag.topological_sort():
        problem, params, values, rerun = None, {}, {}, {}
        if step.cache is False or (callable(step.cache) and not isinstance(step.cache, bool | str)):
            out[step.name] = Planned(None, {}, "its cache key is not made from its inputs "
                                     "(cache=False or a callable cache)")
            continue
        try:
            for input_name, param in step.input_binding.items():
                producer = producers.get(input_name)
                if producer is not None and producer != step.name:
                    digest = digests.get(input_name)
                    if digest is None and last.get(input_name) is not None:
                        digest, rerun[input_name] = last[input_name], producer
                    if digest is None:
                        problem = (f"upstream step '{producer}' will run first, so its output "
                                   f"`{input_name}` is not known yet")
                        break
                    params[param] = digest
                elif input_name in context:
                    params[param] = hash_value(context[input_name])
                    values[param] = context[input_name]
            for param, _ in step.injectable_params:
                if param in context and param not in params:
                    params[param] = hash_value(context[param])
                    values[param] = context[param]
        except UnhashableValueError as exc:
            problem = f"an input cannot be hashed ({exc})"
        if problem:
            out[step.name] = Planned(None, {}, problem)
            continue
        code = None if step.cache == "input_hash" else step.get_code_hash()
        parts = _keys.key_parts(step.name, code, params)
        facts = explain_facts(step.func, values)
        meta = _read_meta(store, _keys.key_from_parts(step.name, parts))
        if rerun:
            first = next(iter(rerun))
            out[step.name] = Planned(None, facts, f"upstream step '{rerun[first]}' will run "
                                     f"first, so its output `{first}` is not known yet",
                                     rerun, parts)
        else:
            out[step.name] = Planned(parts, facts)
        if meta is None:
            recent = max(step_metas(store, step.name), key=lambda m: m[0], default=None)
            for name in step.outputs or [step.name]:
                last[name] = ((recent[1].get("outputs") or {}).get(stored_name(name))
                              if recent else None)
        for name in step.outputs or [step.name]:
            found = (meta or {}).get("outputs", {}).get(stored_name(name))
            if rerun:
                last[name] = found or last.get(name)
            else:
                digests[name] = found
    return out


def explain_planned(store: Any, planned: Mapping[str, Planned], name: str,
                    seen: dict[str, Why] | None = None) -> Why:
    """:class:`Why` for step ``name`` of a :func:`plan_steps` result, following its inputs
    up the DAG to the steps that re-run first."""
    seen = {} if seen is None else seen
    if name in seen:
        return seen[name]
    p = planned[name]
    if p.rerun:
        ups = [(inp, producer, explain_planned(store, planned, producer, seen))
               for inp, producer in p.rerun.items()]
        result = explain(store, name, p.assumed, p.facts, upstream=ups)
    else:
        result = explain(store, name, p.parts, p.facts, p.problem)
    seen[name] = result
    return result


def _read_meta(store: Any, key: str) -> dict[str, Any] | None:
    if _remote(store):
        return store.read_meta(key)
    from flowyml.store.local import read_meta

    try:
        meta = read_meta(store.entry_path(key))
    except OSError:
        return None
    return meta if meta is not None and meta.get("key") == key else None


def current_keys(pipeline: Any) -> dict[str, str | None]:
    """Step name -> the key its current definition would hit (``None``: not known yet)."""
    from flowyml.keys import key_from_parts

    return {name: key_from_parts(name, parts) if parts is not None else None
            for name, (parts, _, _) in plan(pipeline).items()}


# ---------------------------------------------------------------------------------------------
# Remote stores (flowyml.store.remote.RemoteStore) do their own I/O: lifecycle_entries,
# remove_entries, step_metas, read_meta, in_use_seconds
# ---------------------------------------------------------------------------------------------


def _remote(store: Any) -> bool:
    return hasattr(store, "lifecycle_entries") and bool(getattr(store, "enabled", False))
