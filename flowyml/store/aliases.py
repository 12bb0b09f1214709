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

Accepting an edit is :mod:`flowyml.store.accept`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the metadata note of an alias entry
NOTE = "alias"


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
