"""Accepted edits: a step's new key made to point at an entry stored under an older key.

After an edit the user knows changes nothing (a debug print), ``%%step NAME --accept`` or
``flowyml accept FILE STEP --yes`` stores an *alias* under the step's new key instead of
running it: a small entry, written by the store's own ``store`` (atomic, checksummed and,
with ``FLOWYML_CACHE_SECRET``, signed like any entry), whose metadata names the target
entry's key and data checksum. Its key parts and ``why`` facts are the new definition's;
its output digests are the target's, so the steps downstream keep their keys.

A lookup of the new key finds the alias and follows it (:func:`follow`): the target is
looked up (and verified) as usual, and taken only when its checksum is still the one the
alias recorded -- a replaced or removed target makes the alias a miss, never a wrong hit.
No data is copied, on disk or on a bucket. The alias's own data is a record that refuses
to unpickle, so a reader that does not know aliases recomputes rather than load it.

:func:`accept` finds the nearest stored entry made from the same inputs (all key parts but
the code equal), or refuses naming the input that differs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: the metadata note of an alias entry
NOTE = "alias"


class AcceptRefused(ValueError):
    """The edit cannot be accepted (an input differs, nothing stored, not cacheable)."""


class AliasRecord:
    """The data of an alias entry: unpickling it raises, so it is never taken for outputs."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (_not_outputs, (self.target,))


def _not_outputs(target: str) -> Any:
    raise ValueError(f"this cache entry is an alias of {target!r}, not outputs; "
                     "it is read by flowyml versions that follow aliases")


def alias_of(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The alias record in an entry's metadata (``None``: an ordinary entry)."""
    notes = meta.get("notes") if isinstance(meta, Mapping) else None
    record = notes.get(NOTE) if isinstance(notes, Mapping) else None
    if isinstance(record, dict) and isinstance(record.get("key"), str):
        return record
    return None


def follow(store: Any, entry: Any, lookup: Any) -> Any:
    """``entry`` itself, or for an alias the verified entry it points at (``None``: the
    target is gone, damaged, replaced or itself an alias: a miss). ``lookup`` is the
    store's lookup of one key without following aliases."""
    if entry is None:
        return None
    record = alias_of(entry.meta)
    if record is None:
        return entry
    target = lookup(record["key"])
    if target is None or alias_of(target.meta) is not None:
        return None
    if target.meta.get("checksum") != record.get("checksum"):
        store._report(str(entry.meta.get("key", "?")),
                      "the entry its edit was accepted against was replaced; it runs again",
                      once=True)
        return None
    return target


@dataclass
class Accepted:
    """What :func:`accept` did: the target entry's key and the differences it accepted."""

    step: str
    key: str
    target: str
    differences: list[str]
    already: bool = False

    def text(self) -> str:
        if self.already:
            return f"step '{self.step}': already a cache hit; nothing to accept"
        what = "; ".join(self.differences) or "its key differs"
        return (f"step '{self.step}': accepted ({what}); its new code now reads the entry "
                "stored before the edit: no run, no copy")


def nearest_same_inputs(store: Any, step_name: str, parts: Mapping[str, Any],
                        facts: Mapping[str, Any] | None = None
                        ) -> tuple[dict[str, Any] | None, list[str]]:
    """The most recently used stored entry of ``step_name`` whose key parts equal ``parts``
    except for the code (its metadata), and the differences ``why`` names against it.

    Raises :class:`AcceptRefused` naming the input when no entry was made from the same
    inputs (or when nothing of the step is stored)."""
    from flowyml.lifecycle import _differences, step_metas

    metas = step_metas(store, step_name)
    if not metas:
        raise AcceptRefused(f"step '{step_name}': nothing of it is stored yet, so there is no "
                            "earlier result to accept; run it")
    rest = {k: v for k, v in parts.items() if k != "code"}
    same, nearest = [], None
    for used, meta in metas:
        old = meta.get("parts") or {}
        reasons = _differences(dict(parts), old, facts or {}, meta.get("explain") or {})
        if {k: v for k, v in old.items() if k != "code"} == rest:
            same.append((used, meta, reasons))
        elif nearest is None or len(reasons) < len(nearest[1]) or (
                len(reasons) == len(nearest[1]) and used > nearest[0]):
            nearest = (used, reasons)
    if not same:
        inputs = [r for r in (nearest[1] if nearest else []) if not _is_code(r)]
        raise AcceptRefused(
            f"step '{step_name}': not accepted: an input differs from every stored entry "
            f"({'; '.join(inputs) or 'its inputs changed'}); accepting keeps results made from "
            "the same inputs only. Run the step to recompute it")
    same.sort(key=lambda s: s[0], reverse=True)
    _, meta, reasons = same[0]
    return meta, reasons


def _is_code(reason: str) -> bool:
    return reason.startswith(("its own code", "helper `", "constant `", "it now uses",
                              "it no longer uses", "its code"))


def accept(store: Any, step_name: str, parts: Mapping[str, Any] | None,
           facts: Mapping[str, Any] | None = None, problem: str | None = None) -> Accepted:
    """Store an alias under the key ``parts`` make, pointing at the nearest entry stored
    from the same inputs (see the module docstring). Nothing runs and no data is copied."""
    from flowyml.cache import key_from_parts

    if parts is None:
        raise AcceptRefused(f"step '{step_name}': cannot accept: {problem or 'it is not cached'}")
    if not getattr(store, "enabled", False):
        raise AcceptRefused(f"step '{step_name}': cannot accept: caching is off")
    key = key_from_parts(step_name, dict(parts))
    if store.lookup(key) is not None:
        return Accepted(step_name, key, key, [], already=True)
    meta, reasons = nearest_same_inputs(store, step_name, parts, facts)
    assert meta is not None
    target = store.lookup(str(meta.get("key")))  # verified; an alias resolves to its target
    if target is None:
        raise AcceptRefused(f"step '{step_name}': the stored entry made from the same inputs "
                            "could not be read (removed or damaged meanwhile); run the step")
    record = {"key": str(target.meta.get("key")), "checksum": target.meta.get("checksum"),
              "accepted": time.time(), "by": os.environ.get("USER", "")}
    ok = store.store(key, {"<alias>": AliasRecord(record["key"])},
                     output_hashes=dict(target.output_hashes), parts=dict(parts),
                     duration=target.duration, shape=target.meta.get("shape"),
                     notes={NOTE: record, **_kept_notes(target.meta)},
                     explain=dict(facts) if facts else None)
    if ok:
        from flowyml.lifecycle import mark_grouped

        mark_grouped(store, step_name)  # gc keeps the alias with its target
    if not ok:
        raise AcceptRefused(f"step '{step_name}': the alias could not be written to "
                            f"{store.root}; nothing changed")
    return Accepted(step_name, key, record["key"], reasons)


def _kept_notes(meta: Mapping[str, Any]) -> dict[str, Any]:
    notes = meta.get("notes")
    return {k: v for k, v in notes.items() if k != NOTE} if isinstance(notes, Mapping) else {}
