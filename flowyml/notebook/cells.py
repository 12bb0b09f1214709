"""What one notebook cell reads, binds, changes and defines, with Python's own scoping.

A name is an *input* of a cell only where it may be read before the cell binds it: the walk
below follows evaluation order and tracks which names are *definitely* bound at each point,
across every binding form (assignment, augmented assignment, ``for``/``with``/``except``
targets, ``:=``, ``import``, ``def``/``class``, ``match`` captures, ``del``), with branches
(``if``/``try``/loops/``match``) merged by intersection. Nested scopes (functions, lambdas,
classes, comprehensions) read the names they do not bind themselves; those reads count at
the place the scope is created, unless the cell binds the name itself (functions run late).

What a cell *produces* is split in kinds, because they are restored differently on a
cache hit: values (``outputs``: stored and loaded), objects the cell changes in place
(``mutated``: stored too, as a new version of that name), and code (``defines``: imports,
functions, classes, re-executed from their source). Names bound only as loop/``with``/
``except`` targets are ``incidental``: left in the namespace but not stored.

Pure logic, no IPython: IPython syntax (``%magic``, ``!cmd``) is replaced by neutral lines
first (:func:`flowyml.notebook.ipysyntax.python_source`), and the magic layer runs the
original text. Nested scopes are read by :mod:`flowyml.notebook.scopes`, the definitions restored
on a hit by :mod:`flowyml.notebook.definitions`, and steps are named by
:mod:`flowyml.notebook.naming`.
"""

from __future__ import annotations

import ast
import builtins
import re
import string
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from flowyml.notebook.definitions import definitions_source
from flowyml.notebook.ipysyntax import (
    CellPythonSyntaxError,
    IPythonLine,
    is_interpolation,
    python_source,
)
from flowyml.notebook.scopes import (
    arg_defaults,
    comprehension_walruses,
    free_names,
    global_writes,
    without_method_bodies,
)

#: Python's builtins plus the names IPython makes builtin inside a kernel
_IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "exit", "quit"})
BUILTINS = frozenset(dir(builtins)) | _IPYTHON_NAMES

#: method names that change their receiver in place (list/dict/set, numpy, pandas, sklearn...)
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "remove", "pop", "popitem", "clear", "sort", "reverse",
    "update", "setdefault", "add", "discard", "difference_update", "intersection_update",
    "symmetric_difference_update", "fill", "resize", "itemset", "put", "setflags", "shuffle",
    "fit", "partial_fit", "fit_transform", "fit_predict", "fit_resample", "set_params",
    "set_index", "rename_axis", "appendleft", "extendleft", "rotate",
    "popleft", "seed", "load_state_dict", "train", "compile", "set_title", "set_xlabel",
    "set_ylabel", "set_xlim", "set_ylim", "legend",
})
#: functions that change their first argument in place, by dotted name
MUTATING_FUNCTIONS = frozenset({
    "random.shuffle", "np.random.shuffle", "numpy.random.shuffle", "rng.shuffle",
    "np.copyto", "numpy.copyto", "np.put", "numpy.put", "np.place", "numpy.place",
    "np.fill_diagonal", "numpy.fill_diagonal",
})


#: methods that change their container in place (``cfg.CONFIG.update(lr=5)``)
_MUTATING_METHODS = frozenset(("update", "append", "extend", "insert", "pop", "popitem",
                               "remove", "clear", "setdefault", "add", "discard", "sort",
                               "reverse", "appendleft", "extendleft"))


@dataclass(frozen=True)
class CellAnalysis:
    """Everything flowyml needs to know about one cell's names."""

    reads: list[str] = field(default_factory=list)       # inputs, in first-read order
    #: builtins' names read before the cell binds them: inputs when the namespace binds them
    builtin_reads: list[str] = field(default_factory=list)
    #: every name read before bound, builtins and IPython's names included
    names_read: list[str] = field(default_factory=list)
    #: names inside string constants that parse as expressions (``display('df1')``,
    #: ``df.query('a > @x')``): read when code evaluates them (``eval``)
    string_reads: list[str] = field(default_factory=list)
    #: the cell itself evaluates strings: ``eval``/``exec``, ``.query(...)``/``.eval(...)``
    evaluates: bool = False
    outputs: list[str] = field(default_factory=list)     # values the cell binds at top level
    mutated: list[str] = field(default_factory=list)     # inputs the cell changes in place
    defines: list[str] = field(default_factory=list)     # imports, functions, classes
    incidental: list[str] = field(default_factory=list)  # loop/with/except targets only
    deleted: list[str] = field(default_factory=list)     # `del name` at top level
    maybe: list[str] = field(default_factory=list)       # outputs bound on some paths only
    definitions: str = ""                                # source to re-run on a cache hit
    #: names a ``from __future__ import division, print_function`` binds (the body runs it
    #: as ``pass``; IPython binds them, and so does a hit, from ``definitions``)
    futures: list[str] = field(default_factory=list)
    star_import: bool = False                            # `from m import *`: names unknown
    ipython: list[IPythonLine] = field(default_factory=list)
    python: str = ""                                     # the body with IPython lines neutral
    #: reads found only in function (and method) bodies, which run when called, not when the
    #: cell defines them: a name among these that nothing defines is no input of the cell
    deferred: list[str] = field(default_factory=list)
    #: dotted names of objects the cell sets or deletes attributes or items of
    #: (``pd.DataFrame.double = f`` -> ``pd.DataFrame``; ``setattr(mod, "x", 1)`` -> ``mod``):
    #: a module or a class among them is changed outside the values a step stores
    patched: list[str] = field(default_factory=list)
    #: of ``patched``, the owners the cell changes only by setting attributes by name
    #: (``InteractiveShell.ast_node_interactivity = 'all'``, ``mylib.LIMIT = 5``): owner ->
    #: the attributes; what they hold after the body can be stored and set again on a hit
    attr_sets: dict[str, list[str]] = field(default_factory=dict)
    #: calls through which the cell reads the whole namespace (``dir()``, ``globals()``):
    #: what they list changes with every name any cell binds, named or not
    namespace_reads: list[str] = field(default_factory=list)

    @property
    def produces(self) -> list[str]:
        """Values stored with the step: outputs, inputs changed in place, then the loop and
        ``with`` targets left in the namespace (stored when they can be, as later cells
        may read them: ``for ax in axes: ...`` then ``ax.set_title(...)``)."""
        made = [*self.outputs, *(m for m in self.mutated if m not in self.outputs)]
        return [*made, *(n for n in self.incidental if n not in made)]


def analyze(body: str, magic_lines: frozenset[int] = frozenset()) -> CellAnalysis:
    """Analyse a cell body (IPython lines allowed; ``magic_lines``: see :func:`python_source`).
    Raises :class:`CellSyntaxError`."""
    python, ipython = python_source(body, magic_lines)
    try:
        tree = ast.parse(python)
    except SyntaxError as exc:
        raise CellPythonSyntaxError(f"line {exc.lineno}: {exc.msg}") from None
    full_python, full_tree = python, tree
    python, tree = _without_settled_futures(python, tree)
    walk = _Walk()
    walk.bound_anywhere = _top_level_bindings(tree) | {
        n for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for n in global_writes(node)}
    walk.block(tree.body)
    outputs = [n for n in walk.assigned if not n.startswith("_") and n not in walk.defined_set]
    defines = [n for n in walk.defined if n not in walk.assigned]
    incidental = [n for n in walk.soft if n not in walk.assigned and n not in walk.defined_set]
    deleted = [n for n in walk.deleted if n not in walk.bound]
    reads = [n for n in walk.reads if n not in BUILTINS]
    builtin_reads = [n for n in walk.reads if n in BUILTINS and n not in _IPYTHON_NAMES]
    deferred = [n for n in reads if n in walk.deferred and n not in walk.now]
    # `globals()['thr']`, `'{name}'.format(**globals())`, `'%(n)s' % vars()`: the namespace
    # read as a dict, by the names its strings give (as an evaluated string's)
    evaluates = bool({"eval", "exec"} & set(builtin_reads)) or any(
        isinstance(node, ast.Call) and (
            (isinstance(node.func, ast.Attribute) and node.func.attr in ("query", "eval"))
            or (isinstance(node.func, ast.Name) and node.func.id in ("globals", "vars", "locals")
                and not node.args and node.func.id in builtin_reads))
        for node in ast.walk(tree))
    mutated = [n for n in walk.mutated if n in reads and n not in outputs]
    outputs = [n for n in outputs if n not in deleted]
    maybe = [n for n in outputs if n not in walk.bound] + [n for n in incidental if n not in outputs]
    # a name IPython syntax binds (`%%capture out`): an output IPython makes when the cell
    # runs in a kernel, so stored with the step; optional, as the step function (the
    # exported module, no IPython) runs the line as `pass` and does not bind it
    by_ipython = [n for line in ipython for n in line.binds
                  if n not in outputs and n not in walk.defined_set]
    outputs, maybe = [*outputs, *by_ipython], [*maybe, *by_ipython]
    futures = [a.asname or a.name for node in full_tree.body if _settled_future(node)
               for a in node.names] if full_tree is not tree else []
    if ipython and ipython[0].kind == "cell magic" and ipython[0].text.startswith("%%timeit"):
        # IPython times the cell in a namespace of its own: it binds nothing in the notebook
        outputs, maybe, incidental, defines, mutated = [], [], [], [], []
    return CellAnalysis(
        reads=reads, builtin_reads=builtin_reads, outputs=outputs, mutated=mutated, defines=defines,
        incidental=incidental, names_read=list(walk.reads), string_reads=_string_reads(tree),
        evaluates=evaluates, deleted=deleted, maybe=maybe,
        # with the settled future imports: IPython runs them and binds their names
        # (`division`), and so must a hit (they open the cell, so the source compiles)
        definitions=definitions_source(full_tree if futures else tree, full_python if futures else python),
        futures=futures, star_import=walk.star, ipython=ipython, python=python, deferred=deferred,
        patched=list(walk.patched), namespace_reads=_namespace_reads(tree, walk.bound_anywhere),
        attr_sets={o: list(a) for o, a in walk.attr_sets.items() if a is not None and o in walk.patched})


class _Walk:
    """Evaluation-order walk of module-level code (see the module docstring)."""

    def __init__(self) -> None:
        self.bound: set[str] = set()          # definitely bound at this point
        self.reads: dict[str, None] = {}
        self.assigned: dict[str, None] = {}   # ordinary value bindings
        self.soft: dict[str, None] = {}       # loop / with / except / match targets
        self.defined: dict[str, None] = {}    # import / def / class / name = lambda
        self.defined_set: set[str] = set()
        self.mutated: dict[str, None] = {}
        self.patched: dict[str, None] = {}
        #: owner -> attributes set by name; ``None`` once it is changed any other way
        self.attr_sets: dict[str, dict[str, None] | None] = {}
        self.deleted: dict[str, None] = {}
        self.star = False
        self.bound_anywhere: set[str] = set()
        self.now: set[str] = set()            # read when the cell runs
        self.deferred: set[str] = set()       # read in a function body (when it is called)

    # -- names ---------------------------------------------------------------------------------
    def read(self, name: str, deferred: bool = False) -> None:
        if name not in self.bound:
            self.reads.setdefault(name)
            (self.deferred if deferred else self.now).add(name)

    def bind(self, name: str, kind: str = "value") -> None:
        self.bound.add(name)
        self.deleted.pop(name, None)
        if kind == "value":
            # a value bound after a def/class/import of the name replaces it (`def greet(...)`
            # then `greet = compose()`): the value is what the cell leaves, an output
            self.defined.pop(name, None)
            self.defined_set.discard(name)
            self.assigned.setdefault(name)
        elif kind == "soft":
            self.soft.setdefault(name)
        else:
            self.defined.setdefault(name)
            self.defined_set.add(name)
            self.assigned.pop(name, None)

    def mutate(self, name: str) -> None:
        """``name`` is changed in place; an input when not bound by the cell before."""
        self.read(name)
        if name not in self.bound:
            self.mutated.setdefault(name)

    # -- statements ----------------------------------------------------------------------------
    def block(self, stmts: Iterable[ast.stmt]) -> None:
        for stmt in stmts:
            self.stmt(stmt)

    def branch(self, *blocks: Iterable[ast.stmt], pre: set[str] | None = None,
               extra: Iterable[str] = ()) -> list[set[str]]:
        """Walk each block from the same state; return each block's end state."""
        start = set(self.bound if pre is None else pre)
        ends = []
        for blk in blocks:
            self.bound = set(start) | set(extra)
            self.block(blk)
            ends.append(self.bound)
        return ends

    def stmt(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Assign):
            self.expr(node.value)
            kind = "define" if isinstance(node.value, ast.Lambda) else "value"
            for target in node.targets:
                self.target(target, kind)
        elif isinstance(node, ast.AugAssign):
            self.expr(node.value)
            if isinstance(node.target, ast.Name):
                self.read(node.target.id)
                self.bind(node.target.id)
            else:
                self.target(node.target, "value", aug=True)
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                self.expr(node.value)
                self.target(node.target, "value")
            self.expr(node.annotation)
        elif isinstance(node, ast.For | ast.AsyncFor):
            self.expr(node.iter)
            before = set(self.bound)
            self.target(node.target, "soft")
            self.block(node.body)
            self.bound = before  # the loop may run zero times
            self.branch(node.orelse)
            self.bound = before
        elif isinstance(node, ast.While):
            self.expr(node.test)
            before = set(self.bound)
            self.block(node.body)
            self.bound = before
            self.block(node.orelse)
            self.bound = before | (self.bound - before) if _always(node.test) else before
        elif isinstance(node, ast.If):
            self.expr(node.test)
            body, orelse = self.branch(node.body, node.orelse)
            self.bound = body & orelse
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                self.expr(item.context_expr)
                if item.optional_vars is not None:
                    self.target(item.optional_vars, "soft")
            self.block(node.body)
        elif isinstance(node, ast.Try | getattr(ast, "TryStar", ast.Try)):
            start = set(self.bound)
            self.block(node.body)
            self.block(node.orelse)
            ends = [self.bound]
            for handler in node.handlers:
                if handler.type is not None:
                    self.bound = set(start)
                    self.expr(handler.type)
                names = [handler.name] if handler.name else []  # deleted after the handler
                ends += self.branch(handler.body, pre=start, extra=names)
            self.bound = set.intersection(*ends) - {h.name for h in node.handlers if h.name}
            self.block(node.finalbody)
        elif isinstance(node, ast.Match):
            self.expr(node.subject)
            start = set(self.bound)
            ends = []
            for case in node.cases:
                self.bound = set(start)
                self.pattern(case.pattern)
                if case.guard is not None:
                    self.expr(case.guard)
                self.block(case.body)
                ends.append(self.bound)
            irrefutable = any(isinstance(c.pattern, ast.MatchAs) and c.pattern.pattern is None
                              and c.guard is None for c in node.cases)
            self.bound = set.intersection(*ends) if irrefutable and ends else start
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for expr in [*node.decorator_list, *arg_defaults(node.args), *_annotations(node)]:
                self.expr(expr)
            self.nested_reads(free_names(node), deferred=True)
            self.bind(node.name, "define")
            for name in global_writes(node):  # `global x; x = ...` binds x when called
                self.assigned.setdefault(name)
        elif isinstance(node, ast.ClassDef):
            for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
                self.expr(expr)
            now = free_names(without_method_bodies(node))
            self.nested_reads(now)
            self.nested_reads([n for n in free_names(node) if n not in now], deferred=True)
            self.bind(node.name, "define")
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    self.star = True
                else:
                    self.bind(alias.asname or alias.name.split(".")[0], "define")
        elif isinstance(node, ast.Delete):
            for target in node.targets:
                self.delete(target)
        elif isinstance(node, ast.Global | ast.Nonlocal | ast.Pass | ast.Break | ast.Continue):
            pass
        elif isinstance(node, ast.Expr) and is_interpolation(node):
            # `!echo $files {n + 1}`: IPython expands the names when it runs the line; a name
            # the notebook defines is an input, one it does not (`$HOME`) is the shell's
            self.nested_reads(free_names(node.value), deferred=True)
        elif isinstance(node, ast.Expr):
            call = node.value
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                    and call.func.id in ("setattr", "delattr") and call.args):
                owner = _dotted(call.args[0])
                if owner is not None:
                    self.patched.setdefault(owner)
                    self.attr_sets[owner] = None
            elif (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                  and call.func.attr in _MUTATING_METHODS):
                owner = _dotted(call.func.value)  # `cfg.CONFIG.update(lr=5)`
                if owner is not None and "." in owner:
                    self.patched.setdefault(owner)
                    self.attr_sets[owner] = None
            self.expr(node.value)
        else:  # Return, Raise, Assert, type aliases...: just their expressions
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)

    def target(self, node: ast.expr, kind: str, aug: bool = False) -> None:
        if isinstance(node, ast.Name):
            self.bind(node.id, kind)
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                self.target(elt, kind)
        elif isinstance(node, ast.Starred):
            self.target(node.value, kind)
        elif isinstance(node, ast.Subscript | ast.Attribute):
            base = _base_name(node)
            owner = _dotted(node.value)
            if owner is not None:
                self.patched.setdefault(owner)
                if isinstance(node, ast.Attribute) and self.attr_sets.get(owner, {}) is not None:
                    self.attr_sets.setdefault(owner, {})[node.attr] = None  # type: ignore[index]
                else:
                    self.attr_sets[owner] = None
            if isinstance(node, ast.Subscript):
                self.expr(node.slice)
            self.expr(node.value)  # the object (and its base name) is read...
            if base is not None:
                self.mutate(base)   # ...and changed
        else:
            self.expr(node)

    def delete(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            self.bound.discard(node.id)
            self.assigned.pop(node.id, None)
            self.deleted.setdefault(node.id)
        elif isinstance(node, ast.Tuple | ast.List):
            for elt in node.elts:
                self.delete(elt)
        else:
            self.target(node, "value")
            if (owner := _dotted(getattr(node, "value", None))) is not None:
                self.attr_sets[owner] = None  # `del Cls.attr`: not a value to set again

    def pattern(self, node: ast.pattern) -> None:
        for sub in ast.walk(node):
            if isinstance(sub, ast.MatchValue):
                self.expr(sub.value)
            elif isinstance(sub, ast.MatchClass):
                self.expr(sub.cls)
            elif isinstance(sub, ast.MatchMapping):
                for key in sub.keys:
                    self.expr(key)
        for sub in ast.walk(node):
            for attr in ("name", "rest"):
                name = getattr(sub, attr, None)
                if isinstance(name, str):
                    self.bind(name, "soft")

    # -- expressions ---------------------------------------------------------------------------
    def expr(self, node: ast.expr | None) -> None:
        if node is None:
            return
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                self.read(node.id)
            else:
                self.bind(node.id)
        elif isinstance(node, ast.NamedExpr):
            self.expr(node.value)
            self.bind(node.target.id)
        elif isinstance(node, ast.Lambda):
            for expr in arg_defaults(node.args):
                self.expr(expr)
            self.nested_reads(free_names(node))
        elif isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp):
            self.expr(node.generators[0].iter)
            self.nested_reads(free_names(node, skip_first_iter=True))
            for walrus in comprehension_walruses(node):
                self.bind(walrus)
        elif isinstance(node, ast.Call):
            self.expr(node.func)
            for arg in [*node.args, *(k.value for k in node.keywords)]:
                self.expr(arg)
            self.call_mutations(node)
        elif isinstance(node, ast.BoolOp):
            self.expr(node.values[0])
            before = set(self.bound)
            for value in node.values[1:]:
                self.expr(value)
            self.bound = before  # later operands may not run
        elif isinstance(node, ast.IfExp):
            self.expr(node.test)
            before = set(self.bound)
            self.expr(node.body)
            after_body = self.bound
            self.bound = set(before)
            self.expr(node.orelse)
            self.bound = after_body & self.bound
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.expr):
                    self.expr(child)
                elif isinstance(child, ast.keyword):
                    self.expr(child.value)
                elif isinstance(child, ast.comprehension):  # pragma: no cover - handled above
                    self.expr(child.iter)

    def call_mutations(self, node: ast.Call) -> None:
        func = node.func
        inplace = any(k.arg == "inplace" and isinstance(k.value, ast.Constant) and k.value.value is True
                      for k in node.keywords)
        if isinstance(func, ast.Attribute):
            receiver = _base_name(func.value) if isinstance(
                func.value, ast.Name | ast.Attribute | ast.Subscript) else None
            # `model.fit(...)` on a name, or anything `inplace=True` (`df["a"].fillna(...)`);
            # not `np.random.shuffle` (a function of a module, handled below)
            if receiver is not None and (inplace or (
                    isinstance(func.value, ast.Name) and func.attr in MUTATING_METHODS)):
                self.mutate(receiver)
        dotted = _dotted(func)
        if dotted in MUTATING_FUNCTIONS and node.args:
            first = _base_name(node.args[0]) if isinstance(
                node.args[0], ast.Name | ast.Attribute | ast.Subscript) else None
            if first is not None:
                self.mutate(first)

    def nested_reads(self, names: Iterable[str], deferred: bool = False) -> None:
        for name in names:
            if name not in self.bound_anywhere:
                self.read(name, deferred)


#: ``__future__`` features that are always on since Python 3.7 (``__future__`` module)
_SETTLED_FUTURES = frozenset({"nested_scopes", "generators", "division", "absolute_import",
                              "with_statement", "print_function", "unicode_literals",
                              "generator_stop"})


def _settled_future(node: ast.stmt) -> bool:
    """``from __future__ import ...`` of features that are always on (:data:`_SETTLED_FUTURES`)."""
    return (isinstance(node, ast.ImportFrom) and node.module == "__future__"
            and all(a.name in _SETTLED_FUTURES for a in node.names))


def _without_settled_futures(python: str, tree: ast.Module) -> tuple[str, ast.Module]:
    """``from __future__ import print_function, division`` (a Python 2 era notebook's first
    line) as ``pass``: every feature it names is always on in Python 3, so it does nothing --
    but inside a step function it is a SyntaxError (it must open a file). A future that
    changes something (``annotations``) stays."""
    lines = python.splitlines(keepends=True)
    settled = [node for node in tree.body if _settled_future(node)]
    if not settled:
        return python, tree
    for node in settled:
        end = node.end_lineno or node.lineno
        lines[node.lineno - 1] = "pass\n"
        for i in range(node.lineno, end):
            lines[i] = "\n"
    python = "".join(lines)
    return python, ast.parse(python)


def _string_reads(tree: ast.AST) -> list[str]:
    """Names in the cell's string constants that parse as Python expressions (pandas'
    ``@name`` read as ``name``), builtins left out."""
    found: dict[str, None] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or len(node.value) > 300:
            continue
        for name in _format_fields(node.value):  # `{name}!` formatted from globals()
            if name not in BUILTINS:
                found.setdefault(name)
        text = re.sub(r"@(?=[A-Za-z_])", "", node.value.strip())
        try:
            expr = ast.parse(text, mode="eval")
        except (SyntaxError, ValueError):
            continue
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Name) and sub.id not in BUILTINS:
                found.setdefault(sub.id)
    return list(found)


#: a ``%``-format's named field (``'%(name)s'``)
_PERCENT_FIELD = re.compile(r"%\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _format_fields(text: str) -> list[str]:
    """The names a format string's fields start with (``'{name.attr}'``, ``'{df[0]}'``,
    ``'%(name)s'``)."""
    names = _PERCENT_FIELD.findall(text) if "%(" in text else []
    if "{" in text:
        try:
            parsed = list(string.Formatter().parse(text))
        except ValueError:
            parsed = []
        for _, field, _, _ in parsed:
            head = re.match(r"[A-Za-z_][A-Za-z0-9_]*", field or "")
            if head:
                names.append(head.group())
    return names


#: builtins that, called without arguments in the cell's own code, give the namespace
_SCOPE_READERS = ("dir", "vars", "locals")
#: methods of the namespace that only write to it (``globals().update(...)``)
_NAMESPACE_WRITES = frozenset(("update", "__setitem__", "__delitem__"))


def _namespace_reads(tree: ast.AST, bound: set[str]) -> list[str]:
    """Calls through which the cell reads the notebook's whole namespace: ``globals()``
    anywhere in it (a function it defines reads the module's too) and ``dir()``, ``vars()``,
    ``locals()`` without arguments in its own code (in a function they give its locals);
    a name the cell binds itself is not the builtin."""
    found: dict[str, None] = {}

    def reader(node: ast.AST, top: bool) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.args \
            and not node.keywords and node.func.id not in bound and (
                node.func.id == "globals" or (top and node.func.id in _SCOPE_READERS))

    # `globals()[name] = v`, `globals().update(...)`: writes, not reads; `globals()['thr']`,
    # `globals().get('thr')`: one name, read as an evaluated string's (`string_reads`)
    written = {id(n.value) for n in ast.walk(tree)
               if isinstance(n, ast.Subscript) and (isinstance(n.ctx, ast.Store | ast.Del) or (
                   isinstance(n.slice, ast.Constant) and isinstance(n.slice.value, str)))}
    written |= {id(n.func.value) for n in ast.walk(tree) if isinstance(n, ast.Call)
                and isinstance(n.func, ast.Attribute) and (n.func.attr in _NAMESPACE_WRITES or (
                    n.func.attr == "get" and n.args and isinstance(n.args[0], ast.Constant)
                    and isinstance(n.args[0].value, str)))}

    def visit(node: ast.AST, top: bool) -> None:
        if reader(node, top) and id(node) not in written:
            found.setdefault(f"{node.func.id}()")  # type: ignore[attr-defined]
        inner = top and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef
                                       | ast.Lambda | ast.ClassDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, True)
    return list(found)


def _always(test: ast.expr) -> bool:
    return isinstance(test, ast.Constant) and bool(test.value)


def _base_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
        node = node.value
    if isinstance(node, ast.Call):  # df.loc[...] is Subscript(Attribute(Name)); f()[0] has none
        return None
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))




def _annotations(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.expr]:
    args = node.args
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs,
             *(a for a in (args.vararg, args.kwarg) if a is not None)]
    return [a.annotation for a in every if a.annotation is not None] + (
        [node.returns] if node.returns is not None else [])


def _top_level_bindings(tree: ast.Module) -> set[str]:
    """Every name the cell binds in its own (module) scope, anywhere."""
    names: set[str] = set()
    for node in _module_scope_nodes(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update(a.asname or a.name.split(".")[0] for a in node.names if a.name != "*")
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            names.add(node.name)
    return names


def _module_scope_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Nodes evaluated in the module scope (not inside functions, lambdas, classes)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if node is not tree and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef
                                           | ast.ClassDef | ast.Lambda):
            continue
        stack.extend(ast.iter_child_nodes(node))

