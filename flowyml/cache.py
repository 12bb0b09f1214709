"""Cache keys and the on-disk store of step outputs.

The store sits in a ``joblib.Memory`` location and writes each entry with joblib's own
persistence (``joblib.numpy_pickle``), so large numpy arrays load memory-mapped. An entry is
a directory holding ``output.pkl`` and, written after it, ``meta.json`` with the format
version, the decodable key, the size and a checksum of ``output.pkl``. Only an entry whose
``meta.json`` exists and matches is ever loaded; anything else is reported and recomputed.
Both files are written to a temporary name and renamed into place (atomic on POSIX).

:class:`NullStore` has the same interface and never stores anything (``cache=False``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import pickle
import shutil
import socket
import stat
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from flowyml import signing as _signing
from flowyml.hashing import FINGERPRINT_VERSION

FORMAT_VERSION = 1
KEY_VERSION = 1
#: entries up to this size are checksummed in full on every load; larger ones (which load
#: memory-mapped) are checked by size and by a checksum of sampled blocks.
FULL_VERIFY_BYTES = 64 * 1024 * 1024
_SAMPLE_BLOCK = 64 * 1024
_SAMPLE_COUNT = 64


class CacheWarning(UserWarning):
    """Something went wrong with the cache; the result is still correct (recomputed)."""


class CacheLoadError(RuntimeError):
    """A cache hit whose data could not be loaded after all; the entry is removed."""


class UnsafeCacheDirError(PermissionError):
    """The cache directory could be written by someone else; loading from it is unsafe."""


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


def make_key(step_name: str, code: str | None, params: dict[str, str]) -> str:
    """A content-addressed key: step name + code fingerprint + each received value's digest."""
    return key_from_parts(step_name, key_parts(step_name, code, params))


def key_from_parts(step_name: str, parts: dict[str, Any]) -> str:
    """The key for already-built :func:`key_parts`."""
    digest = xxhash.xxh3_128_hexdigest(json.dumps(parts, sort_keys=True).encode())
    return f"{_quote_step(step_name)}:{digest}"


def key_parts(step_name: str, code: str | None, params: dict[str, str]) -> dict[str, Any]:
    """The decodable form of a key, stored next to each entry."""
    return {
        "key_version": KEY_VERSION,
        "fingerprint_version": FINGERPRINT_VERSION,
        "step": step_name,
        "code": code,
        "params": dict(sorted(params.items())),
    }


def custom_key(step_name: str, user_key: str) -> str:
    """The key of a step whose ``cache`` is a callable returning ``user_key``."""
    return f"{_quote_step(step_name)}:{user_key}"


def _quote_step(step_name: str) -> str:
    # a key is "<step>:<rest>"; a ':' in the step name must not end the step part
    return step_name.replace("%", "%25").replace(":", "%3A")


def step_of_key(key: str) -> str:
    """The step name a key belongs to."""
    return key.partition(":")[0].replace("%3A", ":").replace("%25", "%")


# ---------------------------------------------------------------------------------------------
# Cache directory
# ---------------------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``FLOWYML_CACHE_DIR``, else ``.flowyml/cache`` next to the running script or notebook."""
    env = os.environ.get("FLOWYML_CACHE_DIR")
    if env:
        from flowyml.stores import local_path

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


def _check_dir_safety(path: Path, trust: bool) -> None:
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


@dataclass(frozen=True)
class CacheEntry:
    """A verified entry: where it is and what ``meta.json`` says about it."""

    location: str | Path
    meta: dict[str, Any] = field(hash=False, compare=False)

    @property
    def path(self) -> Path:
        return Path(self.location)

    @property
    def output_hashes(self) -> dict[str, str]:
        return self.meta.get("outputs", {})

    @property
    def duration(self) -> float:
        return float(self.meta.get("duration", 0.0))


class CacheStore:
    """The on-disk store shared by the notebook, exported modules and every executor."""

    enabled = True

    def __init__(
        self, location: str | os.PathLike[str] | None = None, *, trust_cache_dir: bool = False,
        secret: str | bytes | None = None,
    ) -> None:
        from flowyml.stores import local_path

        root = local_path(location) if location is not None else default_cache_dir()
        self.root = root.resolve()
        self.trust_cache_dir = trust_cache_dir
        #: entries are signed and checked with this (FLOWYML_CACHE_SECRET); see flowyml.signing
        self.secret = _signing.resolve_secret(secret)
        self._memory: Any = None
        self._entries: Path | None = None
        self._entries_str: str | None = None
        self._reported: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:
        # shipped to workers: they reopen the location themselves
        return {**self.__dict__, "_memory": None, "_entries": None, "_entries_str": None,
                "_reported": set()}

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
            _check_dir_safety(self.root, self.trust_cache_dir)
            memory = joblib.Memory(location=str(self.root), verbose=0, mmap_mode="c")
            _check_dir_safety(Path(memory.location), self.trust_cache_dir)
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
            _check_dir_safety(entries, self.trust_cache_dir)
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
        """``<root>/joblib/flowyml/<step dir>/<hash of key>``; never outside the entries dir."""
        return Path(self._entry_location(key))

    def _entry_location(self, key: str) -> str:
        if self._entries_str is None:
            self._entries_str = str(self.entries_dir)
        digest = xxhash.xxh3_128_hexdigest(key.encode())
        return f"{self._entries_str}{os.sep}{step_dirname(step_of_key(key))}{os.sep}{digest}"

    # -- reading --------------------------------------------------------------------------
    def lookup(self, key: str) -> CacheEntry | None:
        """The verified entry for ``key``, or ``None``; a bad entry is reported and removed.

        Raises :class:`UnsafeCacheDirError` only for an unsafe cache *directory*; an entry
        that links outside the cache is a reported miss (it is removed and recomputed).
        """
        try:
            location = self._entry_location(key)
        except UnsafeCacheDirError:
            raise
        except OSError as exc:
            self._caching_off(exc)
            return None
        fast = self._lookup_fast(location, key)
        if fast is not _THOROUGH:
            if fast is not None:
                _touch(f"{location}{os.sep}meta.json")
            return fast
        path = Path(location)
        if path.parent.is_symlink():  # a step directory is never a link: drop the link
            self._report(key, f"step directory {path.parent} is a link; not following it")
            path.parent.unlink(missing_ok=True)
            return None
        meta_file = path / "meta.json"
        try:
            self._check_inside(meta_file)
            raw = meta_file.read_bytes()
        except FileNotFoundError:
            if not os.path.lexists(path):
                return None
            # a complete entry always has meta.json (it is renamed into place whole)
            problem, meta = "metadata file meta.json is missing", {}
        except UnsafeCacheDirError as exc:
            problem, meta = str(exc), {}
        except OSError as exc:
            self._report(key, f"cannot read {meta_file}: {exc}")
            return None
        else:
            try:
                meta = json.loads(raw)
                if not isinstance(meta, dict):
                    raise ValueError(f"expected a JSON object, got {type(meta).__name__}")
                problem = self._verify(path, meta, key)
            except UnsafeCacheDirError as exc:
                problem = str(exc)
            except (ValueError, OSError) as exc:
                problem = f"unreadable metadata ({exc})"
                meta = {}
        if problem:
            self._report(key, problem)
            self._discard(path)
            return None
        _touch(str(meta_file))
        return CacheEntry(path, meta)

    def _lookup_fast(self, path: str, key: str) -> CacheEntry | object:
        """The common case in few system calls: a sound entry, or ``_THOROUGH``.

        Anything unusual -- no entry, a link anywhere below the entries directory, a bad
        size, checksum or metadata -- returns ``_THOROUGH`` so :meth:`lookup` takes the slow
        path, which decides, reports and cleans up. ``O_NOFOLLOW`` refuses links at the files.
        """
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return _THOROUGH
            if stat.S_ISLNK(os.lstat(path[: path.rindex(os.sep)]).st_mode):
                return _THOROUGH
            meta = json.loads(_read_small(f"{path}{os.sep}meta.json"))
            if (not isinstance(meta, dict) or meta.get("format") != FORMAT_VERSION
                    or meta.get("key") != key):
                return _THOROUGH
            fd = os.open(f"{path}{os.sep}output.pkl", _OPEN_FLAGS)
            try:
                size = os.fstat(fd).st_size
                if size != meta.get("size"):
                    return _THOROUGH
                if size <= _SMALL_READ:  # the common case: one read, no file object
                    checksum = "full:" + xxhash.xxh3_128_hexdigest(os.read(fd, size + 1))
                else:
                    with os.fdopen(os.dup(fd), "rb") as fh:
                        checksum = _checksum_file(fh, size)
            finally:
                os.close(fd)
            if checksum != meta.get("checksum"):
                return _THOROUGH
            if self.secret is not None and _signing.entry_problem(
                    meta, self.secret, f"{path}{os.sep}output.pkl"):
                return _THOROUGH
        except (OSError, ValueError):
            return _THOROUGH
        return CacheEntry(path, meta)

    def load(self, entry: CacheEntry) -> dict[str, Any]:
        """The outputs stored in ``entry`` (large arrays memory-mapped, copy-on-write)."""
        from joblib import numpy_pickle

        target = entry.path / "output.pkl"
        self._check_inside(target)
        try:
            return _plain_arrays(_unpack(numpy_pickle.load(str(target), mmap_mode="c")))
        except Exception as exc:
            # verified at lookup, yet unloadable: removed since (a concurrent clear()), or
            # damaged where the sampled check of a very large entry does not look
            self._discard(entry.path)
            step_name = step_of_key(str(entry.meta.get("key", "?")))
            raise CacheLoadError(
                f"flowyml cache, step '{step_name}': its cached output could not be loaded "
                f"({type(exc).__name__}: {exc}). The entry has been removed; run again to "
                "recompute it."
            ) from exc

    def load_replay(self, entry: CacheEntry) -> list[dict[str, Any]] | None:
        """What the step showed when it ran (``None``: nothing recorded, or unreadable)."""
        info = entry.meta.get("replay")
        if not isinstance(info, dict):
            return None
        target = entry.path / "replay.json"
        try:
            self._check_inside(target)
            blob = _read_small(str(target))
        except (OSError, UnsafeCacheDirError):
            return None
        return replay_items(self, entry, info, blob)

    def _verify(self, path: Path, meta: dict[str, Any], key: str) -> str | None:
        if meta.get("format") != FORMAT_VERSION:
            return f"written by another format version ({meta.get('format')!r})"
        if meta.get("key") != key:
            return "its metadata names another key"
        data = path / "output.pkl"
        self._check_inside(data)
        try:
            size = os.stat(data).st_size
        except FileNotFoundError:
            size = -1
        if size != meta.get("size"):
            return f"output.pkl is {size} bytes, expected {meta.get('size')} (truncated?)"
        if _checksum(data, size) != meta.get("checksum"):
            return "output.pkl checksum mismatch (corrupted)"
        if self.secret is not None:
            return _signing.entry_problem(meta, self.secret, data)
        return None

    def _check_inside(self, target: Path) -> None:
        # Runs twice per lookup, so the common case is cheap: the root is resolved already,
        # hence a target below it whose components (below the root) are no symlinks is inside
        # it -- a few lstat calls instead of resolving the whole path from "/".
        root = str(self.root).rstrip(os.sep)
        path = os.fspath(target)
        if path.startswith(root + os.sep):
            parts = path[len(root) + 1:].split(os.sep)
            if all(p not in ("", ".", "..") for p in parts):
                current = root
                try:
                    for part in parts:
                        current = f"{current}{os.sep}{part}"
                        if stat.S_ISLNK(os.lstat(current).st_mode):
                            break
                    else:
                        return
                except OSError:
                    pass  # decided below, exactly as before
        real = os.path.realpath(path)
        if real != root and not real.startswith(root + os.sep):
            raise UnsafeCacheDirError(
                f"cache entry {target} links outside the cache directory ({real}); refusing to "
                "load it. Remove the link or clear the cache."
            )

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

        The entry is assembled in a private temporary directory and renamed into place, so
        readers see either nothing or a complete entry, and of several concurrent writers of
        one key exactly one wins. ``replay`` (what a notebook cell showed) is written beside
        the outputs, inside the same entry, with its own size and checksum in ``meta.json``;
        ``notes`` are small JSON facts kept in ``meta.json``.
        """
        from joblib import numpy_pickle

        tmpdir: Path | None = None
        try:
            final = self.entry_path(key)
            if final.parent.is_symlink():
                final.parent.unlink()
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _sweep_dead_writers(final)
            tmpdir = Path(tempfile.mkdtemp(dir=final.parent, prefix=_tmp_prefix(final.name)))
            data = tmpdir / "output.pkl"
            with open(data, "wb") as fh:
                numpy_pickle.dump({n: _pack(v) for n, v in outputs.items()}, fh)
            size = data.stat().st_size
            meta = {
                "format": FORMAT_VERSION,
                "key": key,
                "parts": parts,
                "outputs": output_hashes,
                "size": size,
                "checksum": _checksum(data, size),
                "duration": duration,
                "shape": shape,
                "created": time.time(),
            }
            blob = entry_facts(meta, replay, notes, explain, self.secret)
            if blob is not None:
                (tmpdir / "replay.json").write_bytes(blob)
            if self.secret is not None:
                meta["sha256"] = _signing.sha256_file(data)
                meta = _signing.sign(meta, self.secret)
            (tmpdir / "meta.json").write_text(json.dumps(meta, default=str))
            for _ in range(3):
                try:
                    os.rename(tmpdir, final)
                    tmpdir = None
                    return True
                except OSError as exc:
                    if exc.errno not in _TAKEN_ERRNOS:
                        raise
                    # someone else stored this key first: keep theirs if it is sound
                    # (lookup removes it when it is not, and we try again)
                    if self.lookup(key) is not None:
                        return True
            return False
        except UnsafeCacheDirError:
            raise
        except OSError as exc:
            self._caching_off(exc)
            return False
        except Exception as exc:
            name = _unpicklable_output(outputs)
            what = f"output '{name}' cannot be pickled" if name else f"cannot be stored ({exc})"
            self._report(key, f"{what}; it is not cached", once=not name)
            return False
        finally:
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)

    # -- maintenance ----------------------------------------------------------------------
    def clear(self, step_name: str | None = None) -> int:
        """Remove all entries (or those of one step). Returns how many were removed."""
        if not self.root.exists():
            return 0
        base = self.entries_dir
        dirs = [base / step_dirname(step_name)] if step_name else [
            d for d in base.iterdir() if d.is_dir() and not d.is_symlink()]
        count = 0
        for d in dirs:
            if d.is_dir() and not d.is_symlink():
                # leftovers of interrupted writes (".<hash>.tmp-*") go too, but do not count
                count += sum(1 for e in d.iterdir() if e.is_dir() and not e.name.startswith("."))
                shutil.rmtree(d, ignore_errors=True)
            elif d.is_symlink():
                d.unlink()
        return count

    def info(self) -> dict[str, dict[str, float]]:
        """Per step: number of entries and bytes on disk."""
        out: dict[str, dict[str, float]] = {}
        if not self.root.exists():
            return out
        for step_dir in sorted(self.entries_dir.iterdir()):
            if not step_dir.is_dir():
                continue
            entries = [e for e in step_dir.iterdir()
                       if not e.name.startswith(".") and (e / "meta.json").exists()]
            size = sum(f.stat().st_size for e in entries for f in e.iterdir() if f.is_file())
            out[step_dir.name] = {"entries": len(entries), "bytes": size}
        return out

    def _discard(self, path: Path) -> None:
        if path.is_symlink():
            path.unlink(missing_ok=True)  # the link goes, never what it points to
            return
        if not path.resolve().is_relative_to(self.root):
            return
        # move it aside first (atomic), so no reader ever sees a half-deleted entry
        aside = path.with_name(f"{_tmp_prefix(path.name)}discard-{time.monotonic_ns()}")
        try:
            os.rename(path, aside)
        except OSError:
            aside = path
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
        raise KeyError("NullStore holds no entries")

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


def size_text(n: float) -> str:
    """``1.5 MiB``: bytes for people (cache reports, replay bounds, gc summaries)."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


#: rename() of a directory onto an existing, non-empty one
_TAKEN_ERRNOS = {errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR}


_HOST = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40]


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


def _pack(value: Any) -> Any:
    module = type(value).__module__
    if module.startswith(("numpy", "pandas")) or value is None or isinstance(
            value, int | float | str | bytes | bool):
        return value
    try:
        return _Pickled(pickle.dumps(value, protocol=5))
    except Exception:
        return value  # numpy_pickle then fails on it and the caller names the output


def _unpack(outputs: Any) -> Any:
    if not isinstance(outputs, dict):
        return outputs
    return {n: pickle.loads(v.data) if type(v) is _Pickled else v for n, v in outputs.items()}


def _plain_arrays(outputs: Any) -> Any:
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


def _tmp_prefix(entry_name: str) -> str:
    """Temporary dirs of an entry: ``.<entry>.tmp-<host>-<pid>-`` (never read as entries)."""
    return f".{entry_name}.tmp-{_HOST}-{os.getpid()}-"


def _sweep_dead_writers(final: Path) -> None:
    """Remove temporary dirs of ``final`` left by writers on this host that no longer run.

    A writer killed mid-write (SIGKILL, power loss) leaves its temporary directory behind,
    possibly holding a large partial file; the next writer of the same key reclaims it.
    Directories of live processes, or of other hosts sharing the cache, are left alone.
    """
    prefix = f".{final.name}.tmp-{_HOST}-"
    try:
        candidates = [p for p in final.parent.iterdir() if p.name.startswith(prefix)]
    except OSError:
        return
    for path in candidates:
        pid_text = path.name[len(prefix):].partition("-")[0]
        if not pid_text.isdigit() or _pid_alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)


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


_THOROUGH = object()
_SMALL_READ = 1024 * 1024


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
    if ((store.secret is not None or "sha256" in info)
            and info.get("sha256") != _signing.sha256_bytes(blob)):
        return None  # the entry was verified as signed: its replay must match too
    try:
        items = json.loads(blob)
    except ValueError:
        return None
    return items if isinstance(items, list) else None


def _touch(meta_path: str) -> None:
    """Record a use of an entry: ``meta.json``'s modification time is its last use (one
    system call, no write of data; what ``flowyml cache gc`` keeps the recently used by)."""
    with contextlib.suppress(OSError):  # a read-only cache still serves hits
        os.utime(meta_path, follow_symlinks=False)


def _read_small(path: str) -> bytes:
    """A small file's bytes in one ``read`` (refusing a link: ``O_NOFOLLOW``)."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        size = os.fstat(fd).st_size
        return os.read(fd, size + 1)
    finally:
        os.close(fd)
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _checksum(path: Path, size: int) -> str:
    """xxh3 of the whole file, or of sampled blocks plus the size for very large files."""
    with open(path, "rb") as fh:
        return _checksum_file(fh, size)


def _checksum_file(fh: Any, size: int) -> str:
    """:func:`_checksum` of an open binary file."""
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


def _unpicklable_output(outputs: dict[str, Any]) -> str | None:
    import pickle

    for name, value in outputs.items():
        try:
            pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return name
    return None
