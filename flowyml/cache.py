"""Compatibility: the module where flowyml 0.1's cache lived (now :mod:`flowyml.store`).

Cache entries written before the move pickle their wrapped outputs as ``flowyml.cache._Pickled``,
so this name must stay importable for those entries to load (no user loses a cache entry);
other old names (``CacheStore``, ``make_key``, ...) are found in their new homes at first use.
"""

from __future__ import annotations

from typing import Any

from flowyml.store.entry import _Pickled

__all__ = ["_Pickled"]


def __getattr__(name: str) -> Any:
    from importlib import import_module

    for home in ("flowyml.store.local", "flowyml.store.entry", "flowyml.keys", "flowyml.sizes"):
        module = import_module(home)
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(f"module 'flowyml.cache' has no attribute {name!r} (the cache moved to "
                         "flowyml.store; keys to flowyml.keys)")
