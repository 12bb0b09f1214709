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
import pickle
import sys
import types
from collections.abc import Iterator
from typing import Any

from flowyml.references import Walker

#: while a step's outputs are pickled: the values it was given (``id -> (name, value)``)
#: that an output may hold (see :func:`sharing`)
_SHARING: contextvars.ContextVar[dict[int, tuple[str, Any]] | None] = contextvars.ContextVar(
    "flowyml_sharing", default=None)
#: while an entry loads: the values its references to them name (see :func:`shared`)
_SHARED: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "flowyml_shared", default=None)
#: the tag of a reference to a value the step was given
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


def table_for(obj: Any) -> dict[int, tuple[str, Any]] | None:
    """The inputs of :func:`sharing` to store ``obj`` with as references (``None``: it
    holds none of them, the usual case)."""
    table = _SHARING.get()
    if not table:
        return None
    return table if _holds_any(obj, table) or _views_in(obj, _arrays(table)) else None


class Sharing:
    """What a pickler does to store the values of :func:`sharing` as references: the first
    time one is met, ``(tag, name, value)`` (the value pickled inside, as a copy for loads
    without the values); later, ``(tag, name, None)``. An array viewing an input's memory is
    ``(view tag, name, offset, shape, strides, dtype, copy)``."""

    def _start_sharing(self, table: dict[int, tuple[str, Any]]) -> None:
        self._table, self._met, self._inside = table, set(), None
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
        if self._inside == id(obj):  # the copy inside its first reference
            self._inside = None
            return None
        if id(obj) in self._met:
            return (_SHARED_TAG, ref[0], None)
        self._met.add(id(obj))
        self._inside = id(obj)
        return (_SHARED_TAG, ref[0], obj)


class _Unpickler(pickle.Unpickler):
    """``pickle``'s unpickler, binding references to shared values (see :func:`shared`)."""

    def persistent_load(self, pid: Any) -> Any:
        if isinstance(pid, tuple) and len(pid) == 7 and pid[0] == _VIEW_TAG:
            return _view(*pid[1:])
        if not (isinstance(pid, tuple) and len(pid) == 3 and pid[0] == _SHARED_TAG):
            raise pickle.UnpicklingError(f"unknown persistent id {pid!r}")
        _, name, copy = pid
        values = _SHARED.get()
        if values is not None and name in values:
            return values[name]
        copies = self.__dict__.setdefault("_copies", {})
        if copy is not None:
            copies[name] = copy
            return copy
        return copies[name]


def _view(name: str, offset: int, shape: tuple[int, ...], strides: tuple[int, ...],
          dtype: Any, copy: Any) -> Any:
    """The view into the given input ``name``'s memory, or ``copy`` when the load does not
    give it or it no longer has room for the view."""
    values = _SHARED.get()
    base = values.get(name) if values is not None else None
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
