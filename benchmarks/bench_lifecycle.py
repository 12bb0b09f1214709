"""Cache lifecycle at scale: ``info`` and ``gc`` over a cache of 100,000 entries (issue 14).

The entries are written straight in the store's layout (one entry file each, ~500 bytes:
a small pickled output and its metadata, as ``CacheStore.store`` writes it; spread over 100
steps, last uses spread over 60 days), not by running 100,000 steps. ``gc`` keeps the
latest entry of each step and removes the rest. Targets: ``info`` under 2 s, ``gc`` under 5 s.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from benchmarks._common import row, scratch_dir

NAME = "lifecycle"


def _fill(store: Any, n: int, steps: int = 100) -> None:
    from flowyml.store import local as cache

    base = str(store.entries_dir)
    now = time.time()
    for s in range(steps):
        os.mkdir(os.path.join(base, f"step{s}"))
    segments, size, stream, buffers = cache.serialise({"y": list(range(20))})
    for i in range(n):
        key = f"step{i % steps}:{i:032x}"
        meta = {"format": cache.FORMAT_VERSION, "key": key, "size": size, "stream": stream,
                "buffers": buffers, "checksum": cache.segments_checksum(segments, size),
                "outputs": {"y": f"{i:032x}"}, "created": now}
        entry = os.path.join(base, f"step{i % steps}", f"{i:032x}{cache.ENTRY_SUFFIX}")
        fd = os.open(entry, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"".join([*segments, cache.tail_bytes(meta, None)]))
        t = now - 86400 * 60 * (n - i) / n - 120
        os.utime(fd, (t, t))
        os.close(fd)


def run(quick: bool = False) -> list[dict[str, Any]]:
    from flowyml.store import lifecycle
    from flowyml.store.local import CacheStore

    n = 10_000 if quick else 100_000
    work = scratch_dir("lifecycle")
    try:
        store = CacheStore(work / "cache")
        t0 = time.perf_counter()
        _fill(store, n)
        fill = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = lifecycle.info(store)
        info_s = time.perf_counter() - t0
        assert report["total"]["entries"] == n
        t0 = time.perf_counter()
        gone = lifecycle.gc(store, keep_latest=1)
        gc_s = time.perf_counter() - t0
        assert len(gone.removed) == n - 100
    finally:
        shutil.rmtree(work, ignore_errors=True)
    scale = 100_000 / n
    note = "" if not quick else f"measured on {n:,} entries; x{scale:.0f} shown as the 100k estimate"
    return [
        row(NAME, f"cache info, {n:,} entries", info_s, "s", target="< 2 s at 100k",
            met=info_s * scale < 2, note=note or f"writing them took {fill:.0f} s"),
        row(NAME, f"cache gc --keep-latest 1, {n:,} entries ({n - 100:,} removed)", gc_s, "s",
            target="< 5 s at 100k", met=gc_s * scale < 5, note=note),
    ]
