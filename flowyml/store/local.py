"""The local store of step outputs: one checksummed file an entry (:mod:`flowyml.store.entry`),
on a joblib.Memory location.

The store sits in a ``joblib.Memory`` location. Each entry is one file,
``<step>/<xxh3 of key>.entry``: the outputs pickled with protocol 5 (large buffers -- numpy
arrays, pandas columns -- out of band, so they are written straight from memory and load
memory-mapped), the replay of a notebook cell, the metadata (format version, the decodable
key, sizes, the data's checksum) and a trailer that locates and checksums the metadata
(layout in the "entry file" section below). It is written under a temporary name and
renamed into place (atomic on POSIX); only a file whose trailer, metadata, size and
checksum all match is ever unpickled; anything else is reported and recomputed.

:class:`NullStore` has the same interface and never stores anything (``cache=False``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import mmap
import os
import stat
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import xxhash

from flowyml.keys import step_of_key
from flowyml.sizes import size_text
from flowyml.store import signing as _signing
from flowyml.store.aliases import follow
from flowyml.store.entry import (
    ENTRY_SUFFIX,
    FORMAT_VERSION,
    KEEP_BYTES,
    OPEN_FLAGS,
    SMALL_READ,
    WRITE_COUNTER,
    CacheEntry,
    CacheLoadError,
    CacheWarning,
    entry_facts,
    read_entry,
    replay_items,
    segments_checksum,
    serialise,
    tail_bytes,
    unpicklable_output,
    unpickle,
    write_segments,
)


class UnsafeCacheDirError(PermissionError):
    """The cache directory could be written by someone else; loading from it is unsafe."""


# ---------------------------------------------------------------------------------------------
# Cache directory
# ---------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``FLOWYML_CACHE_DIR``, else ``.flowyml/cache`` next to the running script or notebook."""
    env = os.environ.get("FLOWYML_CACHE_DIR")
    if env:
        from flowyml.store.urls import local_path

        return local_path(env)  # a file:// URL is a path; another URL is refused, never a folder
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    base = Path.cwd()
    if script and not hasattr(main, "get_ipython"):
        candidate = Path(script).resolve().parent
        prefixes = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
        if not any(candidate.is_relative_to(p) for p in prefixes):
            base = candidate
    return base / ".flowyml" / "cache"


def check_dir_safety(path: Path, trust: bool) -> None:
    """Refuse a directory someone else could plant pickles in (loading one runs its code)."""
    if trust or os.environ.get("FLOWYML_TRUST_CACHE_DIR") == "1" or not hasattr(os, "getuid"):
        return
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        st = path.stat()
    if st.st_uid != os.getuid():
        raise UnsafeCacheDirError(
            f"cache directory {path} belongs to another user (uid {st.st_uid}); loading its "
            "pickles would run their code. Use a directory of your own, or set "
            "FLOWYML_TRUST_CACHE_DIR=1 / trust_cache_dir=True if you trust it."
        )
    if st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise UnsafeCacheDirError(
            f"cache directory {path} is world-writable; anyone could plant a pickle there. "
            f"Run `chmod 700 {path}`, or set FLOWYML_TRUST_CACHE_DIR=1 if you trust it."
        )


# ---------------------------------------------------------------------------------------------
# Store
# ---------------------------------------------------------------------------------------------


class CacheStore:
    """The on-disk store shared by the notebook, exported modules and every executor."""

    enabled = True

    def __init__(
        self, location: str | os.PathLike[str] | None = None, *, trust_cache_dir: bool = False,
        secret: Any = None, signing_key: Any = None, trusted_signers: Any = None,
        verify: str | None = None,
    ) -> None:
        from flowyml.store.urls import local_path

        root = local_path(location) if location is not None else default_cache_dir()
        self.root = root.resolve()
        self.trust_cache_dir = trust_cache_dir
        #: entries are signed and checked with this: the HMAC secret (FLOWYML_CACHE_SECRET)
        #: or, with publisher keys, a flowyml.store.signing_keys.Seal; see flowyml.store.signing
        from flowyml.store import signing_keys as _publisher  # loaded when a store opens

        self.secret = _publisher.resolve(secret, signing_key=signing_key,
                                         trusted_signers=trusted_signers, verify=verify)
        self._memory: Any = None
        self._entries: Path | None = None
        self._entries_str: str | None = None
        self._reported: set[str] = set()
        #: step directories this process made or swept already (no mkdir, no sweep again)
        self._ready: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        # shipped to workers: they reopen the location themselves
        return {**self.__dict__, "_memory": None, "_entries": None, "_entries_str": None,
                "_reported": set(), "_ready": set()}

    def __repr__(self) -> str:
        return f"CacheStore({str(self.root)!r})"

    # -- layout ---------------------------------------------------------------------------
    @property
    def memory(self) -> Any:
        """The ``joblib.Memory`` that owns the store's location."""
        if self._memory is None:
            import joblib

            new = not self.root.exists()
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            if new:
                os.chmod(self.root, 0o700)
            check_dir_safety(self.root, self.trust_cache_dir)
            memory = joblib.Memory(location=str(self.root), verbose=0, mmap_mode="c")
            check_dir_safety(Path(memory.location), self.trust_cache_dir)
            self._memory = memory
        return self._memory

    @property
    def entries_dir(self) -> Path:
        if self._entries is None:
            base = Path(self.memory.location)  # <root>/joblib
            entries = base / "flowyml"
            entries.mkdir(parents=True, exist_ok=True, mode=0o700)
            if entries.is_symlink() or not entries.resolve().is_relative_to(self.root):
                raise UnsafeCacheDirError(
                    f"{entries} links outside the cache directory {self.root}; refusing to use "
                    "it. Remove the link."
                )
            check_dir_safety(entries, self.trust_cache_dir)
            self._entries = entries
        return self._entries

    def check_safety(self) -> None:
        """Create the cache directory (0700) and refuse it if someone else could write to it.

        Raises :class:`UnsafeCacheDirError`; a directory that cannot be created at all
        (read-only file system, no permission) only turns caching off, with one warning.
        """
        try:
            self.entries_dir  # noqa: B018 - creating and checking is the point
        except UnsafeCacheDirError:
            raise
        except OSError as exc:
            self._caching_off(exc)

    def entry_path(self, key: str) -> Path:
        """``<root>/joblib/flowyml/<step dir>/<xxh3 of key>.entry``: one file per entry,
        never outside the entries directory."""
        return Path(self._entry_location(key))

    def _entry_location(self, key: str) -> str:
        if self._entries_str is None:
            self._entries_str = str(self.entries_dir)
        digest = xxhash.xxh3_128_hexdigest(key.encode())
        return (f"{self._entries_str}{os.sep}{step_dirname(step_of_key(key))}{os.sep}"
                f"{digest}{ENTRY_SUFFIX}")

    # -- reading --------------------------------------------------------------------------
    def lookup(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key`` (an accepted edit's alias followed to the entry it
        names: :mod:`flowyml.store.aliases`), or ``None``; see :meth:`_lookup_one`."""
        return follow(self, self._lookup_one(key), self._lookup_one)

    def _lookup_one(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key``, or ``None``; a bad entry is reported and removed.

        A hit costs a handful of system calls: ``lstat`` of the step directory (never a
        link), ``open`` of the entry file with ``O_NOFOLLOW``, ``fstat``, one ``read`` of a
        small file (larger ones: the metadata at the end, and the checksummed data through
        a memory map), ``futimens`` to record the use, ``close``. A miss is one or two.

        Raises :class:`UnsafeCacheDirError` only for an unsafe cache *directory*; an entry
        that is a link is a reported miss (the link is removed and the step recomputed).
        """
        try:
            location = self._entry_location(key)
        except UnsafeCacheDirError:
            raise
        except OSError as exc:
            self._caching_off(exc)
            return None
        step_dir = location[: location.rindex(os.sep)]
        try:
            if not stat.S_ISDIR(os.lstat(step_dir).st_mode):
                return self._odd_step_dir(key, step_dir)
            fd = os.open(location, OPEN_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return self._unopenable(key, location, exc)
        try:
            st = os.fstat(fd)
            entry, problem = read_entry(fd, location, key, self.secret, keep=KEEP_BYTES, st=st)
            touched = entry is not None and _touch(fd, st.st_mtime)
            if touched and self.secret is not None and entry.data is None:
                _signing.carry_over(fd)  # the touch changed ctime; the content did not
        except OSError as exc:
            entry, problem = None, f"cannot read {location}: {exc}"
        finally:
            os.close(fd)
        if problem is not None:
            if isinstance(problem, _signing.Untrusted):  # not damage: a miss, kept
                from flowyml.store import signing_keys as _publisher

                _publisher.refuse(self, key, step_of_key(key), problem)
                return None
            self._report(key, problem)
            self._discard(location)
            return None
        return entry

    def _odd_step_dir(self, key: str, step_dir: str) -> None:
        if os.path.islink(step_dir):  # a step directory is never a link: drop the link
            self._report(key, f"step directory {step_dir} is a link; not following it")
            with contextlib.suppress(OSError):
                os.unlink(step_dir)
        else:
            self._report(key, f"{step_dir} is not a directory; not using it", once=True)
        return None

    def _unopenable(self, key: str, location: str, exc: OSError) -> None:
        if exc.errno == errno.ELOOP or os.path.islink(location):
            self._report(key, f"cache entry {location} is a link (to "
                         f"{os.path.realpath(location)}); not following it")
            with contextlib.suppress(OSError):
                os.unlink(location)  # the link goes, never what it points to
        else:
            self._report(key, f"cannot read {location}: {exc}")
        return None

    def load(self, entry: CacheEntry) -> dict[str, Any]:
        """The outputs stored in ``entry``; arrays of the large ones memory-mapped
        (copy-on-write), as plain ``ndarray`` views of the map.

        A small entry is unpickled from the bytes its lookup verified. Otherwise the file is
        opened again (refusing links) and verified again before anything is unpickled: the
        entry may have been replaced since, or come from a worker that stored it.
        """
        location = str(entry.location)
        try:
            data, meta = entry.data, entry.meta
            if data is None:
                data, meta = self._reopen(location, entry)
            return unpickle(data, meta)
        except UnsafeCacheDirError:
            raise
        except Exception as exc:
            # verified at lookup, yet unloadable: removed since (a concurrent clear() or gc),
            # or damaged where the sampled check of a very large entry does not look
            self._discard(location)
            step_name = step_of_key(str(entry.meta.get("key", "?")))
            raise CacheLoadError(
                f"flowyml cache, step '{step_name}': its cached output could not be loaded "
                f"({type(exc).__name__}: {exc}). The entry has been removed; run again to "
                "recompute it."
            ) from exc

    def _reopen(self, location: str, entry: CacheEntry) -> tuple[Any, dict[str, Any]]:
        step_dir = location[: location.rindex(os.sep)]
        try:
            fd = -1 if os.path.islink(step_dir) else os.open(location, OPEN_FLAGS)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
            fd = -1
        if fd < 0:
            raise UnsafeCacheDirError(
                f"cache entry {location} is a link (to {os.path.realpath(location)}); refusing "
                "to load it. Remove the link or clear the cache."
            )
        try:
            key = entry.meta.get("key")
            found, problem = read_entry(fd, location, key if isinstance(key, str) else None,
                                         self.secret, keep=SMALL_READ)
            if found is None:
                raise ValueError(problem)
            if found.data is not None:
                return found.data, found.meta
            return mmap.mmap(fd, 0, access=mmap.ACCESS_COPY), found.meta
        finally:
            os.close(fd)

    def load_replay(self, entry: CacheEntry) -> list[dict[str, Any]] | None:
        """What the step showed when it ran (``None``: nothing recorded, or unreadable)."""
        info = entry.meta.get("replay")
        if not isinstance(info, dict):
            return None
        start, length = entry.meta.get("size"), info.get("size")
        if not isinstance(start, int) or not isinstance(length, int):
            return None
        if entry.data is not None:
            blob = bytes(memoryview(entry.data)[start: start + length])
        else:
            try:
                fd = os.open(str(entry.location), OPEN_FLAGS)
                try:
                    blob = os.pread(fd, length, start)
                finally:
                    os.close(fd)
            except OSError:
                return None
        return replay_items(self, entry, info, blob)

    # -- writing --------------------------------------------------------------------------
    def store(
        self,
        key: str,
        outputs: dict[str, Any],
        *,
        output_hashes: dict[str, str],
        parts: dict[str, Any] | None = None,
        duration: float = 0.0,
        shape: str | None = None,
        replay: list[dict[str, Any]] | None = None,
        notes: dict[str, Any] | None = None,
        explain: dict[str, Any] | None = None,
    ) -> bool:
        """Write an entry atomically. Returns False (with a warning) when it cannot.

        The whole entry -- outputs, ``replay`` (what a notebook cell showed) and metadata --
        is one file, written under a private temporary name in the step's directory and
        renamed into place: readers see the old entry, no entry, or the whole new one, and
        of several concurrent writers of one key the last rename wins (each wrote a whole
        entry). The checksums are computed from the bytes in memory as they are written;
        nothing is read back. ``notes`` are small JSON facts kept in the metadata.
        """
        tmp: str | None = None
        try:
            final = self._entry_location(key)
            step_dir = final[: final.rindex(os.sep)]
            segments, size, stream, buffers = serialise(outputs)
            meta: dict[str, Any] = {
                "format": FORMAT_VERSION,
                "key": key,
                "parts": parts,
                "outputs": output_hashes,
                "size": size,
                "stream": stream,
                "buffers": buffers,
                "checksum": segments_checksum(segments, size),
                "duration": duration,
                "shape": shape,
                "created": time.time(),
            }
            blob = entry_facts(meta, replay, notes, explain, self.secret)
            if self.secret is not None:
                digest = hashlib.sha256()
                for segment in segments:
                    digest.update(segment)
                meta["sha256"] = digest.hexdigest()
                meta = _signing.sign(meta, self.secret)
            tail = tail_bytes(meta, blob)
            for attempt in range(3):
                self._ensure_step_dir(step_dir)
                tmp = f"{step_dir}{os.sep}{_tmp_prefix(final[len(step_dir) + 1:])}{next(WRITE_COUNTER)}"
                try:
                    write_segments(tmp, segments, tail, size)
                    break
                except FileExistsError:  # a leftover under that name (a reused pid)
                    tmp = None
                except FileNotFoundError:  # the step directory was removed meanwhile
                    tmp = None
                    self._ready.discard(step_dir)
                    if attempt == 2:
                        raise
            else:
                return False
            os.rename(tmp, final)  # the commit
            tmp = None
            return True
        except UnsafeCacheDirError:
            raise
        except OSError as exc:
            self._caching_off(exc)
            return False
        except Exception as exc:
            name = unpicklable_output(outputs)
            what = f"output '{name}' cannot be pickled" if name else f"cannot be stored ({exc})"
            self._report(key, f"{what}; it is not cached", once=not name)
            return False
        finally:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

    def _ensure_step_dir(self, step_dir: str) -> None:
        """Make the step directory once per process; when it existed already, remove what
        dead writers of this host left in it (once, not at every store)."""
        if step_dir in self._ready:
            return
        try:
            os.mkdir(step_dir, 0o700)
        except FileNotFoundError:  # the cache directory itself was removed: make it again
            os.makedirs(step_dir, 0o700, exist_ok=True)
        except FileExistsError:
            if stat.S_ISLNK(os.lstat(step_dir).st_mode):  # never write through a link
                os.unlink(step_dir)
                os.mkdir(step_dir, 0o700)
            else:
                _sweep_dead_writers(step_dir)
        self._ready.add(step_dir)

    # -- maintenance ----------------------------------------------------------------------
    def clear(self, step_name: str | None = None) -> int:
        """Remove all entries (or those of one step). Returns how many were removed."""
        import shutil

        if not self.root.exists():
            return 0
        base = self.entries_dir
        dirs = [base / step_dirname(step_name)] if step_name else [
            d for d in base.iterdir() if d.is_dir() and not d.is_symlink()]
        count = 0
        for d in dirs:
            if d.is_dir() and not d.is_symlink():
                # leftovers of interrupted writes (".<hash>.tmp-*") go too, but do not count
                count += len(scan_step_dir(str(d)))
                shutil.rmtree(d, ignore_errors=True)
            elif d.is_symlink():
                d.unlink()
        self._ready.clear()
        return count

    def info(self) -> dict[str, dict[str, float]]:
        """Per step: number of entries and bytes on disk."""
        out: dict[str, dict[str, float]] = {}
        if not self.root.exists():
            return out
        for step_dir in sorted(os.scandir(self.entries_dir), key=lambda d: d.name):
            if not step_dir.is_dir(follow_symlinks=False):
                continue
            found = scan_step_dir(step_dir.path)
            out[step_dir.name] = {"entries": len(found), "bytes": sum(f[2] for f in found)}
        return out

    def _discard(self, location: str | os.PathLike[str]) -> None:
        path = os.fspath(location)
        try:
            st = os.lstat(path)
        except OSError:
            return
        if stat.S_ISLNK(st.st_mode):
            with contextlib.suppress(OSError):
                os.unlink(path)  # the link goes, never what it points to
            return
        if not Path(path).resolve().is_relative_to(self.root):
            return
        if not stat.S_ISDIR(st.st_mode):
            with contextlib.suppress(OSError):
                os.unlink(path)  # atomic: a reader has the whole file open, or none
            return
        # a directory (an entry of the older layout): aside first, then delete
        parent, name = os.path.split(path)
        aside = os.path.join(parent, f"{_tmp_prefix(name)}discard-{time.monotonic_ns()}")
        try:
            os.rename(path, aside)
        except OSError:
            aside = path
        import shutil

        shutil.rmtree(aside, ignore_errors=True)

    def _caching_off(self, exc: OSError) -> None:
        """Writing is impossible (disk full, read-only, no permission): say so once."""
        token = "<caching-off>"
        if token in self._reported:
            return
        self._reported.add(token)
        warnings.warn(
            f"flowyml cache: caching is off -- cannot write to {self.root} "
            f"({exc.strerror or exc}). Steps still run and return their results, but nothing "
            "is stored. Free some space or fix the permissions (or set cache_dir / "
            "FLOWYML_CACHE_DIR to a writable place) and run again.",
            CacheWarning,
            stacklevel=4,
        )

    def _report(self, key: str, problem: str, once: bool = False) -> None:
        step_name = step_of_key(key)
        token = f"{step_name}:{problem}" if once else None
        if token and token in self._reported:
            return
        if token:
            self._reported.add(token)
        warnings.warn(f"flowyml cache, step '{step_name}': {problem}", CacheWarning, stacklevel=3)


class NullStore:
    """The "no cache" store: the same interface as :class:`CacheStore`, never hits."""

    enabled = False
    root = None

    def check_safety(self) -> None:
        return None

    def lookup(self, key: str) -> None:
        return None

    def load(self, entry: CacheEntry) -> dict[str, Any]:
        raise KeyError(f"{type(self).__name__} holds no entries")

    def load_replay(self, entry: CacheEntry) -> None:
        return None

    def store(self, key: str, outputs: dict[str, Any], **_: Any) -> bool:
        return False

    def clear(self, step_name: str | None = None) -> int:
        return 0

    def info(self) -> dict[str, dict[str, float]]:
        return {}


def cache_report(store: CacheStore | NullStore, action: str = "info", step: str | None = None) -> str:
    """The text of ``cache info|clear [STEP]``, shared by the CLI and ``%flowyml cache``."""
    if action == "clear":
        removed = store.clear(step)
        what = f"step '{step}'" if step else "all steps"
        return f"removed {removed} entries of {what} from {store.root}"
    info = store.info()
    if step:
        info = {k: v for k, v in info.items() if k == step_dirname(step)}
    lines = [f"cache at {store.root}"]
    if not info:
        lines.append("  (empty)")
    width = max((len(k) for k in info), default=4)
    for name, stats in info.items():
        lines.append(f"  {name:<{width}}  {int(stats['entries']):>5} entries  {size_text(stats['bytes']):>10}")
    return "\n".join(lines)


def _host_name() -> str:
    if hasattr(os, "uname"):
        return os.uname().nodename  # what socket.gethostname() returns, without loading socket
    import socket

    return socket.gethostname()


_HOST = "".join(c if c.isalnum() else "_" for c in _host_name())[:40]


def scan_step_dir(path: str, tombs: list[str] | None = None) -> list[tuple[str, str, int, float, bool]]:
    """The complete entries in one step directory, as ``(name, path, bytes, last use,
    older layout)``: a ``scandir`` and one ``lstat`` per entry file. Entries of the older
    layout (a directory with ``meta.json``) are listed so that gc and clear can remove them;
    they are never read. Temporary files of writers are skipped; tombs of an interrupted gc
    are appended to ``tombs`` when given."""
    found = []
    with os.scandir(path) as it:
        for entry in it:
            name = entry.name
            if name.startswith("."):
                if tombs is not None and ".gc-" in name:
                    tombs.append(entry.path)
                continue
            try:
                if name.endswith(ENTRY_SUFFIX) and entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    found.append((name, entry.path, st.st_size, st.st_mtime, False))
                elif entry.is_dir(follow_symlinks=False):
                    size, last = 0, None
                    for f in os.scandir(entry.path):
                        st = f.stat(follow_symlinks=False)
                        size += st.st_size
                        if f.name == "meta.json":
                            last = st.st_mtime
                    if last is not None:
                        found.append((name, entry.path, size, last, True))
            except FileNotFoundError:
                continue  # removed meanwhile
    return found


def _touch(fd: int, mtime: float) -> bool:
    """Record a use of an entry: its modification time is its last use (one system call,
    no write of data; what ``flowyml cache gc`` keeps the recently used by). A use recorded
    less than :data:`_TOUCH_EVERY` seconds ago is recent enough (gc spares an entry used in
    the last minute), so repeated hits of one entry cost no system call. True: touched."""
    try:
        if time.time() - mtime < _TOUCH_EVERY:
            return False
        os.utime(fd)
    except OSError:  # a read-only cache still serves hits
        return False
    return True


#: seconds: a use is recorded at most this often per entry
_TOUCH_EVERY = 2.0




def _tmp_prefix(entry_name: str) -> str:
    """Temporary files of an entry: ``.<entry>.tmp-<host>-<pid>-`` (never read as entries)."""
    if not _PID:
        _PID.append(os.getpid())
    return f".{entry_name}.tmp-{_HOST}-{_PID[0]}-"


_PID: list[int] = []  # this process's id, asked once (a system call each time otherwise)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_PID.clear)


def _sweep_dead_writers(step_dir: str) -> None:
    """Remove temporary files in ``step_dir`` left by writers on this host that no longer
    run (killed mid-write: SIGKILL, power loss), possibly large partial files. Files of live
    processes, or of other hosts sharing the cache, are left alone."""
    marker = f".tmp-{_HOST}-"
    try:
        with os.scandir(step_dir) as it:
            candidates = [e for e in it if e.name.startswith(".") and marker in e.name]
    except OSError:
        return
    for entry in candidates:
        pid_text = entry.name.rpartition(marker)[2].partition("-")[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        if entry.is_dir(follow_symlinks=False):
            import shutil

            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but is not ours
    return True


@functools.lru_cache(maxsize=65536)
def step_dirname(step_name: str) -> str:
    """The directory name for a step's entries: readable, and never a path.

    Identifier-like names are used as they are; any other name (``"../../etc"``, ``"a/b"``,
    ``"."``) is sanitised and suffixed with a digest of the exact name, so it can neither
    leave the cache directory nor collide with another step's directory.
    """
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in step_name)[:80]
    if safe == step_name and safe:
        return safe
    return f"{safe or '_'}-{xxhash.xxh3_64_hexdigest(step_name.encode())}"


