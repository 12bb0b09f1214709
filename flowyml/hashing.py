"""Content fingerprints of values: :func: gives a stable, content-addressed digest
of a Python value (xxh3-128), through one :func:`functools.singledispatch` function,
:func:`fingerprint` (register your own types on it). numpy and pandas objects are recognised
through ``sys.modules`` -- flowyml never imports them itself. Code has its own fingerprint:
:mod:`flowyml.codehash`.

Digests are part of every cache key: the golden values pinned in ``tests/ground/test_hashing.py``
must only change together with :data:`FINGERPRINT_VERSION`.
"""

from __future__ import annotations

import functools
import io
import math
import pickle
import re
import struct
import sys
import types
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

import xxhash

FINGERPRINT_VERSION = 1

Hasher = Any  # an ``xxhash.xxh3_128`` object


class UnhashableValueError(TypeError):
    """A value cannot be fingerprinted by content (so a step that receives it is not cached)."""


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


@functools.singledispatch
def fingerprint(obj: Any, h: Hasher) -> None:
    """Feed a canonical, content-based encoding of ``obj`` into the hasher ``h``.

    Register a handler for your own type with ``@fingerprint.register(MyType)``; a handler
    writes a type tag and the content, and calls :func:`_feed` for nested values.
    """
    if isinstance(obj, types.ModuleType):
        tag(h, b"mod", obj.__name__.encode())
        return
    _fingerprint_by_pickle(obj, h)


def hash_value(obj: Any) -> str:
    """Return the hex digest of ``obj``'s content; equal values give equal digests.

    Raises :class:`UnhashableValueError` when ``obj`` (or something inside it) cannot be
    hashed by content -- never a constant or ``repr``-based digest.
    """
    _register_optional_handlers()
    h = xxhash.xxh3_128()
    try:
        _feed(obj, h)
    except RecursionError:
        # a container that holds itself, or nesting deeper than the recursion limit:
        # pickle's memo handles cycles, so hash the whole value through it instead
        h = xxhash.xxh3_128()
        try:
            _fingerprint_by_pickle(obj, h)
        except (RecursionError, UnhashableValueError) as exc:
            if not isinstance(exc.__cause__ or exc, RecursionError):
                raise
            raise UnhashableValueError(
                f"a value of type {type(obj).__qualname__} is nested too deeply to be hashed; "
                "flatten it, register a handler with @flowyml.hashing.fingerprint.register, "
                "or pass cache=False"
            ) from None
    return h.hexdigest()


_dispatch_cache: dict[type, Callable[[Any, Hasher], None]] = {}
#: a memory address in a repr
_ADDRESS_RE = re.compile(r" at 0x[0-9a-fA-F]+")


def consumable(obj: Any) -> bool:
    """Whether reading ``obj`` changes it: an iterator or generator (``next(it)``). One that
    cannot be hashed by content can never be keyed by the step that made it: whoever read
    it since may have consumed it, so a step receiving it is not cached."""
    return isinstance(obj, Iterator)


def _feed(obj: Any, h: Hasher) -> None:
    cls = type(obj)
    handler = _dispatch_cache.get(cls)
    if handler is None:
        handler = fingerprint.dispatch(cls)
        _dispatch_cache[cls] = handler
    try:
        handler(obj, h)
    except (UnhashableValueError, RecursionError):
        raise
    except Exception as exc:
        # a library object whose own methods fail on the way (a subclass that refuses a
        # view, a property that raises): not hashable by content, said as such -- the step
        # is keyed by its maker or not cached, never crashed by the hasher
        raise UnhashableValueError(
            f"a value of type {cls.__qualname__} could not be hashed by content "
            f"({type(exc).__name__}: {exc}); register a handler with "
            "@flowyml.hashing.fingerprint.register, or pass cache=False") from exc


def tag(h: Hasher, tag: bytes, payload: bytes = b"") -> None:
    h.update(tag)
    h.update(len(payload).to_bytes(8, "little"))
    h.update(payload)


def _type_name(obj: Any) -> bytes:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}".encode()


@fingerprint.register(type(None))
def _(obj: None, h: Hasher) -> None:
    h.update(b"N")


@fingerprint.register(types.GeneratorType)
def _(obj: types.GeneratorType, h: Hasher) -> None:
    # a used-up generator yields nothing, whatever made it (`G = (x for x in xs)` then
    # `list(G)` in the same cell): that is all there is to it; a live one cannot be
    # hashed (reading it changes it)
    if obj.gi_frame is not None:
        raise UnhashableValueError(
            f"generator {obj.__qualname__} is not used up: it cannot be hashed by content "
            "(reading it changes it)")
    tag(h, b"gen-done", obj.__qualname__.encode())


@fingerprint.register(bool)
def _(obj: bool, h: Hasher) -> None:
    h.update(b"T" if obj else b"F")


@fingerprint.register(int)
def _(obj: int, h: Hasher) -> None:
    if type(obj) is not int:  # IntEnum and friends
        tag(h, b"sub", _type_name(obj))
    tag(h, b"i", str(int(obj)).encode())


@fingerprint.register(float)
def _(obj: float, h: Hasher) -> None:
    h.update(b"f")
    h.update(b"nan" if math.isnan(obj) else struct.pack("<d", obj))


@fingerprint.register(complex)
def _(obj: complex, h: Hasher) -> None:
    h.update(b"c")
    h.update(struct.pack("<dd", obj.real, obj.imag))


@fingerprint.register(str)
def _(obj: str, h: Hasher) -> None:
    tag(h, b"s", obj.encode("utf-8", "surrogatepass"))


@fingerprint.register(bytes)
@fingerprint.register(bytearray)
@fingerprint.register(memoryview)
def _(obj: bytes | bytearray | memoryview, h: Hasher) -> None:
    tag(h, b"b", _type_name(obj))
    if isinstance(obj, memoryview):
        obj = obj.cast("B") if obj.contiguous else obj.tobytes()
    h.update(len(obj).to_bytes(8, "little"))
    h.update(obj)


@fingerprint.register(list)
@fingerprint.register(tuple)
def _(obj: list | tuple, h: Hasher) -> None:
    tag(h, b"l" if isinstance(obj, list) else b"t", _type_name(obj))
    h.update(len(obj).to_bytes(8, "little"))
    for item in obj:
        _feed(item, h)


@fingerprint.register(dict)
def _(obj: dict, h: Hasher) -> None:
    tag(h, b"d", _type_name(obj))
    h.update(len(obj).to_bytes(8, "little"))
    if isinstance(obj, defaultdict):
        # what a missing key gives is part of the value: an empty ``defaultdict(object)``
        # and an empty ``defaultdict(lambda: 0)`` had one digest, so ``d['one']`` after the
        # first was a hit for the second's ``0`` (the Python bootcamp's collections notebook)
        tag(h, b"df", b"")
        _feed(obj.default_factory, h)
    keys = list(obj)
    ordered = None
    if all(map(_totally_ordered, keys)):
        try:
            ordered = sorted(keys)
        except TypeError:
            ordered = None
    if ordered is None:
        # keys of mixed types, or keys whose ``<`` is not a total order (sets, NaN): the
        # order of sorted() would depend on insertion order, so order by each pair's digest
        digests = [_sub_digest((k, v)) for k, v in obj.items()]
        by_digest = sorted(digests)
        for digest in by_digest:
            h.update(digest)
        if digests != by_digest:
            tag(h, b"o", b"")
            h.update(b"".join(digests))
        return
    values = obj if type(obj) is dict else dict(obj.items())  # a subclass's own __getitem__
    for key in ordered:
        _feed(key, h)
        _feed(values[key], h)
    # The insertion order is part of a dict's value: what iterating it, printing it or
    # building a frame from it gives (a cell looping over `models` prints them in that
    # order). The sorted order adds nothing, so such a dict keeps the digest it had when
    # order was ignored; another order adds where each key sits in the sorted order.
    if ordered != keys:
        if len(keys) <= 32:  # (a search in a short list beats building an index)
            positions = array("Q", map(ordered.index, keys))
        else:
            where = {id(key): i for i, key in enumerate(ordered)}
            positions = array("Q", [where[id(key)] for key in keys])
        tag(h, b"o", b"")
        h.update(positions.tobytes())


@fingerprint.register(set)
@fingerprint.register(frozenset)
def _(obj: set | frozenset, h: Hasher) -> None:
    # Iteration order of a set depends on PYTHONHASHSEED: sort the members' digests instead.
    tag(h, b"S", _type_name(obj))
    h.update(len(obj).to_bytes(8, "little"))
    for digest in sorted(_sub_digest(item) for item in obj):
        h.update(digest)


@fingerprint.register(functools._lru_cache_wrapper)
def _(obj: Any, h: Hasher) -> None:
    # pickle stores a wrapper by its name, which is also the name of what it wraps once
    # rebound (`H = functools.lru_cache(None)(H)`): the wrapper and the bare class had one
    # digest, so a cell reading the one was a hit for the other
    tag(h, b"lru", repr(sorted(obj.cache_parameters().items())).encode())
    wrapped = getattr(obj, "__wrapped__", None)
    if isinstance(wrapped, type):  # by its name (pickle's, which refuses the rebound name)
        tag(h, b"cls", f"{wrapped.__module__}.{wrapped.__qualname__}".encode())
    else:
        _feed(wrapped, h)


@fingerprint.register(io.TextIOWrapper)
@fingerprint.register(io.BufferedReader)
@fingerprint.register(io.BufferedWriter)
@fingerprint.register(io.BufferedRandom)
def _(obj: Any, h: Hasher) -> None:
    # a file kept open for later cells (`f = open('notes.txt')`, then `f.readline()`) by
    # what it reads: the file, how it decodes it, where it stands (a cell reading from it
    # changes it in place). The file's content is not the value's: a step that uses it
    # reads the file (flowyml.tracking.files.value_sources), so an edited file re-runs it.
    from flowyml.handles import file_handle

    handle = file_handle(obj)
    if handle is None:
        raise UnhashableValueError(
            f"{obj!r} cannot be hashed by content: only a file opened by its path (or "
            "closed) can, and not partway through a `for line in f` loop; read what you "
            "need into a variable (`lines = f.readlines()`) to cache the steps using it")
    tag(h, b"file", _type_name(obj))
    _feed(tuple(handle), h)


@fingerprint.register(types.FunctionType)
def _(obj: types.FunctionType, h: Hasher) -> None:
    # a function value is its code: the one place values reach up to code (an import
    # pyproject's layers contract names as the exception)
    from flowyml.codehash import code_fingerprint

    tag(h, b"fn", code_fingerprint(obj).encode())


def notebook_namedtuple(obj: Any) -> bool:
    """Whether ``obj`` is a class ``collections.namedtuple`` made in the notebook
    (``Person = namedtuple("Person", [...])`` in a cell): a value of its cell, not a
    definition a hit re-runs, and known by its name, fields and defaults."""
    return (isinstance(obj, type) and obj.__module__ == "__main__" and obj.__bases__ == (tuple,)
            and isinstance(getattr(obj, "_fields", None), tuple)
            and isinstance(getattr(obj, "_field_defaults", None), dict))


def notebook_enum(obj: Any) -> bool:
    """Whether ``obj`` is an enum class made in the notebook with members only, on one of
    ``enum``'s own bases (``Color = Enum("Color", "RED GREEN")`` in a cell): known by its
    name, base and members, as :func:`notebook_namedtuple`."""
    enum = sys.modules.get("enum")
    if enum is None or not isinstance(obj, enum.EnumMeta) or obj.__module__ != "__main__":
        return False
    own = {getattr(enum, n) for n in ("Enum", "IntEnum", "Flag", "IntFlag", "StrEnum") if hasattr(enum, n)}
    return (len(obj.__bases__) == 1 and obj.__bases__[0] in own
            and not any(_user_code(v) for v in vars(obj).values()))


def _user_code(member: Any) -> bool:
    """A method, class or static method or property written in the notebook."""
    func = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
    return isinstance(func, types.FunctionType) and func.__module__ == "__main__"


def enum_members(obj: Any) -> tuple[tuple[str, Any], ...]:
    """An enum class's members (aliases too) as ``(name, value)`` pairs, in order."""
    return tuple((name, member._value_) for name, member in obj.__members__.items())


@fingerprint.register(type)
def _(obj: type, h: Hasher) -> None:
    if notebook_namedtuple(obj):
        # by content: pickle knows a class by its name only, so ``Person`` given a field
        # more kept its digest and a cell reading it was a hit for the old fields
        tag(h, b"ntc", obj.__qualname__.encode())
        _feed(obj._fields, h)
        _feed(obj._field_defaults, h)
        return
    if notebook_enum(obj):
        tag(h, b"enc", f"{obj.__qualname__}:{obj.__bases__[0].__name__}".encode())
        _feed(enum_members(obj), h)
        return
    _fingerprint_by_pickle(obj, h)


def _totally_ordered(key: Any) -> bool:
    """Whether ``<`` on keys like this one is a total order (so sorting is canonical)."""
    if isinstance(key, str | bytes | int):
        return True
    if isinstance(key, float):
        return not math.isnan(key)
    if isinstance(key, tuple):
        return all(_totally_ordered(k) for k in key)
    return False


def _sub_digest(obj: Any) -> bytes:
    h = xxhash.xxh3_128()
    _feed(obj, h)
    return h.digest()


def _fingerprint_by_pickle(obj: Any, h: Hasher) -> None:
    """Fallback for any other object: joblib's pickle-based hash, made canonical.

    joblib orders sets by ``sorted()`` (or by ``hash()``, which depends on PYTHONHASHSEED),
    leaves frozensets in iteration order, orders dicts with unorderable keys by ``hash()``
    and hashes arrays with their memory layout; :func:`_canonical_hasher` orders all of
    them by content digests instead, and hashes arrays as :func:`hash_value` does.
    """
    try:
        digest = _canonical_hasher()(hash_name="md5").hash(obj)
    except Exception as exc:  # pickling can fail with anything
        raise UnhashableValueError(
            f"a value of type {type(obj).__qualname__} cannot be hashed by content "
            f"({type(exc).__name__}: {exc}); make it picklable, register a handler with "
            "@flowyml.hashing.fingerprint.register, or pass cache=False"
        ) from exc
    if digest is None:
        raise UnhashableValueError(f"a value of type {type(obj).__qualname__} has no content hash")
    tag(h, b"pkl", _type_name(obj) + b":" + digest.encode())


@functools.cache
def _canonical_hasher_for(base: type) -> type:
    class CanonicalHasher(base):  # type: ignore[misc, valid-type]
        dispatch = base.dispatch.copy()

        def _batch_setitems(self, items: Any, *args: Any) -> None:
            items = list(items)
            if all(_totally_ordered(k) for k, _ in items):
                try:
                    items.sort(key=lambda kv: kv[0])
                except TypeError:
                    items.sort(key=lambda kv: _sub_digest(kv[0]))
            else:
                items.sort(key=lambda kv: _sub_digest(kv[0]))
            # the plain pickler's method: joblib's own would sort again, by hash()
            pickle._Pickler._batch_setitems(self, iter(items), *args)

        def save(self, obj: Any, *args: Any, **kwargs: Any) -> None:
            np = sys.modules.get("numpy")
            if np is not None and isinstance(obj, np.ndarray):
                # by content, as at top level: not by memory layout (C / Fortran / strides)
                obj = ("flowyml-ndarray", _sub_digest(obj))
            elif (name := global_generator(obj)) is not None:
                obj = ("flowyml-global-generator", name)
            base.save(self, obj, *args, **kwargs)

        def save_set(self, obj: set | frozenset) -> None:
            digests = tuple(sorted(_sub_digest(item) for item in obj))
            self.save(("flowyml-set", type(obj).__qualname__, digests))

        def save_reduce(self, func: Any, args: Any, state: Any = None, *rest: Any, **kwargs: Any) -> None:
            if isinstance(state, dict) and _ADDRESS_STATE.keys() & state.keys():
                state = _without_addresses(kwargs.get("obj"), state)
            base.save_reduce(self, func, args, state, *rest, **kwargs)

        def save_global(self, obj: Any, name: Any = None, *args: Any) -> None:
            base.save_global(self, obj, name)
            code = _user_code_part(obj)
            if code is not None:
                self.save(("flowyml-code", code))

        dispatch[set] = save_set
        dispatch[frozenset] = save_set
        dispatch[types.FunctionType] = save_global
        dispatch[type] = save_global

    return CanonicalHasher


def global_generator(obj: Any) -> str | None:
    """The name of the process-wide random generator ``obj`` is -- numpy's legacy global
    ``RandomState`` (what ``np.random.seed``/``np.random.rand`` use) or ``random``'s
    ``Random`` -- else ``None``. A value holding one (every ``scipy.stats`` distribution,
    ``t`` and a frozen ``t(df, loc, scale)`` alike, keeps numpy's as its ``random_state``)
    is hashed with the generator's name, not its state: that state is the process's (another
    in every kernel, moved by every draw), so a cell reading ``t`` missed after every
    restart. The generator is process state, which steps record and re-apply on their own
    (``flowyml.tracking.state``); a generator of the value's own is hashed by content."""
    np_random = sys.modules.get("numpy.random")
    if np_random is not None and obj is getattr(getattr(np_random, "mtrand", None), "_rand", None):
        return "numpy.random"
    std_random = sys.modules.get("random")
    if std_random is not None and obj is getattr(std_random, "_inst", None):
        return "random"
    return None


#: attributes a library keeps the ``id()`` of an object in, by the module of the class that
#: sets them: scikit-learn's text vectorizers remember ``id(self.stop_words)`` once checked
#: (``_stop_words_id``), an address that is another in every process, so a fitted
#: ``CountVectorizer`` had a new digest after every restart and its readers missed
_ADDRESS_STATE = {"_stop_words_id": "sklearn.feature_extraction.text"}


def _without_addresses(obj: Any, state: dict) -> dict:
    """``state`` (an object's pickled ``__dict__``) without the addresses its library keeps
    as a cache (:data:`_ADDRESS_STATE`): they say where an object lived, not what it holds."""
    modules = {getattr(c, "__module__", None) for c in type(obj).__mro__}
    drop = {k for k, module in _ADDRESS_STATE.items() if k in state and module in modules}
    return {k: v for k, v in state.items() if k not in drop} if drop else state


def _user_code_part(obj: Any) -> str | None:
    """The code digest of a function or class of the user's (written in the notebook or a
    helper module beside it) that a value holds, ``None`` for library code. Pickle knows
    both by name only: a ``FunctionTransformer(ratio)`` or a fitted instance of a notebook
    class kept its digest when ``ratio`` or the class's methods were edited, so the cells
    reading it were hits showing what the old code computed."""
    module = getattr(obj, "__module__", None)
    if not isinstance(module, str) or not isinstance(obj, types.FunctionType | type):
        return None
    from flowyml.codehash import class_fingerprint, code_fingerprint, is_user_module

    if not is_user_module(module):
        return None
    return code_fingerprint(obj) if isinstance(obj, types.FunctionType) else class_fingerprint(obj)


def _canonical_hasher() -> type:
    from joblib import hashing

    return _canonical_hasher_for(hashing.NumpyHasher if "numpy" in sys.modules else hashing.Hasher)


# -- optional types, recognised through sys.modules ------------------------------------------

_registered_optional: set[str] = set()


def _register_optional_handlers() -> None:
    if "numpy" in sys.modules and "numpy" not in _registered_optional:
        _registered_optional.add("numpy")
        _register_numpy(sys.modules["numpy"])
    if "matplotlib.artist" in sys.modules and "matplotlib" not in _registered_optional:
        artist = getattr(sys.modules["matplotlib.artist"], "Artist", None)
        if artist is not None:  # None: matplotlib is being imported
            _registered_optional.add("matplotlib")
            fingerprint.register(artist, _unhashable_artist)
            _dispatch_cache.clear()
    if "pandas" in sys.modules and "pandas" not in _registered_optional:
        # pandas' namespace may be half-initialised while it is being imported
        pd = sys.modules["pandas"]
        if hasattr(pd, "DataFrame") and hasattr(pd, "util"):
            _registered_optional.add("pandas")
            _register_pandas(pd)
    if "sqlite3" in sys.modules and "sqlite3" not in _registered_optional:
        _registered_optional.add("sqlite3")
        fingerprint.register(sys.modules["sqlite3"].Connection, _hash_sqlite_connection)
        fingerprint.register(sys.modules["sqlite3"].Cursor, _hash_sqlite_cursor)
        _dispatch_cache.clear()
    if "pyarrow._dataset" in sys.modules and "pyarrow.dataset" not in _registered_optional:
        dataset = getattr(sys.modules["pyarrow._dataset"], "FileSystemDataset", None)
        if dataset is not None:
            _registered_optional.add("pyarrow.dataset")
            fingerprint.register(dataset, _hash_file_dataset)
            _dispatch_cache.clear()


def _hash_file_dataset(obj: Any, h: Hasher) -> None:
    """A pyarrow dataset of local files (``ds.dataset('data/')``) by what it reads: its
    files, schema, format and options, partitions and filter. Not its pickle, which holds
    what reading it cached (each fragment's row groups): that changed the value's digest
    under the cell that first read it (``dataset.to_table()``: "changed in place"). The
    files' content is not the value's: a step that uses it reads them (they are its reads,
    :func:`flowyml.tracking.files.value_sources`)."""
    if type(getattr(obj, "filesystem", None)).__name__ != "LocalFileSystem":
        _fingerprint_by_pickle(obj, h)
        return
    parts = (
        list(obj.files),
        obj.schema.serialize().to_pybytes(),
        _ADDRESS_RE.sub("", repr(obj.format)),
        str(obj.partition_expression),
        _fragment_partitions(obj),
        _ADDRESS_RE.sub("", repr(getattr(obj, "_scan_options", None))),
    )
    tag(h, b"pa-dataset", _type_name(obj))
    _feed(parts, h)


def _hash_sqlite_connection(obj: Any, h: Hasher) -> None:
    """A connection to a database file (``con = sqlite3.connect('data.sqlite')``) by what
    it reads: the file and the connection's settings. The file's content is not the
    value's: a step that uses it reads the file (:func:`flowyml.tracking.files.value_sources`),
    so an edited database re-runs it. A closed one (``con.close()`` at the end of the cell
    that queried, as tutorials teach) by its factories: it refuses all else, whatever it
    was connected to. A database in memory has nothing outside the process to be known by:
    not hashable, as before."""
    from flowyml.handles import sqlite_closed, sqlite_database

    if sqlite_closed(obj):
        tag(h, b"sqlite-closed", _type_name(obj))
        _feed((obj.row_factory, obj.text_factory), h)
        return
    path = sqlite_database(obj)
    if path is None:
        raise UnhashableValueError(
            "a sqlite3 connection to a database in memory (or closed) cannot be hashed by "
            "content; connect to a file to cache the steps that use it")
    tag(h, b"sqlite", _type_name(obj))
    _feed((path, obj.isolation_level, obj.row_factory, obj.text_factory), h)


def _hash_sqlite_cursor(obj: Any, h: Hasher) -> None:
    """A cursor of a closed connection (``cur = con.cursor()``, queries, ``con.close()``)
    by what it still shows (:func:`flowyml.handles.sqlite_cursor`) and its connection. One
    of an open connection holds rows still to be read from the database: not hashable."""
    from flowyml.handles import sqlite_cursor

    state = sqlite_cursor(obj)
    if state is None:
        raise UnhashableValueError(
            "a sqlite3 cursor of an open connection cannot be hashed by content (its rows "
            "are read from the database); read them in the cell that queries, or close the "
            "connection there")
    tag(h, b"sqlite-cursor", _type_name(obj))
    _feed(tuple(state), h)
    _hash_sqlite_connection(obj.connection, h)


def _fragment_partitions(obj: Any) -> list[str]:
    """Each file's partition (``Industry=Biotech``); a filtered dataset does not give its
    fragments (its filter and schema are digested)."""
    try:
        return [str(fragment.partition_expression) for fragment in obj.get_fragments()]
    except ValueError:
        return ["<filtered>"]


def _unhashable_artist(obj: Any, h: Hasher) -> None:
    """A matplotlib figure, axes or line is drawing state tied to its figure (callbacks,
    transforms, a canvas): pickling it through the canonical hasher took 10-100 ms and
    then almost always failed on its self-references. Said at once, so a notebook keys
    it by the step that made it (as it did after that failure)."""
    raise UnhashableValueError(
        f"a matplotlib {type(obj).__qualname__} is not hashed by content (it is drawing "
        "state); return the data it shows, or pass cache=False")


def _register_numpy(np: Any) -> None:
    def _hash_ndarray(arr: Any, h: Hasher) -> None:
        if type(arr) is not np.ndarray and not isinstance(arr, np.memmap):
            tag(h, b"sub", _type_name(arr))
            if isinstance(arr, np.ma.MaskedArray):  # its mask and fill value are its content
                _hash_ndarray(np.ma.getmaskarray(arr), h)
                _feed(arr.fill_value, h)
            arr = arr.view(np.ndarray)  # a subclass's bytes (a masked array's view refuses)
        tag(h, b"nd", arr.dtype.str.encode() + repr(arr.shape).encode())
        if arr.dtype.hasobject:
            for item in arr.reshape(-1):
                _feed(item, h)
            return
        if arr.dtype.fields is not None:
            h.update(repr(arr.dtype.descr).encode())
        flat = arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        h.update(flat.reshape(-1).view(np.uint8))

    def _hash_generic(obj: Any, h: Hasher) -> None:
        tag(h, b"np", obj.dtype.str.encode())
        if obj.dtype.hasobject:
            _feed(obj.item(), h)
        else:
            h.update(obj.tobytes())

    def _hash_npz(obj: Any, h: Hasher) -> None:
        # `dem = np.load('topo.npz')`: a lazy reader by what it reads, its file and keys (not
        # where its file stands: reading an array moves it). The file's content is not the
        # value's: a step that uses it reads the file (flowyml.tracking.files.value_sources),
        # so an edited file re-runs it. Its pickle was refused (an open file, a lock), and
        # the digest of the step that made it stood for it: after the file changed, that
        # step ran again and a cell printing `dem['topo']` was still a hit, on the old data.
        from flowyml.handles import file_handle

        fid = getattr(obj, "fid", None)
        path = None
        if getattr(obj, "zip", None) is not None:
            handle = file_handle(fid) if fid is not None else None
            if handle is None:
                raise UnhashableValueError(
                    f"{obj!r} cannot be hashed by content: it reads a file object the notebook "
                    "opened (np.load(f)); pass np.load the file's path to cache the steps using it")
            path = handle.path
        tag(h, b"npz", _type_name(obj))
        _feed((path, list(obj.files), bool(obj.allow_pickle)), h)

    fingerprint.register(np.ndarray, _hash_ndarray)
    fingerprint.register(np.generic, _hash_generic)
    npz = getattr(getattr(np, "lib", None), "npyio", None)
    if npz is not None and hasattr(npz, "NpzFile"):
        fingerprint.register(npz.NpzFile, _hash_npz)
    _dispatch_cache.clear()


def _register_pandas(pd: Any) -> None:
    np = sys.modules.get("numpy")

    infer_dtype = pd.api.types.infer_dtype
    #: kinds of object values pandas' vectorised hash tells apart exactly: it hashes strings
    #: (and bytes, nulls) itself and any other object by ``str(value)``, which is exact
    #: within one of these kinds but not across them (``1`` and ``"1"``) nor for containers
    #: (a list raises, an array over 1000 items is summarised with "...")
    by_pandas = frozenset({"string", "bytes", "empty", "integer", "floating", "complex",
                           "boolean", "decimal", "datetime", "datetime64", "date", "time",
                           "timedelta", "timedelta64", "period", "interval"})

    def _objects(values: Any) -> bool:
        return isinstance(values.dtype, np.dtype) and values.dtype.hasobject

    def _exact_by_pandas(values: Any) -> bool:
        """Whether pandas' hash of these object values is exact (see ``by_pandas``)."""
        return infer_dtype(values, skipna=True) in by_pandas

    def _hash_objects(values: Any, h: Hasher) -> None:
        """Object values pandas would hash by ``str()`` across kinds: one by one, by content
        (``[1, "a"]`` and ``["1", "a"]`` hashed alike, so a cell reading one was a hit for
        the other; a column of lists made hashing raise and the cell fail)."""
        tag(h, b"pdo")
        _feed(np.asarray(values, dtype=object), h)

    def _hash_values(values: Any, h: Hasher) -> None:
        if np is not None and isinstance(values, np.ndarray) and not values.dtype.hasobject:
            _feed(values, h)
        else:
            # extension arrays, strings, objects: pandas' vectorised per-element hash
            objects = np.asarray(values, dtype=object)
            if not _exact_by_pandas(objects):
                _hash_objects(objects, h)
                return
            hashed = pd.util.hash_array(objects, categorize=False)
            _feed(hashed, h)

    def _hash_index(index: Any, h: Hasher) -> None:
        tag(h, b"pdi", type(index).__name__.encode() + str(index.dtype).encode())
        _feed(list(index.names), h)
        if isinstance(index, pd.RangeIndex):
            _feed((index.start, index.stop, index.step), h)
        elif isinstance(index, pd.MultiIndex):
            if all(not _objects(level) or _exact_by_pandas(level) for level in index.levels):
                _feed(pd.util.hash_pandas_object(index, index=False).to_numpy(), h)
            else:
                tag(h, b"pdmi")
                for level, codes in zip(index.levels, index.codes, strict=True):
                    _hash_index(level, h)
                    _feed(np.asarray(codes), h)
        else:
            _hash_values(index.to_numpy(), h)

    def _hash_series(s: Any, h: Hasher) -> None:
        tag(h, b"pds", str(s.dtype).encode())
        _feed(s.name, h)
        _hash_index(s.index, h)
        _hash_column(s, h)

    def _hash_column(s: Any, h: Hasher) -> None:
        if isinstance(s.dtype, np.dtype) and not s.dtype.hasobject:
            _feed(s.to_numpy(copy=False), h)
        elif isinstance(s.dtype, np.dtype) and not _exact_by_pandas(s.to_numpy()):
            _hash_objects(s.to_numpy(), h)
        elif (isinstance(s.dtype, pd.CategoricalDtype) and _objects(s.dtype.categories)
              and not _exact_by_pandas(s.dtype.categories)):
            tag(h, b"pdc", b"o" if s.dtype.ordered else b"u")
            _hash_index(s.dtype.categories, h)
            _feed(np.asarray(s.cat.codes), h)
        else:
            _feed(pd.util.hash_pandas_object(s, index=False, categorize=False).to_numpy(), h)

    def _hash_frame(df: Any, h: Hasher) -> None:
        tag(h, b"pdf", repr(df.shape).encode())
        _hash_index(df.columns, h)
        _hash_index(df.index, h)
        for position in range(df.shape[1]):
            column = df.iloc[:, position]
            h.update(str(column.dtype).encode())
            _hash_column(column, h)

    def _hash_groupby(g: Any, h: Hasher) -> None:
        """A GroupBy by what it groups and how: its frame, keys, options, selection and the
        key values it took when it was made -- not by the caches its aggregations fill (its
        grouper is shared with ``g["col"]``, so aggregating that moved ``g``'s digest: a cell
        "changed it in place", and after a restart the cells reading it missed)."""
        try:
            groupings = [gr.grouping_vector for gr in g._grouper.groupings]
            parts = [g.obj, g.keys, g.level, g.as_index, g.sort, g.group_keys, g.dropna,
                     g.observed, g._selection, frozenset(g.exclusions)]
        except Exception:  # pandas' internals moved: by pickle, as any object
            _fingerprint_by_pickle(g, h)
            return
        tag(h, b"pdg", _type_name(g))
        for part in parts:
            _feed(part, h)
        for vector in groupings:
            _hash_values(vector, h)

    fingerprint.register(pd.Index, _hash_index)
    fingerprint.register(pd.Series, _hash_series)
    fingerprint.register(pd.DataFrame, _hash_frame)
    typing = getattr(getattr(pd, "api", None), "typing", None)
    for name in ("DataFrameGroupBy", "SeriesGroupBy"):
        cls = getattr(typing, name, None)
        if isinstance(cls, type):
            fingerprint.register(cls, _hash_groupby)
    _dispatch_cache.clear()


