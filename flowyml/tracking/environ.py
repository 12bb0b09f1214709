"""Environment variables a step reads are part of it (SPEC §9: a restarted notebook gives
plain Python's results).

``data_dir = os.environ.get("DATA_DIR", "data")`` or ``os.getenv("API_URL")`` in a cell:
started again with another value, plain Python reads the new one, while a cache hit showed
what the old one gave. While a step runs, the variables its own code reads -- through
``os.environ[...]``, ``.get``, ``in`` and ``os.getenv`` -- are recorded with a digest of
their value (never the value: it may be a secret), or as absent; an entry whose variables
read differently now is no longer valid ("the environment variable DATA_DIR changed").

Only reads by the user's code count (a notebook cell, a helper module beside it: code not
in the standard library, site-packages or flowyml): a library reading ``HOME`` or
``MPLCONFIGDIR`` when a step imports it is the library's business, and keying on it would
make a cache shared between machines miss. The record is part of the step's file record
(:mod:`flowyml.tracking.files`), so every check of it -- a lookup, ``%flowyml status``,
``why`` -- sees it. A variable the step set
itself before reading it is its own value, not an input. Reads outside a step, and in
other threads, are not seen (one context variable, checked only while a step runs).
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
from typing import Any

import xxhash

from flowyml.sources import in_library

#: the frames that stand between a read and the code that made it (``os.getenv``, Mapping.get)
_PLUMBING = frozenset(("os", "_collections_abc", "collections.abc"))
#: flowyml's own settings: never a step's input
_OWN_PREFIX = "FLOWYML_"
#: flowyml's own packages (an editable install is outside site-packages)
_OWN_ROOTS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), p, "")
    for p in ("flowyml", "flowyml_jupyter"))


class _Reads:
    """The variables one running step read (name -> digest or ``None``) and set."""

    __slots__ = ("read", "set")

    def __init__(self) -> None:
        self.read: dict[str, str | None] = {}
        self.set: set[str] = set()


@functools.lru_cache(maxsize=2048)
def _user_file(filename: str) -> bool:
    """Code compiled from ``filename`` is the user's: a cell (``<ipython-input-...>``, the
    kernel's cell files), a helper module; not a library's, nor flowyml's."""
    if filename.startswith("<"):
        return not filename.startswith("<frozen")
    return not in_library(filename) and not os.path.abspath(filename).startswith(_OWN_ROOTS)


_CURRENT: contextvars.ContextVar[_Reads | None] = contextvars.ContextVar("flowyml_environ", default=None)
_installed: list[bool] = []


def _digest(value: str | None) -> str | None:
    return None if value is None else xxhash.xxh3_64_hexdigest(value.encode("utf-8", "surrogateescape"))


def _by_user() -> bool:
    frame = sys._getframe(2)
    while frame is not None and frame.f_globals.get("__name__") in _PLUMBING:
        frame = frame.f_back
    return frame is not None and _user_file(frame.f_code.co_filename)


def install() -> None:
    """Wrap ``os.environ``'s item access (once): a read while a step records is noted."""
    if _installed:
        return
    environ_type = type(os.environ)
    get, put, remove = environ_type.__getitem__, environ_type.__setitem__, environ_type.__delitem__

    def __getitem__(self: Any, key: Any) -> Any:
        reads = _CURRENT.get()
        if reads is None or self is not os.environ or not isinstance(key, str):
            return get(self, key)
        try:
            value = get(self, key)
        except KeyError:
            value = None
            raise
        finally:
            if (key not in reads.read and key not in reads.set and not key.startswith(_OWN_PREFIX)
                    and _by_user()):
                reads.read[key] = _digest(value)
        return value

    def __setitem__(self: Any, key: Any, value: Any) -> None:
        reads = _CURRENT.get()
        if reads is not None and self is os.environ:
            reads.set.add(key)
        put(self, key, value)

    def __delitem__(self: Any, key: Any) -> None:
        reads = _CURRENT.get()
        if reads is not None and self is os.environ:
            reads.set.add(key)
        remove(self, key)

    environ_type.__getitem__ = __getitem__  # type: ignore[method-assign]
    environ_type.__setitem__ = __setitem__  # type: ignore[method-assign]
    environ_type.__delitem__ = __delitem__  # type: ignore[method-assign]
    _installed.append(True)


def begin() -> Any:
    """Start recording the variables the user's code reads (in this context); give the
    result to :func:`end`."""
    install()
    reads = _Reads()
    return reads, _CURRENT.set(reads)


def end(started: Any) -> dict[str, str | None]:
    """Stop recording: the variables read, name -> digest (``None``: absent)."""
    reads, token = started
    _CURRENT.reset(token)
    return reads.read


def stale_reason(read: dict[str, str | None] | None) -> str | None:
    """Why an entry whose step read these variables is no longer valid (``None``: it is)."""
    for name, digest in (read or {}).items():
        if _digest(os.environ.get(name)) != digest:
            return f"the environment variable {name} changed"
    return None
