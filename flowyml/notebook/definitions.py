"""The definitions a cell makes, restored on a cache hit by re-running their source.

Imports, ``def``s, ``class``es and ``name = lambda ...`` are code, not values: a hit does not
load them from the cache but re-executes their source, so a later cell can call a function the
cached cell defined. A ``try: import x / except ImportError: x = None`` block counts as a
definition too.
"""

from __future__ import annotations

import ast


def _is_definition(stmt: ast.stmt) -> bool:
    """A top-level statement that is code to re-run on a hit, not a value to load."""
    if isinstance(stmt, ast.Import | ast.ImportFrom | ast.FunctionDef | ast.AsyncFunctionDef
                  | ast.ClassDef):
        return True
    if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Lambda):
        return all(isinstance(t, ast.Name) for t in stmt.targets)
    if isinstance(stmt, ast.Try):  # try: import x / except ImportError: ...
        inner = [*stmt.body, *stmt.orelse, *stmt.finalbody,
                 *(s for h in stmt.handlers for s in h.body)]
        return all(_is_definition(s) or isinstance(s, ast.Pass) or _is_flag(s) for s in inner
                   ) and any(_is_definition(s) for s in inner)
    return False


def _is_flag(stmt: ast.stmt) -> bool:
    """``HAVE_X = False`` / ``np = None`` in a ``try: import ...`` block."""
    return isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant)


def definitions_source(tree: ast.Module, source: str) -> str:
    """The source of the cell's top-level imports, ``def``s and ``class``es, each on the
    lines it has in the cell (the others blank), so that a warning or traceback from a
    restored function names the line it names when the cell runs."""
    lines = source.split("\n")
    out: list[str] = []
    for stmt in tree.body:
        if not _is_definition(stmt):
            continue
        start = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))])
        out.extend([""] * (start - 1 - len(out)))
        out.extend(lines[start - 1: stmt.end_lineno])
    return "\n".join(out)
