"""flowyml's own pickling leaves no mark on the classes it pickles.

Pickling an object by the default protocol (``object.__reduce_ex__``, protocol 2 and up) asks
``copyreg._slotnames(cls)`` for the names of its class's slots, and that caches them on the
class: ``cls.__slotnames__ = names``. flowyml pickles the values steps read and make, to hash
and to store them, so a class plain Python never pickled got the attribute, and the notebook
saw it: ``dir(clf)`` of a fitted ``GridSearchCV`` listed ``'__slotnames__'`` where a plain run
does not. While :func:`own_pickling` is active the names are cached here instead (per class,
weakly); :func:`users_code` puts Python's own function back around the notebook's code, whose
pickling caches on the class as in plain Python.
"""

from __future__ import annotations

import contextlib
import copyreg
import weakref
from collections.abc import Iterator
from typing import Any

#: Python's ``copyreg._slotnames`` (the one the notebook's own code uses)
_PYTHONS = copyreg._slotnames  # type: ignore[attr-defined]
_CACHE: weakref.WeakKeyDictionary[type, Any] = weakref.WeakKeyDictionary()


def _slotnames(cls: type) -> Any:
    """``copyreg._slotnames`` without setting ``cls.__slotnames__`` (taken away again when
    the class had none before)."""
    names = cls.__dict__.get("__slotnames__")
    if names is not None:
        return names
    try:
        return _CACHE[cls]
    except (KeyError, TypeError):
        pass
    names = _PYTHONS(cls)
    if "__slotnames__" in cls.__dict__:
        with contextlib.suppress(AttributeError, TypeError):
            delattr(cls, "__slotnames__")
    with contextlib.suppress(TypeError):
        _CACHE[cls] = names
    return names


@contextlib.contextmanager
def _using(slotnames: Any) -> Iterator[None]:
    saved = copyreg._slotnames  # type: ignore[attr-defined]
    copyreg._slotnames = slotnames  # type: ignore[attr-defined]
    try:
        yield
    finally:
        copyreg._slotnames = saved  # type: ignore[attr-defined]


def own_pickling() -> contextlib.AbstractContextManager[None]:
    """flowyml's machinery pickles without caching slot names on classes."""
    return _using(_slotnames)


def users_code() -> contextlib.AbstractContextManager[None]:
    """The notebook's code (a step's body) pickles as in plain Python."""
    return _using(_PYTHONS)
