"""One cache entry as a file, and as a verified handle: the entry-file format (the outputs pickled
with protocol 5, large buffers out of band and memory-mapped on load, the replay, the metadata
and a trailer), written in one pass with its checksum computed from the bytes in memory, and
read back only after trailer, metadata, format, key, size and checksum all check out. Shared
by the local store (:mod:`flowyml.store.local`) and object storage (:mod:`flowyml.store.remote`).
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import itertools
import json
import mmap
import os
import pickle
import stat
import struct
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from flowyml.store import byvalue as _byvalue
from flowyml.store import sharing as _sharing
from flowyml.store import signing as _signing

FORMAT_VERSION = 1
#: entries up to this size are checksummed in full on every load; larger ones (which load
#: memory-mapped) are checked by size and by a checksum of sampled blocks.
FULL_VERIFY_BYTES = 64 * 1024 * 1024
_SAMPLE_BLOCK = 64 * 1024
_SAMPLE_COUNT = 64


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
OPEN_FLAGS = os.O_RDONLY | _NOFOLLOW | _CLOEXEC


class CacheWarning(UserWarning):
    """Something went wrong with the cache; the result is still correct (recomputed)."""


class CacheLoadError(RuntimeError):
    """A cache hit whose data could not be loaded after all; the entry is removed."""


@dataclass(frozen=True)
class CacheEntry:
    """A verified entry: where it is and what its metadata says about it.

    ``data`` holds the verified bytes of a small local entry, read once by the lookup, so
    that loading it reads and checks nothing again (``None``: loading reads the file).
    """

    location: str | Path
    meta: dict[str, Any] = field(hash=False, compare=False)
    data: Any = field(default=None, hash=False, compare=False, repr=False)

    def __getstate__(self) -> dict[str, Any]:
        # shipped to a worker: the worker reads (and verifies) the file itself
        return {"location": self.location, "meta": self.meta}

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def output_hashes(self) -> dict[str, str]:
        return self.meta.get("outputs", {})

    @property
    def duration(self) -> float:
        return float(self.meta.get("duration", 0.0))

class _Pickled:
    """An output pickled by the C pickler, kept as one bytes object inside ``output.pkl``.

    joblib's persistence walks objects with the pure-Python pickler so that it can write
    numpy arrays apart (and load them memory-mapped); for an object graph such as a
    matplotlib ``Figure`` or a fitted model that walk is ~20x slower than ``pickle``.
    Arrays and pandas objects still go through joblib; everything else is pickled here.
    """

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Pickled, (self.data,))


def pack(value: Any) -> Any:
    module = type(value).__module__
    if module.startswith(("numpy", "pandas")) or value is None or isinstance(
            value, int | float | str | bytes | bool):
        return value
    try:
        if not _byvalue.needs_by_value(value):
            return _Pickled(_byvalue.dumps_plain(value))
    except Exception:
        pass
    try:  # a lambda or closure made in the notebook, or an object holding one
        return _Pickled(_byvalue.dumps(value))
    except Exception:
        return value  # numpy_pickle then fails on it and the caller names the output


def unpack(outputs: Any) -> Any:
    if not isinstance(outputs, dict):
        return outputs
    return {n: loads(v.data) if type(v) is _Pickled else v for n, v in outputs.items()}


#: the namespace a notebook loads a hit's outputs into, while it loads them (see loading_into)
_NAMESPACE: ContextVar[dict[str, Any] | None] = ContextVar("flowyml_load_namespace", default=None)
#: two frames whose globals are that namespace, around the unpickling (see loads)
_IN_NAMESPACE = compile(
    "def __flowyml_loads__(load=__flowyml_loads__):\n"
    "    return load()\n"
    "__flowyml_value__ = __flowyml_loads__()\n",
    "<flowyml: unpickled in the notebook's namespace>", "exec")


@contextlib.contextmanager
def loading_into(namespace: dict[str, Any]) -> Iterator[None]:
    """Unpickle what is loaded in this block from frames whose globals are ``namespace``.

    Some objects re-evaluate code in their *caller's* namespace when they are unpickled:
    a statsmodels model fitted from a formula (``smf.ols("y ~ np.log(x) + f(z)", df)``)
    rebuilds its design from the formula in ``__setstate__``, looking its names up in the
    frames that called ``pickle.loads`` (patsy's ``EvalEnvironment.capture``: up to four
    frames up). A user who unpickles one in a notebook does it from the notebook's namespace;
    flowyml's loader sits in its own modules, where the notebook's ``f`` (restored by the hit
    before its outputs load) is not found: the entry would never load. Plain ``pickle.loads``
    outside such a block."""
    token = _NAMESPACE.set(namespace)
    try:
        yield
    finally:
        _NAMESPACE.reset(token)


def loads(data: Any, **kwargs: Any) -> Any:
    """``pickle.loads(data, **kwargs)``; inside :func:`loading_into`, called from two frames
    (the nearest callers an unpickled object's ``__setstate__`` sees) whose globals are the
    notebook's namespace, and whose locals hold only flowyml's dunder names."""
    namespace = _NAMESPACE.get()
    if type(namespace) is not dict:
        return _sharing.loads(data, **kwargs)
    local = {"__flowyml_loads__": functools.partial(_sharing.loads, data, **kwargs)}
    exec(_IN_NAMESPACE, namespace, local)
    return local["__flowyml_value__"]


def plain_arrays(outputs: Any) -> Any:
    """Memory-mapped arrays as plain ``ndarray`` views of their map: still memory-mapped
    (copy-on-write), but they print, pickle and subclass-check like the array the step made
    (``array([...])``, not ``memmap([...])``)."""
    np = sys.modules.get("numpy")
    if np is None or not isinstance(outputs, dict):
        return outputs

    def plain(value: Any, depth: int = 0) -> Any:
        if type(value) is np.memmap:
            return value.view(np.ndarray)
        if depth < 2 and type(value) in (list, tuple):
            return type(value)(plain(v, depth + 1) for v in value)
        if depth < 2 and type(value) is dict:
            return {k: plain(v, depth + 1) for k, v in value.items()}
        return value

    return {name: plain(value) for name, value in outputs.items()}


# ---------------------------------------------------------------------------------------------
# The entry file
# ---------------------------------------------------------------------------------------------
#
#   [pickle stream (protocol 5) of the outputs dict]       offset 0, meta["stream"] bytes
#   [zero padding to 64 | out-of-band buffer] ...          meta["buffers"]: [offset, length]
#   ------------------------------------------------------ the data: meta["size"] bytes,
#   [replay JSON]                                          meta["checksum"] covers it
#   [metadata JSON]
#   [trailer: metadata length (u64), xxh3-64 of the metadata (8 bytes), MAGIC (8 bytes)]
#
# Buffers of 64 KiB and more (numpy arrays, pandas columns: anything that pickles with
# protocol 5's out-of-band buffers) are written straight from the object's memory and load
# as views of a copy-on-write memory map of the file.

#: the name of an entry file: ``<xxh3-128 of the key>.entry``
ENTRY_SUFFIX = ".entry"
MAGIC = b"FLOWYML2"
TRAILER = struct.Struct("<Q8s8s")
_ALIGN = 64
#: out-of-band buffers at least this large are written apart (and memory-mapped on load)
_OOB_MIN = 64 * 1024
#: entries up to this size are read whole with one ``read`` (and checked in memory)
SMALL_READ = 1024 * 1024
#: a lookup keeps the verified bytes of entries up to this size for ``load``
KEEP_BYTES = 64 * 1024
_TAIL_READ = 64 * 1024
_WRITE_CHUNK = 16 * 1024 * 1024
WRITE_COUNTER = itertools.count()


def serialise(outputs: dict[str, Any]) -> tuple[list[Any], int, int, list[list[int]]]:
    """The data of an entry as segments to write (no copies of large buffers), its size,
    the length of its pickle stream and where its out-of-band buffers go."""
    apart: list[memoryview] = []

    def in_band(buffer: pickle.PickleBuffer) -> bool:
        raw = buffer.raw()
        if raw.nbytes < _OOB_MIN:
            return True
        apart.append(raw)
        return False

    try:
        if _byvalue.needs_by_value(outputs):  # a namedtuple class the cell made
            raise pickle.PicklingError("by value")
        stream = _byvalue.dumps_plain(outputs, buffer_callback=in_band)
    except Exception:  # a lambda or closure made in the notebook, or an object holding one
        apart.clear()
        stream = _byvalue.dumps(outputs, buffer_callback=in_band)
    segments: list[Any] = [stream]
    offset, layout = len(stream), []
    for raw in apart:
        pad = -offset % _ALIGN
        if pad:
            segments.append(bytes(pad))
            offset += pad
        layout.append([offset, raw.nbytes])
        segments.append(raw)
        offset += raw.nbytes
    return segments, offset, len(stream), layout


def _sample_ranges(size: int) -> list[tuple[int, int]]:
    """The blocks a ``sampled:`` checksum covers: 64 spread over the data, and the last."""
    step = max(size // _SAMPLE_COUNT, _SAMPLE_BLOCK)
    ranges = [(start, min(start + _SAMPLE_BLOCK, size)) for start in range(0, size, step)]
    ranges.append((max(size - _SAMPLE_BLOCK, 0), size))
    return ranges


def segments_checksum(segments: list[Any], size: int) -> str:
    """The checksum of the data, from the segments in memory (nothing is read back)."""
    h = xxhash.xxh3_128()
    if size <= FULL_VERIFY_BYTES:
        for segment in segments:
            h.update(segment)
        return "full:" + h.hexdigest()
    starts, at = [], 0
    for segment in segments:
        starts.append(at)
        at += memoryview(segment).nbytes
    for start, end in _sample_ranges(size):
        i = bisect.bisect_right(starts, start) - 1
        while start < end:
            view = memoryview(segments[i]).cast("B")
            piece = view[start - starts[i]: min(end - starts[i], view.nbytes)]
            h.update(piece)
            start += piece.nbytes
            i += 1
    h.update(size.to_bytes(8, "little"))
    return "sampled:" + h.hexdigest()


def _view_checksum(view: memoryview, size: int) -> str:
    """:func:`segments_checksum` of data that is one buffer (a file read or mapped)."""
    if size <= FULL_VERIFY_BYTES:
        return "full:" + xxhash.xxh3_128_hexdigest(view[:size])
    h = xxhash.xxh3_128()
    for start, end in _sample_ranges(size):
        h.update(view[start:end])
    h.update(size.to_bytes(8, "little"))
    return "sampled:" + h.hexdigest()


def tail_bytes(meta: dict[str, Any], replay: bytes | None) -> bytes:
    """What follows the data: the replay, the metadata and the trailer."""
    text = json.dumps(meta, default=str).encode()
    trailer = TRAILER.pack(len(text), xxhash.xxh3_64_digest(text), MAGIC)
    return b"".join((replay or b"", text, trailer))


def write_segments(path: str, segments: list[Any], tail: bytes, size: int) -> None:
    """Create ``path`` (never an existing file) holding the segments and the tail. No fsync:
    see the README's durability note -- a file cut short by a power loss fails its checks."""
    if size <= SMALL_READ:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600)
        try:
            data = b"".join([*segments, tail])
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        return
    with open(path, "xb") as fh:
        os.fchmod(fh.fileno(), 0o600)
        for segment in segments:
            view = memoryview(segment).cast("B")
            for start in range(0, view.nbytes, _WRITE_CHUNK):  # straight from the object's memory
                fh.write(view[start: start + _WRITE_CHUNK])
        fh.write(tail)


def _parse_tail(tail: memoryview, file_size: int, key: str | None
                ) -> tuple[dict[str, Any] | None, str | None, int]:
    """The metadata at the end of an entry file (``tail``: its last bytes). Returns
    ``(meta, None, 0)``, ``(None, problem, 0)``, or ``(None, None, n)``: read the last
    ``n`` bytes and try again."""
    if file_size < TRAILER.size:
        return None, f"entry file is {file_size} bytes: truncated (no metadata)", 0
    length, digest, magic = TRAILER.unpack_from(tail, len(tail) - TRAILER.size)
    if magic != MAGIC:
        return None, "entry file has no metadata trailer at its end (truncated?)", 0
    if length > file_size - TRAILER.size:
        return None, f"entry file is {file_size} bytes, its metadata says more (truncated?)", 0
    if length + TRAILER.size > len(tail):
        return None, None, length + TRAILER.size
    text = tail[len(tail) - TRAILER.size - length: len(tail) - TRAILER.size]
    if xxhash.xxh3_64_digest(text) != digest:
        return None, "metadata checksum mismatch (corrupted)", 0
    try:
        meta = json.loads(str(text, "utf-8"))
        if not isinstance(meta, dict):
            raise ValueError(f"expected a JSON object, got {type(meta).__name__}")
    except ValueError as exc:
        return None, f"unreadable metadata ({exc})", 0
    if meta.get("format") != FORMAT_VERSION:
        return None, f"written by another format version ({meta.get('format')!r})", 0
    if key is not None and meta.get("key") != key:
        return None, "its metadata names another key", 0
    size, replay = meta.get("size"), meta.get("replay") or {}
    replay_size = replay.get("size", 0) if isinstance(replay, dict) else None
    if not isinstance(size, int) or not isinstance(replay_size, int):
        return None, "unreadable metadata (no sizes)", 0
    expected = size + replay_size + length + TRAILER.size
    if expected != file_size:
        return None, f"entry file is {file_size} bytes, expected {expected} (truncated?)", 0
    stream, buffers = meta.get("stream"), meta.get("buffers")
    if not (type(stream) is int and 0 < stream <= size and type(buffers) is list) or (
            buffers and not _layout_ok(buffers, stream, size)):
        return None, "unreadable metadata (bad data layout)", 0
    return meta, None, 0


def _layout_ok(buffers: list[Any], stream: int, size: int) -> bool:
    return all(isinstance(b, list) and len(b) == 2 and all(isinstance(v, int) for v in b)
               and stream <= b[0] and b[1] >= 0 and b[0] + b[1] <= size for b in buffers)


def read_entry(fd: int, location: str, key: str | None, secret: Any, *,
                keep: int, st: os.stat_result | None = None) -> tuple[CacheEntry | None, str | None]:
    """Verify the entry open at ``fd``: trailer, metadata (format, ``key``, sizes), the
    data's checksum and, with a ``secret``, its signature and SHA-256 -- before anything is
    unpickled. Returns the entry (holding its bytes when it is at most ``keep`` bytes) or
    the problem."""
    st = os.fstat(fd) if st is None else st
    if not stat.S_ISREG(st.st_mode):
        return None, "entry is not a regular file"
    n = st.st_size
    if n <= SMALL_READ:
        buf = bytearray(n)
        if n and os.readv(fd, [buf]) != n:
            return None, "entry file changed while it was read"
        view = memoryview(buf)
        meta, problem, _ = _parse_tail(view, n, key)
        if meta is None:
            return None, problem
        size = meta["size"]
        if _view_checksum(view, size) != meta.get("checksum"):
            return None, "data checksum mismatch (corrupted)"
        if _signing.checks(secret):
            problem = _signing.signature_problem(meta, secret)
            if problem is None and not _signing.digest_matches(view[:size], meta.get("sha256")):
                problem = "output data does not match its signed sha256 (altered); refusing to load it"
            if problem is not None:
                return None, problem
        return CacheEntry(location, meta, buf if n <= keep else None), None
    tail = os.pread(fd, _TAIL_READ, n - _TAIL_READ)
    meta, problem, need = _parse_tail(memoryview(tail), n, key)
    if need:
        tail = os.pread(fd, need, n - need)
        meta, problem, _ = _parse_tail(memoryview(tail), n, key)
    if meta is None:
        return None, problem
    size = meta["size"]
    with mmap.mmap(fd, n, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            checksum = _view_checksum(view, size)
        finally:
            view.release()
    if checksum != meta.get("checksum"):
        return None, "data checksum mismatch (corrupted)"
    if _signing.checks(secret):
        problem = _signing.signature_problem(meta, secret)
        if problem is None and not _signing.fd_matches(fd, size, meta.get("sha256")):
            problem = "output data does not match its signed sha256 (altered); refusing to load it"
        if problem is not None:
            return None, problem
    return CacheEntry(location, meta), None


def unpickle(data: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """The outputs from an entry's verified bytes (or its copy-on-write map): out-of-band
    buffers are views of ``data``, so arrays are not copied."""
    view = memoryview(data)
    buffers = [view[offset: offset + length] for offset, length in meta["buffers"]]
    return loads(view[: meta["stream"]], buffers=buffers)


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The metadata of the entry file at ``path`` without verifying its data (``None``:
    not an entry of this format). For ``flowyml why`` and lifecycle reports."""
    try:
        fd = os.open(os.fspath(path), OPEN_FLAGS)
        try:
            n = os.fstat(fd).st_size
            tail = os.pread(fd, min(n, _TAIL_READ), max(n - _TAIL_READ, 0))
            meta, _, need = _parse_tail(memoryview(tail), n, None)
            if need:
                meta, _, _ = _parse_tail(memoryview(os.pread(fd, need, n - need)), n, None)
        finally:
            os.close(fd)
    except (OSError, struct.error):
        return None
    return meta


def entry_file_parts(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes, bytes]:
    """``(metadata, data, replay bytes)`` of an entry file, unverified: for tools and for
    tests that take entries apart (see :func:`write_entry_file`)."""
    raw = Path(path).read_bytes()
    length = TRAILER.unpack_from(raw, len(raw) - TRAILER.size)[0]
    meta = json.loads(raw[len(raw) - TRAILER.size - length: len(raw) - TRAILER.size])
    size = meta["size"]
    return meta, raw[:size], raw[size: len(raw) - TRAILER.size - length]


def write_entry_file(path: str | os.PathLike[str], meta: dict[str, Any], data: bytes,
                     replay: bytes = b"") -> None:
    """Write an entry file from its parts as given (no checks, no signing; for tools and
    tests that forge or damage entries on purpose)."""
    Path(path).write_bytes(data + tail_bytes(meta, replay))


def entry_facts(meta: dict[str, Any], replay: list[dict[str, Any]] | None,
                notes: dict[str, Any] | None, explain: dict[str, Any] | None,
                secret: Any = None) -> bytes | None:
    """Put what a store keeps beside the outputs into ``meta`` (shared by every store):
    the replay's size and checksum (and SHA-256 when signing), the notes, and the facts
    ``flowyml why`` compares. Returns the replay's bytes to write (``None``: none)."""
    blob = None
    if replay is not None:
        blob = json.dumps(replay, default=str).encode()
        meta["replay"] = {"size": len(blob), "checksum": "full:" + xxhash.xxh3_128_hexdigest(blob)}
        if secret is not None:
            meta["replay"]["sha256"] = _signing.sha256_bytes(blob)
    if notes:
        meta["notes"] = notes
    if explain:
        meta["explain"] = explain  # not part of the key
    return blob


def replay_items(store: Any, entry: CacheEntry, info: dict[str, Any],
                 blob: bytes) -> list[dict[str, Any]] | None:
    """A stored replay, checked against what ``entry_facts`` recorded (size, checksum, and
    SHA-256 when signed); a mismatch is reported once and nothing is replayed."""
    if len(blob) != info.get("size") or "full:" + xxhash.xxh3_128_hexdigest(blob) != info.get("checksum"):
        store._report(str(entry.meta.get("key", "?")), "replay.json does not match its "
                      "checksum; the cell's outputs are not replayed", once=True)
        return None
    if ((_signing.checks(store.secret) or "sha256" in info)
            and info.get("sha256") != _signing.sha256_bytes(blob)):
        return None  # the entry was verified as signed: its replay must match too
    try:
        items = json.loads(blob)
    except ValueError:
        return None
    return items if isinstance(items, list) else None


def file_checksum(path: Path, size: int) -> str:
    """xxh3 of the whole file, or of sampled blocks plus the size for very large files."""
    with open(path, "rb") as fh:
        return _checksum_file(fh, size)


def _checksum_file(fh: Any, size: int) -> str:
    """:func:`file_checksum` of an open binary file."""
    h = xxhash.xxh3_128()
    if size <= FULL_VERIFY_BYTES:
        while chunk := fh.read(8 * 1024 * 1024):
            h.update(chunk)
        return "full:" + h.hexdigest()
    step = max(size // _SAMPLE_COUNT, _SAMPLE_BLOCK)
    for offset in range(0, size, step):
        fh.seek(offset)
        h.update(fh.read(_SAMPLE_BLOCK))
    fh.seek(max(size - _SAMPLE_BLOCK, 0))
    h.update(fh.read(_SAMPLE_BLOCK))
    h.update(size.to_bytes(8, "little"))
    return "sampled:" + h.hexdigest()


def unpicklable_output(outputs: dict[str, Any]) -> str | None:
    import pickle

    for name, value in outputs.items():
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return name
    return None
