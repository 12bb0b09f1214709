"""Objects an output shares with a step's inputs, kept shared across entries.

Each step's outputs are stored on their own. An output that holds one of the step's inputs
(``models = {'lr': lr}``, a closure over ``m``) or is a numpy view into one (``v = arr[:2]``)
would come back from a hit holding a copy: a later change to the input (``lr.fit(...)``,
``v[:] = 7``) then no longer shows through the output, as it does in plain Python. While the
outputs are pickled (:func:`sharing`), such an input is stored as a reference by name (a
view as its place in the input's memory), with a copy for loads that do not give the inputs;
a hit loads them with the inputs it was given (:func:`shared`) and binds the references to
those objects.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import itertools
import pickle
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

from flowyml.references import Walker

#: while a step's outputs are pickled: the values it was given (``id -> (name, value)``)
#: that an output may hold (see :func:`sharing`)
_SHARING: contextvars.ContextVar[dict[int, tuple[str, Any]] | None] = contextvars.ContextVar(
    "flowyml_sharing", default=None)
#: while an entry loads: the values its references to them name (see :func:`shared`)
_SHARED: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "flowyml_shared", default=None)
#: the tag of a reference to a value the step was given (or an object in one)
_REF_TAG = "flowyml.ref"
#: the same, as an earlier version wrote it (the copy pickled inside)
_SHARED_TAG = "flowyml.shared"
#: the tag of a numpy view into an array the step was given
_VIEW_TAG = "flowyml.view"


@contextlib.contextmanager
def sharing(values: dict[str, Any]) -> Iterator[None]:
    """Pickle what this block stores so that an object of ``values`` (a step's input, by
    name) held by an output is a reference to it, with a copy of it for loads that do not
    give it (:func:`shared`): ``models = {'lr': lr}`` stored apart from ``lr`` came back
    after a restart holding a copy of ``lr``, and a later ``lr.fit(...)`` left
    ``models['lr']`` unfitted. Values whose identity does not matter (numbers, strings,
    tuples, classes, modules, functions) are left out."""
    table = {id(v): (n, v) for n, v in values.items() if _shareable(v)}
    token = _SHARING.set(table or None)
    try:
        yield
    finally:
        _SHARING.reset(token)


@contextlib.contextmanager
def shared(values: dict[str, Any]) -> Iterator[None]:
    """Load what this block loads with its references (see :func:`sharing`) bound to
    ``values``' objects, by name: the step's inputs as a hit gives them."""
    token = _SHARED.set(values)
    try:
        yield
    finally:
        _SHARED.reset(token)


_ATOMS = (int, float, complex, str, bytes, bool, type(None), tuple, frozenset, range, type,
          types.ModuleType, types.FunctionType, types.BuiltinFunctionType)


def _shareable(value: Any) -> bool:
    return not isinstance(value, _ATOMS)


def _holds_any(obj: Any, table: dict[int, tuple[str, Any]]) -> bool:
    """Whether ``obj`` holds one of ``table``'s objects (into a function's closure and
    defaults, not its globals): only then is it pickled with references, which costs a call
    for every object."""
    return bool(Walker().reach(obj, table, into_functions=True))


def _arrays(table: dict[int, tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The numpy arrays among the inputs that a view can be rebuilt into (their memory in
    one C-ordered block), ``(name, array)``."""
    np = sys.modules.get("numpy")
    if np is None:
        return []
    return [(name, v) for name, v in table.values()
            if type(v) is np.ndarray and v.flags.c_contiguous and v.dtype != object]


def _view_into(obj: Any, arrays: list[tuple[str, Any]]) -> tuple[str, int] | None:
    """``(name, byte offset)`` of the input array whose memory the array ``obj`` views."""
    np = sys.modules.get("numpy")
    if np is None or type(obj) is not np.ndarray or obj.base is None or obj.dtype == object:
        return None
    try:
        utils = getattr(np.lib, "array_utils", None)  # NumPy 2 moved it there
        bounds = utils.byte_bounds if utils is not None else np.byte_bounds
        low, high = bounds(obj)
        for name, base in arrays:
            if base is obj:
                return None
            start, end = bounds(base)
            if start <= low and high <= end:
                return name, obj.__array_interface__["data"][0] - start
    except Exception:  # storing never fails for this: the view is stored as a copy
        return None
    return None


def _views_in(obj: Any, arrays: list[tuple[str, Any]]) -> bool:
    """Whether ``obj``, or an item of it (a list, tuple or dict of arrays), views an input."""
    if not arrays:
        return False
    items = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list | tuple) \
        else ()
    return any(_view_into(o, arrays) is not None for o in (obj, *items))


#: at most this many objects of the inputs are looked through for those an output took
#: from them, at most this deep, at most this many items of one container
_LOCATE_LIMIT = 5_000
_LOCATE_DEPTH = 4
_LOCATE_ITEMS = 500


def _children(obj: Any) -> Iterator[tuple[tuple[str, Any], Any]]:
    """``(step, item)`` for what ``obj`` holds that a path can name: a dict's values by
    key, a list's items by index, an object array's by index, an object's attributes."""
    np = sys.modules.get("numpy")
    if isinstance(obj, dict):
        for key, value in itertools.islice(obj.items(), _LOCATE_ITEMS):
            if type(key) in (str, int):
                yield ("k", key), value
    elif isinstance(obj, list):
        yield from ((("i", i), v) for i, v in enumerate(itertools.islice(obj, _LOCATE_ITEMS)))
    elif np is not None and type(obj) is np.ndarray and obj.dtype == object:
        for index in itertools.islice(np.ndindex(obj.shape), _LOCATE_ITEMS):
            yield ("n", index), obj[index]
    elif not isinstance(obj, _ATOMS) and not isinstance(obj, type):
        attributes = getattr(obj, "__dict__", None)
        if type(attributes) is dict:
            for key, value in itertools.islice(attributes.items(), _LOCATE_ITEMS):
                yield ("a", key), value


def _locate(obj: Any, table: dict[int, tuple[Any, Any]]) -> dict[int, tuple[Any, Any]]:
    """Where in the inputs ``obj`` (the outputs), or an item of them, is: ``id -> ((input
    name, path), object)`` for those found (``first = frames[0]``, ``ax = axes[0]``, ``clf =
    pipe.named_steps['clf']``). An input is walked for paths only when a walk of its
    references (fast: ``gc.get_referents``) reaches one of them; both walks are bounded."""
    wanted = {id(obj): obj} if _shareable(obj) else {}
    level = [obj]
    for _ in range(2):  # the outputs (``obj`` is a dict of them) and their items
        below = []
        for holder in level:
            if not isinstance(holder, dict | list):
                continue  # (an object's attributes: found only as an output, or an item)
            for _, item in _children(holder):
                if _shareable(item) and id(item) not in wanted and len(wanted) < _LOCATE_LIMIT:
                    wanted[id(item)] = item
                    below.append(item)
        level = below
    for key in table:
        wanted.pop(key, None)  # an input itself: referred to by its name already
    found: dict[int, tuple[Any, Any]] = {}
    if not wanted:
        return found
    walker = Walker(limit=_LOCATE_LIMIT * 4)
    inputs = [ref for ref in table.values() if isinstance(ref[0], str)
              and walker.reach(ref[1], wanted)]
    seen = set(table)
    left = _LOCATE_LIMIT
    for name, value in inputs:
        level_paths: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
        for _ in range(_LOCATE_DEPTH):
            below_paths = []
            for holder, path in level_paths:
                for step, item in _children(holder):
                    if id(item) in seen or isinstance(item, _ATOMS):
                        continue
                    seen.add(id(item))
                    if id(item) in wanted:
                        found[id(item)] = ((name, (*path, step)), item)
                        if len(found) == len(wanted):
                            return found
                    below_paths.append((item, (*path, step)))
            left -= len(below_paths)
            if not below_paths or left <= 0:
                break
            level_paths = below_paths
        if left <= 0:
            break
    return found


def table_for(obj: Any) -> dict[int, tuple[Any, Any]] | None:
    """The inputs of :func:`sharing` (and objects found in them) to store ``obj`` with as
    references (``None``: it holds none of them, the usual case)."""
    table = _SHARING.get()
    if not table:
        return None
    try:
        located = _locate(obj, table)
    except Exception:  # a container changed meanwhile: stored as it is
        located = {}
    if located:
        return {**table, **located}
    return table if _holds_any(obj, table) or _views_in(obj, _arrays(table)) else None


class Sharing:
    """What a pickler does to store the values of :func:`sharing` (and objects found in
    them) as references: the first time one is met, ``(tag, ref, copy, type name)``, the
    copy pickled on its own (``copy(obj)``: it may hold the value again, and is only loaded
    when a load cannot bind the reference); later, ``(tag, ref, None, None)``. ``ref`` is an
    input's name or ``(name, path)``. An array viewing an input's memory is ``(view tag,
    name, offset, shape, strides, dtype, copy)``."""

    def _start_sharing(self, table: dict[int, tuple[Any, Any]],
                       copy: Callable[[Any], bytes]) -> None:
        self._table, self._met, self._copy = table, set(), copy
        self._arrays = _arrays(table)

    def persistent_id(self, obj: Any) -> Any:
        ref = self._table.get(id(obj))
        if ref is None or ref[1] is not obj:
            if self._arrays:
                view = _view_into(obj, self._arrays)
                if view is not None:
                    return (_VIEW_TAG, view[0], view[1], obj.shape, obj.strides, obj.dtype,
                            obj.copy())
            return None
        if id(obj) in self._met:
            return (_REF_TAG, ref[0], None, None)
        self._met.add(id(obj))
        return (_REF_TAG, ref[0], self._copy(obj), _type_name(obj))


def _type_name(obj: Any) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


class _Unpickler(pickle.Unpickler):
    """``pickle``'s unpickler, binding references to shared values (see :func:`shared`)."""

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 7 and pid[0] == _VIEW_TAG:
            return _view(*pid[1:])
        copies = self.__dict__.setdefault("_copies", {})
        if isinstance(pid, tuple) and len(pid) == 4 and pid[0] == _REF_TAG:
            _, ref, copy, kind = pid
            key = repr(ref)
            if copy is not None:
                copies[key] = (copy, kind)
            found = _resolve(ref, _SHARED.get())
            # (an object found at its path must be of the kind stored: else the copy)
            if found is not _MISSING and (isinstance(ref, str)
                                         or _type_name(found) == copies[key][1]):
                return found
            stored = copies[key][0]
            if isinstance(stored, bytes):  # loaded once, when first needed
                stored = copies[key] = (loads(stored), kind)
                stored = stored[0]
            return stored
        if isinstance(pid, tuple) and len(pid) == 3 and pid[0] == _SHARED_TAG:
            # (written by an earlier flowyml: the copy pickled inside the reference)
            _, name, copy = pid
            values = _SHARED.get()
            if values is not None and name in values:
                return values[name]
            if copy is not None:
                copies[name] = copy
                return copy
            return copies[name]
        raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")


_MISSING = object()


def _resolve(ref: Any, values: dict[str, Any] | None) -> Any:
    """The object a reference names among the given values: an input by its name, or an
    object at a path in one (``('frames', (('k', 0),))``); :data:`_MISSING` if not there."""
    if values is None:
        return _MISSING
    name, path = (ref, ()) if isinstance(ref, str) else ref
    if name not in values:
        return _MISSING
    obj = values[name]
    try:
        for kind, key in path:
            if kind == "a":
                obj = vars(obj)[key]
            elif kind == "n":
                obj = obj[tuple(key)]
            else:
                obj = obj[key]
    except Exception:
        return _MISSING
    return obj


def _view(name: str, offset: int, shape: tuple[int, ...], strides: tuple[int, ...],
          dtype: Any, copy: Any) -> Any:
    """The view into the given input ``name``'s memory, or ``copy`` when the load does not
    give it or it no longer has room for the view."""
    base = _resolve(name, _SHARED.get())
    np = sys.modules.get("numpy")
    if np is not None and type(base) is np.ndarray and base.flags.c_contiguous \
            and base.flags.writeable and base.dtype != object:
        try:
            return np.ndarray(shape, dtype, buffer=base, offset=offset, strides=strides)
        except (TypeError, ValueError):
            pass  # out of its bounds (another array under the name): the copy
    return copy


def loads(data: Any, **kwargs: Any) -> Any:
    """``pickle.loads(data, **kwargs)``, binding references to shared values."""
    return _Unpickler(io.BytesIO(data) if not isinstance(data, io.IOBase) else data,
                      **kwargs).load()
