"""Process-wide state a step changes or consumes: part of the step, like its outputs.

Plain Python carries more from cell to cell than the user's variables: the global random
generators, matplotlib's style and the colormaps registered with it, pandas and numpy
display options, ``sys.path``, the environment, the working directory, the warnings
filters, logging's configuration, numpy's floating-point error handling, scikit-learn's
configuration, the decimal context, polars' configuration, plotly's default renderer and
template, methods a library added to pandas' classes (``tqdm.pandas()``). When a cached
step's body is skipped, none of that would happen, and every cell after it would see a different world
(``random.random()`` after a skipped ``random.seed(1)`` gives other numbers). So, around
each step:

* :func:`snapshot` takes the state of every registered item whose module is loaded
  (recognised through ``sys.modules``: nothing is imported for it);
* :func:`record` compares with the state after the body and returns, as small JSON notes
  for the entry's metadata (never part of the key), what the step **changed** (re-applied,
  in order, by :func:`replay` on a hit) and which global generators it **consumed** (drew
  from without seeding them: the entry remembers the generator state it started from);
* :func:`refusal` is checked at lookup: a step that drew numbers from a generator is a hit
  only when the generator is in the state it started from -- when that state is known; and
  a step whose results depend on settings it did not make itself (the *ambient* settings:
  matplotlib's style for a step that plots, pandas and numpy display options for one that
  shows something, pandas' other options for any step) is a hit only when those settings are
  what they were when it ran. A plain cell that turned on ``text.usetex`` between two runs
  of the same plotting cell makes the second run draw again, as plain Python would.

A change can be attributed to a step only when no other step ran in the process meanwhile
(the runner counts them: the threads executor and Dask workers with several threads run
steps side by side). For a step that was not alone, :func:`untracked` notes only which
items moved -- never another step's change to re-apply -- and :func:`refusal` does not let
such an entry pass for "changed nothing" where that matters (see there).

A generator's state is *known* (determined) once something seeded it: a cell or step whose
code calls a ``seed``-like function (``random.seed``, ``np.random.seed``, ``set_seed``,
``manual_seed``, ``setstate``/``set_state``), or a hit that re-applied a determined state.
An unseeded generator's numbers are arbitrary in plain Python too, so a step that drew from
one may hit whatever the state is now (else every unseeded notebook would re-run all its
random steps after a restart). The registry is open: :func:`register` adds an item.

Ground floor: imports nothing from flowyml, never IPython, never numpy/pandas/matplotlib.
"""

from __future__ import annotations

import base64
import os
import pickle
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import xxhash

__all__ = ["Ambient", "StateItem", "ambient_variant", "is_determined", "mark_source", "record",
           "refusal", "register", "register_ambient", "registry", "replay", "snapshot",
           "untracked"]

_MISSING = object()
#: code that seeds (or sets) a global generator
_SEEDS = re.compile(r"[A-Za-z_]*seed[A-Za-z_]*\s*\(|\bset_?state\s*\(")
#: code that (probably) draws a figure: matplotlib's style matters to it
_PLOTS = re.compile(r"plt\b|pyplot|pylab|matplotlib|seaborn|sns\.|\bfig|\bax\b|\baxes\b|plot|"
                    r"subplot|imshow|hist\(|scatter|savefig|colorbar|legend\(")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@dataclass(frozen=True)
class StateItem:
    """One piece of process-wide state.

    ``module`` is looked up in ``sys.modules`` (the item is skipped while it is not loaded);
    ``capture(module)`` returns a picklable snapshot; ``change(before, after)`` what the step
    changed (``None``: nothing; ``before`` is ``None`` when the module was loaded by the
    step itself); ``apply(module, change)`` does it again. A ``generator`` item is a global
    random generator: its change is its whole state, and drawing from it is consuming it.
    An item that is not ``stored`` (a change cannot be made again from data: IPython's
    display formatters hold functions) makes a step that changes it never a hit.
    """

    name: str
    module: str
    capture: Callable[[Any], Any]
    change: Callable[[Any, Any], Any]
    apply: Callable[[Any, Any], None]
    generator: bool = False
    stored: bool = True
    #: a counter a library numbers what it shows with: its change is how far the step moved
    #: it, applied as an advance; moved beside other steps, it is no reason to run again
    counter: bool = False


@dataclass(frozen=True)
class Ambient:
    """Settings a step's results may depend on without the step changing them.

    ``item`` is the :class:`StateItem` whose snapshot holds them, ``keys`` picks its part
    (``None``: all), ``baseline(module)`` gives the values at import (only settings that
    differ from it are digested, so options a library registers later change nothing), and
    ``when`` says for which steps they matter: ``"always"``, ``"shown"`` (the step showed
    something: display options) or ``"plots"`` (it drew, or its code names a plot).
    """

    name: str
    item: str
    when: str
    keys: Callable[[str], bool] | None = None
    baseline: Callable[[Any], dict[str, Any]] | None = None


_REGISTRY: list[StateItem] = []
_AMBIENT: list[Ambient] = []
#: generator item name -> whether its current state is known (seeded in this process)
_determined: dict[str, bool] = {}
#: generator item name -> digests of the unseeded states steps drew from in this process (a
#: stored draw from one of them was shown here already: plain Python would draw new numbers)
_drawn_from: dict[str, set[str]] = {}


def register(item: StateItem) -> None:
    """Add (or replace, by name) an item of process-wide state."""
    _REGISTRY[:] = [i for i in _REGISTRY if i.name != item.name]
    _REGISTRY.append(item)


def register_ambient(ambient: Ambient) -> None:
    """Add (or replace, by name) settings checked at lookup (see :class:`Ambient`)."""
    _AMBIENT[:] = [a for a in _AMBIENT if a.name != ambient.name]
    _AMBIENT.append(ambient)


def registry() -> list[StateItem]:
    """The registered items, in the order their changes are applied."""
    return list(_REGISTRY)


def is_determined(name: str) -> bool:
    """Whether generator ``name``'s current state is known (it was seeded in this process)."""
    return _determined.get(name, False)


def mark_source(source: str) -> None:
    """Code ran outside a step (an ordinary cell): if it seeds a generator, the state of
    every loaded generator is known from now on."""
    if _SEEDS.search(source):
        for item in _REGISTRY:
            module = sys.modules.get(item.module) if item.generator else None
            if module is not None and item.capture(module) is not None:
                _determined[item.name] = True


# -- around a step -----------------------------------------------------------------------------

def snapshot() -> dict[str, Any]:
    """The state of every registered item whose module is loaded."""
    out: dict[str, Any] = {}
    modules = sys.modules
    for item in _REGISTRY:
        module = modules.get(item.module)
        if module is None:
            continue
        try:
            out[item.name] = item.capture(module)
        except Exception:  # a library changed its internals: that item is not tracked
            continue
    return out


def record(before: dict[str, Any], source: str | Callable[[], str], *, shown: bool = False,
           images: bool = False, attributes: list[tuple[str, str, str, Any]] | None = None,
           ) -> dict[str, Any] | None:
    """What the step changed and consumed since ``before`` (:func:`snapshot`), and the
    ambient settings it started from, as notes for its entry (``None`` when nothing).
    ``source`` is the step's code (or a function giving it, called only when needed): code
    that seeds a generator did not consume it. ``shown``: the step showed something (a
    stream, a display); ``images``: it showed a figure. ``attributes``: what the step set
    on classes and modules by name, ``(module, qualname or "", attribute, value)``
    (``InteractiveShell.ast_node_interactivity = 'all'``; see :func:`_attributes_apply`).
    """
    after = snapshot()
    text: list[str] = []

    def code() -> str:
        if not text:
            text.append((source() if callable(source) else source) or "")
        return text[0]

    changes: list[tuple[str, Any]] = []
    kept_out: list[str] = []
    generators: dict[str, dict[str, Any]] = {}
    seeds: bool | None = None
    for item in _REGISTRY:
        if item.name not in after:
            continue
        old, new = before.get(item.name), after[item.name]
        try:
            change = item.change(old, new)
        except Exception:
            continue
        if change is None:
            continue
        if not item.stored:
            kept_out.append(item.name)
            continue
        changes.append((item.name, change))
        if item.generator:
            if seeds is None:
                seeds = bool(_SEEDS.search(code()))
            known = _determined.get(item.name, False)
            facts: dict[str, Any] = {"seeded": seeds, "known_before": known,
                                     "known_after": seeds or known}
            if not seeds and old is not None:  # it drew numbers from the state before
                facts["before"] = _digest(old)
                _drawn_from.setdefault(item.name, set()).add(facts["before"])
            generators[item.name] = facts
            _determined[item.name] = seeds or known
    if attributes:
        changes.append((ATTRIBUTES, attributes))
    started = _started(before, dict(changes), shown, images, code)
    if not changes and not started and not kept_out:
        return None
    notes: dict[str, Any] = {}
    data, unstored = _pack(changes)
    unstored = kept_out + unstored
    if data is not None:
        notes["changed"] = [name for name, _ in changes if name not in unstored]
        notes["data"] = base64.b64encode(data).decode()
    if generators:
        notes["generators"] = generators
    if unstored:
        notes["unstored"] = unstored
    if started:
        notes["started"] = started
    return notes


def _pack(changes: list[tuple[str, Any]]) -> tuple[bytes | None, list[str]]:
    """``changes`` pickled (one ``pickle.dumps`` in the usual case; a function set as an
    option, a float format, by value with cloudpickle), and the items whose change cannot
    be stored at all (e.g. a warnings filter on a class of a helper module), left out."""
    if not changes:
        return None, []
    try:
        return pickle.dumps(changes, protocol=4), []
    except Exception:
        pass
    import cloudpickle

    kept, unstored = [], []
    for name, change in changes:
        try:
            cloudpickle.dumps(change, protocol=4)
            kept.append((name, change))
        except Exception:
            unstored.append(name)
    return (cloudpickle.dumps(kept, protocol=4) if kept else None), unstored


def _started(before: dict[str, Any], changes: dict[str, Any], shown: bool, images: bool,
             code: Callable[[], str]) -> dict[str, list[Any]]:
    """``ambient name -> [digest, keys the step set itself]`` of the ambient settings that
    matter to this step, as they were when it started."""
    out: dict[str, list[Any]] = {}
    for amb in _AMBIENT:
        if amb.item not in before:
            continue
        if amb.when == "shown" and not shown:
            continue
        if amb.when == "plots" and not (images or _PLOTS.search(code())):
            continue
        change = changes.get(amb.item)
        if isinstance(change, tuple) and isinstance(change[0], dict):
            own = sorted(change[0])  # the settings it made itself
        else:  # an item changed whole (the backend), or not at all
            own = sorted(before[amb.item]) if change is not None and isinstance(
                before[amb.item], dict) else []
        digest = _ambient_digest(amb, before[amb.item], own)
        if digest is not None:
            out[amb.name] = [digest, own]
    return out


_baselines: dict[tuple[str, int], dict[str, Any]] = {}
#: (ambient name, keys left out) -> (the settings last digested, their digest)
_last_digest: dict[tuple[str, tuple[str, ...]], tuple[dict[str, Any], str | None]] = {}


def _equal(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """``a == b``, ``False`` when a value cannot say (an array-valued option)."""
    try:
        return bool(a == b)
    except Exception:
        return False


def _ambient_digest(amb: Ambient, values: Any, own: list[str]) -> str | None:
    """A digest of the settings of ``amb`` in ``values`` (an item's snapshot) that differ
    from their baseline, leaving out ``own`` (those the step sets itself, so that running a
    style cell twice does not make it a miss the second time)."""
    if not isinstance(values, dict):
        return None
    memo_key = (amb.name, tuple(own))
    last = _last_digest.get(memo_key)
    if last is not None and _equal(last[0], values):  # settings seldom move between steps
        return last[1]
    digest = _settings_digest(amb, values, own)
    _last_digest[memo_key] = (dict(values), digest)
    return digest


def _settings_digest(amb: Ambient, values: dict[str, Any], own: list[str]) -> str | None:
    base: dict[str, Any] = {}
    if amb.baseline is not None:
        module = _loaded(_item(amb.item))
        if module is not None:
            cache_key = (amb.name, id(module))
            base = _baselines.get(cache_key)  # type: ignore[assignment]
            if base is None:
                try:
                    base = _baselines[cache_key] = dict(amb.baseline(module))
                except Exception:
                    base = _baselines[cache_key] = {}
    skip = set(own)
    keep = amb.keys
    parts = []
    for key, value in values.items():
        if key in skip or (keep is not None and not keep(key)):
            continue
        old = base.get(key, _MISSING)
        try:
            same = old is value or bool(old == value)
        except Exception:
            same = repr(old) == repr(value)
        if not same:
            parts.append((key, _ADDRESS.sub("", repr(value))))
    parts.sort()
    return xxhash.xxh3_64_hexdigest(repr(parts).encode("utf-8", "surrogateescape"))


def _item(name: str) -> StateItem | None:
    return next((i for i in _REGISTRY if i.name == name), None)


def _loaded(item: StateItem | None) -> Any:
    """The module of ``item`` when it is loaded (``None``: not, or no such item)."""
    return sys.modules.get(item.module) if item is not None else None


def refusal(notes: dict[str, Any] | None, *, plain: bool = True) -> str | None:
    """Why an entry with these state notes must not be a hit now (``None``: it may be):
    the step changed state that could not be stored (a hit would not leave the process as
    running it does), drew from a generator whose known state differs from the one it
    started from, or depends on ambient settings that differ from those it started from.

    ``plain``: the lookup runs where the process state is the user's, one step at a time
    (the main thread, nothing else running). There an entry recorded beside other steps
    (:func:`untracked`) is refused when what moved matters -- a setting it may have made
    (options, paths, environment, working directory, filters), a generator its code seeds,
    or a generator whose state is known now (it may have drawn from it) -- since a hit could
    not re-apply it; the step runs again, alone, and is recorded properly.
    """
    if not notes:
        return None
    return _fixed_refusal(notes, plain) or _ambient_refusal(notes)


def ambient_variant(notes: dict[str, Any] | None) -> str | None:
    """When the only reason an entry is refused is its ambient settings or the state of a
    generator it draws from: a digest of the settings and generator states now (the entry
    made under them is stored beside it, :func:`flowyml.keys.variant_key`); else ``None``.
    Two cells ``do(puzzle12)`` in a row drawing from a seeded generator are one step: each
    keeps its entry, instead of each replacing the other's so neither hits after a restart."""
    if not notes or _held_refusal(notes):
        return None
    if _generator_refusal(notes):
        now = {**_ambient_now(notes), **_generators_now(notes)}
        return xxhash.xxh3_64_hexdigest(repr(sorted(now.items())).encode())
    if not _ambient_refusal(notes):
        return None
    now = _ambient_now(notes)
    return xxhash.xxh3_64_hexdigest(repr(sorted(now.items())).encode()) if now else None


def _generators_now(notes: dict[str, Any]) -> dict[str, str]:
    """``"generator NAME" -> digest`` of the state now of each generator the entry drew from."""
    out = {}
    for name, facts in notes.get("generators", {}).items():
        item = _item(name)
        module = _loaded(item) if "before" in facts else None
        if module is None:
            continue
        try:
            out[f"generator {name}"] = _digest(item.capture(module))  # type: ignore[union-attr]
        except Exception:
            continue
    return out


def _fixed_refusal(notes: dict[str, Any], plain: bool = True) -> str | None:
    return _held_refusal(notes, plain) or _generator_refusal(notes)


def _held_refusal(notes: dict[str, Any], plain: bool = True) -> str | None:
    if notes.get("unstored"):
        return (f"it changes {', '.join(notes['unstored'])} in a way that cannot be stored, "
                "so only running it leaves the kernel as plain Python would")
    if notes.get("namespace_reads"):
        return (f"it reads the whole namespace ({', '.join(notes['namespace_reads'])}), which "
                "changes with every name a cell binds, so only running it shows what plain "
                "Python shows")
    if plain and "untracked" in notes:
        generators = set(notes.get("untracked_generators", ()))
        matter = [name for name in notes["untracked"] if name not in generators
                  or notes.get("seeds") or _determined.get(name, False)]
        if matter:
            return (f"it ran beside other steps, so what it changed in {', '.join(matter)} "
                    "was not recorded")
    return None


def _generator_refusal(notes: dict[str, Any]) -> str | None:
    for name, facts in notes.get("generators", {}).items():
        if "before" not in facts:
            continue
        known = _determined.get(name, False)
        # an unseeded generator: any draw is as good as the stored one, unless this kernel
        # drew from the state the entry started from already (the same unseeded cell run
        # twice, `random.randint(0, 100)` in two cells): a hit would show those numbers again
        drawn = facts["before"] in _drawn_from.get(name, ())
        if not known and not drawn:
            continue
        item = _item(name)
        module = _loaded(item)
        if module is None:
            continue
        try:
            now = _digest(item.capture(module))  # type: ignore[union-attr]
        except Exception:
            continue
        if known and (not facts.get("known_before") or now != facts["before"]):
            return (f"it draws from the global {name} generator, which is not in the state "
                    "it started from when it was stored")
        if not known and now != facts["before"]:
            return (f"it draws from the global {name} generator (not seeded), and this kernel "
                    "drew the numbers it stored already: plain Python would draw new ones")
    return None


def untracked(before: dict[str, Any], source: str | Callable[[], str]) -> dict[str, Any] | None:
    """For a step that ran while other steps ran in the same process (a thread pool, a Dask
    worker with several threads): which items moved since ``before`` -- by this step or by
    the others, there is no telling -- as notes for its entry (``None``: nothing moved).

    Nothing is recorded to be re-applied (it could be another step's change). The notes say
    what is unknown, so that :func:`refusal` does not let the entry pass for a step that
    left the world as it found it where that matters. ``seeds`` says whether the step's code
    seeds a generator; a moved generator it seeds is known from now on, as in :func:`record`.
    """
    after = snapshot()
    moved: list[str] = []
    generators: list[str] = []
    for item in _REGISTRY:
        if item.name not in after or item.counter:
            continue
        try:
            change = item.change(before.get(item.name), after[item.name])
        except Exception:
            continue
        if change is not None:
            moved.append(item.name)
            if item.generator:
                generators.append(item.name)
    if not moved:
        return None
    notes: dict[str, Any] = {"untracked": moved}
    if generators:
        text = source() if callable(source) else source
        seeds = bool(_SEEDS.search(text or ""))
        notes["seeds"] = seeds
        notes["untracked_generators"] = generators
        if seeds:
            for name in generators:
                _determined[name] = True
    return notes


def _ambient_now(notes: dict[str, Any]) -> dict[str, str]:
    """``ambient name -> digest`` now, for the settings the entry started from (those whose
    module is not loaded now are left out: a step would load it at its defaults itself)."""
    out = {}
    for name, (_, own) in (notes.get("started") or {}).items():
        amb = next((a for a in _AMBIENT if a.name == name), None)
        item = _item(amb.item) if amb is not None else None
        module = _loaded(item)
        if module is None:
            continue
        try:
            now = _ambient_digest(amb, item.capture(module), own)  # type: ignore[arg-type,union-attr]
        except Exception:
            continue
        if now is not None:
            out[name] = now
    return out


def _ambient_refusal(notes: dict[str, Any]) -> str | None:
    started = notes.get("started") or {}
    for name, digest in _ambient_now(notes).items():
        if digest != started[name][0]:
            if name.endswith("s"):
                return f"{name} are not what they were when it ran (a cell changed them since)"
            return f"{name} is not what it was when it ran (a cell changed it since)"
    return None


def replay(notes: dict[str, Any] | None, again: list[str] | None = None) -> list[str]:
    """Apply again, in order, what the stored step changed; returns the items that could
    not be applied (their module is not loaded, or applying failed). ``again``: this is a
    second pass over the same notes (after the step's imports ran), and these items failed
    the first: a counter (advanced, not set) is applied only if it is among them."""
    if not notes or "data" not in notes:
        return []
    try:
        changes = pickle.loads(base64.b64decode(notes["data"]))
    except Exception:
        return list(notes.get("changed", []))
    items = {i.name: i for i in _REGISTRY}
    failed = []
    for name, change in changes:
        item = items.get(name)
        if again is not None and item is not None and item.counter and name not in again:
            continue
        module = sys.modules.get(item.module) if item is not None else None
        if item is None or module is None:
            failed.append(name)
            continue
        try:
            item.apply(module, change)
        except Exception:
            failed.append(name)
            continue
        facts = notes.get("generators", {}).get(name)
        if facts is not None:
            _determined[name] = bool(facts.get("known_after"))
            if "before" in facts:  # its numbers are shown in this kernel now
                _drawn_from.setdefault(name, set()).add(facts["before"])
    return failed


def _digest(state: Any) -> str:
    return xxhash.xxh3_64_hexdigest(pickle.dumps(state, protocol=4))


# -- the built-in items ------------------------------------------------------------------------

def _whole(before: Any, after: Any) -> Any:
    """The change of an item kept whole (a generator's state, the working directory)."""
    return None if before == after else after


def _mapping_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    """``(set, removed)``: keys whose value is new or different, keys that are gone."""
    before = before or {}
    if _equal(before, after):  # the usual case, compared in C
        return None
    changed = {}
    for key, value in after.items():
        old = before.get(key, _MISSING)
        try:
            same = old is value or bool(old == value)
        except Exception:  # an array-valued option: compare by representation
            same = repr(old) == repr(value)
        if not same:
            changed[key] = value
    removed = [k for k in before if k not in after]
    return (changed, removed) if changed or removed else None


def _settings_set(before: dict[str, Any], after: dict[str, Any]) -> Any:
    """``(set, [])``: the settings a step set (new or different values); settings are set,
    never removed, so what disappeared is not a change."""
    change = _mapping_change(before, after)
    return None if change is None or not change[0] else (change[0], [])


def _random_apply(module: Any, state: Any) -> None:
    module.setstate(state)


def _np_capture(np: Any) -> Any:
    if "numpy.random" not in sys.modules:  # numpy loads it lazily: not drawn from yet
        return None
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
    return (kind, keys.tobytes(), int(pos), int(has_gauss), float(gauss))


def _np_apply(np: Any, state: Any) -> None:
    kind, keys, pos, has_gauss, gauss = state
    np.random.set_state((kind, np.frombuffer(keys, dtype=np.uint32).copy(), pos, has_gauss, gauss))


#: rcParams never re-applied: the backend is the kernel's business
_RC_SKIP = frozenset({"backend", "backend_fallback", "interactive"})


def _rc_capture(mpl: Any) -> dict[str, Any]:
    rc = mpl.rcParams
    # the stored values, without RcParams' own lookups (which would resolve the backend)
    data = dict(dict.items(rc)) if isinstance(rc, dict) else dict(rc.copy())
    for key in _RC_SKIP:
        data.pop(key, None)
    return data


def _rc_baseline(mpl: Any) -> dict[str, Any]:
    """matplotlib's settings at import (its matplotlibrc), the backend's aside."""
    orig = getattr(mpl, "rcParamsOrig", None)
    return {k: v for k, v in dict.items(orig) if k not in _RC_SKIP} if isinstance(orig, dict) else {}


def _rc_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    if before is None:  # matplotlib was imported by the step: against its defaults at import
        before = _rc_baseline(sys.modules.get("matplotlib"))
    change = _mapping_change(before, after)
    return None if change is None or not change[0] else (change[0], [])


def _rc_apply(mpl: Any, change: Any) -> None:
    changed, _ = change
    mpl.rcParams.update(changed)


# matplotlib's colormap registry (``mpl.colormaps.register(cmap=my_cmap)``, then
# ``imshow(data, cmap='my_cmap')`` in later cells: matplotlib's colormap tutorial): the
# colormaps registered beyond matplotlib's own, by name. A hit that skipped the register left
# the name unknown after a restart: an edited cell using it failed where plain Python drew.
_builtin_cmaps: dict[int, frozenset[str]] = {}


def _cmaps_capture(mpl: Any) -> dict[str, Any] | None:
    registry = getattr(mpl, "colormaps", None)
    cmaps = getattr(registry, "_cmaps", None)
    if not isinstance(cmaps, dict):  # matplotlib being imported, or another registry
        return None
    own = _builtin_cmaps.get(id(registry))
    if own is None:
        own = _builtin_cmaps[id(registry)] = frozenset(getattr(registry, "_builtin_cmaps", ()))
    return {name: cmap for name, cmap in cmaps.items() if name not in own}


def _cmaps_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> Any:
    if after is None:
        return None
    return _mapping_change(before or {}, after)


def _cmaps_apply(mpl: Any, change: Any) -> None:
    changed, removed = change
    registry = mpl.colormaps
    for name in removed:
        if name in registry:
            registry.unregister(name)
    for name, cmap in changed.items():
        current = registry._cmaps.get(name)
        if current is not None:
            try:
                if current is cmap or bool(current == cmap):
                    continue  # (applied already: the hit's second pass)
            except Exception:
                pass
            registry.unregister(name)  # (not with force=True: that warns, plain Python did not)
        registry.register(cmap, name=name)


_INLINE = "module://matplotlib_inline.backend_inline"


def _backend_name(value: Any) -> str:
    """One name per backend: ``%matplotlib inline`` stores "inline", the kernel's
    ``MPLBACKEND`` the module path of the same backend; not chosen yet, the one
    ``MPLBACKEND`` will choose."""
    if not isinstance(value, str):  # matplotlib's "auto" sentinel
        value = os.environ.get("MPLBACKEND") or "auto"
    value = value.lower()
    return "inline" if value == _INLINE else value


def _backend_capture(mpl: Any) -> dict[str, Any]:
    # the stored value: reading rcParams["backend"] would resolve (and import) the backend
    return {"backend": _backend_name(dict.get(mpl.rcParams, "backend"))}


def _backend_baseline(mpl: Any) -> dict[str, Any]:
    """The backend matplotlib starts with (``MPLBACKEND``, else its matplotlibrc's)."""
    return {"backend": _backend_name(dict.get(mpl.rcParamsOrig, "backend"))}


def _backend_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    name = after.get("backend")
    if before is None:  # matplotlib was imported by the step: against the one it starts with
        mpl = sys.modules.get("matplotlib")
        before = _backend_baseline(mpl) if mpl is not None else {"backend": name}
    if not isinstance(name, str) or before.get("backend") == name:
        return None  # unresolved yet, or unchanged
    return name


def _backend_apply(mpl: Any, name: str) -> None:
    if _backend_name(dict.get(mpl.rcParams, "backend")) != name:
        # switches pyplot's backend when pyplot is loaded, as the step's call did
        mpl.use(_INLINE if name == "inline" else name)


#: where each pandas option lives in its nested config: (the options registered when it was
#: worked out, [(name, the dict holding it, its key there)])
_pandas_cells: list[Any] = [None, []]


def _pandas_capture(pd: Any) -> dict[str, Any]:
    config = sys.modules.get("pandas._config.config")
    if config is None:
        return {}
    root = config._global_config
    registered = getattr(config, "_registered_options", None)
    marker = (id(root), len(registered) if registered is not None else -1)
    if _pandas_cells[0] != marker or registered is None:
        cells = []
        stack: list[tuple[str, dict[str, Any]]] = [("", root)]
        while stack:
            prefix, node = stack.pop()
            for key, value in node.items():
                if isinstance(value, dict):
                    stack.append((f"{prefix}{key}.", value))
                else:
                    cells.append((f"{prefix}{key}", node, key))
        _pandas_cells[:] = [marker, cells]
    try:
        return {name: node[key] for name, node, key in _pandas_cells[1]}
    except KeyError:  # an option was removed: walk again next time
        _pandas_cells[0] = None
        return _pandas_capture(pd)


def _pandas_baseline(pd: Any) -> dict[str, Any]:
    """pandas' registered defaults."""
    config = sys.modules.get("pandas._config.config")
    options = getattr(config, "_registered_options", {}) if config is not None else {}
    return {k: o.defval for k, o in options.items()}


def _pandas_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    # pandas imported by the step: against the registered defaults
    return _settings_set(_pandas_baseline(None) if before is None else before, after)


def _pandas_apply(pd: Any, change: Any) -> None:
    changed, _ = change
    for key, value in changed.items():
        pd.set_option(key, value)


def _np_print_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    if before is None:
        return None  # numpy imported by the step: its print options are the defaults
    return _settings_set(before, after)


def _np_print_apply(np: Any, change: Any) -> None:
    changed, _ = change
    np.set_printoptions(**changed)


def _path_change(before: list[str] | None, after: list[str]) -> Any:
    if before is None or before == after:
        return None
    added = [(i, p) for i, p in enumerate(after) if p not in before]
    removed = [p for p in before if p not in after]
    return (added, removed) if added or removed else None


def _path_apply(sys_module: Any, change: Any) -> None:
    added, removed = change
    path = sys_module.path
    for entry in removed:
        while entry in path:
            path.remove(entry)
    for index, entry in added:
        if entry not in path:
            path.insert(min(index, len(path)), entry)


def _hooks_capture(sys_module: Any) -> tuple[tuple[int, Any], ...]:
    """The import system's finders and path hooks, each as (identity, module of its code)."""
    return tuple((id(hook), getattr(hook, "__module__", None))
                 for hook in (*sys_module.meta_path, *sys_module.path_hooks))


def _hooks_change(before: tuple[tuple[int, Any], ...] | None,
                  after: tuple[tuple[int, Any], ...]) -> Any:
    """The finders or path hooks the notebook's own code added (a class of a cell:
    ``sys.meta_path.append(NotebookFinder())``), or any removed: such an object cannot be
    made again from data, so the step must run for the import system to be as plain
    Python leaves it. Those a library adds when it is imported (``six``'s importer) are
    not counted: a hit imports the library again, which adds them again."""
    if before is None or before == after:
        return None
    added = [module for hook, module in after if (hook, module) not in before
             and module == "__main__"]
    removed = [module for hook, module in before if (hook, module) not in after]
    return (added, removed) if added or removed else None


def _environ_capture(os_module: Any) -> dict[Any, Any]:
    data = getattr(os_module.environ, "_data", None)  # the encoded mapping: a C-level copy
    return dict(data) if isinstance(data, dict) else dict(os_module.environ)


def _environ_change(before: dict[Any, Any] | None, after: dict[Any, Any]) -> Any:
    change = _mapping_change(before, after)
    if change is None:
        return None
    changed, removed = change
    text = os.fsdecode
    return ({text(k): text(v) for k, v in changed.items()}, [text(k) for k in removed])


def _environ_apply(os_module: Any, change: Any) -> None:
    changed, removed = change
    for key in removed:
        os_module.environ.pop(key, None)
    os_module.environ.update(changed)


def _cwd_change(before: str | None, after: str) -> Any:
    return None if before is None or before == after else (before, after)


def _cwd_apply(os_module: Any, change: Any) -> None:
    """Into the same folder; from another starting folder (the project checked out
    elsewhere, a shared cache), into the same folder relative to where the step started."""
    before, after = change
    here = os_module.getcwd()
    candidates = [after] if here == before else [
        os.path.normpath(os.path.join(here, os.path.relpath(after, before))), after]
    for path in candidates:
        if os.path.isdir(path):
            os_module.chdir(path)
            return
    raise FileNotFoundError(after)


def _filters_change(before: list[Any] | None, after: list[Any]) -> Any:
    if before is None or before == after:
        return None
    added = [f for f in after if f not in before]
    removed = [f for f in before if f not in after]
    return (added, removed) if added or removed else None


def _filters_apply(warnings_module: Any, change: Any) -> None:
    added, removed = change
    filters = warnings_module.filters
    for entry in removed:
        while entry in filters:
            filters.remove(entry)
    for entry in reversed(added):  # the step's newest filter ends up first, as it was
        while entry in filters:
            filters.remove(entry)
        filters.insert(0, entry)
    mutated = getattr(warnings_module, "_filters_mutated", None)
    if mutated is not None:
        mutated()


# numpy's floating-point error handling (``np.seterr(divide='ignore')``): whether later cells
# warn, raise or stay silent on a division by zero
_NP_ERR_DEFAULT = {"divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"}


def _np_err_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    # numpy imported by the step (``import numpy as np; np.seterr(...)``): against its defaults
    return _settings_set(_NP_ERR_DEFAULT if before is None else before, after)


def _np_err_apply(np: Any, change: Any) -> None:
    np.seterr(**change[0])


# the interpreter's limits (``sys.setrecursionlimit(10**5)`` for a deep recursion,
# ``sys.set_int_max_str_digits(0)`` to print a huge integer): set in a first cell, a hit
# must set them again or a later cell raises RecursionError / ValueError
def _limits_capture(sys_module: Any) -> dict[str, Any]:
    out = {"recursionlimit": sys_module.getrecursionlimit()}
    if hasattr(sys_module, "get_int_max_str_digits"):
        out["int_max_str_digits"] = sys_module.get_int_max_str_digits()
    return out


def _limits_apply(sys_module: Any, change: Any) -> None:
    for name, value in change[0].items():
        getattr(sys_module, f"set{'_' if name != 'recursionlimit' else ''}{name}")(value)


# scikit-learn's configuration (``set_config(transform_output="pandas")`` makes every later
# transformer return DataFrames)
def _sklearn_baseline(sklearn: Any) -> dict[str, Any]:
    """scikit-learn's configuration at import."""
    config = sys.modules.get("sklearn._config")
    return dict(config._global_config) if config is not None else {}  # type: ignore[attr-defined]


def _sklearn_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    return _settings_set(_sklearn_baseline(None) if before is None else before, after)


def _sklearn_apply(sklearn: Any, change: Any) -> None:
    sklearn.set_config(**change[0])


# scikit-learn's HTML ids: every diagram an estimator shows (``pipe`` as a cell's value) takes
# the next ``sk-container-id-N`` and ``sk-estimator-id-N`` from two counters of its module.
# A hit replays its diagram without taking them, so after a restart an edited cell's diagram
# got ``sk-container-id-1`` again, the id of the first diagram on the page: its styles and
# the labels that fold its steps open reached the other diagram (plain Python's ids are
# unique in the notebook). What a step took is re-applied as an advance of the counters.
_SK_COUNTERS = ("_CONTAINER_ID_COUNTER", "_ESTIMATOR_ID_COUNTER")


def _sk_ids_capture(module: Any) -> tuple[int, ...]:
    return tuple(int(getattr(module, name).count) for name in _SK_COUNTERS)


def _sk_ids_change(before: tuple[int, ...] | None, after: tuple[int, ...]) -> Any:
    taken = tuple(a - b for a, b in zip(after, before or (0,) * len(after), strict=True))
    return taken if any(n > 0 for n in taken) else None


def _sk_ids_apply(module: Any, taken: tuple[int, ...]) -> None:
    for name, n in zip(_SK_COUNTERS, taken, strict=True):
        getattr(module, name).count += max(n, 0)


# polars' configuration (``pl.Config.set_tbl_rows(5)``, ``set_fmt_str_lengths``,
# ``set_float_precision``, or ``os.environ['POLARS_FMT_STR_LEN'] = '50'`` set directly): how
# every later frame is shown. Most of it lives in ``POLARS_*`` environment variables (so
# ``os.environ`` carries it too); the number formats live inside the library, only here.
#: the settings polars keeps inside the library, at their defaults
_POLARS_DIRECT = {"set_fmt_float": "mixed", "set_float_precision": None,
                  "set_thousands_separator": "", "set_decimal_separator": ".",
                  "set_trim_decimal_zeros": False}


def _polars_capture(pl: Any) -> dict[str, Any]:
    return dict(pl.Config.state(if_set=True))


def _polars_baseline(pl: Any) -> dict[str, Any]:
    """polars' configuration at import (no ``POLARS_*`` variable set by a cell)."""
    return dict(_POLARS_DIRECT)


def _polars_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    return _mapping_change(_polars_baseline(None) if before is None else before, after)


def _polars_apply(pl: Any, change: Any) -> None:
    changed, removed = change
    for key in removed:
        os.environ.pop(key, None)
    for key, value in changed.items():
        if key.startswith("set_"):
            getattr(pl.Config, key)(value)
        else:
            os.environ[key] = value


def _is_polars_display(key: str) -> bool:
    return key.startswith(("set_", "POLARS_FMT_", "POLARS_TABLE_"))


# methods a library adds to pandas' classes (``tqdm.pandas()``: ``Series.progress_apply``,
# ``DataFrame.progress_map``...): a cell that registered them, cached, must leave them there
#: where the classes live: (attribute of pandas or a submodule, class name)
_PANDAS_CLASSES = (("", "DataFrame"), ("", "Series"),
                   ("core.groupby.generic", "DataFrameGroupBy"),
                   ("core.groupby.generic", "SeriesGroupBy"))
#: class -> the names it has from pandas itself (taken once: the rest was added)
_pandas_own: dict[type, frozenset[str]] = {}


def _pandas_class(pd: Any, where: str, name: str) -> Any:
    module = pd
    for part in where.split(".") if where else ():
        module = getattr(module, part)
    return getattr(module, name)


def _pandas_methods_capture(pd: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for where, name in _PANDAS_CLASSES:
        cls = _pandas_class(pd, where, name)
        attrs = vars(cls)
        own = _pandas_own.get(cls)
        if own is None:
            own = _pandas_own[cls] = frozenset(
                k for k, v in attrs.items()
                if str(getattr(v, "__module__", None) or "pandas").startswith("pandas"))
        for key in attrs.keys() - own:
            out[f"{name}.{key}"] = attrs[key]
    return out


def _pandas_methods_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    return _mapping_change(before or {}, after)


def _pandas_methods_apply(pd: Any, change: Any) -> None:
    changed, removed = change
    classes = {name: _pandas_class(pd, where, name) for where, name in _PANDAS_CLASSES}
    for key in removed:
        name, _, attr = key.partition(".")
        if name in classes and attr in vars(classes[name]):
            delattr(classes[name], attr)
    for key, value in changed.items():
        name, _, attr = key.partition(".")
        if name in classes:
            setattr(classes[name], attr, value)


# plotly's defaults (``pio.renderers.default = 'notebook'``: how every later figure is shown;
# ``pio.templates.default = 'plotly_white'``: the template every later figure is made with)
# (keyed on the templates module, which ``import plotly.express`` loads; the renderers, which
# plotly.io loads lazily at the first figure shown, only when loaded: nothing is imported)
def _plotly_capture(templates: Any) -> dict[str, Any]:
    out = {"template": templates.templates.default}
    renderers = sys.modules.get("plotly.io._renderers")
    if renderers is not None:
        out["renderer"] = renderers.renderers.default
    return out


def _plotly_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    # plotly.io imported by the step: its defaults (the renderer depends on where the kernel
    # runs) are stored as set, and set again to the same values on a hit
    return _settings_set(before or {}, after)


def _plotly_apply(templates: Any, change: Any) -> None:
    if "renderer" in change[0]:  # (plotly.io is loaded: its templates module is)
        sys.modules["plotly.io"].renderers.default = change[0]["renderer"]
    if "template" in change[0]:
        templates.templates.default = change[0]["template"]


# the decimal module's context (``getcontext().prec = 6``): every later Decimal result
def _decimal_capture(decimal: Any) -> dict[str, Any]:
    context = decimal.getcontext()
    return {"prec": context.prec, "rounding": context.rounding, "Emin": context.Emin,
            "Emax": context.Emax, "capitals": context.capitals, "clamp": context.clamp,
            "traps": tuple(sorted(s.__name__ for s, on in context.traps.items() if on))}


def _decimal_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    return _settings_set(_decimal_capture(_DefaultDecimal) if before is None else before, after)


class _DefaultDecimal:
    """The decimal module as a fresh interpreter has it (for a step that imported it)."""

    @staticmethod
    def getcontext() -> Any:
        import decimal

        return decimal.DefaultContext


def _decimal_apply(decimal: Any, change: Any) -> None:
    context = decimal.getcontext()
    for key, value in change[0].items():
        if key == "traps":
            for signal in list(context.traps):
                context.traps[signal] = signal.__name__ in value
        else:
            setattr(context, key, value)


#: handler classes a notebook makes itself (any other is a library's, which its import,
#: run again on a hit, makes again)
_USER_HANDLER_MODULES = frozenset(("logging", "logging.handlers", "__main__"))
#: what the standard streams' objects call themselves (a kernel's, the interpreter's)
_STD_STREAMS = {"stderr": "stderr", "<stderr>": "stderr", "stdout": "stdout", "<stdout>": "stdout"}


def _formatter_facts(logging: Any, formatter: Any) -> Any:
    if formatter is None:
        return None
    if type(formatter) is not logging.Formatter:
        return ("other", f"{type(formatter).__module__}.{type(formatter).__qualname__}")
    styles = {logging.PercentStyle: "%", logging.StrFormatStyle: "{",
              logging.StringTemplateStyle: "$"}
    return ("fmt", formatter._fmt, formatter.datefmt, styles.get(type(formatter._style), "%"))


def _handler_facts(logging: Any, handler: Any) -> tuple[Any, ...]:
    """A handler as data: a stream handler on stdout/stderr, a file handler, a null
    handler; any other by its class only (a library's import makes it again)."""
    kind = type(handler)
    fmt = _formatter_facts(logging, handler.formatter)
    if kind is logging.StreamHandler:
        stream = handler.stream
        std = ("stderr" if stream is sys.stderr or stream is sys.__stderr__ else
               "stdout" if stream is sys.stdout or stream is sys.__stdout__ else
               _STD_STREAMS.get(getattr(stream, "name", None)))
        if std is not None:
            return ("stream", std, handler.level, fmt)
    elif kind is logging.FileHandler:
        return ("file", handler.baseFilename, handler.mode, handler.encoding, handler.level, fmt)
    elif kind is logging.NullHandler:
        return ("null", handler.level)
    if kind.__module__ in _USER_HANDLER_MODULES:
        # the notebook's own handler (a stream into a buffer, a rotating file, a class of
        # its own): kept as itself, which cannot be pickled (it holds a lock), so a step
        # adding one is never a hit and runs again
        return ("object", handler)
    return ("other", f"{kind.__module__}.{kind.__qualname__}", handler.level)


def _logger_facts(logging: Any, logger: Any) -> tuple[Any, ...]:
    return (logger.level, logger.propagate, logger.disabled,
            tuple(_handler_facts(logging, h) for h in logger.handlers))


def _logging_capture(logging: Any) -> dict[str, Any]:
    """The root logger's configuration and every other logger's that is not the default
    (a level, handlers, ``propagate`` off, disabled), and ``logging.disable``'s level:
    ``logging.basicConfig(format=..., level=INFO)`` or ``log.setLevel(DEBUG)`` in a cached
    cell must hold after a restart, or the cells after it log otherwise than plain Python."""
    manager = logging.Logger.manager
    out: dict[str, Any] = {"": _logger_facts(logging, logging.root), "<disable>": manager.disable}
    for name, logger in list(manager.loggerDict.items()):
        if isinstance(logger, logging.Logger) and (
                logger.level or logger.handlers or not logger.propagate or logger.disabled):
            out[name] = _logger_facts(logging, logger)
    return out


def _logging_change(before: dict[str, Any] | None, after: dict[str, Any]) -> Any:
    before = before or {}
    if before == after:
        return None
    return {name: after.get(name) for name in [*after, *(n for n in before if n not in after)]
            if before.get(name) != after.get(name)} or None


def _make_handler(logging: Any, facts: tuple[Any, ...]) -> Any:
    if facts[0] == "stream":
        handler = logging.StreamHandler(getattr(sys, facts[1]))
    elif facts[0] == "file":
        handler = logging.FileHandler(facts[1], facts[2], facts[3])
    elif facts[0] == "null":
        return logging.NullHandler(facts[1])
    else:  # another class: made by the code that made it (a library's import), not here
        return None
    handler.setLevel(facts[-2])
    fmt = facts[-1]
    if fmt is not None and fmt[0] == "fmt":
        handler.setFormatter(logging.Formatter(fmt[1], fmt[2], fmt[3]))
    return handler


def _logging_apply(logging: Any, change: dict[str, Any]) -> None:
    for name, facts in change.items():
        if name == "<disable>":
            logging.disable(facts or 0)
            continue
        logger = logging.getLogger(name or None)
        level, propagate, disabled, handlers = facts or (0, True, False, ())
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled
        wanted = list(handlers)
        for handler in list(logger.handlers):  # keep what is wanted, remove the rest
            mine = _handler_facts(logging, handler)
            if mine in wanted:
                wanted.remove(mine)
            else:
                logger.removeHandler(handler)
        for facts_of in wanted:
            handler = _make_handler(logging, facts_of)
            if handler is not None:
                logger.addHandler(handler)


#: the item of what steps set on classes and modules by name (see :func:`record`)
ATTRIBUTES = "attributes of classes and modules"


def _attributes_apply(_sys: Any, change: list[tuple[str, str, str, Any]]) -> None:
    """Set again what a step set on classes and modules by name: each owner is found by its
    module (imported again if need be: it was importable when the step ran) and qualified
    name; all are found before any is set."""
    import importlib

    found = []
    for module, qualname, attr, value in change:
        owner: Any = sys.modules.get(module) or importlib.import_module(module)
        for part in filter(None, qualname.split(".")):
            owner = getattr(owner, part)
        found.append((owner, attr, value))
    for owner, attr, value in found:
        setattr(owner, attr, value)


for _builtin in (
    StateItem("random", "random", lambda m: m.getstate(), _whole, _random_apply, generator=True),
    StateItem("numpy.random", "numpy", _np_capture, _whole, _np_apply, generator=True),
    StateItem("matplotlib.rcParams", "matplotlib", _rc_capture, _rc_change, _rc_apply),
    StateItem("matplotlib.backend", "matplotlib", _backend_capture, _backend_change,
              _backend_apply),
    StateItem("matplotlib.colormaps", "matplotlib", _cmaps_capture, _cmaps_change, _cmaps_apply),
    StateItem("pandas.options", "pandas", _pandas_capture, _pandas_change, _pandas_apply),
    StateItem("numpy.printoptions", "numpy", lambda np: np.get_printoptions(), _np_print_change,
              _np_print_apply),
    StateItem("sys.path", "sys", lambda m: list(m.path), _path_change, _path_apply),
    StateItem("sys.meta_path", "sys", _hooks_capture, _hooks_change, lambda m, c: None,
              stored=False),
    StateItem("os.environ", "os", _environ_capture, _environ_change, _environ_apply),
    StateItem("cwd", "os", lambda m: m.getcwd(), _cwd_change, _cwd_apply),
    StateItem("warnings.filters", "warnings", lambda m: list(m.filters), _filters_change,
              _filters_apply),
    StateItem("logging", "logging", _logging_capture, _logging_change, _logging_apply),
    StateItem("sys.limits", "sys", _limits_capture,
              lambda before, after: None if before is None else _settings_set(before, after),
              _limits_apply),
    StateItem("numpy.errstate", "numpy", lambda np: np.geterr(), _np_err_change, _np_err_apply),
    StateItem("sklearn.config", "sklearn", lambda sk: sk.get_config(), _sklearn_change,
              _sklearn_apply),
    StateItem("sklearn's HTML ids", "sklearn.utils._repr_html.estimator", _sk_ids_capture,
              _sk_ids_change, _sk_ids_apply, counter=True),
    StateItem("decimal.context", "decimal", _decimal_capture, _decimal_change, _decimal_apply),
    StateItem("polars.config", "polars", _polars_capture, _polars_change, _polars_apply),
    StateItem("plotly.io", "plotly.io._templates", _plotly_capture, _plotly_change,
              _plotly_apply),
    StateItem("pandas' classes", "pandas", _pandas_methods_capture, _pandas_methods_change,
              _pandas_methods_apply),
    # never captured: its changes come from the step's code (record(attributes=...))
    StateItem(ATTRIBUTES, "sys", lambda m: None, lambda before, after: None, _attributes_apply),
):
    register(_builtin)
del _builtin


def _is_display(key: str) -> bool:
    return key.startswith("display.")


def _is_sklearn_display(key: str) -> bool:
    return key in ("display", "print_changed_only")


for _amb in (
    Ambient("matplotlib's rcParams", "matplotlib.rcParams", "plots", baseline=_rc_baseline),
    Ambient("matplotlib's backend", "matplotlib.backend", "plots"),
    Ambient("pandas' display options", "pandas.options", "shown", _is_display, _pandas_baseline),
    Ambient("pandas' options", "pandas.options", "always", lambda k: not _is_display(k),
            _pandas_baseline),
    Ambient("numpy's print options", "numpy.printoptions", "shown"),
    Ambient("scikit-learn's display settings", "sklearn.config", "shown", _is_sklearn_display,
            _sklearn_baseline),
    Ambient("scikit-learn's configuration", "sklearn.config", "always",
            lambda k: not _is_sklearn_display(k), _sklearn_baseline),
    Ambient("the decimal context", "decimal.context", "always",
            baseline=lambda decimal: _decimal_capture(_DefaultDecimal)),
    Ambient("polars' display settings", "polars.config", "shown", _is_polars_display,
            _polars_baseline),
    Ambient("polars' settings", "polars.config", "always",
            lambda k: not _is_polars_display(k), _polars_baseline),
    Ambient("plotly's default renderer", "plotly.io", "shown", lambda k: k == "renderer"),
    Ambient("plotly's default template", "plotly.io", "always", lambda k: k == "template"),
):
    register_ambient(_amb)
del _amb
