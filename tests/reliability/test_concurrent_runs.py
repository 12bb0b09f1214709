"""Several processes on one cache directory: correct results, a consistent store.

* Two processes run the same pipeline at the same moment (lined up on a "go" file): both
  succeed with the right result, every entry afterwards is complete and verifies, no
  temporary directory is left behind, and a third run is all cache hits.
* Eight processes store the same key at once, each a different value: exactly one entry
  remains, it verifies, and it is one writer's value in full (never a mix of two).
"""

from __future__ import annotations

import multiprocessing

import numpy as np

from flowyml.hashing import hash_value
from flowyml.keys import make_key
from flowyml.store.entry import read_meta
from flowyml.store.local import CacheStore

from .conftest import entries, finish, leftovers, run_pipeline, start_pipeline

N = 2_000_000


def test_two_processes_same_pipeline_same_cache(tmp_path):
    cache_dir, go = tmp_path / "cache", tmp_path / "go"
    procs = [start_pipeline(cache_dir, N, FLOWYML_TEST_GO=str(go)) for _ in range(2)]
    go.write_text("go")
    results = [finish(p) for p in procs]
    expected = float(N) * (N - 1) / 2
    for res in results:
        assert res["success"] and res["total"] == expected

    store = CacheStore(cache_dir)
    for name in ("seed", "make_big", "summarise"):
        [entry] = entries(cache_dir, name)
        assert leftovers(cache_dir, name) == []
        assert store.lookup(read_meta(entry)["key"]) is not None

    third = run_pipeline(cache_dir, N)
    assert third["states"] == {"seed": "cached", "make_big": "cached", "summarise": "cached"}
    assert third["total"] == expected


def _writer(root: str, key: str, value: int, barrier) -> None:
    store = CacheStore(root)
    arr = np.full(500_000, value, dtype=np.int64)
    barrier.wait()
    ok = store.store(key, {"x": arr}, output_hashes={"x": hash_value(arr)})
    raise SystemExit(0 if ok else 3)


def test_eight_concurrent_writers_of_one_key(tmp_path):
    root = tmp_path / "cache"
    key = make_key("contended", "code", {"p": "digest"})
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(8)
    writers = [ctx.Process(target=_writer, args=(str(root), key, i, barrier)) for i in range(8)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(timeout=60)
    assert [w.exitcode for w in writers] == [0] * 8  # every writer reports success

    [entry_file] = entries(root, "contended")
    assert leftovers(root, "contended") == []
    assert entry_file.is_file() and not entry_file.is_symlink()
    store = CacheStore(root)
    entry = store.lookup(key)
    assert entry is not None and entry.path == entry_file
    x = store.load(entry)["x"]
    assert x.shape == (500_000,) and len(np.unique(x)) == 1 and 0 <= x[0] < 8
    assert entry.output_hashes["x"] == hash_value(np.asarray(x))
