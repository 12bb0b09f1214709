"""Files are inputs (and outputs) of a step: recording what it reads and writes while it runs,
and checking it on the next lookup.

*Recording.* One process-wide audit hook (:func:`sys.addaudithook`, installed the first
time a step is recorded) sees every Python-level ``open``, ``os.listdir`` and ``os.scandir``
of the process. It is gated by a :class:`contextvars.ContextVar` holding the recorder of the
step running in the current context, and by the process-wide *sole recorder* (below): with
no step running the hook returns after one ``ContextVar.get`` and one global read. What a
step's code names as string literals and exists when it ran is recorded too (readers that
open files in C: pyarrow/parquet, h5py, sqlite3), and objects
named by fsspec URLs (``"s3://bucket/data.csv"``) by their store's identity (ETag, version,
size, mtime from the filesystem's ``info``).

Threads: a context variable is inherited only by code run through
``contextvars.copy_context().run`` (and asyncio tasks), not by the threads a step's code
starts itself (``threading.Thread``, a ``ThreadPoolExecutor``, joblib's or pyarrow's
threads). So while exactly one step records in the process, the *sole recorder*, an event
from a thread with no recorder in its context is that step's; while two record at once
(the threads executor running steps side by side, a step nested in another) such events
belong to nobody, so no step ever sees another's files. Threads of our own and of the
host (the kernel's, Dask's, flowyml's store writers) read what the skip list leaves out:
the cache, site-packages, ``/proc``, ``/dev``, tool caches, Dask's scratch space.

*The record* of a step (kept in its entry's metadata, ``meta["notes"]["files"]``, never in
its key) is a small JSON dict::

    {"read":  "size mtime_ns xxh3-128 path\n...",    # files it read (compact: see pack;
                                                    # digest "-": not hashed, see below)
     "declared": "...",                             # files matching --files, same form
     "dirs":  {path: xxh3 of the sorted names},     # directories it listed
     "folders": {path: xxh3 of names+sizes+mtimes}, # folders its shell commands name
     "globs": {pattern: xxh3 of the sorted matches},# --files patterns
     "urls":  {url: {"etag": ..., "size": ...}},    # fsspec objects
     "wrote": {path: [size, mtime_ns, xxh3-128]},   # files it wrote (and left)
     "kept":  [path, ...]}                          # those whose bytes are in the entry

Paths under the step's working directory are kept relative to it (a moved project, or a
colleague's checkout sharing a remote cache, still matches); others are absolute. A link is
recorded under its own name and checked through it, so its target's content counts.

*The hashing budget.* Hashing a file costs about what reading it did, so a cheap step that
reads many files would take twice as long recorded. The files a step read are hashed only
while hashing stays within a share of the step's own run time (:data:`DEFAULT_HASH_BUDGET`,
``FLOWYML_FILES_HASH_BUDGET``); a file whose estimated cost (from its size) would overrun
what is left, and every file once the budget is spent, is recorded by size and mtime only
(digest :data:`UNHASHED`). Declared files (``--files``) and written files are always hashed.
The budget only bites when the step is cheap to re-run, and it never makes a wrong hit:
such a file that was touched (or copied to another machine) is a miss.

*Checking.* :func:`stale_reason` stats each file: same size and mtime -> valid without
reading; otherwise the file is hashed, and a different digest or a missing file is the
reason ("data.csv changed", "data.csv is gone"). A touched but equal file stays valid,
unless it was recorded by size and mtime only: then any change of either is the reason.
:func:`put_back` writes back the files a step wrote when they are missing or differ.

Ground floor: nothing here imports flowyml.
"""

from __future__ import annotations

import contextlib
import functools
import glob as _glob
import os
import re
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from stat import S_ISREG as _S_ISREG
from typing import Any

import xxhash

from flowyml.tracking import environ as _environ

#: the output name under which the bytes of the files a step wrote are stored with its entry
#: (not an identifier, so it never meets a variable or output of the step)
FILES_OUTPUT = "<files>"
#: the key of the record in an entry's notes
NOTE = "files"
#: files a step writes are kept with its entry up to this many bytes (FLOWYML_FILES_MAX)
DEFAULT_MAX = 64 * 2**20
#: read in chunks that stay in the CPU's cache while they are hashed (measured: 0.5-1 MiB
#: beat both small and 16 MiB chunks); no mmap: a file truncated meanwhile would SIGBUS
_CHUNK = 2**20
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^\s]+$")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
#: compiled code and extension modules: never a step's data
_CODE_SUFFIXES = (".pyc", ".pyo", ".pyd", ".so", ".pyi")
#: a database's transient companions (SQLite's rollback journal and shared-memory index):
#: they come and go with each transaction; the database file itself is the data
_TRANSIENT_SUFFIXES = ("-journal", "-shm")
#: environment variables naming tool folders that are never a step's data
_TOOL_DIR_VARS = ("IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR",
                  "MPLCONFIGDIR", "XDG_CACHE_HOME")
#: the code that lists sys.path entries to import or to find package metadata
#: (``importlib.metadata.version(...)``, entry points, ``pkg_resources``), by file path part
_IMPORT_LISTERS = (f"{os.sep}importlib{os.sep}", f"{os.sep}importlib_metadata{os.sep}",
                   f"{os.sep}pkg_resources{os.sep}", f"{os.sep}importlib_resources{os.sep}")
_READ_MODES = frozenset(("r", "rb", "rt", "br", "tr"))
_POSIX = os.sep == "/" and os.altsep is None
#: the digest of a file recorded by size and mtime only (never a hex digest)
UNHASHED = "-"
#: the files a step read are hashed while hashing stays within this share of the step's own
#: run time (FLOWYML_FILES_HASH_BUDGET, in percent; "all" hashes every file)
DEFAULT_HASH_BUDGET = 0.05
#: what hashing a file is estimated to cost before it is hashed: a fixed part (open, fstat
#: twice, read, close: ~3.6 us measured for a tiny file) plus its size at a conservative rate
#: (this machine hashes 6-12 GB/s from the page cache; a file not in it reads slower)
_HASH_FIXED = 4e-6
_HASH_RATE = 2e9
#: the clock of the budget (a module attribute so that tests can replace it)
_now = time.perf_counter


class FilesNotKeptWarning(UserWarning):
    """The files a step wrote are over the bound and are not kept with its entry."""


# ---------------------------------------------------------------------------------------------
# The hook
# ---------------------------------------------------------------------------------------------

_CURRENT: ContextVar[_Recorder | None] = ContextVar("flowyml_files_recorder", default=None)
_installed: list[bool] = []
_install_lock = threading.Lock()
#: the recorder of the only step recording in the process (``None``: none, or several): it
#: gets the events of threads with no recorder in their context (threads the step started)
_sole: _Recorder | None = None
#: the recorders of the steps recording now (``None`` for one that records declared files
#: only), in the order they started
_active: list[_Recorder | None] = []
_active_lock = threading.Lock()


def _hook(event: str, args: tuple[Any, ...]) -> None:
    rec = _CURRENT.get()
    if rec is None:
        rec = _sole
        if rec is None:
            if event == "mmap.__new__":
                _note_map(args)
            return
    rec.event(event, args)


def _began(rec: _Recorder | None) -> None:
    """A step started recording: the sole recorder is its, or nobody's once two record."""
    global _sole
    with _active_lock:
        _active.append(rec)
        _sole = _active[0] if len(_active) == 1 else None


def _ended(rec: _Recorder | None) -> None:
    """A step stopped recording: a step still recording alone gets the sole slot back."""
    global _sole
    with _active_lock:
        for i, other in enumerate(_active):
            if other is rec:
                del _active[i]
                break
        _sole = _active[0] if len(_active) == 1 else None


#: a memory map that writes through to its file was made in this process (``np.memmap`` in
#: mode ``r+``/``w+``): the process's mappings are then looked at around each step
_maps: list[bool] = []


def _note_map(args: tuple[Any, ...]) -> None:
    """``mmap.__new__`` (fileno, length, access, offset): a shared writable map of a file."""
    try:
        fileno, _, access, _ = args
        if fileno != -1 and access in (0, 2) and not _maps:  # ACCESS_DEFAULT, ACCESS_WRITE
            _maps.append(True)
    except Exception:
        pass


#: the last look at ``/proc/self/fd``: its entries, the skip list it was filtered with, and
#: the data files among them held for writing (readlink + fdinfo of every descriptor cost
#: ~0.2 ms twice a step in a kernel, whose sockets and pipes do not change between cells)
_fd_seen: list[Any] = [None, None, frozenset(), frozenset()]


def _held_files(skip: tuple[str, ...]) -> dict[str, tuple[int, int]] | None:
    """The data files the process holds open for writing (not for appending: a log) or maps
    writable and shared, -> (size, mtime_ns); ``None`` where ``/proc`` does not say (not
    Linux). A step writes such a file without opening it (an earlier cell did: a database
    connection, ``np.memmap``), out of the audit hook's sight: what changed in them while it
    ran is what it wrote through them. ``skip``: the tracking's extra skipped paths.

    The descriptors are looked at one by one only when the set of them changed since the
    last look (a handle opened or closed); else the files found then are stat'ed again."""
    try:
        fds = frozenset(os.listdir("/proc/self/fd"))
    except OSError:
        return None
    skipped = None
    if fds == _fd_seen[0] and skip == _fd_seen[1]:
        paths, streams = set(_fd_seen[2]), _fd_seen[3]
    else:
        skipped = _skip_test(skip)
        paths = set()
        streams = set()  # where stdout and stderr go (`flowyml run > log.txt`): a log
        # (in a kernel, fds 1 and 2 are pipes to ipykernel's threads, which keep the
        # process's own stdout and stderr at copies: `jupyter lab > server.log`)
        standard = {"0", "1", "2", *(
            str(fd) for s in (sys.stdout, sys.stderr)
            if isinstance(fd := getattr(s, "_original_stdstream_copy", None), int))}
        for fd in fds:
            try:
                path = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if fd in standard:
                streams.add(path)
                continue
            if path[:1] != "/" or path.endswith(" (deleted)") or skipped(path):
                continue  # a pipe, a socket, a removed file, not data
            try:
                with open(f"/proc/self/fdinfo/{fd}", "rb") as fh:
                    info = fh.read(256)
                flags = int(info.split(b"flags:", 1)[1].split()[0], 8)
            except (OSError, ValueError, IndexError):
                continue
            if flags & os.O_ACCMODE and not flags & os.O_APPEND:
                paths.add(path)
        _fd_seen[:] = [fds, skip, frozenset(paths), frozenset(streams)]
    if _maps:
        skipped = skipped or _skip_test(skip)
        shared = False
        try:
            with open("/proc/self/maps", "rb") as fh:
                lines = fh.read().split(b"\n")
        except OSError:
            lines = []
        for line in lines:
            parts = line.split(None, 5)
            if len(parts) == 6 and parts[1][1:2] == b"w" and parts[1][3:4] == b"s":
                path = os.fsdecode(parts[5])
                if path[:1] == "/" and not path.endswith(" (deleted)"):
                    shared = True
                    if not skipped(path):
                        paths.add(path)
        if not shared:
            _maps.clear()  # all unmapped: no need to look again until a new one is made
    out = {}
    for path in paths - streams:
        with contextlib.suppress(OSError):
            st = os.stat(path)
            if _S_ISREG(st.st_mode):
                out[path] = (st.st_size, st.st_mtime_ns)
    return out


def _writers_before(inputs: Iterable[Any]) -> dict[str, tuple[int, int, str]]:
    """``path -> (size, mtime_ns, digest)`` of the files that file objects open for writing
    among a step's inputs write (``f = open('test.txt', 'w+')`` in another cell, then
    ``f.write(...)``, ``f.seek(0)``, ``f.read()``), flushed first, before the step runs."""
    from flowyml.handles import flush, writing

    out = {}
    for value in inputs:
        if writing(value) and flush(value) and isinstance(value.name, str):
            path = os.path.abspath(value.name)
            with contextlib.suppress(OSError):
                out[path] = file_record(path)
    return out


def _flush_writers(values: Iterable[Any]) -> None:
    """Flush the file objects open for writing among a step's input and output values."""
    from flowyml.handles import flush, writing

    for value in values:
        if writing(value):
            flush(value)


def _written_by_writers(rec: _Recorder, writers: dict[str, tuple[int, int, str]]
                        ) -> dict[str, list[Any]]:
    """Of the files written through the step's input file objects (``writers``, as
    :func:`_writers_before` took them), those that changed are files it wrote, kept with its
    entry like one it opened (put back on a hit, before the file object is opened again
    there), and read, as they were before it ran (a hit needs that content): ``path ->
    record`` of those."""
    out: dict[str, list[Any]] = {}
    for path, record in writers.items():
        st = _signature(path)
        if st is None or st[:2] == record[:2]:
            continue
        out[path] = list(record)
        if path in rec.through:
            rec.through = [p for p in rec.through if p != path]
        if path not in rec.writes:
            rec.writes.append(path)
    return out


#: a file opened to be changed is hashed first up to this size (a larger one, a long log,
#: is recorded by size and mtime)
_CHANGE_HASH_MAX = 16 * 2**20


def _record_before_change(path: str) -> list[Any] | None:
    try:
        st = os.stat(path)
        if not _S_ISREG(st.st_mode):
            return None
        if st.st_size > _CHANGE_HASH_MAX:
            return [st.st_size, st.st_mtime_ns, UNHASHED]
        return list(file_record(path))
    except OSError:
        return None  # not there yet: made, as ``'w'`` makes it


def _written_through(before: dict[str, tuple[int, int]] | None,
                     after: dict[str, tuple[int, int]] | None) -> list[str]:
    """The files held before the step whose size or mtime moved while it ran. (A handle the
    step opened itself in C and still holds -- ``con = sqlite3.connect(...)`` -- is left
    out: its object cannot be stored, so the step runs again anyway.)"""
    if not before or not after:
        return []
    return [path for path, stat in after.items() if path in before and before[path] != stat]


def install() -> None:
    """Install the process-wide audit hook (once; audit hooks cannot be removed)."""
    if _installed:
        return
    with _install_lock:
        if not _installed:
            sys.addaudithook(_hook)
            _installed.append(True)


def enabled_by_env() -> bool:
    """``FLOWYML_TRACK_FILES=0`` (or ``false``/``no``/``off``) turns recording off."""
    return os.environ.get("FLOWYML_TRACK_FILES", "1").strip().lower() not in ("0", "false", "no", "off")


def parse_size(text: str | int) -> int:
    """``64M``, ``1G``, ``500k``, ``1048576`` -> bytes; raises ValueError naming the text."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*", str(text))
    if not m:
        raise ValueError(f"size {text!r} is not a size like 64M, 1G or 1048576")
    scale = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}[m.group(2).lower()]
    return int(float(m.group(1)) * scale)


def hash_budget_from_env() -> float:
    """The share of a step's run time that hashing the files it read may take
    (``FLOWYML_FILES_HASH_BUDGET``: a percentage such as ``5%`` or ``5``, ``0`` to record them
    all by size and mtime only, ``all`` to hash every one; default 5 %). A value that is not
    one of these gives the default."""
    text = os.environ.get("FLOWYML_FILES_HASH_BUDGET")
    if not text:
        return DEFAULT_HASH_BUDGET
    text = text.strip().lower()
    if text in ("all", "inf", "unlimited"):
        return float("inf")
    try:
        share = float(text.removesuffix("%")) / 100
    except ValueError:
        return DEFAULT_HASH_BUDGET
    return share if share >= 0 else DEFAULT_HASH_BUDGET


def max_from_env() -> int:
    """The bound on the files a step writes that are kept (``FLOWYML_FILES_MAX``, 64 MiB)."""
    text = os.environ.get("FLOWYML_FILES_MAX")
    if not text:
        return DEFAULT_MAX
    try:
        return parse_size(text)
    except ValueError:
        return DEFAULT_MAX


@functools.lru_cache(maxsize=1)
def _skip_prefixes() -> tuple[str, ...]:
    """Directories whose files are never a step's data: the interpreter, site-packages,
    the kernel's pseudo file systems, tool caches in the home directory."""
    import site
    import sysconfig

    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, "/proc", "/dev", "/sys", "/etc",
            "/usr/lib", "/usr/share"}
    for name in ("stdlib", "platstdlib", "purelib", "platlib"):
        with contextlib.suppress(Exception):
            dirs.add(sysconfig.get_paths()[name])
    with contextlib.suppress(Exception):
        dirs.update(site.getsitepackages())
    with contextlib.suppress(Exception):
        dirs.add(site.getusersitepackages())
    home = os.path.expanduser("~")
    if home and home != "/":
        for sub in (".cache", ".config", ".ipython", ".jupyter", ".local/share/jupyter",
                    ".matplotlib", ".keras", ".local/lib"):
            dirs.add(os.path.join(home, sub))
    # the same tools moved elsewhere (a Jupyter server isolating its kernels): IPython's
    # history database is written by its own thread while a step runs
    dirs.update(os.environ.get(var) or "" for var in _TOOL_DIR_VARS)
    ipython = sys.modules.get("IPython")
    with contextlib.suppress(Exception):
        dirs.add(ipython.get_ipython().profile_dir.location)  # type: ignore[union-attr]
    out = set()
    for d in dirs:
        if d:
            out.add(os.path.join(os.path.realpath(d), ""))
            out.add(os.path.join(os.path.abspath(d), ""))
    out.discard(os.sep)
    return tuple(sorted(out))


def _skip_test(extra: tuple[str, ...]) -> Callable[[str], bool]:
    """``skipped(path)``: whether an absolute path is not a step's data (under a skipped
    directory, Python code, the cache). The test of the directory is made once per
    directory (a step reads many files of a few directories; it was half a microsecond a
    file)."""
    prefixes = _skip_prefixes() + extra
    sep = os.sep
    # Python code caches, the cache, a Dask worker's spill files (its own threads read
    # them beside a sole recorder)
    inside = (f"{sep}__pycache__{sep}", f"{sep}.flowyml{sep}", f"{sep}dask-scratch-space{sep}",
              f"{sep}dask-worker-space{sep}")
    dirs: dict[str, bool] = {}
    modules: list[frozenset[str]] = []

    def skipped(path: str) -> bool:
        folder, _, name = path.rpartition(sep)
        hit = dirs.get(folder)
        if hit is None:
            folder_ = folder + sep  # the prefixes end with a separator
            hit = dirs[folder] = folder_.startswith(prefixes) or any(
                part in folder_ for part in inside)
        if hit or name.endswith(_CODE_SUFFIXES) or name.endswith(_TRANSIENT_SUFFIXES) \
                or name == ".flowyml":
            return True
        if name.endswith(".py"):
            # an imported module's source: the code fingerprint covers it; another is
            # data (`open('helper.py').read()`, `exec(open('setup.py').read())`)
            if not modules:
                modules.append(_module_files())
            return path in modules[0]
        return False

    return skipped


def _module_files() -> frozenset[str]:
    """The source files of the modules imported in this process."""
    out = set()
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str):
            out.add(os.path.abspath(file))
    return frozenset(out)


# ---------------------------------------------------------------------------------------------
# Recording one step
# ---------------------------------------------------------------------------------------------


class _Recorder:
    """What one running step opened and listed (paths only; stat and hash come after)."""

    __slots__ = ("changes", "listed", "listings", "reads", "through", "writes")

    def __init__(self) -> None:
        self.reads: list[str] = []
        self.writes: list[str] = []
        #: files it opened to change rather than replace (``'r+'``, ``'a+'``): ``path ->
        #: [size, mtime_ns, digest]`` as they were then (what it wrote depends on them)
        self.changes: dict[str, list[Any]] = {}
        self.listed: list[str] = []
        #: each folder's names when it first listed it (``path -> digest``): what it saw,
        #: before it made or removed any there itself (``if 'out' not in os.listdir('.'):
        #: os.mkdir('out')``; ``glob('out/*.csv')`` then ``to_csv('out/b.csv')``)
        self.listings: dict[str, str] = {}
        #: files written through handles held from before (see :func:`_held_files`)
        self.through: list[str] = []

    def _before_change(self, path: str) -> None:
        with _paused():
            record = _record_before_change(path)
        if record is not None:
            self.changes[path] = record

    def event(self, event: str, args: tuple[Any, ...]) -> None:
        try:
            if event == "open":
                path, mode, flags = args
                if type(path) is not str:
                    if path is None or isinstance(path, int):
                        return
                    path = os.fsdecode(path)
                # os.open gives flags only; open() a mode
                if mode is None:
                    write = bool(flags & _WRITE_FLAGS)
                else:
                    write = mode not in _READ_MODES and any(c in mode for c in "wax+")
                # an absolute path with nothing to normalise is taken as it is (abspath
                # was a third of the cost of an event)
                if not (_POSIX and path[:1] == "/" and "/." not in path and "//" not in path
                        and path[-1:] != "/"):
                    path = os.path.abspath(path)
                # (not a write-only append, `'a'`: a log or a probe that steps append a
                # line to would make each depend on all the others' lines)
                if write and path not in self.writes and path not in self.changes and (
                        ("+" in mode and "w" not in mode)
                        if mode is not None else not flags & (os.O_TRUNC | os.O_APPEND)):
                    self._before_change(path)
                (self.writes if write else self.reads).append(path)
            elif event == "os.listdir" or event == "os.scandir":
                path = args[0]
                if isinstance(path, int):
                    return
                # the import system and package metadata lookups list sys.path entries (the
                # working directory among them): an import is not a listing of the data
                caller = sys._getframe(2).f_code.co_filename
                if caller.startswith("<frozen importlib") or any(
                        part in caller for part in _IMPORT_LISTERS):
                    return
                path = os.path.abspath(os.fsdecode(path if path is not None else "."))
                self.listed.append(path)
                if path not in self.listings:
                    with _paused():
                        self.listings[path] = _listing(path)
            elif event == "mmap.__new__":
                _note_map(args)
        except Exception:
            pass  # recording never raises into the user's code


class _Off(_Recorder):
    """The recorder of a context whose reads are nobody's (our own hashing and listing):
    unlike no recorder at all, it does not fall back to the sole recorder."""

    __slots__ = ()

    def event(self, event: str, args: tuple[Any, ...]) -> None:
        return None


_OFF = _Off()


@contextlib.contextmanager
def _paused() -> Iterator[None]:
    """Our own reads (hashing, listing) are not the step's."""
    token = _CURRENT.set(_OFF)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class Tracking:
    """How a step's files are recorded: declared ``files`` patterns (always tracked),
    whether reads are recorded at all, directories to skip (the cache), the bound on the
    written files kept. Picklable: it travels with the step to a worker."""

    def __init__(self, files: Iterable[str] = (), *, enabled: bool = True,
                 skip: Iterable[str] = (), max_bytes: int | None = None,
                 code: types.CodeType | None = None, step: str = "?",
                 commands: Iterable[str] = ()) -> None:
        self.files = tuple(files)
        self.enabled = enabled
        self.skip = tuple(os.path.join(s if os.path.isabs(s) else os.path.abspath(s), "")
                          for s in skip if s)
        #: None: FLOWYML_FILES_MAX, read when a step wrote something
        self.max_bytes = max_bytes
        self.literals = _literals(code) if code is not None and enabled else ()
        #: its code tests whether paths exist (``os.path.exists('marker.txt')``): the
        #: paths it names that are absent are part of what it saw
        self.probes = _tests_existence(code) if code is not None and enabled else False
        #: and the bare names it holds, which may be such paths too (``os.path.exists('out')``,
        #: ``'level_data' in os.listdir('.')``): looked at before it runs, as the literals are
        self.probe_names = _bare_names(code) if self.probes else ()
        #: words of its shell commands (IPython ``!`` lines, string constants with spaces):
        #: files and folders another process reads, out of the audit hook's sight
        commands = tuple(commands) if enabled else ()
        self.words = tuple(dict.fromkeys(_command_words(
            [*commands, *(_commands_in(code) if code is not None else ())]))) if enabled else ()
        #: of those, the words of its IPython ``!`` lines: a folder one names is listed
        listings = _listed_folders(commands)
        self.shell_words = tuple(dict.fromkeys([*_command_words(commands),
                                                *(w for w in listings if w != ".")]))
        #: a listing naming no folder (``!ls``, ``%ls -l``): the working folder's names
        self.lists_cwd = "." in listings
        self.step = step

    def recording(self, inputs: Iterable[Any] = ()) -> _Recording:
        """``with tracking.recording() as observed:`` records what the block reads and
        writes; ``observed`` is filled when it ends. ``inputs``: the step's input values
        (the files their paths name are looked at before it runs: one it changed, written
        in C, is a file it wrote)."""
        return _Recording(self, inputs)


class _Recording:
    """The context manager of :meth:`Tracking.recording` (a class: it runs around every
    step, and a step that touches no file should pay next to nothing for it)."""

    __slots__ = ("before", "cwd", "environ", "held", "inputs", "observed", "rec", "started",
                 "token", "tracking", "writers")

    def __init__(self, tracking: Tracking, inputs: Iterable[Any] = ()) -> None:
        self.tracking = tracking
        self.inputs = inputs
        self.token: Any = None

    def __enter__(self) -> Observed:
        observed = self.observed = Observed()
        tracking = self.tracking
        if not (tracking.enabled or tracking.files):
            return observed
        if not _installed:
            install()
        self.cwd = os.getcwd()
        self.rec = _Recorder() if tracking.enabled else None
        self.token = _CURRENT.set(self.rec if self.rec is not None else _OFF)
        self.environ = _environ.begin() if tracking.enabled else None
        _began(self.rec)
        # files written through handles are the step's only while it is alone
        self.held = None
        if self.rec is not None and _sole is self.rec:
            try:
                with _paused():
                    self.held = _held_files(tracking.skip)
            except Exception:
                self.held = None
        # the files the code names or its inputs' paths name, as they are before it runs
        self.before: dict[str, Any] | None = None
        if self.rec is not None:
            try:
                with _paused():
                    self.before = _signatures(
                        self.cwd, (*tracking.literals, *getattr(tracking, "probe_names", ())),
                        self.inputs)
            except Exception:
                self.before = None
        # files open for writing that other cells opened, as they are before it runs
        self.writers: dict[str, tuple[int, int, str]] = {}
        if self.rec is not None:
            try:
                with _paused():
                    self.writers = _writers_before(self.inputs)
            except Exception:
                self.writers = {}
        self.started = _now()
        return observed

    def __exit__(self, *exc_info: Any) -> None:
        if self.token is None:
            return
        elapsed = _now() - self.started
        tracking, rec = self.tracking, self.rec
        if rec is not None and self.observed.lazy:
            _flush_writers(self.observed.lazy)  # what they wrote is in their files now
        if self.held is not None and _sole is rec and rec is not None:
            try:
                with _paused():
                    rec.through = _written_through(self.held, _held_files(tracking.skip))
            except Exception:
                pass
        pre_read: dict[str, list[Any]] = dict(rec.changes) if rec is not None else {}
        if rec is not None and self.writers:
            pre_read.update(_written_by_writers(rec, self.writers))
        _CURRENT.reset(self.token)
        _ended(self.rec)
        self.token = None
        environ = _environ.end(self.environ) if self.environ is not None else {}
        sources: list[str] = []
        folders: list[str] = []
        lazy, self.observed.lazy = self.observed.lazy, None
        if lazy and tracking.enabled:
            try:
                with _paused():
                    sources, folders = value_sources(lazy)
            except Exception:
                sources, folders = [], []
        if not tracking.files and not tracking.literals and not tracking.words \
                and not getattr(tracking, "probe_names", ()) and not tracking.shell_words \
                and not getattr(tracking, "lists_cwd", False) and not sources \
                and (rec is None or not (rec.reads or rec.writes or rec.listed or rec.through)):
            if environ:  # environment variables its code read: its only record
                self.observed.note = {"environ": environ}
            return  # touched no file (most steps): nothing to record
        try:
            with _paused():
                self.observed.fill(tracking, rec, self.cwd,
                                   hash_budget=hash_budget_from_env() * elapsed, sources=sources,
                                   folders=folders, before=self.before, pre_read=pre_read)
        except Exception as exc:  # never fail the step for its record
            self.observed.note = None
            self.observed.problem = f"its files could not be recorded ({type(exc).__name__}: {exc})"
        if environ:
            self.observed.note = {**(self.observed.note or {}), "environ": environ}


class Observed:
    """A step's file record (:attr:`note`, JSON) and the bytes of the files it wrote that
    are kept (:attr:`kept`, relative path -> bytes)."""

    def __init__(self) -> None:
        self.note: dict[str, Any] | None = None
        self.kept: dict[str, bytes] | None = None
        self.problem: str | None = None
        #: the step's input and output values, set by its runner before the recording ends:
        #: the files the lazy ones among them read are the step's reads (:func:`value_sources`)
        self.lazy: list[Any] | None = None

    def fill(self, tracking: Tracking, rec: _Recorder | None, cwd: str, *,
             hash_budget: float = float("inf"), sources: Iterable[str] = (),
             folders: Iterable[str] = (), before: dict[str, Any] | None = None,
             pre_read: dict[str, list[Any]] | None = None) -> None:
        """Record what ``rec`` saw (and the declared files) relative to ``cwd``. The files
        the step read are hashed while the time spent hashing them stays within
        ``hash_budget`` seconds; the rest are recorded by size and mtime only. ``sources``
        and ``folders``: files its lazy values read and folders they scan
        (:func:`value_sources`), reads and listings too. Of the files named in the code or by
        those values, one that differs from ``before`` (:func:`_signatures`, taken when the
        step started) was written by the step, in C (``df.write_parquet('out.parquet')``:
        the audit hook sees no ``open``): a file it wrote, kept and put back on a hit."""
        skip = tracking.skip
        base = os.path.join(cwd, "")
        note: dict[str, Any] = {}

        def name_of(path: str) -> str:
            return path[len(base):] if path.startswith(base) else "." if path == cwd else path

        written: dict[str, None] = {}
        reads: dict[str, None] = {}
        listed: dict[str, None] = {}
        skipped = _skip_test(skip)
        if rec is not None:
            written = {p: None for p in dict.fromkeys([*rec.writes, *rec.through])
                       if not skipped(p)}
            reads = {p: None for p in dict.fromkeys(rec.reads) if p not in written and not skipped(p)}
            # a listed path is a folder: tested as one (``/proc`` itself is under ``/proc/``)
            listed = {p: None for p in dict.fromkeys(rec.listed)
                      if not skipped(os.path.join(p, ""))}
            if getattr(tracking, "lists_cwd", False):
                listed[cwd] = None
            for lit in (*tracking.literals, *tracking.words):
                if _URL.match(lit):
                    continue
                path = os.path.abspath(os.path.join(cwd, lit))
                if path not in written and path not in reads and not skipped(path) \
                        and os.path.isfile(path):
                    (written if _changed(path, before) else reads)[path] = None
                elif lit in tracking.literals and _data_folder(path, cwd) \
                        and not skipped(os.path.join(path, "")):
                    # a folder named in the code (``pl.read_parquet('data/parts')``,
                    # ``ds.dataset('data/')``): read in C, file by file
                    folders = list(folders)
                    sources = [*sources, *_expanded(path, folders)]
            for source in sources:
                path = os.path.abspath(os.path.join(cwd, source))
                if path not in written and path not in reads and not skipped(path):
                    (written if _changed(path, before) else reads)[path] = None
            for folder in folders:
                path = os.path.abspath(os.path.join(cwd, folder))
                if not skipped(os.path.join(path, "")):
                    listed[path] = None
        globs = {}
        declared: dict[str, list[Any]] = {}
        for pattern in tracking.files:
            full = pattern if os.path.isabs(pattern) else os.path.join(cwd, pattern)
            matches = sorted(_glob.glob(full, recursive=True))
            globs[pattern] = _names_digest(name_of(m) for m in matches)
            for m in matches:
                path = os.path.abspath(m)
                if path not in written and os.path.isfile(path):
                    reads.pop(path, None)
                    with contextlib.suppress(OSError):
                        declared[name_of(path)] = list(file_record(path))
        if globs:
            note["globs"] = globs
        if declared:
            note["declared"] = pack(declared)
        # files it looked for and did not find (an open that failed, a path its code tests
        # for): a file there later would change what it does
        absent: dict[str, None] = {}
        present: dict[str, None] = {}  # and those it found there, gone later
        read = _read_records(reads, base, hash_budget, absent)
        if getattr(tracking, "probes", False) and before:
            # absent when it started, whether or not it made the path since: a run that
            # finds it there takes the other branch (``if os.path.exists('out'): print('out
            # exists') else: os.mkdir('out')``, run again after a restart)
            for path, signature in before.items():
                if signature is None and not skipped(path):
                    absent[path] = None
                elif signature is not None and path not in reads and path not in written \
                        and not skipped(path):
                    present[path] = None  # (a folder: a file it read is in its reads)
        if absent:
            note["absent"] = sorted(name_of(p) for p in absent)
        if present:
            note["present"] = sorted(name_of(p) for p in present)
        for path, record in (pre_read or {}).items():  # a writer's file, as it was before
            if path in written:
                read[name_of(path)] = record
        if read:
            note["read"] = pack(read)
        dirs: dict[str, str] = {}
        seen = rec.listings if rec is not None else {}
        for path in listed:
            with contextlib.suppress(OSError):
                dirs[name_of(path) or "."] = seen.get(path) or _listing(path)
        if dirs:
            note["dirs"] = dirs
        shown: dict[str, str] = {}  # folders a command names (`!ls -l data`): names and stats
        for word in tracking.shell_words if rec is not None else ():
            path = os.path.abspath(os.path.join(cwd, word))
            if os.path.isdir(path) and not skipped(os.path.join(path, "")):
                with contextlib.suppress(OSError):
                    shown[name_of(path) or "."] = _folder_stats(path)
        if shown:
            note["folders"] = shown
        if rec is not None and "fsspec" in sys.modules:
            urls = {}
            for lit in tracking.literals:
                if _URL.match(lit) and not lit.startswith("file://"):
                    ident = url_identity(lit)
                    if ident is not None:
                        urls[lit] = ident
            if urls:
                note["urls"] = urls
        wrote, kept = self._written(tracking, written, base,
                                    set(rec.through) if rec is not None else set())
        if wrote:
            note["wrote"] = wrote
            if kept:
                note["kept"] = sorted(kept)
        self.note = note or None
        self.kept = kept or None

    def _written(self, tracking: Tracking, written: dict[str, None], base: str,
                 through: set[str] = frozenset()  # type: ignore[assignment]
                 ) -> tuple[dict[str, list[Any]], dict[str, bytes] | None]:
        """Files the step wrote (and left), recorded; those under the working directory are
        kept when they fit the bound (others are only checked: missing or changed, the step
        re-runs and makes them). Files it wrote ``through`` a handle held from before (a
        database, a memory map) are only checked: put back under the open handle by a new
        file, they would not be what the handle reads and writes."""
        wrote: dict[str, list[Any]] = {}
        paths = []
        for path in written:
            if not os.path.isfile(path):
                continue  # removed again: a temporary file
            inside = path.startswith(base)
            with contextlib.suppress(OSError):
                wrote[path[len(base):] if inside else path] = list(file_record(path))
                if inside and path not in through:
                    paths.append(path)
        if not paths:
            return wrote, None
        total = sum(wrote[p[len(base):]][0] for p in paths)
        bound = max_from_env() if tracking.max_bytes is None else tracking.max_bytes
        if total > bound:
            self.problem = (f"step '{tracking.step}': the {len(wrote)} file(s) it wrote "
                            f"({_size(total)}) are over the {_size(bound)} bound "
                            "(FLOWYML_FILES_MAX), so they are not kept with its entry; a hit "
                            "re-runs the step when one of them is missing or changed")
            warnings.warn(self.problem, FilesNotKeptWarning, stacklevel=2)
            return wrote, None
        kept = {}
        for path in paths:
            rel = path[len(base):]
            try:
                with open(path, "rb") as fh:
                    data = fh.read()
            except OSError:
                del wrote[rel]
                continue
            if xxhash.xxh3_128_hexdigest(data) != wrote[rel][2]:
                wrote[rel] = [len(data), wrote[rel][1], xxhash.xxh3_128_hexdigest(data)]
            kept[rel] = data
        return wrote, kept


class Recorded:
    """``func`` wrapped so that calling it records its files: returns ``(value, observed)``.

    Picklable (when ``func`` is): the processes executor and a timeout's subprocess run it
    there, so the recording happens where the step runs and the record comes back with the
    value."""

    def __init__(self, func: Callable[..., Any], tracking: Tracking) -> None:
        self.func, self.tracking = func, tracking

    def __call__(self, **kwargs: Any) -> tuple[Any, Observed]:
        with self.tracking.recording() as observed:
            value = self.func(**kwargs)
        return value, observed


def _strings(code: types.CodeType) -> Iterator[str]:
    """The string constants of ``code`` and of the code nested in it."""
    stack = [code]
    while stack:
        c = stack.pop()
        for k in c.co_consts:
            if isinstance(k, str):
                yield k
            elif isinstance(k, types.CodeType):
                stack.append(k)


@functools.lru_cache(maxsize=512)
def _commands_in(code: types.CodeType) -> tuple[str, ...]:
    """String constants of ``code`` that hold spaces: maybe a shell command (``os.system``,
    ``subprocess.run("wc -l data/x.csv", shell=True)``)."""
    return tuple(dict.fromkeys(k for k in _strings(code)
                               if " " in k and 1 < len(k) < 1024 and "\0" not in k))


def _command_words(commands: Iterable[str]) -> list[str]:
    """The words of command lines that may name a file (``data/x.csv``, ``notes.txt``)."""
    out = []
    for command in commands:
        for word in command.split():
            word = word.strip("'\"!%,;()")
            if len(word) > 1 and ("." in word or "/" in word) and not word.startswith("-") \
                    and any(ch.isalnum() for ch in word):  # not an operator ("x // 2 =")
                out.append(word)
    return out


#: IPython's and the shell's folder listings (``!ls``, ``%ls``, ``ls`` by automagic, ``%ll``)
_LISTINGS = frozenset(("ls", "ll", "lf", "lk", "lx", "ldir", "dir", "tree"))


def _listed_folders(commands: Iterable[str]) -> list[str]:
    """The folders a listing command shows (``!ls sub``, ``%ls -l``; ``"."`` for one naming
    none: the working folder): their entries are what it read, so a file added since re-runs
    it (a hit showed the old listing; words without a ``.`` or ``/`` are no file words). The
    working folder is recorded by its names (as ``os.listdir()`` is): the cache's own folder
    may be in it, changing with every step stored."""
    out: list[str] = []
    for command in commands:
        words = command.lstrip("!% \t").split()
        if words and words[0] in _LISTINGS:
            named = [w.strip("'\"") for w in words[1:] if not w.startswith("-")]
            out.extend(named or ["."])
    return out


#: the calls that test whether a path is there
_EXISTENCE_TESTS = frozenset(("exists", "lexists", "isfile", "isdir", "is_file", "is_dir",
                              "access"))


@functools.lru_cache(maxsize=512)
def _tests_existence(code: types.CodeType) -> bool:
    """Whether ``code`` (or code nested in it) calls a test of a path's existence."""
    stack = [code]
    while stack:
        c = stack.pop()
        if not _EXISTENCE_TESTS.isdisjoint(c.co_names):
            return True
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    return False


@functools.lru_cache(maxsize=512)
def _bare_names(code: types.CodeType) -> tuple[str, ...]:
    """String constants of ``code`` that may name a file or folder in the working folder
    without a dot or a slash (``'out'``, ``'dir_name_here'``): one word, no glob."""
    return tuple(dict.fromkeys(
        k for k in _strings(code) if 0 < len(k) < 256 and k not in (".", "..")
        and not any(c.isspace() or c in "\0*?[/" for c in k) and "." not in k))


@functools.lru_cache(maxsize=512)
def _literals(code: types.CodeType) -> tuple[str, ...]:
    """String constants of ``code`` (and the code nested in it) that may name a file or URL
    (shell commands' words: :func:`_commands_in`)."""
    return tuple(dict.fromkeys(
        k for k in _strings(code) if 1 < len(k) < 1024 and "\n" not in k and "\0" not in k
        and ("." in k or "/" in k or os.sep in k)))


#: the most files :func:`value_sources` takes from one lazy value (a folder of a dataset)
_SOURCES_MAX = 10_000


def value_sources(values: Iterable[Any]) -> tuple[list[str], list[str]]:
    """The files that lazy ``values`` read when they are computed: a polars ``LazyFrame``'s
    scans (``pl.scan_csv('data/*.csv')``, ``scan_parquet('folder/')``), a pyarrow dataset's
    files (``ds.dataset('data/')``), a ``sqlite3`` connection's database file, the file of a
    file object another cell opened and of numpy's ``.npz`` reader (``np.load('x.npz')``).
    polars, pyarrow and SQLite open them in Rust and C, and a file object was opened before
    the step, out of the audit hook's sight, and the value's digest is its plan (the paths),
    not the files' content: a step that collects a lazy frame made by another cell, or makes
    one and shows its head, names no file in its code. So do paths held by variables (a ``str`` or
    ``Path`` naming a file, a matching glob or a data folder: ``pl.read_parquet(path)`` with
    ``path`` set by another cell). Those files are its reads, so an edited file re-runs it.
    Globs are expanded and folders walked (at most :data:`_SOURCES_MAX` files each):
    ``(files, folders)``, the folders to list (a file added to a scanned folder or matching a
    scanned glob changes what the value reads); paths as the plan holds them (relative to
    the working directory)."""
    out: list[str] = []
    folders: list[str] = []
    cwd = os.getcwd()
    for value in values:
        module = type(value).__module__
        if isinstance(value, (str, os.PathLike)):
            # a path held by a variable (``path = 'data/x.parquet'`` in another cell, then
            # ``pl.read_parquet(path)``): the file, the glob's matches, the folder's files
            path = _path_like(value)
            if path is not None and (os.path.isfile(path) or (_c_readers() and (
                    _data_folder(os.path.abspath(path), cwd)
                    or (any(c in path for c in "*?[") and _glob.glob(path, recursive=True))))):
                out.extend(_expanded(path, folders))  # (a pattern only when it matches)
            continue
        if isinstance(value, (list, tuple, set, frozenset, dict)):
            # files named by a list of paths (`names = glob.glob(...)`, a config dict): read
            # where the audit hook does not see it, in the processes of a `Pool`, a
            # `ProcessPoolExecutor` or joblib's workers
            out.extend(_listed_paths(value))
            continue
        if module.startswith("polars") and type(value).__name__ == "LazyFrame":
            paths = _lazyframe_paths(value)
        elif _local_dataset(value):
            paths = list(value.files)
        elif module == "sqlite3" and type(value).__name__ == "Connection":
            # a connection another cell opened: what the step reads through it is its file
            from flowyml.handles import sqlite_database

            paths = [path] if (path := sqlite_database(value)) else []
        elif module.startswith("numpy") and type(value).__name__ == "NpzFile":
            # `dem = np.load('topo.npz')` in another cell, then `dem['topo']`: read through
            # the file np.load opened
            from flowyml.handles import file_handle

            fid = getattr(value, "fid", None)
            handle = file_handle(fid) if fid is not None and value.zip is not None else None
            paths = [handle.path] if handle is not None else []
        elif module == "_io":
            # a file another cell opened (`f = open('notes.txt')`, then `f.readline()`)
            from flowyml.handles import file_handle

            handle = file_handle(value)
            paths = [handle.path] if handle is not None and handle.position is not None else []
        else:
            continue
        for path in paths:
            out.extend(_expanded(path, folders))
    return list(dict.fromkeys(out)), list(dict.fromkeys(folders))


#: the most strings of a container value looked at as paths (each costs a stat)
_LISTED_MAX = 1_000


def _path_like(value: Any) -> str | None:
    """``value`` as a path, if it may name a file (not a URL, not a sentence)."""
    try:
        path = os.fsdecode(value)
    except Exception:
        return None
    if not (1 < len(path) < 1024 and "\n" not in path and "\0" not in path
            and ("." in path or "/" in path or os.sep in path)) or _URL.match(path):
        return None
    return path


def _listed_paths(value: list[Any] | tuple[Any, ...] | set[Any] | frozenset[Any] | dict[Any, Any]
                  ) -> list[str]:
    """The existing files that a container's strings (a dict's values) name, one level
    deep, at most :data:`_LISTED_MAX` strings looked at."""
    out = []
    looked = 0
    for item in value.values() if isinstance(value, dict) else value:
        if not isinstance(item, (str, os.PathLike)):
            continue
        looked += 1
        if looked > _LISTED_MAX:
            break
        path = _path_like(item)
        if path is not None and os.path.isfile(path):
            out.append(path)
    return out


def _c_readers() -> bool:
    """Whether a library that reads a whole folder or a glob in C is loaded (polars, pyarrow's
    datasets, which ``pl.read_parquet``, ``ds.dataset`` and ``pd.read_parquet`` use): only
    then is a folder a path variable names read whole by the step it is an input of. Python
    readers' opens are seen one by one (``pd.read_csv(datapath / "x.csv")`` reads one file of
    ``datapath``: a file another cell adds there is no change for it). pandas loads
    ``pyarrow`` itself, not its datasets."""
    return "polars" in sys.modules or "pyarrow.dataset" in sys.modules


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, st.st_ino)


def _signatures(cwd: str, literals: Iterable[str], inputs: Iterable[Any]) -> dict[str, Any]:
    """``path -> (size, mtime, inode)`` (``None``: absent) of the files a step's code names
    and its inputs' paths name (not globs, not folders), before it runs."""
    paths = [p for p in literals if not _URL.match(p) and not any(c in p for c in "*?[")]
    for value in inputs:
        if isinstance(value, (str, os.PathLike)):
            with contextlib.suppress(Exception):
                path = os.fsdecode(value)
                if 1 < len(path) < 1024 and "\n" not in path and "\0" not in path \
                        and not _URL.match(path) and not any(c in path for c in "*?["):
                    paths.append(path)
    out = {}
    for path in paths:
        full = os.path.abspath(os.path.join(cwd, path))
        out[full] = _signature(full)
    return out


def _changed(path: str, before: dict[str, Any] | None) -> bool:
    """Whether the file at ``path`` (absolute) was made or changed since ``before`` was
    taken (a path not looked at then: not known to be, so not)."""
    if before is None or path not in before:
        return False
    return before[path] != _signature(path)


def _data_folder(path: str, cwd: str) -> bool:
    """A folder that may hold a step's data: not the working directory nor one above it
    (``'.'``, ``'..'``: everything), not the file system's root."""
    if not os.path.isdir(path):
        return False
    folder = os.path.join(path, "")
    return folder != os.sep and not os.path.join(cwd, "").startswith(folder)


def _local_dataset(value: Any) -> bool:
    """A pyarrow dataset of this machine's files (not one in object storage)."""
    return type(value).__module__.startswith("pyarrow") \
        and type(value).__name__ == "FileSystemDataset" \
        and type(getattr(value, "filesystem", None)).__name__ == "LocalFileSystem"


def _python_scan_paths(options: Any) -> list[str]:
    """The files of the pyarrow datasets a polars Python scan reads
    (``pl.scan_pyarrow_dataset(dataset)``: its plan holds a pickled function of the
    dataset, the notebook's own object)."""
    import pickle

    try:
        data = bytes(options["scan_fn"])
        start = data.find(b"\x80")
        scan = pickle.loads(data[start:]) if start >= 0 else None
    except Exception:
        return []
    found: list[str] = []
    for arg in (*getattr(scan, "args", ()), *getattr(scan, "keywords", {}).values()):
        if _local_dataset(arg):
            found.extend(arg.files)
    return found


def _lazyframe_paths(lf: Any) -> list[str]:
    """The paths a LazyFrame's plan scans (as given: files, globs, folders)."""
    try:
        plan = lf.explain(optimized=False)
    except Exception:
        return []
    if " SCAN " not in plan and "SCAN " not in plan:
        return []  # no file scan (a frame made in memory): nothing to serialise
    import json

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the JSON form is deprecated, the binary one opaque
        try:
            tree = json.loads(lf.serialize(format="json"))
        except Exception:
            return []
    found: list[str] = []
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                if key == "Paths" and isinstance(item, list):
                    found.extend(p.get("inner", "") if isinstance(p, dict) else p
                                 for p in item if isinstance(p, (dict, str)))
                elif key == "PythonScan" and isinstance(item, dict):
                    found.extend(_python_scan_paths(item.get("options") or {}))
                else:
                    stack.append(item)
        elif isinstance(node, list):
            stack.extend(node)
    return [p for p in found if isinstance(p, str) and p and "://" not in p]


def _expanded(path: str, folders: list[str]) -> list[str]:
    """``path``'s files: a glob's matches, a folder's files (walked), or itself; the folders
    whose listing says which files those are go into ``folders``."""
    if any(c in path for c in "*?["):
        matches = sorted(_glob.glob(path, recursive=True))
        fixed = re.split(r"[*?\[]", path, maxsplit=1)[0]
        folders.append(os.path.dirname(fixed) or ".")
        folders.extend(os.path.dirname(m) for m in matches if "**" in path)
        return [p for p in matches if os.path.isfile(p)][:_SOURCES_MAX]
    if os.path.isdir(path):
        files: list[str] = []
        for root, dirs, names in os.walk(path):
            folders.append(root)
            dirs[:] = sorted(d for d in dirs if not d.startswith((".", "_")))
            files.extend(os.path.join(root, n) for n in sorted(names)
                         if not n.startswith((".", "_")))
            if len(files) >= _SOURCES_MAX:
                break
        return files[:_SOURCES_MAX]
    return [path] if os.path.isfile(path) else []


# ---------------------------------------------------------------------------------------------
# Stat, hash, list
# ---------------------------------------------------------------------------------------------


def _read_records(paths: Iterable[str], base: str, budget: float,
                  absent: dict[str, None] | None = None) -> dict[str, list[Any]]:
    """``name -> [size, mtime_ns, digest]`` of the files a step read (absolute ``paths``;
    names relative to ``base``, the working directory with a separator, when under it), in
    the order it read them: each is hashed when its estimated cost fits what is left of
    ``budget`` (seconds; the time actually spent is taken off), else recorded with the
    digest :data:`UNHASHED`. Files gone again (temporary files) and what is not a regular
    file are left out; those not there (an open that failed) are added to ``absent``."""
    out: dict[str, list[Any]] = {}
    cut = len(base)
    if budget == float("inf"):
        for path in paths:
            try:
                out[path[cut:] if path.startswith(base) else path] = list(file_record(path))
            except _NOT_THERE:
                if absent is not None:
                    absent[path] = None
            except OSError:
                continue  # unreadable: not an input now
        return out
    left = budget
    stat = os.stat
    for path in paths:
        try:
            st = stat(path)
        except _NOT_THERE:
            if absent is not None:
                absent[path] = None
            continue
        except OSError:
            continue
        if not _S_ISREG(st.st_mode):
            continue  # a directory or a pipe opened by name: not data to record
        name = path[cut:] if path.startswith(base) else path
        if _HASH_FIXED + st.st_size / _HASH_RATE <= left:  # its estimated cost fits
            t0 = _now()
            try:
                out[name] = list(file_record(path))
            except OSError:
                continue
            left -= _now() - t0
        else:
            out[name] = [st.st_size, st.st_mtime_ns, UNHASHED]
    return out


#: what opening or stat'ing a path that is not there raises
_NOT_THERE = (FileNotFoundError, NotADirectoryError)


def file_record(path: str) -> tuple[int, int, str]:
    """(size, mtime_ns, xxh3-128) of a file (through links), hashed in large chunks; hashed
    again when it changed while being hashed (size or mtime before and after differ).
    Raises OSError (gone, unreadable)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        for _ in range(5):
            before = os.fstat(fd)
            digest = _hash_fd(fd, before.st_size, before.st_mtime_ns)
            after = os.fstat(fd)
            if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
                return after.st_size, after.st_mtime_ns, digest
            os.lseek(fd, 0, os.SEEK_SET)
    finally:
        os.close(fd)
    raise OSError(f"{path} keeps changing while it is hashed")


#: files at least this large, and left alone for _QUIET_NS, are hashed through a read-only
#: memory map: no copy out of the page cache (~1.2x raw in-memory xxh3 instead of ~0.7x)
_MAP_MIN = 64 * 2**20
#: a file written this recently may still be written (or truncated: a mapped page past the
#: new end would kill the process), so it is read instead
_QUIET_NS = 2 * 10**9


def _hash_fd(fd: int, size: int, mtime_ns: int = 0) -> str:
    if size >= _MAP_MIN and time.time_ns() - mtime_ns > _QUIET_NS:
        with contextlib.suppress(OSError, ValueError):
            return _hash_mapped(fd, size)
        os.lseek(fd, 0, os.SEEK_SET)
    if size < _CHUNK:  # a small file: one read (most data files of a notebook)
        data = os.read(fd, size + 1)
        if len(data) <= size:
            return xxhash.xxh3_128_hexdigest(data)
        h = xxhash.xxh3_128(data)  # it grew meanwhile: read on (the stat check will tell)
    else:
        h = xxhash.xxh3_128()
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    while True:
        n = os.readv(fd, [buf]) if hasattr(os, "readv") else _read_into(fd, buf)
        if not n:
            break
        h.update(view[:n])
    return h.hexdigest()


def _hash_mapped(fd: int, size: int) -> str:
    import mmap

    mapped = mmap.mmap(fd, size, prot=mmap.PROT_READ)
    try:
        with contextlib.suppress(AttributeError, OSError):
            mapped.madvise(mmap.MADV_SEQUENTIAL)
        h = xxhash.xxh3_128()
        view = memoryview(mapped)
        try:
            for start in range(0, size, 4 * _CHUNK):
                h.update(view[start:start + 4 * _CHUNK])
        finally:
            view.release()
        return h.hexdigest()
    finally:
        mapped.close()


def _read_into(fd: int, buf: bytearray) -> int:
    data = os.read(fd, len(buf))
    buf[: len(data)] = data
    return len(data)


def _names_digest(names: Iterable[str]) -> str:
    return xxhash.xxh3_128_hexdigest("\0".join(names).encode("utf-8", "surrogateescape"))


def _listing(path: str) -> str:
    return _names_digest(sorted(os.listdir(path)))


def _folder_stats(path: str) -> str:
    """The names, sizes and modification times of a folder's entries (what ``ls -l``
    shows), as one digest."""
    rows = []
    with os.scandir(path) as entries:
        for entry in entries:
            st = entry.stat()
            rows.append(f"{entry.name}\0{st.st_size}\0{st.st_mtime_ns}")
    return _names_digest(sorted(rows))


def url_identity(url: str) -> dict[str, Any] | None:
    """What the object at an fsspec URL is now: ETag/version/size/mtime from ``info``
    (``None``: fsspec cannot reach it, or it is not an object)."""
    fsspec = sys.modules.get("fsspec")
    if fsspec is None:
        import fsspec  # an entry that recorded a URL: the reader had it
    try:
        fs, path = fsspec.core.url_to_fs(url)
        with contextlib.suppress(Exception):
            fs.invalidate_cache(path)
        info = fs.info(path)
    except Exception:
        return None
    if info.get("type") not in (None, "file"):
        return None
    ident: dict[str, Any] = {}
    for key in ("ETag", "etag", "VersionId", "version_id", "generation", "md5Hash", "size",
                "LastModified", "last_modified", "mtime", "updated", "created"):
        value = info.get(key)
        if value is not None:
            ident[key] = value if isinstance(value, int | str) else str(value)
    return ident or None


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


# ---------------------------------------------------------------------------------------------
# Checking an entry
# ---------------------------------------------------------------------------------------------


def pack(recs: dict[str, list[Any]]) -> str:
    """File records as one string, a line per file (``size mtime_ns digest path``): an
    entry's metadata is parsed at every lookup, and one string parses much faster than a
    JSON object per file."""
    return "".join(f"{r[0]} {r[1]} {r[2]} {_escape(name)}\n" for name, r in recs.items())


def records(note: dict[str, Any] | None, key: str = "read") -> dict[str, list[Any]]:
    """``path -> [size, mtime_ns, digest]`` of a packed (or plain) part of a file record."""
    value = (note or {}).get(key)
    if not value:
        return {}
    if isinstance(value, dict):
        return value
    out = {}
    for line in value.split("\n"):
        if line:
            size, mtime, digest, name = line.split(" ", 3)
            out[_unescape(name)] = [int(size), int(mtime), digest]
    return out


def _escape(name: str) -> str:
    return name.replace("\\", "\\\\").replace("\n", "\\n") if "\\" in name or "\n" in name else name


def _unescape(name: str) -> str:
    if "\\" not in name:
        return name
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), name)


def note_of(meta: dict[str, Any] | None) -> dict[str, Any] | None:
    """The file record in an entry's metadata, if any."""
    if not meta:
        return None
    notes = meta.get("notes")
    note = notes.get(NOTE) if isinstance(notes, dict) else None
    return note if isinstance(note, dict) else None


def _same(path: str, rec: list[Any]) -> bool | None:
    """True: unchanged; False: changed; None: gone or unreadable. ``path`` is absolute or
    relative to the working directory (as recorded: no join needed)."""
    try:
        st = os.stat(path)
        if st.st_size == rec[0] and st.st_mtime_ns == rec[1]:
            return True
        if st.st_size != rec[0] or rec[2] == UNHASHED:
            return False  # recorded by size and mtime only: a touched file is a changed one
        return file_record(path)[2] == rec[2]
    except OSError:
        return None
    except Exception:
        return None


def stale_reason(note: dict[str, Any] | None, *, outputs: bool = True,
                 recorded: bool = True) -> str | None:
    """Why an entry with this file record is no longer valid (``None``: it is).

    Inputs: a changed or missing file, a changed directory listing or glob, a changed fsspec
    object. With ``outputs``, also a file the step wrote that is missing or changed *and*
    whose bytes are not kept (one that is kept is put back by :func:`put_back` instead).
    With ``recorded=False`` (recording turned off for the step) only its declared files
    count. Never raises: a check that fails is a reason.
    """
    if not note:
        return None
    try:
        with _paused():
            if not recorded:
                note = {k: note[k] for k in ("declared", "globs", "environ") if k in note}
                outputs = False
            return _stale(note, outputs)
    except Exception as exc:
        return f"its files could not be checked ({type(exc).__name__}: {exc})"


#: (record key, what is digested now, the reason when it differs)
_FOLDER_CHECKS: tuple[tuple[str, Callable[[str], str], str], ...] = (
    ("dirs", lambda p: _listing(p), "the listing of {} changed (a file was added or removed)"),
    ("folders", lambda p: _folder_stats(p),
     "the files in {} changed (a shell command of the step names it)"),
)


def _stale(note: dict[str, Any], outputs: bool) -> str | None:
    changed = _environ.stale_reason(note.get("environ"))
    if changed:
        return changed
    for name, rec in (*records(note, "declared").items(), *records(note, "read").items()):
        same = _same(name, rec)
        if same is None:
            return f"{name} is gone" if not os.path.lexists(name) else f"{name} is unreadable"
        if not same:
            return f"{name} changed" if rec[2] != UNHASHED else _unhashed_reason(name, rec)
    for name in note.get("absent") or ():
        if os.path.exists(name):
            return f"{name} appeared (it was not there when the step ran)"
    for name in note.get("present") or ():
        if not os.path.lexists(name):
            return f"{name} is gone (it was there when the step ran)"
    for key, digest_of, change in _FOLDER_CHECKS:
        for name, digest in (note.get(key) or {}).items():
            try:
                if digest_of(name) != digest:
                    return change.format(name)
            except OSError:
                return f"directory {name} is gone"
    for pattern, digest in (note.get("globs") or {}).items():
        cwd = os.getcwd()
        full = pattern if os.path.isabs(pattern) else os.path.join(cwd, pattern)
        base = os.path.join(cwd, "")
        matches = sorted(_glob.glob(full, recursive=True))
        if _names_digest(m[len(base):] if m.startswith(base) else m for m in matches) != digest:
            return f"the files matching {pattern!r} changed (one was added or removed)"
    for url, ident in (note.get("urls") or {}).items():
        now = url_identity(url)
        if now is None:
            return f"{url} is gone"
        if now != ident:
            return f"{url} changed"
    if outputs:
        return _outputs_reason(note)
    return None


def _unhashed_reason(name: str, rec: list[Any]) -> str:
    """Why a file recorded by size and mtime only counts as changed: a new size is a change
    for sure; a new mtime alone may not be one, so the reason says that it was not hashed."""
    with contextlib.suppress(OSError):
        if os.stat(name).st_size != rec[0]:
            return f"{name} changed"
    return (f"{name} changed (its modification time; it was recorded by size and time "
            "only, not hashed: over the step's hashing budget, FLOWYML_FILES_HASH_BUDGET)")


def _outputs_reason(note: dict[str, Any]) -> str | None:
    """A file the step wrote that is missing or changed and that its entry does not keep
    (outside the working directory, or over the bound): only running the step makes it."""
    kept = set(note.get("kept") or ())
    for name, rec in (note.get("wrote") or {}).items():
        if name in kept:
            continue
        same = _same(name, rec)
        if not same:
            what = "is gone" if same is None else "changed"
            return f"{name}, which it writes, {what} (not kept with its entry)"
    return None


def to_put_back(note: dict[str, Any] | None) -> list[str]:
    """Files the step wrote (kept with its entry) that are missing or differ now."""
    if not note or not note.get("kept"):
        return []
    wrote = note.get("wrote") or {}
    with _paused():
        return [name for name in note["kept"]
                if name in wrote and not _same(name, wrote[name])]


def put_back(note: dict[str, Any] | None, load: Callable[[], Any]) -> str | None:
    """Write back the files a step wrote that are missing or differ, from the entry
    (``load()`` gives the kept bytes; called only when something is missing). Returns
    ``None`` when all are in place, else why they could not be put back (then the entry
    is not a hit: the step re-runs and makes them)."""
    names = to_put_back(note)
    if not names:
        return None
    try:
        kept = load()
    except Exception as exc:
        return f"its written files could not be loaded ({type(exc).__name__}: {exc})"
    with _paused():
        for name in names:
            data = kept.get(name) if isinstance(kept, dict) else None
            if not isinstance(data, bytes | bytearray):
                return f"{name}, which it writes, is not kept with its entry"
            path = name  # relative to the working directory, as recorded
            tmp = f"{path}.flowyml-tmp-{os.getpid()}"
            try:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                return f"{name}, which it writes, could not be put back ({exc})"
    return None


def describe(note: dict[str, Any] | None) -> str:
    """One short line: what an entry's file record holds."""
    if not note:
        return "no files"
    parts = []
    for key, what in (("read", "read"), ("absent", "looked for, absent"),
                      ("present", "looked for, there"),
                      ("declared", "declared"), ("dirs", "listed"),
                      ("folders", "named by a command"),
                      ("urls", "url"), ("wrote", "written")):
        if note.get(key):
            recs = records(note, key) if key in ("read", "declared") else note[key]
            part = f"{len(recs)} {what}"
            if key == "read":
                unhashed = sum(1 for r in recs.values() if r[2] == UNHASHED)
                if unhashed:
                    part += f" ({unhashed} recorded by size and time only)"
            parts.append(part)
    return ", ".join(parts) or "no files"
