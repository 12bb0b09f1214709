"""Nested scopes in a cell: the names a function, lambda, class or comprehension reads from outside.

A nested scope reads the names it does not bind itself (its parameters, assignments, imports,
``except``/``match`` captures, minus what it declares ``global``/``nonlocal``), and the scopes
nested in it read through it. The cell's walk (:mod:`flowyml.notebook.cells`) counts those reads
at the place the scope is created. Also here: what a ``global`` declaration makes a function bind
in the cell's scope, and the ``:=`` targets a comprehension binds outside itself (PEP 572).
"""

from __future__ import annotations

import ast
import copy


def arg_defaults(args: ast.arguments) -> list[ast.expr]:
    """The default values of a function's or lambda's parameters: evaluated where it is made."""
    return [d for d in [*args.defaults, *args.kw_defaults] if d is not None]


def without_method_bodies(node: ast.ClassDef) -> ast.ClassDef:
    """``node`` with each method's body reduced to ``pass``: what the ``class`` statement
    itself runs (its body, decorators and defaults), not what the methods read when called."""
    body: list[ast.stmt] = []
    for stmt in node.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            stmt = copy.copy(stmt)
            stmt.body = [ast.Pass()]
        body.append(stmt)
    stripped = copy.copy(node)
    stripped.body = body
    return stripped


def free_names(node: ast.AST, skip_first_iter: bool = False) -> list[str]:
    """Names a nested scope (function, lambda, class, comprehension) reads from outside."""
    scope = _Scope(node, skip_first_iter)
    return list(scope.free)


class _Scope:
    """The free names of one nested scope and of the scopes nested in it."""

    def __init__(self, node: ast.AST, skip_first_iter: bool = False) -> None:
        self.local: set[str] = set()
        self.declared_global: set[str] = set()
        self.loads: dict[str, None] = {}
        self.free: dict[str, None] = {}
        body: list[ast.AST]
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            args = node.args
            self.local.update(a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs])
            self.local.update(a.arg for a in (args.vararg, args.kwarg) if a is not None)
            body = list(node.body) if isinstance(node.body, list) else [node.body]
        elif isinstance(node, ast.ClassDef):
            body = list(node.body)
        else:  # comprehension
            gens = node.generators  # type: ignore[attr-defined]
            body = []
            for i, gen in enumerate(gens):
                body.append(gen.target)
                if i or not skip_first_iter:
                    body.append(gen.iter)
                body.extend(gen.ifs)
            body += [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]  # type: ignore[attr-defined]
            for gen in gens:
                self._collect_stores(gen.target)
        for child in body:
            self._visit(child)
        for name in self.loads:
            if name not in self.local or name in self.declared_global:
                self.free.setdefault(name)

    def _collect_stores(self, node: ast.AST) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
                self.local.add(sub.id)

    def _visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.Global | ast.Nonlocal):
            self.declared_global.update(node.names)
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.loads.setdefault(node.id)
            else:
                self.local.add(node.id)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.local.add(node.name)
            for expr in [*node.decorator_list,
                         *(arg_defaults(node.args) if not isinstance(node, ast.ClassDef)
                           else [*node.bases, *(k.value for k in node.keywords)])]:
                self._visit(expr)
            for name in _Scope(node).free:
                self.loads.setdefault(name)
            return
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            if not isinstance(node, ast.Lambda):
                self._visit(node.generators[0].iter)
                for walrus in comprehension_walruses(node):
                    self.local.add(walrus)
            else:
                for expr in arg_defaults(node.args):
                    self._visit(expr)
            for name in _Scope(node, skip_first_iter=not isinstance(node, ast.Lambda)).free:
                self.loads.setdefault(name)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            self.local.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
            return
        if isinstance(node, ast.ExceptHandler) and node.name:
            self.local.add(node.name)
        if isinstance(node, ast.MatchAs | ast.MatchStar) and node.name:
            self.local.add(node.name)
        if isinstance(node, ast.MatchMapping) and node.rest:
            self.local.add(node.rest)
        for child in ast.iter_child_nodes(node):
            self._visit(child)
        self.local.difference_update(self.declared_global)


def global_writes(node: ast.AST) -> list[str]:
    """Names a function declares ``global`` and assigns: it binds them in the cell's scope."""
    declared = {n for sub in ast.walk(node) if isinstance(sub, ast.Global) for n in sub.names}
    return [n for n in dict.fromkeys(
        sub.id for sub in ast.walk(node)
        if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load)) if n in declared]


def comprehension_walruses(node: ast.AST) -> list[str]:
    """``:=`` targets inside a comprehension bind in the enclosing scope (PEP 572)."""
    names = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.NamedExpr) and isinstance(sub.target, ast.Name):
            names.append(sub.target.id)
    return names
