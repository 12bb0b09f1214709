"""What a piece of cell source reads and assigns, and the step function a cell stands for.

A ``%%step`` cell and its exported ``@step`` function are the same function: both come from
:func:`step_function_source`, so their code fingerprints (and so their cache keys) agree.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import linecache
import re
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: Python's builtins plus the names IPython makes builtin inside a kernel
_BUILTINS = frozenset(dir(builtins)) | {"display", "get_ipython"}


@dataclass(frozen=True)
class CellIO:
    """Names a cell reads before assigning them, and names it assigns at top level."""

    reads: list[str] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)  # def / class / import names


class _Loads(ast.NodeVisitor):
    """Free names loaded by one statement (names bound in nested scopes don't count)."""

    def __init__(self) -> None:
        self.loads: list[str] = []
        self.stores: list[str] = []

    def visit_Name(self, node: ast.Name) -> None:
        (self.loads if isinstance(node.ctx, ast.Load) else self.stores).append(node.id)

    def _scoped(self, node: ast.AST, params: Iterable[str], body: Iterable[ast.AST]) -> None:
        inner = _Loads()
        for child in body:
            inner.visit(child)
        local = set(params) | set(inner.stores)
        self.loads.extend(n for n in inner.loads if n not in local)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for deco in node.decorator_list:
            self.visit(deco)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        args = node.args
        params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        self._scoped(node, [*params, node.name], node.body)
        self.stores.append(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        args = node.args
        params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        self._scoped(node, params, [node.body])

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        self._scoped(node, [], node.body)
        self.stores.append(node.name)

    def _comprehension(self, node: Any) -> None:
        inner = _Loads()
        for gen in node.generators:
            inner.visit(gen.target)
            for cond in gen.ifs:
                inner.visit(cond)
        elts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
        for elt in elts:
            inner.visit(elt)
        # the first iterable is evaluated in the enclosing scope
        first = _Loads()
        first.visit(node.generators[0].iter)
        for gen in node.generators[1:]:
            inner.visit(gen.iter)
        local = set(inner.stores)
        self.loads.extend(first.loads)
        self.loads.extend(n for n in inner.loads if n not in local)

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self.stores.append(alias.asname or alias.name.split(".")[0])

    visit_ImportFrom = visit_Import


def infer_io(source: str) -> CellIO:
    """Reads (free names read before being assigned) and writes (top-level assignments).

    Writes skip names starting with ``_`` (private temporaries) and names bound only by
    ``def``/``class``/``import`` (those are listed in ``defines``).
    """
    tree = ast.parse(source)
    assigned: set[str] = set()
    reads: dict[str, None] = {}
    writes: dict[str, None] = {}
    defines: dict[str, None] = {}
    for stmt in tree.body:
        visitor = _Loads()
        if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            visitor.loads.append(stmt.target.id)
        visitor.visit(stmt)
        for name in visitor.loads:
            if name not in assigned and name not in _BUILTINS:
                reads.setdefault(name)
        for name in visitor.stores:
            assigned.add(name)
            if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Import | ast.ImportFrom):
                defines.setdefault(name)
            elif not name.startswith("_"):
                writes.setdefault(name)
    return CellIO(list(reads), list(writes), list(defines))


def assigned_names(source: str) -> set[str]:
    """Every name a statement list binds at top level (assignments, defs, imports)."""
    io = infer_io(source)
    return set(io.writes) | set(io.defines)


def step_function_source(name: str, params: list[str], outputs: list[str], body: str,
                         optional: Iterable[str] = ()) -> str:
    """The text of the ``def`` a ``%%step`` cell stands for (and that export writes).

    ``optional`` outputs are bound on some paths only (``if``/``for``/``try``): the function
    returns ``None`` for one the body did not bind, where the cell would leave it unset.
    """
    lines = [_star_import_line(line) for line in body.rstrip().splitlines()] or ["pass"]
    if not any(line.strip() and not line.lstrip().startswith("#") for line in lines):
        lines.append("pass")
    indented = "\n".join(("    " + line) if line.strip() else "" for line in lines)
    optional = set(optional)
    values = [f"locals().get({o!r})" if o in optional else o for o in outputs]
    if not outputs:
        ret = ""
    elif len(outputs) == 1:
        ret = f"\n    return {values[0]}"
    else:
        ret = f"\n    return {', '.join(values)}"
    # a cell that awaits at top level (IPython runs it in the kernel's event loop) is a
    # coroutine function: the runners await it (see flowyml.timeouts.awaited)
    kind = "async def" if awaits(body) else "def"
    return f"{kind} {name}({', '.join(params)}):\n{indented}{ret}\n"


def awaits(body: str) -> bool:
    """Whether Python code ``body`` awaits at top level (``await``, ``async for``, ``async
    with``), as IPython's autoawait allows in a cell. False for code that does not compile."""
    if "await" not in body and "async" not in body:
        return False
    try:
        code = compile(body, "<cell>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                       dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return bool(code.co_flags & inspect.CO_COROUTINE)


_STAR = re.compile(r"^(\s*)from\s+([A-Za-z_][\w.]*)\s+import\s+\*\s*(#.*)?$")


def _star_import_line(line: str) -> str:
    """``from m import *`` is only allowed at module level: inside the step's function it
    becomes the same names put into the function's globals (the notebook's namespace)."""
    match = _STAR.match(line)
    if match is None:
        return line
    indent, module = match.group(1), match.group(2)
    return (f"{indent}globals().update(__import__('flowyml.notebook.analysis', fromlist=['star_names'])"
            f".star_names({module!r}))  # from {module} import *")


def star_names(module_name: str) -> dict[str, Any]:
    """What ``from module_name import *`` binds: ``__all__``, else the public names."""
    import importlib

    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return {n: getattr(module, n) for n in names}


def make_step_function(name: str, params: list[str], outputs: list[str], body: str,
                       namespace: dict[str, Any], filename: str | None = None,
                       optional: Iterable[str] = ()) -> types.FunctionType:
    """Compile the cell's step function with ``namespace`` as its globals.

    The source is registered in :mod:`linecache` so ``inspect.getsource`` (and so the code
    fingerprint) works as for a function defined in a file. ``namespace`` is not modified.
    """
    source = step_function_source(_safe_ident(name), params, outputs, body, optional)
    filename = filename or f"<flowyml-step-{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    module_code = compile(source, filename, "exec")
    code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    func = types.FunctionType(code, namespace, _safe_ident(name))
    func.__module__ = namespace.get("__name__", "__main__")
    func.__qualname__ = _safe_ident(name)
    return func


def _safe_ident(name: str) -> str:
    ident = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return ident if ident and not ident[0].isdigit() else f"step_{ident}"
