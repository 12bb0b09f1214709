"""Who signed what in a cache: ``flowyml cache info`` (each entry's signer), ``flowyml
cache gc --untrusted`` (remove what no trusted key signed) and ``%flowyml cache trust``.

The keys, the seal and the checks themselves are :mod:`flowyml.store.signing_keys`; this module
reads entries through :mod:`flowyml.store.lifecycle` (the local folder's files, a bucket's
``meta.json`` objects in one concurrent call) and never unpickles anything.
"""

from __future__ import annotations

import json
import os
from typing import Any

from flowyml.store import lifecycle
from flowyml.store.entry import read_meta
from flowyml.store.signing_keys import (
    SIGNING_KEY_ENV,
    TRUSTED_ENV,
    VERIFY_ENV,
    Seal,
    parse_trusted,
    signer_of,
)


def entry_metas(store: Any) -> list[tuple[Any, dict[str, Any] | None]]:
    """Every entry of ``store`` (as :func:`flowyml.store.lifecycle.scan` sees it) with its
    metadata, unverified (``None``: unreadable). A bucket's ``meta.json`` objects are
    fetched concurrently, in one call."""
    entries = [e for e in lifecycle.scan(store) if not e.legacy]
    if hasattr(store, "lifecycle_entries"):  # a remote store: entry paths are folders
        paths = [f"{e.path}/meta.json" for e in entries]
        blobs = store.fs.cat(paths, on_error="omit") if paths else {}
        if len(paths) == 1 and not isinstance(blobs, dict):
            blobs = {paths[0]: blobs}
        out = []
        for e, path in zip(entries, paths, strict=True):
            try:
                meta = json.loads(blobs[path]) if path in blobs else None
            except ValueError:
                meta = None
            out.append((e, meta if isinstance(meta, dict) else None))
        return out
    return [(e, read_meta(e.path)) for e in entries]


def signers(store: Any) -> list[dict[str, Any]]:
    """Per entry: step, entry name, the signer's fingerprint (``None``: unsigned) and
    whether this store trusts it (``None``: this store verifies no signers)."""
    seal_ = store.secret if isinstance(getattr(store, "secret", None), Seal) else None
    rows = []
    for e, meta in entry_metas(store):
        rows.append({"step": e.step, "entry": e.name, "signer": signer_of(meta),
                     "trusted": (seal_.trusts(meta) if meta is not None else False)
                     if seal_ is not None else None})
    rows.sort(key=lambda r: (r["step"], r["entry"]))
    return rows


def signers_text(rows: list[dict[str, Any]], limit: int = 100) -> str:
    """The signer of each entry, one line each, at most ``limit`` lines then a count per
    signer (for ``flowyml cache info``; ``--json`` lists them all). Nothing for a cache
    whose entries are all unsigned and that verifies no signers."""
    if not rows or all(r["signer"] is None and r["trusted"] is None for r in rows):
        return ""
    width = max(len(f"{r['step']}/{r['entry'][:12]}") for r in rows[:limit])
    verdicts = {True: "trusted", False: "NOT trusted", None: ""}
    lines = ["signed by (per entry):"]
    for r in rows[:limit]:
        lines.append(f"  {r['step'] + '/' + r['entry'][:12]:<{width}}  "
                     f"{r['signer'] or 'unsigned':<51}  {verdicts[r['trusted']]}".rstrip())
    if len(rows) > limit:
        counts: dict[tuple[Any, Any], int] = {}
        for r in rows[limit:]:
            counts[(r["signer"], r["trusted"])] = counts.get((r["signer"], r["trusted"]), 0) + 1
        lines.append(f"  ... and {len(rows) - limit} more (--json lists each):")
        for (signer, trusted), count in sorted(counts.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {count:>7} x {signer or 'unsigned':<51}  {verdicts[trusted]}".rstrip())
    return "\n".join(lines)


def gc_untrusted(store: Any, dry_run: bool = False) -> tuple[list[Any], int]:
    """Remove every entry that no trusted key validly signed (unsigned ones too). Returns
    (the entries removed, or that would be with ``dry_run``; how many stay)."""
    seal_ = store.secret if isinstance(getattr(store, "secret", None), Seal) else None
    if seal_ is None:
        raise ValueError(
            "gc --untrusted needs to know whom to trust: set FLOWYML_CACHE_TRUSTED_SIGNERS "
            f"(fingerprints) or {SIGNING_KEY_ENV}; a bucket trusts this machine's key by default")
    found = entry_metas(store)
    doomed = [e for e, meta in found if meta is None or not seal_.trusts(meta)]
    if dry_run or not doomed:
        return doomed, len(found) - len(doomed)
    if hasattr(store, "remove_entries"):
        removed = store.remove_entries(doomed)
    else:
        removed = []
        for e in doomed:
            try:
                os.unlink(e.path)
            except OSError:
                continue
            removed.append(e)
    return removed, len(found) - len(removed)


def trust_signer(session: Any, fp: str | None) -> str:
    """``%flowyml cache trust [FP]``: add a fingerprint to the notebook's trusted signers
    (its next lookups load entries that key signed), or say whose entries it loads."""
    for found in sorted(parse_trusted(fp)):
        if found not in session.trusted_signers:
            session.trusted_signers = (*session.trusted_signers, found)
    store = session.store
    seal_ = store.secret if isinstance(store.secret, Seal) else None
    if seal_ is None:
        return ("flowyml cache: this cache verifies no signers (a local folder without keys; "
                f"set {TRUSTED_ENV} or {VERIFY_ENV}=on)")
    own = seal_.fingerprint
    others = sorted(seal_.trusted - {own})
    return (f"flowyml cache at {store.root} ({VERIFY_ENV}={seal_.posture}) loads entries "
            f"signed by this process's key {own}"
            + (f" and {', '.join(others)}" if others else ""))
