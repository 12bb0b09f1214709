"""What a cell changes outside the values a step stores, and how a step is told of it.

A step stores its outputs by value; a cell can also change things no stored value holds:
bind names out of the analysis' sight (``globals()[...]``, sympy's ``var('x y')`` through
its caller's frame), change notebook data through the functions it calls (``add(x)``
appending to a global list), fill or set a notebook class's attributes (``Dog('sit')``
appending to ``Dog.tricks``), or patch a module or a library's class
(``InteractiveShell.ast_node_interactivity = 'all'``). :class:`flowyml.notebook.cellrun.CellRun`
asks these functions what a body changed so; what can be stored (attributes set by name on
a class or module found by its name) is set again on a hit, the rest makes the step run
every time, saying why.
"""

from __future__ import annotations

import collections
import pickle
import re
import sys
import types
from collections.abc import Callable, Iterable
from typing import Any

from flowyml.codehash import is_user_module
from flowyml.hashing import UnhashableValueError, hash_value
from flowyml.notebook.cells import CellAnalysis

#: a sentinel for a name the namespace does not hold
MISSING = object()


_STAR_IMPORT = re.compile(r"^\s*from\s+([\w.]+)\s+import\s+\*", re.MULTILINE)


def bound_unseen(analysis: Any, before: dict[str, Any], after: dict[str, Any],
                 handled: Iterable[str] = ()) -> list[str]:
    """Names the body bound, rebound or removed that the analysis does not know of (IPython's
    own ``_`` names aside, what a ``from m import *`` the hit runs again binds, and the
    ``handled`` names the step stores anyway): through the namespace (``globals()[...]``,
    ``exec``, ``%run script.py``) or through a function it called, which binds in its
    caller's globals (sympy's ``var('x y')`` through the frame, a notebook function's
    ``global CONFIG``). Every step cell is checked: a call gives no sign of it."""
    known = {*analysis.produces, *analysis.defines, *analysis.deleted, *analysis.maybe,
             *analysis.futures, *handled}
    star = [sys.modules.get(m) for m in _STAR_IMPORT.findall(analysis.python)]

    def from_star(name: str, value: Any) -> bool:
        return any(m is not None and getattr(m, name, MISSING) is value for m in star)

    found = [name for name, value in after.items()
             if not name.startswith("_") and name not in known
             and before.get(name, MISSING) is not value and not from_star(name, value)]
    found += [name for name in before if name not in after and not name.startswith("_")
              and name not in known]
    return found


def changed_through_functions(values: dict[str, Any], digests: dict[str, str],
                              ns: dict[str, Any],
                              remember: Callable[[str, Any, str], None] | None = None) -> list[str]:
    """Which notebook data the functions a cell called read (``values``, by name, with the
    ``digests`` they had) the body rebound (``global counter; counter += 1``) or changed in
    place (``results.append(x)``) through them: a hit could not do that again.
    ``remember(name, value, digest)`` keeps each digest computed (the next key needs it)."""
    changed = []
    for name, value in values.items():
        now = ns.get(name, MISSING)
        if now is not value:
            changed.append(name)
        elif name in digests:
            try:
                digest = hash_value(now)
            except UnhashableValueError:
                continue
            if remember is not None:
                remember(name, now, digest)
            if digest != digests[name]:
                changed.append(name)
    return changed


def class_attributes(classes: list[type]) -> list[tuple[type, dict[str, Any]]]:
    """Each class with its public attributes as they are, a container's with its content's
    digest (see :func:`changed_classes`)."""
    return [(cls, {k: (v, _content(v)) for k, v in vars(cls).items() if not k.startswith("_")})
            for cls in classes]


#: the longest container a class holds whose content is compared (else its length)
_CONTENT_MAX = 10_000


def _content(value: Any) -> Any:
    """A container's content, cheaply: its digest (its length when long or unhashable)."""
    if not isinstance(value, list | dict | set | bytearray | collections.deque):
        return None
    if len(value) > _CONTENT_MAX:
        return len(value)
    try:
        return hash_value(value)
    except Exception:
        return len(value)


def _filled_defaults(func: types.FunctionType) -> list[Any]:
    """The containers among a function's default values (``def add(x, acc=[])``)."""
    defaults = [*(func.__defaults__ or ()), *(func.__kwdefaults__ or {}).values()]
    return [d for d in defaults if isinstance(d, list | dict | set | bytearray | collections.deque)]


def mutable_defaults(ns: dict[str, Any]) -> list[tuple[types.FunctionType, list[Any]]]:
    """The notebook's functions (and its classes' methods) whose default values hold a
    container, each with those containers' content (see :func:`changed_defaults`)."""
    out = []
    for value in list(ns.values()):
        if isinstance(value, type) and getattr(value, "__module__", None) == "__main__":
            funcs = [f for f in vars(value).values() if isinstance(f, types.FunctionType)]
        elif isinstance(value, types.FunctionType) and value.__module__ == "__main__":
            funcs = [value]
        else:
            continue
        for func in funcs:
            filled = _filled_defaults(func)
            if filled:
                out.append((func, [_content(d) for d in filled]))
    return out


def changed_defaults(before: list[tuple[types.FunctionType, list[Any]]]
                     ) -> list[types.FunctionType]:
    """The functions whose container defaults a body filled, compared with ``before``
    (:func:`mutable_defaults`): ``add(1)`` appending to ``def add(x, acc=[])``'s ``acc``,
    which every later call shares, or a ``memo={}`` filled by its calls."""
    return [func for func, contents in before
            if [_content(d) for d in _filled_defaults(func)] != contents]


def defaults_set(funcs: list[types.FunctionType], ns: dict[str, Any]
                 ) -> tuple[list[tuple[str, str, str, Any]], list[str]]:
    """The default values of ``funcs`` (see :func:`changed_defaults`) as attributes to set
    again on a hit, ``("__main__", qualname, "__defaults__", value)`` (as
    :func:`attributes_set` gives them), for those found again by their qualified name in the
    notebook and small enough; the names of the rest (their steps run every time)."""
    stored: list[tuple[str, str, str, Any]] = []
    rest: list[str] = []
    for func in funcs:
        found: Any = ns
        try:
            head, *parts = func.__qualname__.split(".")
            found = ns[head]
            for part in parts:
                found = vars(found)[part]
        except Exception:
            found = None
        values = [("__defaults__", func.__defaults__), ("__kwdefaults__", func.__kwdefaults__)]
        if found is not func or not all(_small(v) for _, v in values):
            rest.append(func.__qualname__)
            continue
        stored.extend(("__main__", func.__qualname__, attr, value) for attr, value in values
                      if value is not None)
    return stored, rest


def changed_classes(before: list[tuple[type, dict[str, Any]]]) -> list[str]:
    """The classes (by name) whose public attributes a body set, added or deleted, or
    filled, compared with ``before`` (:func:`class_attributes`): through a function
    (``set_lr(0.5)`` doing ``Config.lr = v``) or a method (``Dog('sit')`` appending to the
    class's ``tricks`` list), a change a hit could not make again."""
    out = []
    for cls, attrs in before:
        now = {k: v for k, v in vars(cls).items() if not k.startswith("_")}
        if now.keys() != attrs.keys() or any(
                now[k] is not v or _content(v) != content for k, (v, content) in attrs.items()):
            out.append(cls.__qualname__)
    return out


def patched_outside(owners: list[str], ns: dict[str, Any]) -> list[str]:
    """Which of ``owners`` (dotted names a cell set or deleted attributes or items of) are
    modules or classes (``pd.DataFrame.double = f``, ``mylib.LIMIT = 5``, ``A.x = 1``) or
    data held by a helper module of the notebook (``mylib.CONFIG['lr'] = 0.1``). A step
    stores values, and a module or a class is stored by name, so its change would be lost
    on a hit; so is data a class holds (``so.Plot.config.theme.update(...)``); instances
    (``df.a = 1``) and libraries' data (``mpl.rcParams[...]``: process state) are not
    among them."""
    found = []
    for owner in owners:
        head, *attrs = owner.split(".")
        obj = ns.get(head, MISSING)
        module = obj if isinstance(obj, types.ModuleType) else None
        holder = None  # the class whose attribute holds the data (`so.Plot.config.theme`)
        try:
            for attr in attrs:
                if not isinstance(obj, type | types.ModuleType):
                    if holder is None:
                        break
                    obj = getattr(obj, attr)  # deeper into what the class holds
                    continue
                if isinstance(obj, type):
                    holder = obj
                obj = getattr(obj, attr)
        except Exception:
            continue
        if isinstance(obj, type | types.ModuleType):
            found.append(f"{owner} (a {'module' if isinstance(obj, types.ModuleType) else 'class'})")
        elif holder is not None:
            # `so.Plot.config.theme.update(...)`, `Model.registry.append(x)`: data a class
            # holds, which a hit does not change either (the class is stored by name)
            found.append(f"{owner} (held by the class {holder.__name__})")
        elif module is not None and attrs and is_user_module(module.__name__):
            # `mylib.CONFIG['lr'] = 0.1`: a helper module's data, which a hit does not
            # touch (a library's -- rcParams, pandas' options -- is process state)
            found.append(f"{owner} (in the helper module {module.__name__})")
    return found


def attributes_set(analysis: CellAnalysis, ns: dict[str, Any]) -> tuple[list[tuple[str, str, str, Any]], list[str]]:
    """What a cell set by name on classes and modules found by their names
    (``InteractiveShell.ast_node_interactivity = 'all'``, ``mylib.LIMIT = 5``,
    ``pd.DataFrame.double = double``), as ``(module, qualname, attribute, value)`` to
    store and set again on a hit, and the rest of the owners it patched (changed any other
    way, or a class of the notebook or made in a function: :func:`patched_outside`)."""
    stored: list[tuple[str, str, str, Any]] = []
    rest: list[str] = []
    for owner in analysis.patched:
        attrs = analysis.attr_sets.get(owner)
        where = _named_owner(owner, ns) if attrs else None
        held = vars(where[2]) if where is not None else {}
        if where is None or any(a not in held or not _small(held[a]) for a in attrs or ()):
            rest.append(owner)
            continue
        stored.extend((where[0], where[1], a, held[a]) for a in attrs or ())
    return stored, rest


#: the largest value set on a class or module that is stored with the entry's notes
_ATTRIBUTE_MAX = 1 << 20


def _small(value: Any) -> bool:
    """Whether ``value`` pickles within :data:`_ATTRIBUTE_MAX` (it goes into the entry's
    metadata, read at every lookup); a bigger one is left to running the cell again."""
    try:
        return len(pickle.dumps(value, protocol=5)) <= _ATTRIBUTE_MAX
    except Exception:
        return True  # stored by value or refused, as the state's other changes are


def _named_owner(owner: str, ns: dict[str, Any]) -> tuple[str, str, Any] | None:
    """``(module, qualname, object)`` when the dotted name ``owner`` holds a module or a
    class that its module and qualified name find again (not the notebook's own)."""
    head, *attrs = owner.split(".")
    obj = ns.get(head, MISSING)
    try:
        for attr in attrs:
            obj = getattr(obj, attr)
    except Exception:
        return None
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
        return (name, "", obj) if name != "__main__" and sys.modules.get(name) is obj else None
    if not isinstance(obj, type):
        return None
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", "")
    if not isinstance(module, str) or module == "__main__" or module not in sys.modules:
        return None
    found: Any = sys.modules[module]
    try:
        for part in qualname.split("."):
            found = getattr(found, part)
    except Exception:
        return None
    return (module, qualname, obj) if found is obj else None
