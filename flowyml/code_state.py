"""Run-time state inside user code: names that code rebinds while it runs, so not constants.

A code fingerprint (:func:`flowyml.codehash.code_fingerprint`) counts the module-level
constants and class attributes a function reads (numbers, strings, tuples of them): editing
``THRESHOLD = 3`` to ``4`` in a helper module is a code change. But some of those names are
*state* the code keeps while it runs, not constants written in the source:

* a helper module's ``LEGEND = True`` that its ``config(legend=False)`` rebinds with
  ``global LEGEND`` (a plotting helper's options, a counter, a colour cycle's position);
* a class attribute ``count = 0`` that the class's own methods change through the class
  (``Agent.count += 1``, ``cls.count = ...``, ``type(self).count = ...``);
* a container that the code fills as it runs: a helper module's ``_memo = {}`` that its
  functions store into (``_memo[key] = value``), a class's ``tricks = []`` that its methods
  append to (``self.tricks.append(t)``).

Their value at the moment a key is computed depends on which cells ran before in this
kernel, and after a restart the cells that changed them are cache hits that do not run: the
same cell would get another key. Such names are left out of the fingerprint; this module
finds them from the source (parsed once per version of a file, as ``linecache`` holds it).
"""

from __future__ import annotations

import ast
import contextlib
import types
import weakref
from typing import Any

from flowyml.sources import source_tree

#: file name -> (the linecache lines it was parsed from, names its functions declare global)
_file_state: dict[str, tuple[list[str], frozenset[str]]] = {}
#: class -> (the functions it was computed from, attributes its methods assign)
_class_state: weakref.WeakKeyDictionary[type, tuple[tuple[int, ...], frozenset[str]]] = (
    weakref.WeakKeyDictionary())


def module_state(module_globals: dict[str, Any]) -> frozenset[str]:
    """Names that the functions of a module with a source file rebind with ``global NAME``.

    Empty for the notebook itself (``__main__``: its names are the steps' values, handled as
    inputs) and for a module without a source file.
    """
    filename = module_globals.get("__file__")
    if not filename or module_globals.get("__name__") in (None, "__main__"):
        return frozenset()
    lines, tree = source_tree(filename, module_globals)
    known = _file_state.get(filename)
    if known is not None and known[0] is lines:
        return known[1]
    names: set[str] = set()
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            local = {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            local |= {sub.id for sub in ast.walk(node)
                      if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}
            for sub in ast.walk(node):
                if isinstance(sub, ast.Global):
                    names.update(sub.names)
                # a module's cache its functions fill (`_memo[key] = value`, `SEEN.add(x)`)
                base = _mutated(sub)
                if isinstance(base, ast.Name) and base.id not in local:
                    names.add(base.id)
    if len(_file_state) >= 512:
        _file_state.clear()
    state = frozenset(names)
    _file_state[filename] = (lines, state)
    return state


def class_state(cls: type, methods: list[types.FunctionType],
                node_of: Any) -> frozenset[str]:
    """Attributes of ``cls`` that its own ``methods`` assign through the class:
    ``ClassName.attr = ...`` / ``+=``, ``cls.attr = ...``, ``type(self).attr = ...``,
    ``self.__class__.attr = ...``. ``node_of(func)`` gives a method's AST (``None``: no
    source; such a method is not searched)."""
    ident = tuple(id(f) for f in methods)
    try:
        known = _class_state.get(cls)
    except TypeError:  # not weakly referenceable
        known = None
    if known is not None and known[0] == ident:
        return known[1]
    names: set[str] = set()
    for func in methods:
        node = node_of(func)
        for sub in ast.walk(node) if node is not None else ():
            targets: list[ast.expr] = []
            if isinstance(sub, ast.Assign):
                targets = list(sub.targets)
            elif isinstance(sub, ast.AugAssign | ast.AnnAssign):
                targets = [sub.target]
            elif isinstance(sub, ast.Delete):
                targets = list(sub.targets)
            for target in targets:
                for part in ast.walk(target):
                    if isinstance(part, ast.Attribute) and _is_the_class(part.value, cls.__name__):
                        names.add(part.attr)
            # a class attribute its methods fill (`Dog.tricks.append(t)`, and through an
            # instance, `self.tricks.append(t)`: the list is the class's)
            base = _mutated(sub)
            if isinstance(base, ast.Attribute) and (
                    _is_the_class(base.value, cls.__name__)
                    or (isinstance(base.value, ast.Name) and base.value.id == "self")):
                names.add(base.attr)
    state = frozenset(names)
    with contextlib.suppress(TypeError):  # not weakly referenceable: not remembered
        _class_state[cls] = (ident, state)
    return state


#: methods that change the container they are called on
_MUTATORS = frozenset(("append", "extend", "insert", "pop", "popitem", "remove", "clear",
                       "update", "setdefault", "add", "discard", "sort", "reverse",
                       "appendleft", "extendleft", "popleft", "__setitem__"))


def _mutated(node: ast.AST) -> ast.expr | None:
    """What ``node`` changes in place, when it is a statement or call that does:
    ``x[k] = v`` / ``del x[k]`` / ``x[k] += v`` and ``x.append(v)`` give ``x``."""
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign | ast.Delete):
        targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript):
                return target.value
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr in _MUTATORS):
        return node.func.value
    return None


def filled_names(node: ast.AST | None) -> frozenset[str]:
    """The names whose containers the code of ``node`` fills as it runs (``calls.append(x)``,
    ``cache[key] = v``): a closure's list a function appends to is its state, not code."""
    found = set()
    for sub in ast.walk(node) if node is not None else ():
        base = _mutated(sub)
        if isinstance(base, ast.Name):
            found.add(base.id)
    return frozenset(found)


def _is_the_class(node: ast.expr, name: str) -> bool:
    """``Name``, ``cls``, ``type(x)`` or ``x.__class__``: the class itself, in a method."""
    if isinstance(node, ast.Name):
        return node.id in (name, "cls")
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id == "type" and len(node.args) == 1
    return isinstance(node, ast.Attribute) and node.attr == "__class__"
