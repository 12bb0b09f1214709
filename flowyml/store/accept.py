"""Accepting an edit: ``%%step NAME --accept`` and ``flowyml accept FILE STEP --yes`` store an
alias (:mod:`flowyml.store.aliases`) under the step's new key, pointing at the nearest stored
entry made from the same inputs (all key parts but the code equal), or refuse naming the input
that differs. Nothing runs and no data is copied.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowyml.keys import key_from_parts
from flowyml.store.aliases import NOTE, AliasRecord
from flowyml.store.explain import differences, step_metas
from flowyml.store.lifecycle import mark_grouped


class AcceptRefused(ValueError):
    """The edit cannot be accepted (an input differs, nothing stored, not cacheable)."""


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
    metas = step_metas(store, step_name)
    if not metas:
        raise AcceptRefused(f"step '{step_name}': nothing of it is stored yet, so there is no "
                            "earlier result to accept; run it")
    rest = {k: v for k, v in parts.items() if k != "code"}
    same, nearest = [], None
    for used, meta in metas:
        old = meta.get("parts") or {}
        reasons = differences(dict(parts), old, facts or {}, meta.get("explain") or {})
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
        mark_grouped(store, step_name)  # gc keeps the alias with its target
    if not ok:
        raise AcceptRefused(f"step '{step_name}': the alias could not be written to "
                            f"{store.root}; nothing changed")
    return Accepted(step_name, key, record["key"], reasons)


def _kept_notes(meta: Mapping[str, Any]) -> dict[str, Any]:
    notes = meta.get("notes")
    return {k: v for k, v in notes.items() if k != NOTE} if isinstance(notes, Mapping) else {}
