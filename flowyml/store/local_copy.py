"""The local, content-addressed copy of a remote cache: large outputs still load memory-mapped.

A :class:`flowyml.store.remote.RemoteStore` never unpickles from the network: each data
object is downloaded once into ``data/<digest>.pkl`` here (``digest``: the entry's signed
SHA-256 when it has one, else its xxh3 checksum), verified, then renamed into place, so a
file in ``data/`` always holds exactly the bytes its name says. A second hit on this machine
reads it from here (memory-mapped) without downloading again.

``meta/<location>/...`` keeps the metadata of entries verified from a remote store, with
the store's *generation* at the time: while the generation is unchanged (no ``clear()``
anywhere) and the data is here, a lookup needs no request at all.

Bounded: ``FLOWYML_CACHE_LOCAL_COPY_MAX`` (default ``10G``; ``0`` keeps nothing but the file
in use) of data files; the least recently used go first. Where:
``FLOWYML_CACHE_LOCAL_COPY_DIR``, else ``$XDG_CACHE_HOME/flowyml/remote``, else
``~/.cache/flowyml/remote``; created owner-only (0700), and refused when someone else could
write to it (like the local cache directory).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from flowyml.sizes import parse_size as _parse_size

DEFAULT_MAX = "10G"


def parse_size(text: str | int) -> int:
    """``"10G"``, ``"500M"``, ``"1.5GiB"``, ``"0"`` or a byte count -> bytes."""
    try:
        return _parse_size(text)
    except ValueError:
        raise ValueError(f"FLOWYML_CACHE_LOCAL_COPY_MAX: cannot read {text!r} as a size; use e.g. "
                         "10G, 500M or a number of bytes") from None


def default_dir() -> Path:
    env = os.environ.get("FLOWYML_CACHE_LOCAL_COPY_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "flowyml" / "remote"


class LocalCopy:
    """Verified copies of remote data objects, by content digest, bounded in size."""

    def __init__(self, directory: str | os.PathLike[str] | None = None,
                 max_bytes: int | str | None = None) -> None:
        self.dir = Path(directory).expanduser() if directory is not None else default_dir()
        if max_bytes is None:
            max_bytes = os.environ.get("FLOWYML_CACHE_LOCAL_COPY_MAX", DEFAULT_MAX)
        self.max_bytes = parse_size(max_bytes)
        self._ready = False
        self._total: int | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, object]:
        return {"dir": self.dir, "max_bytes": self.max_bytes}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__init__(state["dir"], state["max_bytes"])  # type: ignore[misc, arg-type]

    # -- layout ---------------------------------------------------------------------------
    def _ensure(self) -> None:
        if self._ready:
            return
        from flowyml.store.local import check_dir_safety

        for sub in (self.dir, self.dir / "data", self.dir / "meta", self.dir / "tmp"):
            new = not sub.exists()
            sub.mkdir(parents=True, exist_ok=True, mode=0o700)
            if new:
                os.chmod(sub, 0o700)
        check_dir_safety(self.dir, False)
        self._ready = True

    def data_path(self, digest: str) -> Path:
        return self.dir / "data" / f"{_safe(digest)}.pkl"

    def meta_path(self, location_id: str, step_dir: str, entry: str) -> Path:
        return self.dir / "meta" / _safe(location_id) / step_dir / f"{_safe(entry)}.json"

    def temp_file(self) -> str:
        """A fresh private file name for a download or a dump (the caller removes it)."""
        self._ensure()
        fd, name = tempfile.mkstemp(dir=self.dir / "tmp", prefix=f"{os.getpid()}-")
        os.close(fd)
        return name

    # -- data -----------------------------------------------------------------------------
    def existing(self, digest: str, size: int) -> Path | None:
        """The copy of ``digest`` when it is here with the right size (marked as used)."""
        path = self.data_path(digest)
        try:
            if os.stat(path).st_size != size:
                return None
            os.utime(path)  # least recently used goes first
        except OSError:
            return None
        return path

    def add(self, temp: str, digest: str) -> Path:
        """Move a verified temporary file into place as the copy of ``digest``."""
        self._ensure()
        path = self.data_path(digest)
        size = os.stat(temp).st_size
        os.replace(temp, path)
        self._account(size, keep=path)
        return path

    def fetch(self, digest: str, size: int, download: Callable[[str], None],
              verify: Callable[[str], str | None]) -> tuple[Path | None, str | None]:
        """The copy of ``digest``: here already, or downloaded, verified and kept.

        ``download(tmp)`` writes the object to ``tmp``; ``verify(tmp)`` says what is wrong with
        it (``None``: nothing). Returns ``(path, None)`` or ``(None, problem)``.
        """
        found = self.existing(digest, size)
        if found is not None:
            return found, None
        temp = self.temp_file()
        try:
            download(temp)
            problem = verify(temp)
            if problem:
                return None, problem
            return self.add(temp, digest), None
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temp)

    def _account(self, size: int, keep: Path) -> None:
        with self._lock:
            if self._total is None:
                self._total = self._scan_total()
            else:
                self._total += size
            if self._total > self.max_bytes:
                self._total = self._evict(keep)

    def _scan_total(self) -> int:
        total = 0
        with contextlib.suppress(OSError), os.scandir(self.dir / "data") as it:
            for e in it:
                with contextlib.suppress(OSError):
                    total += e.stat(follow_symlinks=False).st_size
        return total

    def _evict(self, keep: Path) -> int:
        """Remove least recently used copies until at most 90 % of the bound is used."""
        files = []
        with contextlib.suppress(OSError), os.scandir(self.dir / "data") as it:
            for e in it:
                with contextlib.suppress(OSError):
                    st = e.stat(follow_symlinks=False)
                    files.append((st.st_mtime, st.st_size, e.path))
        total = sum(f[1] for f in files)
        target = int(self.max_bytes * 0.9)
        for _, size, path in sorted(files):
            if total <= target:
                break
            if path == str(keep):
                continue
            with contextlib.suppress(OSError):
                os.unlink(path)  # a loaded memory map keeps its pages; new readers download
                total -= size
        # temporary files of dead downloads (older than a day)
        cutoff = time.time() - 86400
        with contextlib.suppress(OSError), os.scandir(self.dir / "tmp") as it:
            for e in it:
                with contextlib.suppress(OSError):
                    if e.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(e.path)
        return total

    def clear_meta(self, location_id: str, step_dir: str | None = None) -> None:
        """Forget verified metadata of a location (or of one step there)."""
        import shutil

        base = self.dir / "meta" / _safe(location_id)
        shutil.rmtree(base / step_dir if step_dir else base, ignore_errors=True)


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)[:160]
