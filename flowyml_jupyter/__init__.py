"""flowyml's Jupyter/IPython extension: ``%load_ext flowyml`` (or ``flowyml_jupyter``).

Adds the ``%%step`` cell magic and the ``%flowyml`` line magic (see :mod:`.magics`).
"""

from __future__ import annotations

import sys
from typing import Any

_LOADED: dict[int, Any] = {}  # id(shell) -> its FlowymlMagics


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics on ``ipython``; loading twice keeps the first (and its state)."""
    if id(ipython) in _LOADED:
        return
    from flowyml_jupyter import formatters
    from flowyml_jupyter.magics import FlowymlMagics

    formatters.register(ipython)
    magics = FlowymlMagics(ipython)
    ipython.register_magics(magics)
    _LOADED[id(ipython)] = magics


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and stop listening to flowyml events."""
    magics = _LOADED.pop(id(ipython), None)
    if magics is None:
        return
    magics.close()
    if not _LOADED and "flowyml_jupyter.widgets" in sys.modules:
        sys.modules["flowyml_jupyter.widgets"].release_shared_models()
    for kind, names in magics.magics.items():
        for name in names:
            ipython.magics_manager.magics[kind].pop(name, None)
    ipython.magics_manager.registry.pop(type(magics).__name__, None)
