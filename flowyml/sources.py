"""Source files as ``linecache`` holds them (as ``inspect.getsource`` reads them), parsed once
per version of the file: the code fingerprint (:mod:`flowyml.codehash`) and the search for
run-time state (:mod:`flowyml.code_state`) read the same helper modules and notebook cells,
and each parse is shared."""

from __future__ import annotations

import ast
import linecache
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
