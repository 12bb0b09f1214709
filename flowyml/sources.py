"""Source files as ``linecache`` holds them (as ``inspect.getsource`` reads them), parsed once
per version of the file: the code fingerprint (:mod:`flowyml.codehash`) and the search for
run-time state (:mod:`flowyml.code_state`) read the same helper modules and notebook cells,
and each parse is shared. Also which files are library code (the standard library and
site-packages), which the code fingerprint and the record of a step's environment ask."""

from __future__ import annotations

import ast
import contextlib
import functools
import linecache
import os
import sys
from typing import Any

#: filename -> (the lines it was parsed from, its tree or None when it does not parse)
_trees: dict[str, tuple[list[str], ast.Module | None]] = {}


def source_tree(filename: str, module_globals: dict[str, Any] | None = None
                ) -> tuple[list[str], ast.Module | None]:
    """The file's current lines (the very list ``linecache`` holds: its identity tells one
    version from the next) and their AST (``None``: no source, or it does not parse)."""
    linecache.checkcache(filename)
    lines = linecache.getlines(filename, module_globals)
    known = _trees.get(filename)
    if known is not None and known[0] is lines:
        return known
    tree = None
    if lines:
        try:
            tree = ast.parse("".join(lines))
        except (SyntaxError, ValueError):
            tree = None
    if len(_trees) >= 512:
        _trees.clear()
    _trees[filename] = (lines, tree)
    return lines, tree


@functools.lru_cache(maxsize=1)
def _library_roots() -> tuple[str, ...]:
    """Folders of library code: the standard library and site-packages (each ends in a separator).

    Not from ``sysconfig`` unless it is imported already: importing it here, from inside a
    step's audit hook or environment record, reads the environment it records (the import
    came back to this function half done: ``sysconfig`` partly initialised)."""
    roots = {os.path.dirname(os.__file__), os.path.dirname(functools.__file__)}
    sysconfig = sys.modules.get("sysconfig")
    get_paths = getattr(sysconfig, "get_paths", None)
    if get_paths is not None:
        with contextlib.suppress(Exception):
            paths = get_paths()
            roots.update(paths.get(k) for k in ("stdlib", "platstdlib", "purelib", "platlib"))
    site = sys.modules.get("site")
    with contextlib.suppress(Exception):
        roots.update(site.getsitepackages() if site is not None else ())
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    return tuple(sorted(os.path.join(r, "") for r in roots if r))


def in_library(path: str) -> bool:
    """Whether ``path`` is in the standard library or site-packages."""
    return os.path.abspath(path).startswith(_library_roots())
