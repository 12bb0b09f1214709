"""Content fingerprints of code: :func:`code_fingerprint` gives a digest of a function's
normalised AST (comments, formatting, docstrings, decorators and its own name do not count)
plus the code of the user-defined helper functions and classes it uses and the simple
module-level constants it reads, transitively; run-time state is left out
(:mod:`flowyml.code_state`). :func:`code_parts` is the same, part by part, for ``why``.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import inspect
import sys
import types
import weakref
from collections.abc import Callable, Iterable
from typing import Any

import xxhash

from flowyml.code_state import class_state, filled_names, module_state
from flowyml.hashing import FINGERPRINT_VERSION, Hasher, UnhashableValueError, hash_value, tag
from flowyml.sources import in_library as _in_library
from flowyml.sources import source_tree

# ---------------------------------------------------------------------------------------------
# Code
# ---------------------------------------------------------------------------------------------

_SIMPLE_CONSTANTS = (int, float, complex, str, bytes, bool, type(None))
#: id(function) -> (weak reference to it, digest, the globals it was computed from); a plain
#: dict with an identity check is ~4x cheaper to probe than a WeakKeyDictionary, and a
#: fully cached run probes it once per step
_fp_memo: dict[int, tuple[weakref.ref, str, list[tuple[dict, str, Any]], str | None]] = {}


def _memo_get(func: Any) -> tuple[str, list[tuple[dict, str, Any]]] | None:
    """``(digest, deps)`` remembered for ``func`` itself (not a function that reused its id)."""
    memo = _fp_memo.get(id(func))
    if memo is None or memo[0]() is not func:
        return None
    return memo[1], memo[2]


def _memo_own(func: Any) -> str | None:
    """The digest of ``func``'s own normalised code, remembered by :func:`code_fingerprint`
    (so :func:`code_parts` does not parse the source a second time)."""
    memo = _fp_memo.get(id(func))
    return memo[3] if memo is not None and memo[0]() is func else None


def _memo_put(func: types.FunctionType, digest: str, deps: list[tuple[dict, str, Any]],
              own: str | None = None) -> None:
    key = id(func)

    def forget(ref: weakref.ref, key: int = key, memo: dict = _fp_memo) -> None:
        # the dict is bound here: at interpreter exit the module's globals may be gone
        if (entry := memo.get(key)) is not None and entry[0] is ref:
            del memo[key]

    _fp_memo[key] = (weakref.ref(func, forget), digest, deps, own)


def code_fingerprint(func: Callable) -> str:
    """Digest of ``func``'s normalised code and of the user code it calls, transitively.

    Comments, formatting, docstrings, decorators and the function's own name do not count;
    editing a helper function or class that the function uses (defined in a notebook or in a
    module outside site-packages and the standard library) does, and so does changing a
    module-level constant it reads (numbers, strings, tuples of them).
    """
    func = _unwrap(func)
    memo = _memo_get(func)
    if memo is not None and (not memo[1] or all(g.get(name, _MISSING) is obj
                                                 for g, name, obj in memo[1])):
        return memo[0]
    deps: list[tuple[dict, str, Any]] = []
    h = xxhash.xxh3_128()
    h.update(f"flowyml-code-v{FINGERPRINT_VERSION}".encode())
    walker = _CodeWalker(deps)
    walker.feed_function(func, h, set())
    digest = h.hexdigest()
    if _weakrefable(func) and not walker.discovers:
        own = walker.own_source
        _memo_put(func, digest, deps,
                  None if own is None else xxhash.xxh3_64_hexdigest(own.encode()))
    return digest


def code_parts(func: Callable) -> dict[str, str]:
    """What :func:`code_fingerprint` is made of, decodable: ``{"<own>": digest of the
    function's own code, "<name>": digest of each helper function, class or constant it
    reads}``. Stored next to cache entries so ``flowyml why`` can say *which* part changed;
    never part of a key."""
    func = _unwrap(func)
    code_fingerprint(func)
    memo = _memo_get(func)
    own_digest = _memo_own(func)
    if own_digest is None:
        source = normalized_source(func)
        own = source if source is not None else _bytecode_digest(func.__code__)
        own_digest = xxhash.xxh3_64_hexdigest(own.encode())
    parts = {"<own>": own_digest}
    for _, name, obj in memo[1] if memo else ():
        obj = _unwrap(obj) if hasattr(obj, "func") and not isinstance(obj, type) else obj
        if isinstance(obj, types.FunctionType) and _is_user_function(obj):
            parts[name] = code_fingerprint(obj)[:16]
        elif isinstance(obj, type) and _is_user_class(obj):
            parts[name] = _class_part(obj)
        elif isinstance(obj, _SIMPLE_CONSTANTS):
            parts[name] = "=" + repr(obj)[:60]
    return parts


#: id(class) -> (a weak reference to it, its part digest, what the digest was made from)
_class_parts: dict[int, tuple[weakref.ref, str, tuple[Any, ...]]] = {}


def _class_part(cls: type) -> str:
    """The digest of a user class and the code it uses, for :func:`code_parts`.

    A helper module's classes reach one another (thinkdsp's ``Wave``, ``Signal``,
    ``Spectrum``...), so walking each class a cell names costs a walk of the whole module
    per class, at every store. The digest is kept until the globals it read, the
    attributes of a class it walked, or a source file it read change."""
    known = _class_parts.get(id(cls))
    if known is not None and known[0]() is cls and _still(known[2]):
        return known[1]
    deps: list[tuple[dict, str, Any]] = []
    walker = _CodeWalker(deps)
    h = xxhash.xxh3_128()
    walker.feed_class(cls, h, set())
    digest = h.hexdigest()[:16]
    made_from = (tuple(deps), tuple((c, tuple(map(id, vars(c).values()))) for c in walker.classes),
                 tuple(walker.files.items()))
    if walker.discovers:  # what it finds in the namespace may differ next time
        return digest
    if len(_class_parts) >= 256:
        _class_parts.clear()
    _class_parts[id(cls)] = (weakref.ref(cls), digest, made_from)
    return digest


def class_fingerprint(cls: type) -> str:
    """Digest of a user class's code: its methods, its user bases and the user code they use
    (as :func:`code_fingerprint` for a function). Values holding the class (its instances,
    pickled by the class's name) are hashed with it, so editing a method moves them."""
    return _class_part(cls)


def _still(made_from: tuple[Any, ...]) -> bool:
    deps, classes, files = made_from
    return (all(g.get(name, _MISSING) is obj for g, name, obj in deps)
            and all(tuple(map(id, vars(c).values())) == ids for c, ids in classes)
            and all(_defs_of(name, None) is defs for name, defs in files))


def evaluates_strings(obj: Any) -> bool:
    """Whether user code ``obj`` (a function, or a class's methods) calls ``eval`` or
    ``exec``: then the names it reads come from strings it is given, not from its code."""
    obj = _unwrap(obj) if hasattr(obj, "func") and not isinstance(obj, type) else obj
    if isinstance(obj, type):
        return _is_user_class(obj) and any(
            evaluates_strings(f) for value in vars(obj).values() for f in _methods(value))
    if not isinstance(obj, types.FunctionType) or not _is_user_function(obj):
        return False
    return bool({"eval", "exec"} & set(_code_names(obj.__code__)))


def normalized_source(func: Callable) -> str | None:
    """The normalised AST dump of ``func`` (no decorators, name or docstring), if available."""
    facts = _function_facts(_unwrap(func))
    return None if facts is None else facts[0]


_MISSING = object()


def _weakrefable(obj: Any) -> bool:
    return isinstance(obj, types.FunctionType)


def _unwrap(func: Any) -> Any:
    # a flowyml Step (or anything with a ``func``) stands for the function it wraps
    while not isinstance(func, types.FunctionType) and callable(getattr(func, "func", None)):
        func = func.func
    if isinstance(func, types.FunctionType) and hasattr(func, "__wrapped__"):
        return inspect.unwrap(func)
    return func


#: file name -> (the linecache lines it was parsed from, {(def name, first line): node})
_module_defs: dict[str, tuple[list[str], dict[tuple[str, int], ast.AST]]] = {}


def _defs_of(filename: str, module_globals: dict[str, Any]) -> dict[tuple[str, int], ast.AST]:
    """Every function definition of a source file, parsed once per version of the file
    (the lines ``linecache`` holds, as ``inspect.getsource`` reads them), by name and first
    line (the first decorator's, as ``co_firstlineno``). Empty when there is no source."""
    lines, tree = source_tree(filename, module_globals)
    known = _module_defs.get(filename)
    if known is not None and known[0] is lines:
        return known[1]
    defs: dict[tuple[str, int], ast.AST] = {}
    for node in ast.walk(tree) if tree is not None else ():
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
            defs[(node.name, first)] = node
    if len(_module_defs) >= 512:
        _module_defs.clear()
    _module_defs[filename] = (lines, defs)
    return defs


def _function_node(func: Any) -> ast.AST | None:
    if not isinstance(func, types.FunctionType) or func.__name__ == "<lambda>":
        return None
    code = func.__code__
    node = _defs_of(code.co_filename, func.__globals__).get((func.__name__, code.co_firstlineno))
    if node is not None:
        return _strip(node)  # type: ignore[arg-type]
    import textwrap

    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func.__name__:
            return _strip(node)
    return None


#: id of a definition node of ``_module_defs`` -> (the node, its dump, the names it reads)
_node_facts: dict[int, tuple[ast.AST, str, list[str]]] = {}


def _function_facts(func: Any, files: dict[str, Any] | None = None) -> tuple[str, list[str]] | None:
    """``func``'s normalised AST dump and the names it reads (:func:`_load_names`), or
    ``None`` without source. Worked out once per definition of a parsed file version: a
    helper module's class is walked for every step that uses it (its key, and the parts
    stored for ``why``), and dumping each method's AST again cost ~0.2 s a step on a
    helper class of 40 methods. ``files``: the definitions of each file already looked up
    in this walk (a file's version is checked once a walk, not once a function)."""
    if not isinstance(func, types.FunctionType) or func.__name__ == "<lambda>":
        return None
    code = func.__code__
    filename = code.co_filename
    defs = files.get(filename) if files is not None else None
    if defs is None:
        defs = _defs_of(filename, func.__globals__)
        if files is not None:
            files[filename] = defs
    node = defs.get((func.__name__, code.co_firstlineno))
    if node is None:
        stripped = _function_node(func)
        return None if stripped is None else (_dump(stripped), _load_names(stripped))
    known = _node_facts.get(id(node))
    if known is not None and known[0] is node:
        return known[1], known[2]
    stripped = _strip(node)  # type: ignore[arg-type]
    facts = (_dump(stripped), _load_names(stripped))
    if len(_node_facts) >= 8192:
        _node_facts.clear()
    _node_facts[id(node)] = (node, *facts)
    return facts


def _computed_defaults(func: Any, files: dict[str, Any] | None = None) -> list[Any]:
    """The values of ``func``'s defaults that its source does not write as literals
    (``k=k``, ``n=len(xs)``, ``df=df``): evaluated when the ``def`` ran, they are part of
    the function but not of its code. All of a lambda's (its source is not looked up); none
    of code made at run time, whose defaults come from a source hashed with its class."""
    if not isinstance(func, types.FunctionType):
        return []
    defaults, kwdefaults = func.__defaults__ or (), func.__kwdefaults__ or {}
    if not defaults and not kwdefaults:
        return []
    args = _arguments(func, files)
    if args is None and func.__name__ != "<lambda>":
        return []  # code made at run time (a dataclass's __init__): its defaults are in a source
    if args is None or len(args.defaults) != len(defaults):
        return [*defaults, *(kwdefaults[k] for k in sorted(kwdefaults))]
    out = [v for v, e in zip(defaults, args.defaults, strict=True) if not _literal(e)]
    out += [kwdefaults[a.arg] for a, e in zip(args.kwonlyargs, args.kw_defaults, strict=False)
            if e is not None and a.arg in kwdefaults and not _literal(e)]
    return out


def _arguments(func: types.FunctionType, files: dict[str, Any] | None) -> ast.arguments | None:
    code = func.__code__
    defs = files.get(code.co_filename) if files is not None else None
    if defs is None:
        defs = _defs_of(code.co_filename, func.__globals__)
    node = defs.get((func.__name__, code.co_firstlineno))
    if node is not None:
        return node.args  # type: ignore[attr-defined]
    stripped = _function_node(func)
    return None if stripped is None else stripped.body[0].value  # type: ignore[attr-defined]


def _literal(node: ast.expr) -> bool:
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def _strip(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
    body = list(node.body)
    if (
        len(body) > 1
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    # keyword-only construction keeps this working across Python versions
    return ast.Module(
        body=[ast.Expr(value=node.args), *body, ast.Expr(value=node.returns or ast.Constant(None))],
        type_ignores=[],
    )


def _dump(node: ast.AST) -> str:
    return ast.dump(node, annotate_fields=False, include_attributes=False)


#: flowyml's own code and the interpreter's: never part of a user's code fingerprint
_OWN_PACKAGES = frozenset({"flowyml", "flowyml_jupyter", "builtins"})


def _is_own(module_name: str | None) -> bool:
    return bool(module_name) and module_name.split(".")[0] in _OWN_PACKAGES


@functools.lru_cache(maxsize=4096)
def _is_user_module(module_name: str | None) -> bool:
    """Whether the module called ``module_name`` holds user code (judged by its name and file).

    A module with no file -- a ``types.ModuleType`` filled with ``exec``, or one that is not
    importable at all (code made in a notebook) -- is user code, unless it is a namespace
    package whose folders are all library folders or it belongs to a library's package.
    """
    if not module_name:
        return False
    if module_name == "__main__" or module_name.startswith(("__ipython", "<")):
        return True
    top = module_name.split(".")[0]
    if top in _OWN_PACKAGES or top in sys.stdlib_module_names:
        return False
    module = sys.modules.get(module_name)
    if module is None:
        return True  # a function whose module is not importable: notebook-made code
    path = getattr(module, "__file__", None)
    if path:
        return not _in_library(path)
    folders = [str(f) for f in getattr(module, "__path__", None) or ()]
    if folders:
        return not all(_in_library(f) for f in folders)
    return top == module_name or _is_user_module(top)  # a submodule a library made at run time


def is_user_module(module_name: str | None) -> bool:
    """Whether the module called ``module_name`` holds the user's code (a helper module
    beside the notebook), not a library's, the standard library's or flowyml's."""
    return _is_user_module(module_name)


@functools.lru_cache(maxsize=4096)
def _is_user_file(filename: str) -> bool:
    """Whether code compiled from ``filename`` (a code object's ``co_filename``) is user code.

    ``False`` for the standard library and site-packages (frozen modules included) and for
    source made at run time (``<string>``, ``<ipython-input-…>``): for those the module
    decides.
    """
    if filename.startswith("<"):
        return False
    return not _in_library(filename)


def _is_user_function(func: types.FunctionType) -> bool:
    """User code when its module is, or when its code was compiled from a file outside the
    standard library and site-packages -- whatever ``__module__`` says."""
    module = getattr(func, "__module__", None)
    if _is_own(module):
        return False
    return _is_user_module(module) or _is_user_file(func.__code__.co_filename)


def _is_user_class(cls: type) -> bool:
    """User code when its module is, or when one of its own methods' code is."""
    if _is_own(cls.__module__):
        return False
    if _is_user_module(cls.__module__):
        return True
    for value in vars(cls).values():
        for func in _methods(value):
            if _is_user_file(func.__code__.co_filename):
                return True
    return False


def _methods(value: Any) -> list[types.FunctionType]:
    """The plain functions behind a class attribute (method, static/class method, property)."""
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if isinstance(f, types.FunctionType)]
    return [value] if isinstance(value, types.FunctionType) else []


class _CodeWalker:
    def __init__(self, deps: list[tuple[dict, str, Any]]) -> None:
        self.deps = deps
        self.own_source: str | None = None  # the outermost function's AST dump
        self.files: dict[str, Any] = {}  # file name -> its definitions, for this walk
        self.states: dict[int, frozenset[str]] = {}  # id(module globals) -> module_state
        self.classes: list[type] = []  # the user classes walked, in order
        #: the code calls a test runner that finds its tests in a namespace (``unittest.main``):
        #: its digest depends on what is defined there, so it is not remembered
        self.discovers = False

    def module_state(self, module_globals: dict[str, Any]) -> frozenset[str]:
        """:func:`module_state`, once per module a walk (it checks the file's version)."""
        known = self.states.get(id(module_globals))
        if known is None:
            known = self.states[id(module_globals)] = module_state(module_globals)
        return known

    def feed_function(self, func: Any, h: Hasher, seen: set[int]) -> None:
        if id(func) in seen:
            h.update(b"<recursion>")
            return
        outermost = not seen
        seen.add(id(func))
        facts = _function_facts(func, self.files)
        if facts is None:
            tag(h, b"bc", _bytecode_digest(func.__code__).encode())
            # module attributes last (``helpers.scale``): the code of modules made at run time
            # has no source either, and their helpers are user code
            names = _code_names(func.__code__) + _attribute_reads(func.__code__)
        else:
            dump, reads = facts
            if outermost:
                self.own_source = dump
            tag(h, b"ast", dump.encode())
            # only names the code reads as globals or closure cells: a parameter or local
            # that shares a module-level name is not a dependency on that global
            outside = _global_reads(func.__code__) | set(func.__code__.co_freevars)
            names = [n for n in reads if n.partition(".")[0] in outside]
        # (code made at run time, a dataclass's __init__, holds its maker's sentinels)
        self._feed_names(func, names, h, seen,
                         hold=facts is not None or getattr(func, "__name__", "") == "<lambda>")
        computed = _computed_defaults(func, self.files)
        if computed:
            # `def f(x, k=k)`: the value k had when the cell ran is the function's own, and
            # the code does not show it (a cell calling f(3) was a hit after k was edited)
            tag(h, b"defaults")
            for value in computed:
                try:
                    tag(h, b"d", hash_value(value).encode())
                except UnhashableValueError:
                    tag(h, b"d?", f"{type(value).__module__}.{type(value).__qualname__}".encode())

    def _feed_names(self, func: Any, names: list[str], h: Hasher, seen: set[int],
                    hold: bool = True) -> None:
        g = func.__globals__
        docs = _reads_docstrings(func.__code__)
        state = self.module_state(g)  # a helper module's `global` names: state, not constants
        closure = {}
        if func.__closure__:
            for var, cell in zip(func.__code__.co_freevars, func.__closure__, strict=False):
                try:
                    closure[var] = cell.cell_contents
                except ValueError:  # empty cell
                    continue
        filled: frozenset[str] | None = None
        for dotted in names:
            name, _, attr = dotted.partition(".")
            held = False  # a value the code holds itself (not the notebook's data: keyed apart)
            if name in closure:
                obj, held = closure[name], hold
                if held and _is_state_value(obj) and not _fingerprinted_constant(obj):
                    if filled is None:  # (a list it appends to as it runs is its state)
                        filled = filled_names(_function_node(func))
                    held = name not in filled
            elif name in g and not (name in state and _is_state_value(g[name])):
                obj = g[name]
                self.deps.append((g, name, obj))
            else:  # a builtin, or not defined yet: binding it later must change the digest
                self.deps.append((g, name, _MISSING))
                continue
            runner = _test_runner(obj, attr)
            if runner is not None:
                self._feed_discovered(runner, g, h, seen)
            if isinstance(obj, types.ModuleType) and attr:
                if not _is_user_module(obj.__name__):
                    continue
                member = getattr(obj, attr.split(".")[0], _MISSING)
                if member is _MISSING or (attr.split(".")[0] in self.module_state(vars(obj))
                                          and _is_state_value(member)):
                    continue
                self.deps.append((vars(obj), attr.split(".")[0], member))
                name, obj, held = f"{name}.{attr.split('.')[0]}", member, True
            elif hold and name not in closure and g.get("__name__") != "__main__":
                held = True  # a helper module's data (read by its own functions)
            if docs:
                _feed_docstrings(name, obj, h, source=docs == 2)
            self._feed_object(name, obj, h, seen, held)

    def _feed_discovered(self, runner: str, g: dict[str, Any], h: Hasher, seen: set[int]) -> None:
        """The tests ``runner`` finds in the namespace ``g`` (see :func:`_test_runner`): its
        ``unittest.TestCase`` classes, or (``doctest``) its functions and classes with their
        docstrings, which are the tests. ``unittest.main(argv=[...], exit=False)`` names no
        test class, so a cell running it kept its stored "OK" after the test it runs was
        edited to fail (Chris Albon's mocking notebook, restarted)."""
        self.discovers = True
        test_case = getattr(sys.modules.get("unittest"), "TestCase", None)
        for key in sorted(k for k in list(g) if isinstance(k, str) and not k.startswith("_")):
            value = g.get(key)
            if isinstance(value, type) and _is_user_class(value):
                found = runner == "doctest" or (test_case is not None and issubclass(value, test_case))
            else:
                found = runner == "doctest" and isinstance(value, types.FunctionType) \
                    and _is_user_function(value)
            if not found:
                continue
            self.deps.append((g, key, value))
            tag(h, b"discovered", key.encode())
            if runner == "doctest":
                docs = [value.__doc__, *(f.__doc__ for v in vars(value).values() for f in _methods(v))] \
                    if isinstance(value, type) else [value.__doc__]
                tag(h, b"doc", repr(docs).encode())
            self._feed_object(key, value, h, seen)

    def _feed_object(self, name: str, obj: Any, h: Hasher, seen: set[int], held: bool = False) -> None:
        """``obj``, reached by ``name``: code by its code, a constant by its value, a
        builtin's name by what it is bound to. ``held``: a value the code holds itself --
        a closure's cell (``make(thr)``), a class attribute (``lr = LR``), a helper module's
        data (``mymod.DATA`` read from a file at import) -- is fed by its content too:
        nothing else keys it (the notebook's own data is keyed as inputs are)."""
        obj = _unwrap(obj) if hasattr(obj, "func") and not isinstance(obj, type) else obj
        if isinstance(obj, types.FunctionType):
            if _is_user_function(obj):
                tag(h, b"dep-fn", name.encode())
                self.feed_function(obj, h, seen)
        elif isinstance(obj, type):
            if _is_user_class(obj):
                tag(h, b"dep-cls", name.encode())
                self.feed_class(obj, h, seen)
        elif _fingerprinted_constant(obj):
            tag(h, b"const", name.encode() + b"=" + hash_value(obj).encode())
        elif name in _BUILTIN_NAMES and obj is not _BUILTIN_NAMES[name]:
            # a builtin's name bound to something else (``from numpy import *`` binds
            # ``sum``): what the name means now is part of the code
            tag(h, b"shadow", name.encode() + b"=" + _binding(obj).encode())
        elif held and _is_data(obj):
            tag(h, b"held", name.encode() + b"=" + _binding(obj).encode())

    def feed_class(self, cls: type, h: Hasher, seen: set[int]) -> None:
        if id(cls) in seen:
            h.update(b"<recursion>")
            return
        seen.add(id(cls))
        self.classes.append(cls)
        tag(h, b"cls", cls.__qualname__.encode())
        for base in cls.__bases__:
            if _is_user_class(base):
                self.feed_class(base, h, seen)
            else:
                tag(h, b"base", f"{base.__module__}.{base.__qualname__}".encode())
        own = [f for value in vars(cls).values() for f in _methods(value)]
        state = class_state(cls, own, _function_node) if own else frozenset()
        for attr in sorted(vars(cls)):
            if attr in {"__dict__", "__weakref__", "__doc__", "__module__", "__qualname__"}:
                continue
            if attr in state and _is_state_value(vars(cls)[attr]):
                continue  # changed by its methods as they run (a counter): not code
            value = vars(cls)[attr]
            if isinstance(value, staticmethod | classmethod):
                value = value.__func__
            if isinstance(value, property):
                for part in (value.fget, value.fset, value.fdel):
                    if part is not None:
                        tag(h, b"prop", attr.encode())
                        self.feed_function(part, h, seen)
            elif isinstance(value, types.FunctionType):
                tag(h, b"meth", attr.encode())
                self.feed_function(value, h, seen)
            else:
                # (not what Python or a decorator made: `__dataclass_fields__`, annotations)
                self._feed_object(attr, value, h, seen, held=not attr.startswith("__"))


#: what code reads docstrings and names through: ``f.__doc__``, ``help(f)``,
#: ``inspect.getdoc(f)``, ``f.__name__`` (a decorator's wrapper without ``functools.wraps``)
_DOC_READERS = frozenset(("__doc__", "help", "getdoc", "__name__", "__qualname__"))


#: what code reads source text through (comments and formatting included)
_SOURCE_READERS = frozenset(("getsource", "getsourcelines", "getcomments"))


@functools.lru_cache(maxsize=4096)
def _reads_docstrings(code: types.CodeType) -> int:
    """Whether ``code`` (or code nested in it) may read a docstring or name
    (:data:`_DOC_READERS`: 1) or source text (:data:`_SOURCE_READERS`: 2); 0 for neither."""
    found = 2 if not _SOURCE_READERS.isdisjoint(code.co_names) else \
        1 if not _DOC_READERS.isdisjoint(code.co_names) else 0
    for const in code.co_consts:
        if found == 2:
            break
        if isinstance(const, types.CodeType):
            found = max(found, _reads_docstrings(const))
    return found


def _feed_docstrings(name: str, obj: Any, h: Hasher, source: bool = False) -> None:
    """The docstrings of the user function or class ``obj`` (a class's and its methods'),
    and its name, for code that reads them: the fingerprint leaves both out (editing a
    docstring re-runs nothing), so ``print(get_text.__doc__)`` and ``help(get_text)`` kept
    showing the old text after it was edited and the notebook restarted, and
    ``get_text.__name__`` the old name of a decorator's wrapper after it was renamed.
    ``source``: its source text too, comments included, for ``inspect.getsource(area)``."""
    if isinstance(obj, type) and _is_user_class(obj):
        docs = [obj.__doc__, *(f.__doc__ for value in vars(obj).values() for f in _methods(value))]
    elif isinstance(obj, types.FunctionType) and _is_user_function(_unwrap(obj)):
        docs = [obj.__doc__]
    else:
        return
    names = (getattr(obj, "__name__", None), getattr(obj, "__qualname__", None))
    tag(h, b"docs", name.encode() + b"=" + repr((docs, names)).encode())
    if source:
        try:
            text = inspect.getsource(obj)
        except (OSError, TypeError):
            return
        tag(h, b"source", text.encode())


def _test_runner(obj: Any, attr: str = "") -> str | None:
    """``"unittest"`` or ``"doctest"`` when ``obj`` (``.attr``) is a library call that runs
    the tests it finds in the calling module's namespace: ``unittest.main`` (which is
    ``unittest.TestProgram``) and ``doctest.testmod``; else ``None``."""
    if isinstance(obj, types.ModuleType):
        first = attr.split(".")[0]
        if obj.__name__ == "unittest" and first in ("main", "TestProgram"):
            return "unittest"
        if obj.__name__ == "doctest" and first == "testmod":
            return "doctest"
        return None
    unittest, doctest = sys.modules.get("unittest"), sys.modules.get("doctest")
    if unittest is not None and obj is getattr(unittest, "TestProgram", None):
        return "unittest"
    if doctest is not None and obj is getattr(doctest, "testmod", None):
        return "doctest"
    return None


#: the interpreter's builtins by name (a global of the same name shadows them)
_BUILTIN_NAMES: dict[str, Any] = dict(vars(__import__("builtins")))


def _binding(obj: Any) -> str:
    """What a global bound to library code or a value is, for the code fingerprint: a
    module, function or class by its module and qualified name (a library function is the
    same function wherever it is imported from), anything else by content when it can be
    hashed, else by its type."""
    if isinstance(obj, types.ModuleType):
        return f"module:{obj.__name__}"
    qualname = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    if callable(obj) and isinstance(qualname, str):
        return f"{getattr(obj, '__module__', None) or type(obj).__module__}.{qualname}"
    try:
        return "value:" + hash_value(obj)
    except UnhashableValueError:
        return f"instance:{type(obj).__module__}.{type(obj).__qualname__}"


#: what a value the code holds must be to count by content: data, not an object whose state
#: its calls move (``itertools.cycle``, a random generator, an instance a method changes)
_DATA_TYPES = (list, tuple, dict, set, frozenset, str, bytes, bytearray, int, float, complex)
_DATA_CLASSES = frozenset(("numpy.ndarray", "pandas.core.frame.DataFrame",
                           "pandas.core.series.Series"))


def _is_data(value: Any) -> bool:
    return type(value) in _DATA_TYPES or \
        f"{type(value).__module__}.{type(value).__qualname__}" in _DATA_CLASSES


def _is_state_value(value: Any) -> bool:
    """A value kept as state (a number, a string, a tuple...), not code: a function, class or
    module that code rebinds at run time is still fingerprinted as code."""
    return not isinstance(value, types.FunctionType | type | types.ModuleType | staticmethod
                          | classmethod | property)


def _load_names(node: ast.AST) -> list[str]:
    """Names (and ``name.attr`` chains) a piece of code reads, in first-seen order."""
    found: dict[str, None] = {}
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            found.setdefault(f"{sub.value.id}.{sub.attr}")
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            found.setdefault(sub.id)
    return list(found)


_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL",
                         "LOAD_FROM_DICT_OR_GLOBALS"})


@functools.lru_cache(maxsize=4096)
def _global_reads(code: types.CodeType) -> frozenset[str]:
    """Names ``code`` (and the code nested in it) looks up as globals: not attribute names
    (``self.x`` puts ``x`` in ``co_names`` too), so a global ``x`` is no false dependency."""
    import dis

    names = {ins.argval for ins in dis.get_instructions(code) if ins.opname in _GLOBAL_OPS}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_reads(const)
    return frozenset(n for n in names if isinstance(n, str))


#: names IPython puts in a notebook's namespace: not the notebook's data
_SHELL_NAMES = frozenset(("In", "Out", "get_ipython", "exit", "quit"))


def notebook_globals(roots: Iterable[Any], ns: dict[str, Any], limit: int = 500,
                     classes: list[type] | None = None) -> list[str]:
    """The data names of the notebook namespace ``ns`` that the notebook's functions among
    ``roots`` -- and the notebook functions and classes they reach through ``ns``, and the
    classes of notebook instances among them -- look up as globals or bind with
    ``global``, sorted. A cell calling ``total()`` that sums a global ``results`` depends
    on ``results`` without reading it: its key must (a hit showed the old sum after
    ``results`` was edited), and a cell calling ``add(x)`` that appends to it changes it
    out of the cell's sight. Functions, classes and modules are left out (code: the code
    fingerprint covers them), and so are names of IPython's and names starting with ``_``.
    Only functions whose globals are ``ns`` count (a helper module's state is its own,
    see :func:`module_state`). The notebook's classes reached are appended to ``classes``
    (when given): a function setting ``Config.lr`` changes what later cells read."""
    seen: set[int] = set()
    stack = list(roots)
    rebound: set[str] = set()  # names a walked function binds with `global`: state
    candidates: set[str] = set()
    while stack and len(seen) < limit:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, types.ModuleType):
            continue
        seen.add(id(obj))
        if isinstance(obj, functools.partial):
            stack.append(obj.func)
            continue
        if isinstance(obj, types.MethodType):
            stack.append(obj.__func__)
            continue
        wrapped = getattr(obj, "__wrapped__", None) if not isinstance(obj, type) else None
        if wrapped is not None and callable(wrapped):  # `@lru_cache`, `@functools.wraps`
            stack.append(wrapped)
        if isinstance(obj, types.FunctionType):
            funcs = [obj]
        elif isinstance(obj, type):
            funcs = [f for value in vars(obj).values() for f in _methods(value)]
            if classes is not None and (obj.__module__ == "__main__"
                                        or any(f.__globals__ is ns for f in funcs)):
                classes.append(obj)
        else:  # an instance: its class, when the notebook made it
            cls = type(obj)
            if cls.__module__ == "__main__" or any(
                    f.__globals__ is ns for value in vars(cls).values() for f in _methods(value)):
                stack.append(cls)
            continue
        for func in funcs:
            if func.__globals__ is not ns:
                continue
            rebound |= _global_stores(func.__code__)
            for name in _global_reads(func.__code__):
                if name.startswith("_") or name in _SHELL_NAMES:
                    continue
                value = ns.get(name, _MISSING)
                if isinstance(value, types.FunctionType | type | functools.partial) \
                        or getattr(value, "__wrapped__", None) is not None:
                    stack.append(value)
                elif value is not _MISSING and not isinstance(value, types.ModuleType):
                    candidates.add(name)  # (not: a name not bound yet, a builtin)
            for cell in func.__closure__ or ():
                with contextlib.suppress(ValueError):
                    stack.append(cell.cell_contents)
    # a constant the code fingerprint holds is no data to add, unless a function rebinds it
    found = {n for n in candidates if n in rebound or not _fingerprinted_constant(ns[n])}
    return sorted(found)


@functools.lru_cache(maxsize=4096)
def _global_stores(code: types.CodeType) -> frozenset[str]:
    """Names ``code`` (and the code nested in it) binds or deletes as globals (``global``)."""
    import dis

    names = {ins.argval for ins in dis.get_instructions(code)
             if ins.opname in ("STORE_GLOBAL", "DELETE_GLOBAL")}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _global_stores(const)
    return frozenset(n for n in names if isinstance(n, str))


def _fingerprinted_constant(obj: Any) -> bool:
    """A value a function's code fingerprint holds when the function reads it as a global
    (see :meth:`_CodeWalker._feed_object`)."""
    return isinstance(obj, _SIMPLE_CONSTANTS) or (
        isinstance(obj, tuple | frozenset) and len(obj) <= 64
        and all(isinstance(x, _SIMPLE_CONSTANTS) for x in obj))


def _code_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_code_names(const))
    return names


def _attribute_reads(code: types.CodeType) -> list[str]:
    """``name.attr`` read by bytecode (a global or closure cell, then an attribute), in order."""
    import dis

    found: dict[str, None] = {}
    previous = None
    for ins in dis.get_instructions(code):
        if (previous is not None and ins.opname in ("LOAD_ATTR", "LOAD_METHOD")
                and previous.opname in ("LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF")):
            found.setdefault(f"{previous.argval}.{ins.argval}")
        previous = ins
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            for dotted in _attribute_reads(const):
                found.setdefault(dotted)
    return list(found)


def _bytecode_digest(code: types.CodeType) -> str:
    h = xxhash.xxh3_128()
    h.update(code.co_code)
    h.update(repr(code.co_names).encode())
    h.update(repr(code.co_varnames).encode())
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            h.update(_bytecode_digest(const).encode())
        else:
            h.update(repr(const).encode())
    return h.hexdigest()
