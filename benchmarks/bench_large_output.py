"""A step returning a large array: storing it, and loading it on a cache hit.

Each measurement runs in a fresh subprocess, so peak RSS (``VmHWM``) belongs to it alone;
the page cache is written back (``os.sync``) before each, and store and dump alternate.
Baselines: ``pickle.dump`` / ``pickle.load`` of the same array (for the store time, making
the array plus ``pickle.dump``, as the step run makes it too). Issue targets (1 GiB array,
64 MiB in quick mode): a hit loads in <= 5 % of ``pickle.load``'s time (memory-mapping), and
storing holds no second full copy (peak RSS over the array <= 10 %).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import peak_rss_bytes, row, rss_bytes, scratch_dir

NAME = "large output"


def make_big(n: int) -> Any:
    """The benchmark step: a float64 array of ``n`` elements."""
    import numpy as np

    return np.arange(n, dtype=np.float64)


def _warm_up(work: Path) -> None:
    """Import and exercise everything once, so a timing measures the work, not imports."""
    import flowyml

    p = flowyml.Pipeline("warm-up", cache_dir=work / "warm-up", context={"n": 8})
    p.add_step(flowyml.Step(make_big, name="warm", outputs=["tiny"]))
    p.run()
    p.run()["tiny"].sum()


def _child(mode: str, work: Path, n: int) -> dict[str, Any]:
    import pickle

    import flowyml

    nbytes = n * 8
    pipeline = flowyml.Pipeline("large", cache_dir=work / "cache", context={"n": n})
    pipeline.add_step(flowyml.Step(make_big, name="make_big", outputs=["big"]))
    if mode == "store":
        import numpy  # loaded before the baseline RSS is taken

        _warm_up(work)
        before = rss_bytes()
        t0 = time.perf_counter()
        result = pipeline.run()
        elapsed = time.perf_counter() - t0
        assert result.success and not result.cached_steps, result.summary()
        return {"seconds": elapsed, "over": (peak_rss_bytes() - before - nbytes) / nbytes}
    if mode == "pickle-dump":
        import numpy  # noqa: F401 - imported before timing, as in the store child

        before = rss_bytes()
        t_make = time.perf_counter()
        arr = make_big(n)  # the step's own work, which the flowyml figure includes too
        t0 = time.perf_counter()
        with open(work / "big.pkl", "wb") as fh:
            pickle.dump(arr, fh, protocol=pickle.HIGHEST_PROTOCOL)
        elapsed = time.perf_counter() - t0
        return {"seconds": elapsed, "with_make": time.perf_counter() - t_make,
                "over": (peak_rss_bytes() - before - nbytes) / nbytes}
    if mode == "hit":
        _warm_up(work)
        t0 = time.perf_counter()
        result = pipeline.run()
        value = result["big"]
        first, last = float(value[0]), float(value[-1])
        elapsed = time.perf_counter() - t0
        assert result.cached_steps == ["make_big"] and (first, last) == (0, n - 1), result.summary()
        return {"seconds": elapsed}
    if mode == "pickle-load":
        t0 = time.perf_counter()
        with open(work / "big.pkl", "rb") as fh:
            value = pickle.load(fh)
        elapsed = time.perf_counter() - t0
        assert value.shape == (n,)
        return {"seconds": elapsed}
    raise ValueError(f"unknown mode {mode!r}")


def _spawn(mode: str, work: Path, n: int) -> dict[str, Any]:
    if hasattr(os, "sync"):
        os.sync()  # write back the last child's gigabyte first: it would slow the next one down
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_large_output", mode, str(work), str(n)],
        capture_output=True, text=True, check=False, cwd=Path(__file__).resolve().parent.parent,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{mode} child failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> list[dict[str, Any]]:
    n = (64 if quick else 1024) * 2**20 // 8
    repeat = 1 if quick else 2
    mib = n * 8 / 2**20
    work = scratch_dir("large")
    try:
        stores, dumps = [], []
        for _ in range(repeat):  # alternated, so that neither side always runs first
            shutil.rmtree(work / "cache", ignore_errors=True)
            stores.append(_spawn("store", work, n))
            dumps.append(_spawn("pickle-dump", work, n))
        store = min(stores, key=lambda r: r["seconds"])
        dump = min(dumps, key=lambda r: r["with_make"])
        hits = [_spawn("hit", work, n)["seconds"] for _ in range(repeat)]
        loads = [_spawn("pickle-load", work, n)["seconds"] for _ in range(repeat)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    hit, load = min(hits), min(loads)
    case = f"{mib:,.0f} MiB float64 array"
    return [
        row(NAME, f"{case}: cache hit (mmap)", hit, "s", baseline="pickle.load",
            baseline_value=load, ratio=hit / load * 100, ratio_label="% of pickle.load",
            target="<= 5 % of pickle.load (1 GiB)", met=None if quick else hit / load <= 0.05),
        row(NAME, f"{case}: store, peak RSS over array", store["over"] * 100, "%",
            baseline="pickle.dump", baseline_value=dump["over"] * 100, ratio_label="x pickle.dump's",
            target="<= 10 % (1 GiB)", met=None if quick else store["over"] <= 0.10),
        # both sides make the array (a fresh GiB's page faults) and write it: the step run
        # also hashes it, checksums it and commits the entry
        row(NAME, f"{case}: store time (run: make + hash + store)", store["seconds"], "s",
            baseline="make + pickle.dump", baseline_value=dump["with_make"],
            ratio_label="x pickle.dump", target="<= 1.2x pickle.dump (1 GiB)",
            met=None if quick else store["seconds"] <= 1.2 * dump["with_make"],
            note=f"pickle.dump alone: {dump['seconds']:.2f} s"),
    ]


if __name__ == "__main__":
    print(json.dumps(_child(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]))))
