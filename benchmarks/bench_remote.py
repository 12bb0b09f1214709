"""A cache on object storage: a loopback S3 server (moto, its own process), side by side
with fsspec/s3fs doing the same transfers by hand on the same server.

* a hit of a large array from the bucket on a machine that has never seen it (the data
  object is downloaded once into the local copy, verified, loaded memory-mapped) vs.
  ``fs.cat_file`` / ``fs.get_file`` of that object by hand; target <= 1.2x the raw transfer;
* the second hit on that machine (local copy) vs. the same raw transfer; target <= 5 %;
* per-step overhead of a fully cached chain on the bucket, on a machine that has verified it
  before (no request per step) and on a fresh machine (no local copy: the shared index, a
  few requests per run) -- target <= 3 ms/step both -- vs. the same meta.json GETs by hand
  with s3fs (its concurrent ``fs.cat`` of the list, and one after the other).

Sizes: 100 MB array and 1,000 steps (quick: 16 MB, 100 steps). Skipped, with the reason,
when s3fs or moto is not installed (``pip install flowyml[s3] 'moto[server]'``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from benchmarks._common import best_time, chain_module, row, scratch_dir, skipped

NAME = "remote"
_AWS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}


def make_big(n: int) -> Any:
    import numpy as np

    return np.arange(n, dtype=np.float64)


@contextlib.contextmanager
def _moto_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, **_AWS}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("the moto server did not start")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def _env(**values: str):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _large(fs: Any, url: str, opts: dict[str, Any], work: Path, n: int, repeat: int,
           quick: bool) -> list[dict]:
    import flowyml

    def pipeline() -> Any:
        p = flowyml.Pipeline("big", cache_dir=url, storage_options=opts, context={"n": n})
        return p.add_step(flowyml.Step(make_big, name="make_big", outputs=["big"]))

    with _env(FLOWYML_CACHE_LOCAL_COPY_DIR=str(work / "writer")):
        assert not pipeline().run().cached_steps
    data = next(p for p in fs.find(url[5:]) if "/output-" in p)

    def hit() -> None:
        result = pipeline().run()
        value = result["big"]
        assert result.cached_steps == ["make_big"] and float(value[-1]) == n - 1

    # Paired and interleaved (order alternating): each first hit next to a raw transfer of the
    # same object with the same call flowyml makes (get_file), so both see the same load on a
    # shared machine; the ratio is the median of the pairs'. flowyml's own work (everything
    # but the transfer) is measured apart, by timing its get_file calls.
    store_fs = flowyml.open_store(url, opts).fs  # fsspec shares this instance with the runs
    real_get = store_fs.get_file
    in_transfer = [0.0]

    def timed_get(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return real_get(*args, **kwargs)
        finally:
            in_transfer[0] += time.perf_counter() - t0

    local = str(work / "by-hand.pkl")
    firsts, seconds, raws, own = [], [], [], []
    store_fs.get_file = timed_get
    try:
        for r in range(repeat):
            def by_hand() -> None:
                t0 = time.perf_counter()
                fs.get_file(data, local)
                raws.append(time.perf_counter() - t0)
                os.unlink(local)

            if r % 2:
                by_hand()
            with _env(FLOWYML_CACHE_LOCAL_COPY_DIR=str(work / f"machine-{r}")):
                in_transfer[0] = 0.0
                t0 = time.perf_counter()
                hit()
                firsts.append(time.perf_counter() - t0)
                own.append(firsts[-1] - in_transfer[0])
                seconds.append(best_time(hit, repeat=3))
            shutil.rmtree(work / f"machine-{r}", ignore_errors=True)
            if not r % 2:
                by_hand()
    finally:
        del store_fs.get_file  # back to the class's method
    import statistics

    ratio = statistics.median(f / w for f, w in zip(firsts, raws, strict=True))
    first, second, raw = statistics.median(firsts), min(seconds), statistics.median(raws)
    raw_name = "s3fs get_file"
    mb = n * 8 / 1e6
    return [
        row(NAME, f"{mb:,.0f} MB array: first hit on a machine (download + verify + mmap), "
            f"median of {repeat}", first, "s", baseline=f"raw transfer ({raw_name})",
            baseline_value=raw, ratio=ratio, ratio_label="x raw transfer (paired median)",
            target="<= 1.2x raw transfer", met=None if quick else ratio <= 1.2,
            note=f"flowyml's own work, outside the transfer: {statistics.median(own) * 1e3:.0f} ms"),
        row(NAME, f"{mb:,.0f} MB array: second hit (local copy, mmap)", second, "s",
            baseline=f"raw transfer ({raw_name})", baseline_value=raw, ratio=second / raw * 100,
            ratio_label="% of raw transfer", target="<= 5 % of raw transfer",
            met=None if quick else second / raw <= 0.05),
    ]


def _chain(fs: Any, url: str, opts: dict[str, Any], work: Path, n: int, quick: bool) -> list[dict]:
    import flowyml

    mod = chain_module(work, n)

    def pipeline() -> Any:
        return flowyml.Pipeline("chain", cache_dir=url, storage_options=opts).add_steps(mod.STEPS)

    with _env(FLOWYML_CACHE_LOCAL_COPY_DIR=str(work / "chain-writer")):
        t0 = time.perf_counter()
        assert not pipeline().run().cached_steps
        cold_store = (time.perf_counter() - t0) / n
        flowyml.open_store(url, opts).flush()  # what the writer's process does at exit

        def cached() -> None:
            result = pipeline().run()
            assert len(result.cached_steps) == n

        warm = best_time(cached, repeat=3) / n
    # a fresh machine: its own (empty) local copy and a store of its own (nothing in memory)
    fresh = []
    for r in range(3):
        with _env(FLOWYML_CACHE_LOCAL_COPY_DIR=str(work / f"chain-fresh-{r}")):
            t0 = time.perf_counter()
            cached()
            fresh.append((time.perf_counter() - t0) / n)
    # by hand: the same metadata GETs (one meta.json per step), with s3fs's own concurrent
    # batching (fs.cat of the list), and one after the other
    fs.invalidate_cache()
    metas = [p for p in fs.find(url[5:] + "/joblib/flowyml") if p.endswith("/meta.json")]
    batched = best_time(lambda: fs.cat(metas), repeat=2) / len(metas)
    one_by_one = best_time(lambda: [fs.cat_file(p) for p in metas[:200]], repeat=2) / min(len(metas), 200)
    return [
        row(NAME, f"{n:,}-step chain, fully cached, machine that verified it before", warm,
            "s", baseline="one meta.json GET by hand (s3fs cat_file)",
            baseline_value=one_by_one, ratio_label="x one GET", target="<= 3 ms/step",
            met=warm <= 0.003, note=f"{warm * 1e3:.3f} ms/step"),
        row(NAME, f"{n:,}-step chain, fully cached, fresh machine (no local copy, no memo)",
            min(fresh), "s", baseline="its meta.json GETs by hand (s3fs fs.cat, concurrent)",
            baseline_value=batched, ratio_label="x by hand", target="<= 3 ms/step",
            met=None if quick else min(fresh) <= 0.003,
            note=f"{min(fresh) * 1e3:.2f} ms/step; by hand one after the other: "
                 f"{one_by_one * 1e3:.1f} ms/step"),
        row(NAME, f"{n:,}-step chain, cold (compute + upload)", cold_store, "s",
            note=f"{cold_store * 1e3:.2f} ms/step"),
    ]


def run(quick: bool = False) -> list[dict[str, Any]]:
    for module in ("s3fs", "moto", "numpy"):
        if importlib.util.find_spec(module) is None:
            return [skipped(NAME, f"{module} is not installed (pip install flowyml[s3] 'moto[server]')")]
    import s3fs

    n_big = (16 if quick else 100) * 10**6 // 8
    steps = 100 if quick else 1000
    work = scratch_dir("remote")
    try:
        with _env(**_AWS), _moto_server() as endpoint:
            opts = {"endpoint_url": endpoint}
            fs = s3fs.S3FileSystem(skip_instance_cache=True, **opts)
            bucket = f"bench-{uuid.uuid4().hex[:10]}"
            fs.mkdir(bucket)
            rows = _large(fs, f"s3://{bucket}/big", opts, work, n_big, 2 if quick else 7, quick)
            rows += _chain(fs, f"s3://{bucket}/chain", opts, work, steps, quick)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
