"""Why a step will hit or re-run: the key parts it has now against the stored entries of that
step (their parts and ``explain`` facts are in each entry's metadata), naming what differs
from the nearest one (:func:`why`, :func:`explain`); following its inputs up the DAG to the
steps that re-run first (:func:`plan_steps`, :func:`explain_planned`). Nothing runs and no
entry is unpickled; reading metadata is not a use.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flowyml.store.lifecycle import ago, entries_dir, is_remote_store
from flowyml.tracking import files as _files
from flowyml.tracking import state as _state

# ---------------------------------------------------------------------------------------------
# why
# ---------------------------------------------------------------------------------------------


def explain_facts(func: Any, values: Mapping[str, Any]) -> dict[str, Any]:
    """What is stored next to an entry for :func:`why`: the code's parts (own code, each
    helper and constant) and a short ``repr`` of small input values (never large ones)."""
    from flowyml.codehash import code_parts

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
    from flowyml.store.entry import read_meta
    from flowyml.store.local import scan_step_dir, step_dirname

    if is_remote_store(store):
        return store.step_metas(step_name)
    base = entries_dir(store)
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
            when = ago(time.time() - self.nearest_used)
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
        by_key = {m.get("key"): m for _, m in metas}
        _, other, refused = under_settings(key, _state_notes(found), lambda k: (
            (by_key[k], _state_notes(by_key[k])) if k in by_key else None))
        found = other if other is not None else found
        if refused:
            return Why(step_name, False, [f"{refused} (its code and inputs match a stored "
                                          "entry)"], upstream=ups)
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


def under_settings(key: str, notes: dict[str, Any] | None,
                   find: Callable[[str], tuple[Any, dict[str, Any] | None] | None]
                   ) -> tuple[str, Any, str | None]:
    """Whether an entry with these state notes may be a hit now: ``(key, other, reason)``,
    ``reason`` ``None`` when it may. Refused only for its ambient settings, the entry made
    under the settings now is looked up beside it: ``key`` becomes that variant (where a
    re-run stores its entry), and ``other`` is what ``find(variant)`` gives -- ``(entry, its
    state notes)`` or ``None`` -- when that one may be a hit (``reason`` is then ``None``)."""
    from flowyml.keys import variant_key

    reason = _state.refusal(notes)
    ambient = _state.ambient_variant(notes) if reason else None
    if ambient is None:
        return key, None, reason
    key = variant_key(key, ambient)
    found = find(key)
    if found is not None and _state.refusal(found[1]) is None:
        return key, found[0], None
    return key, None, reason


def _state_notes(meta: Mapping[str, Any]) -> dict[str, Any] | None:
    return (meta.get("notes") or {}).get("state")


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
    new_patched, old_patched = now.get("patched") or {}, then.get("patched") or {}
    if new_patched != old_patched:  # see NotebookSession.cache_key
        steps = sorted(n for n in {*new_patched, *old_patched} if new_patched.get(n) != old_patched.get(n))
        reasons.append(f"a class or module patched by step {', '.join(repr(n) for n in steps)} changed")
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
    if is_remote_store(store):
        return store.read_meta(key)
    from flowyml.store.entry import read_meta

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


