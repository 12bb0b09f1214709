"""Outputs holding functions made in the notebook, pickled by value.

``pickle`` stores a function by its importable name, so an output holding a lambda
(``defaultdict(lambda: 0)``), a closure a notebook function returned (``add2 =
make_adder(2)``) or an object keeping either could not be stored: its cell ran again after
every restart. When plain ``pickle`` refuses an output, it is pickled again with one
change: a function made in the notebook that has no name to be found by is stored as its
code (``marshal``), defaults, closure and attributes, and rebuilt on load *bound to the
notebook's live namespace*, as running its cell again would bind it. (``cloudpickle`` would
give it a frozen copy of the globals it read when it was stored, so a later ``scale = 3``
in another cell would not reach it, unlike in plain Python.)

A decorator ``functools.lru_cache(maxsize)`` returned (``cache = functools.lru_cache(None)``)
is stored as that call, a class or function of the notebook it wrapped in the name it had
(``H = functools.lru_cache(None)(H)``) as that call on what the name holds on load, and a
quoted name in a type alias (``typing.ForwardRef``) as its text.

A regular-expression match (``m = re.search(...)``, ``list(re.finditer(...))``, which
``pickle`` refuses) is stored as its pattern, string and positions and found again on load
(see :func:`_match_reduction`); a ``sqlite3`` connection to a database file as the file and
its settings, connected again on load (see :func:`_sqlite_reduction`); a file object open
for reading (``f = open('notes.txt')``) as its path, mode and position, opened again there
on load, and a closed one as a closed file (see :func:`_file_reduction`); a ``queue.Queue``
no thread is using as its items, made again with a new lock (see :func:`_queue_reduction`);
numpy's ``.npz`` reader (``data = np.load('x.npz')``) as its file, read again on load, and
a closed one as a closed reader (see :func:`_npz_reduction`).

Everything else is pickled as ``pickle`` pickles it: functions and classes a cell defines
by name by reference (a hit re-runs the cell's definitions first), and a lambda of a module
is still refused, as before. The code is stored in this Python's bytecode format, marked
with its magic number: an entry made by another Python version is not loaded (never run)
and is computed again.
"""

from __future__ import annotations

import copyreg
import functools
import importlib
import importlib.util
import io
import itertools
import marshal
import pickle
import re
import sys
import types
import typing
from collections import namedtuple
from collections.abc import Callable, Iterator
from typing import Any

from flowyml.hashing import enum_members, global_generator, notebook_enum, notebook_namedtuple
from flowyml.store import sharing as _sharing

#: this interpreter's bytecode version, stored before each code object
_MAGIC = importlib.util.MAGIC_NUMBER


class _Pickler(pickle.Pickler):
    def reducer_override(self, value: Any) -> Any:
        if isinstance(value, type) and notebook_namedtuple(value):
            return _namedtuple, (value.__name__, value._fields, tuple(value._field_defaults.items()))
        if isinstance(value, type) and notebook_enum(value):
            return _enum, (value.__name__, value.__bases__[0].__name__, enum_members(value))
        if isinstance(value, types.FunctionType) and _in_notebook(value) and not _by_name(value):
            return _rebuild, _parts(value)
        if isinstance(value, types.FunctionType) and _lru_cache_decorator(value):
            # `cache = functools.lru_cache(None)` (Norvig's notebooks): the decorator it
            # returns is a closure of functools, rebuilt from its two settings
            return functools.lru_cache, tuple(c.cell_contents for c in value.__closure__)
        if isinstance(value, types.GeneratorType) and value.gi_frame is None:
            return _used_up_generator, (value.__name__, value.__qualname__)
        if isinstance(value, re.Match):
            return _match_reduction(value)
        if type(value).__module__ == "sqlite3" and type(value).__name__ == "Connection":
            return _sqlite_reduction(value)
        if type(value).__module__ == "sqlite3" and type(value).__name__ == "Cursor":
            return _sqlite_cursor_reduction(value)
        if isinstance(value, (io.TextIOWrapper, io.BufferedReader, io.BufferedWriter,
                              io.BufferedRandom)):
            return _file_reduction(value)
        if isinstance(value, property):
            return _property_reduction(value)
        if _is_queue(value):
            return _queue_reduction(value)
        if _is_npz(value):
            return _npz_reduction(value)
        if _rebound_lru_wrapper(value):
            # `Honeycomb = functools.lru_cache(None)(Honeycomb)` (Norvig's Spelling Bee):
            # pickle stores the wrapper by its name, which finds the bare class on load
            params = value.cache_parameters()
            return _lru_rewrap, (value.__qualname__, params["maxsize"], params["typed"])
        if isinstance(value, typing.ForwardRef):
            # a quoted name in a type alias (`Tree = Union['Weighing', Set[int]]`, Norvig's
            # TwelveBalls) keeps its compiled code, which pickle refuses: stored as its text
            return _forward_ref, (value.__forward_arg__, value.__forward_is_argument__,
                                  value.__forward_module__, value.__forward_is_class__)
        if isinstance(value, types.CellType):
            # a cell object, memoised like any object: closures that shared it (a counter's
            # increment and read) share it again after loading
            try:
                return _cell, (value.cell_contents,)
            except ValueError:  # empty: a variable bound later in its scope
                return _cell, ()
        return NotImplemented


#: how a match is found again from its pattern, string, pos and endpos
_FINDERS = ("search", "match", "fullmatch")
#: how far into ``finditer``'s matches one is looked for (each is found again from the start)
_MAX_ITER = 1000


def _match_reduction(m: re.Match) -> Any:
    """A regular-expression match (``m = re.search(...)``, which ``pickle`` refuses), stored
    as its pattern, string, ``pos`` and ``endpos`` and found again on load: by ``search``,
    ``match`` or ``fullmatch``, or as the n-th match of ``finditer`` (n < 1000), whichever
    gives this very match (its span and groups); else refused, as ``pickle`` refuses it."""
    for finder in _FINDERS:
        again = getattr(m.re, finder)(m.string, m.pos, m.endpos)
        if again is not None and again.regs == m.regs:
            return _match, (m.re, m.string, m.pos, m.endpos, finder)
    for n, again in enumerate(itertools.islice(m.re.finditer(m.string, m.pos, m.endpos), _MAX_ITER)):
        if again.regs == m.regs:
            return _match, (m.re, m.string, m.pos, m.endpos, "finditer", n)
    raise pickle.PicklingError(f"cannot pickle {m!r}: its pattern does not find it again")


def _sqlite_reduction(con: Any) -> Any:
    """A connection to a database file (``con = sqlite3.connect('data.sqlite')``), stored as
    the file (relative to the working directory when under it) and its settings, and
    connected again on load -- as the cell's ``connect`` would. Refused, as ``pickle``
    refuses it, when reconnecting would not give the same connection: a database in memory,
    a transaction not committed, temporary tables, attached databases. A closed one
    (``con.close()``) is stored as a closed connection with its factories."""
    from flowyml.handles import sqlite_closed, sqlite_closed_connection, sqlite_database

    if sqlite_closed(con):
        return sqlite_closed_connection, (con.row_factory, con.text_factory)
    path = sqlite_database(con)
    why = "its database is in memory" if path is None else \
        "it has a transaction not committed" if con.in_transaction else None
    if why is None:
        try:
            names = [row[1] for row in con.execute("PRAGMA database_list").fetchall()]
            temp = con.execute("SELECT count(*) FROM sqlite_temp_master").fetchone()[0]
        except Exception as exc:  # closed since, another thread's
            raise pickle.PicklingError(f"cannot pickle {con!r}: {exc}") from None
        why = "it has attached databases" if set(names) - {"main", "temp"} else \
            "it has temporary tables" if temp else None
    if why is not None:
        raise pickle.PicklingError(f"cannot pickle a sqlite3 connection: {why}")
    return _sqlite_connect, (path, con.isolation_level, con.row_factory, con.text_factory)


def _sqlite_cursor_reduction(cur: Any) -> Any:
    """A cursor of a closed connection (``cur = con.cursor()``, queries, ``con.close()`` in
    one cell), stored as what it still shows and made again on load as a cursor showing
    that, of a closed connection of its own (see :func:`flowyml.handles.sqlite_closed_cursor`:
    ``cur.connection is con`` is no longer true; all either does is refuse to work). Refused,
    as ``pickle`` refuses it, while its connection is open (its rows are the database's) or
    where it cannot be made again."""
    from flowyml.handles import sqlite_closed_cursor, sqlite_cursor

    state = sqlite_cursor(cur)
    if state is None or sqlite_closed_cursor(state) is None:
        raise pickle.PicklingError(f"cannot pickle {cur!r}: its connection is open")
    return _sqlite_cursor, (tuple(state),)


def _sqlite_cursor(state: tuple[Any, ...]) -> Any:
    """The cursor :func:`_sqlite_cursor_reduction` stored."""
    from flowyml.handles import SqliteCursor, sqlite_closed_cursor

    cur = sqlite_closed_cursor(SqliteCursor(*state))
    if cur is None:
        raise pickle.UnpicklingError("a sqlite3 cursor that cannot be made again")
    return cur


def _sqlite_connect(path: str, isolation_level: Any, row_factory: Any, text_factory: Any) -> Any:
    import sqlite3

    con = sqlite3.connect(path, isolation_level=isolation_level)
    con.row_factory, con.text_factory = row_factory, text_factory
    return con


def _file_reduction(f: Any) -> Any:
    """A file kept open by later cells (``f = open('notes.txt')``, ``log = open('out.txt',
    'w+')``), stored as its path, mode, encoding and position and opened again there on load
    -- what the cell's ``open`` and the reads and writes since did (a writer is flushed
    first and opened again without emptying its file, which its step's hit puts back); a
    closed one (``f.close()``) as a closed file of that name and mode. Refused, as
    ``pickle`` refuses it, where opening it again would not give the same object (see
    :func:`flowyml.handles.file_handle`)."""
    from flowyml.handles import file_handle, reopen

    handle = file_handle(f)
    if handle is None:
        raise pickle.PicklingError(
            f"cannot pickle {f!r}: only a file opened by its path, at a position Python can "
            "tell, or closed, is stored (opened again on load)")
    return reopen, (handle,)


#: the attributes of a ``queue.Queue`` that hold its lock and conditions (made again on load)
_QUEUE_LOCKS = ("mutex", "not_empty", "not_full", "all_tasks_done")


def _is_queue(value: Any) -> bool:
    queue = sys.modules.get("queue")
    return queue is not None and isinstance(value, queue.Queue)


def _queue_reduction(q: Any) -> Any:
    """A ``queue.Queue`` (``PriorityQueue``, ``LifoQueue``, a subclass) that no thread is using
    (``q = PriorityQueue()``, items put and taken in one cell, as Python 3 Cookbook notebooks
    do), stored as its class, its items and its other attributes, and made again on load
    with a new lock and conditions, as ``Queue()`` makes them: ``pickle`` refuses its lock, so
    every cell making one ran again after each restart. Refused, as ``pickle`` refuses it,
    while a thread holds its lock or waits on it (its state is then that thread's)."""
    conditions = [getattr(q, name, None) for name in _QUEUE_LOCKS[1:]]
    mutex = getattr(q, "mutex", None)
    busy = mutex is None or (hasattr(mutex, "locked") and mutex.locked()) or any(
        c is None or getattr(c, "_waiters", None) for c in conditions)
    if busy:
        raise pickle.PicklingError(f"cannot pickle {type(q).__name__}: a thread is using it")
    state = {k: v for k, v in vars(q).items() if k not in _QUEUE_LOCKS}
    return _queue, (type(q), state)


def _queue(cls: type, state: dict[str, Any]) -> Any:
    """A queue of class ``cls`` made as ``Queue.__init__`` makes one (its own lock and
    conditions), then given the stored items and attributes."""
    import queue

    q = cls.__new__(cls)
    queue.Queue.__init__(q, state.get("maxsize", 0))
    vars(q).update(state)
    return q


def _is_npz(value: Any) -> bool:
    npyio = sys.modules.get("numpy.lib.npyio")
    return npyio is not None and isinstance(value, npyio.NpzFile)


def _npz_reduction(npz: Any) -> Any:
    """What ``np.load`` returns for an ``.npz`` file (``dem = np.load('topo.npz')``, or
    matplotlib's ``cbook.get_sample_data('topobathy.npz')``): a lazy reader holding the open
    file, its ``ZipFile`` and a lock, which ``pickle`` refuses, so every cell loading one ran
    again after each restart. Stored as its file (through :func:`_file_reduction`: opened
    again by path on load, as ``np.load`` opened it) and its settings, and read again there
    on load; a closed one (``with np.load(...) as data:``) as a closed reader of those keys.
    Refused, as ``pickle`` refuses it, when it reads a file object the notebook opened and
    passed in (``np.load(f)``: the file is that object's, not the reader's)."""
    state = {k: v for k, v in vars(npz).items() if k not in ("zip", "f", "fid")}
    if getattr(npz, "zip", None) is None:
        return _npz_closed, (type(npz), state)
    fid = getattr(npz, "fid", None)
    if fid is None:
        raise pickle.PicklingError(
            f"cannot pickle {npz!r}: it reads a file object the notebook opened (np.load(f))")
    return _npz_open, (type(npz), fid, state)


def _npz_open(cls: type, fid: Any, state: dict[str, Any]) -> Any:
    """The reader ``np.load`` gives for the (reopened) file ``fid``, with its settings."""
    return cls(fid, own_fid=True, allow_pickle=state.get("allow_pickle", False),
               pickle_kwargs=state.get("pickle_kwargs"),
               max_header_size=state.get("max_header_size", 10000))


def _npz_closed(cls: type, state: dict[str, Any]) -> Any:
    """A closed ``.npz`` reader: its keys and settings, no file (as ``close()`` leaves it)."""
    npz = cls.__new__(cls)
    vars(npz).update(state)
    npz.zip = npz.f = npz.fid = None
    return npz


def _property_reduction(prop: property) -> Any:
    """A property of a class (``pickle`` refuses ``property`` objects) stored by where it is
    defined, its getter's module and qualified name (``KalmanFilter.mahalanobis``), and
    found there again on load: filterpy's ``Saver(kf)`` keeps the filter class's properties
    (``inspect.getmembers``), so every cell that made one ran again after each restart.
    A property that is not found again by that name is refused, as ``pickle`` refuses it."""
    fget = prop.fget
    module, qualname = getattr(fget, "__module__", None), getattr(fget, "__qualname__", "")
    if isinstance(module, str) and "." in qualname and "<" not in qualname:
        try:
            if _property(module, qualname) is prop:
                return _property, (module, qualname)
        except Exception:
            pass
    return NotImplemented


def _property(module: str, qualname: str) -> property:
    """The property ``qualname`` (``Class.name``) of ``module``'s class, as the class holds
    it (a notebook's class: from the notebook's namespace)."""
    *path, name = qualname.split(".")
    owner: Any = _namespace() if module == "__main__" else vars(importlib.import_module(module))
    owner = owner[path[0]]
    for part in path[1:]:
        owner = getattr(owner, part)
    for klass in owner.__mro__:
        if name in vars(klass):
            found = vars(klass)[name]
            if isinstance(found, property):
                return found
    raise pickle.UnpicklingError(f"{module}.{qualname} is no longer a property")


def _forward_ref(arg: str, is_argument: bool, module: Any, is_class: bool) -> typing.ForwardRef:
    return typing.ForwardRef(arg, is_argument, module, is_class=is_class)


def _match(pattern: re.Pattern, string: Any, pos: int, endpos: int, finder: str,
           n: int = 0) -> re.Match:
    if finder == "finditer":
        return next(itertools.islice(pattern.finditer(string, pos, endpos), n, None))
    return getattr(pattern, finder)(string, pos, endpos)


class _SharingPickler(_sharing.Sharing, _Pickler):
    pass


class _PlainSharingPickler(_sharing.Sharing, pickle.Pickler):
    pass


def dumps(obj: Any, buffer_callback: Callable[[Any], Any] | None = None) -> bytes:
    """``obj`` pickled (protocol 5) with notebook functions by value; raises what pickling
    raises when even that cannot store it (a lock, an open file, a generator)."""
    return _dump(obj, False, buffer_callback)


def dumps_plain(obj: Any, buffer_callback: Callable[[Any], Any] | None = None) -> bytes:
    """``pickle.dumps(obj, protocol=5)``, with the process-wide random generators it holds
    stored by name (see :func:`_generator_table`) and the values of
    :func:`flowyml.store.sharing.sharing` it holds as references."""
    return _dump(obj, True, buffer_callback)


def _dump(obj: Any, plain: bool, buffer_callback: Callable[[Any], Any] | None,
          share: bool = True) -> bytes:
    generators = _generator_table()
    table = _sharing.table_for(obj) if share else None
    if plain and not generators and table is None:
        return pickle.dumps(obj, protocol=5, buffer_callback=buffer_callback)
    out = io.BytesIO()
    if table is not None:
        cls: Any = _PlainSharingPickler if plain else _SharingPickler
        pickler: Any = cls(out, protocol=5, buffer_callback=buffer_callback)
        # (a shared value's copy, for loads without it: pickled on its own, in band)
        pickler._start_sharing(table, functools.partial(_dump, plain=plain,
                                                        buffer_callback=None, share=False))
    else:
        pickler = (pickle.Pickler if plain else _Pickler)(out, protocol=5,
                                                         buffer_callback=buffer_callback)
    if generators:
        pickler.dispatch_table = {**copyreg.dispatch_table, **generators}
    pickler.dump(obj)
    return out.getvalue()


def _generator_table() -> dict[type, Callable[[Any], Any]]:
    """How the process-wide random generators' types reduce: numpy's global ``RandomState``
    (``np.random.seed``) and ``random``'s ``Random`` instance, stored *by name* and found
    again on load (:func:`_process_generator`); other instances of those types as usual.

    Every ``scipy.stats`` distribution holds numpy's global generator as its
    ``random_state``. Pickled as a value, a loaded ``dist = norm(0, 1)`` drew from a frozen
    copy of that generator instead of the process's: ``dist.rvs()`` in a cell edited after
    a restart left ``np.random`` where it was, so the next cell drawing from it printed
    other numbers than plain Python (and ``dist`` looked changed in place)."""
    table: dict[type, Callable[[Any], Any]] = {}
    np_random = sys.modules.get("numpy.random")
    rand = getattr(getattr(np_random, "mtrand", None), "_rand", None)
    if rand is not None:
        table[type(rand)] = _reduce_generator
    std_random = sys.modules.get("random")
    inst = getattr(std_random, "_inst", None)
    if inst is not None:
        table[type(inst)] = _reduce_generator
    return table


def _reduce_generator(obj: Any) -> Any:
    name = global_generator(obj)
    if name is not None:
        return _process_generator, (name,)
    return obj.__reduce_ex__(5)


def _process_generator(name: str) -> Any:
    """The process's own generator named ``name`` (``numpy.random``, ``random``)."""
    if name == "numpy.random":
        return importlib.import_module("numpy.random").mtrand._rand
    return importlib.import_module("random")._inst


def needs_by_value(outputs: Any) -> bool:
    """Whether ``outputs`` (a step's outputs by name) hold a class the cell made with a call
    (``Person = namedtuple(...)``, ``Color = Enum("Color", "RED GREEN")``): ``pickle``
    would store it, and instances of it in the same entry, by its name in ``__main__``,
    which a fresh kernel does not have when it loads the entry (a ``class`` statement is
    re-run first; a call is not)."""
    values = outputs.values() if isinstance(outputs, dict) else (outputs,)
    return any((isinstance(v, type) and (notebook_namedtuple(v) or notebook_enum(v)))
               or _rebound_lru_wrapper(v)
               or (isinstance(v, types.GeneratorType) and v.gi_frame is None) for v in values)


def _used_up_generator(name: str, qualname: str) -> types.GeneratorType:
    """A generator that yields nothing more, named as the stored one was (``G = (x for x
    in xs)`` after ``list(G)``: a later ``list(G)`` gives ``[]``, ``next(G)`` raises
    ``StopIteration``, as in plain Python)."""
    def used_up() -> Iterator[Any]:
        yield from ()

    gen = used_up()
    gen.close()
    gen.__name__, gen.__qualname__ = name, qualname
    return gen  # type: ignore[return-value]


def _rebound_lru_wrapper(value: Any) -> bool:
    """Whether ``value`` is ``functools.lru_cache(...)(X)`` for a class or function ``X`` of
    the notebook, bound to ``X``'s own name (``H = functools.lru_cache(None)(H)``)."""
    if not isinstance(value, functools._lru_cache_wrapper):
        return False
    wrapped = getattr(value, "__wrapped__", None)
    return (getattr(wrapped, "__module__", None) == "__main__"
            and "<" not in value.__qualname__ and _namespace().get(value.__qualname__) is value)


def _lru_rewrap(qualname: str, maxsize: int | None, typed: bool) -> Any:
    """The class or function the notebook's name ``qualname`` holds on load (its cell's
    definitions run first), wrapped again as the stored wrapper wrapped it."""
    target = _namespace().get(qualname)
    if target is None or isinstance(target, functools._lru_cache_wrapper):
        raise pickle.UnpicklingError(
            f"'{qualname}' is not the class or function it wrapped; its step runs again")
    return functools.lru_cache(maxsize, typed)(target)


def _namedtuple(name: str, fields: tuple[str, ...], defaults: tuple[tuple[str, Any], ...]) -> type:
    """A notebook's namedtuple class again: the one the notebook holds under its name if it
    is the same (instances made from it stay instances of it), else made anew."""
    live = _namespace().get(name)
    if (isinstance(live, type) and notebook_namedtuple(live) and live._fields == fields
            and tuple(live._field_defaults.items()) == defaults):
        return live
    cls = namedtuple(name, fields, defaults=[v for _, v in defaults] or None, module="__main__")
    return cls


def _enum(name: str, base: str, members: tuple[tuple[str, Any], ...]) -> type:
    """A notebook's enum class again (see :func:`_namedtuple`)."""
    import enum

    live = _namespace().get(name)
    if (isinstance(live, type) and notebook_enum(live) and live.__bases__[0].__name__ == base
            and enum_members(live) == members):
        return live
    return getattr(enum, base)(name, list(members), module="__main__", qualname=name)


def _in_notebook(func: types.FunctionType) -> bool:
    return func.__globals__.get("__name__") == "__main__"


def _lru_cache_decorator(func: types.FunctionType) -> bool:
    """Whether ``func`` is what ``functools.lru_cache(maxsize, typed)`` returns."""
    return (func.__module__ == "functools"
            and func.__qualname__ == "lru_cache.<locals>.decorating_function"
            and func.__code__.co_freevars == ("maxsize", "typed"))


def _by_name(func: types.FunctionType) -> bool:
    """Whether ``func`` is what its name in the notebook holds (a ``def``)."""
    if "<" in func.__qualname__:  # a lambda, or made inside a function
        return False
    return func.__globals__.get(func.__qualname__) is func


def _parts(func: types.FunctionType) -> tuple[Any, ...]:
    attrs = dict(func.__dict__) or None
    return (_MAGIC + marshal.dumps(func.__code__), func.__name__, func.__qualname__,
            func.__defaults__, func.__kwdefaults__, func.__closure__, attrs)


def _cell(*contents: Any) -> types.CellType:
    return types.CellType(*contents)


def _namespace() -> dict[str, Any]:
    """The notebook's namespace now: IPython's user namespace in a kernel or shell (looked
    up, never imported), else ``__main__``'s (a script, the exported module)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    namespace = getattr(shell, "user_ns", None)
    if isinstance(namespace, dict):
        return namespace
    return vars(sys.modules["__main__"])


def _rebuild(code: bytes, name: str, qualname: str, defaults: Any, kwdefaults: Any,
             cells: tuple[Any, ...] | None, attrs: dict[str, Any] | None) -> types.FunctionType:
    if not code.startswith(_MAGIC):  # bytecode of another Python: never run it
        raise pickle.UnpicklingError(
            f"function '{qualname}' was stored by another Python version; its step runs again")
    func = types.FunctionType(marshal.loads(code[len(_MAGIC):]), _namespace(), name, defaults,
                              cells)
    func.__qualname__ = qualname
    func.__kwdefaults__ = kwdefaults
    if attrs:
        func.__dict__.update(attrs)
    return func
