"""The shared index of a bucket cache: a fresh machine gets a long fully cached chain with a
few requests per run, and the index is only ever a hint (verified like meta.json; a miss or
an unsound record falls back to meta.json itself)."""

from __future__ import annotations

import json
import warnings

import pytest

from flowyml import Pipeline, step
from flowyml.store import remote_index as index
from flowyml.store.entry import CacheWarning
from flowyml.store.locations import open_store
from flowyml.store.remote import INDEX_AFTER, INLINE_BYTES, RemoteStore

STEPS = 30
CALLS: list[str] = []


def inc(x: int = -1) -> int:
    CALLS.append("inc")
    return x + 1


def _chain(n: int = STEPS) -> list:
    return [step(inc, name=f"c{i}", inputs=[f"v{i - 1}"] if i else [], outputs=[f"v{i}"],
                 register=False) for i in range(n)]


def _run(url, opts, secret=None, n=STEPS):
    CALLS.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = Pipeline("chain", cache_dir=url, storage_options=opts,
                       cache_secret=secret).add_steps(_chain(n)).run()
    assert res[f"v{n - 1}"] == n - 1
    return res, [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


def _machine(monkeypatch, tmp_path, name):
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / name))


def _count_requests(monkeypatch, store):
    """Every read the store's file system makes, by kind (fsspec shares the instance)."""
    seen: dict[str, list] = {"cat_file": [], "cat": [], "ls": [], "get_file": []}
    fs = store.fs
    for name, calls in seen.items():
        real = getattr(fs, name)
        monkeypatch.setattr(fs, name, lambda *a, _r=real, _c=calls, **k: _c.append(a) or _r(*a, **k))
    return seen


def test_fresh_machine_reads_a_long_chain_in_a_few_requests(url, opts, monkeypatch, tmp_path):
    res, reports = _run(url, opts)
    assert not res.cached_steps and reports == []
    open_store(url, opts).flush()  # the writer's process is done (at exit it would be)
    _machine(monkeypatch, tmp_path, "fresh")
    seen = _count_requests(monkeypatch, open_store(url, opts))
    res, reports = _run(url, opts)
    assert len(res.cached_steps) == STEPS and CALLS == [] and reports == []
    metas = [c for c in seen["cat_file"] if str(c[0]).endswith("meta.json")]
    # the first few lookups read meta.json (a small run never loads the index); then one
    # listing of the index and its objects fetched together
    assert len(metas) < INDEX_AFTER, metas
    index_reads = seen["cat"] + [c for c in seen["cat_file"] if "/index/" in str(c[0])]
    assert len(seen["ls"]) == 1 and len(index_reads) == 1, (seen["ls"], index_reads)
    others = [c for c in seen["cat_file"] if c not in metas and c not in index_reads]
    assert all(str(c[0]).endswith(".flowyml-generation") for c in others), others
    assert seen["get_file"] == []  # small outputs live inside meta.json


def test_a_miss_in_the_index_still_reads_meta_json(url, opts, monkeypatch, tmp_path):
    """Entries another writer adds after the index was loaded are found all the same."""
    _run(url, opts, n=10)
    open_store(url, opts).flush()
    _machine(monkeypatch, tmp_path, "reader")
    reader = open_store(url, opts)
    assert reader.lookup("nothing:here") is None
    _machine(monkeypatch, tmp_path, "writer")
    writer = RemoteStore(url, storage_options=opts)
    for i in range(6):  # the reader loads the index on its 4th lookup that reaches the bucket
        assert reader.lookup(f"late:{i}") is None
    assert reader._memo is not None
    writer.store("late:5", {"v": 5}, output_hashes={"v": "h"})
    entry = reader.lookup("late:5")  # not in the reader's index: meta.json decides
    assert entry is not None and reader.load(entry) == {"v": 5}


def test_unsound_index_records_are_ignored_not_trusted(url, opts, s3, monkeypatch, tmp_path):
    """A forged record (another secret, or data that does not match its checksum) is never
    used: the lookup reads meta.json, which is sound, and no warning is given."""
    _run(url, opts, secret="team", n=8)
    store = open_store(url, opts, secret="team")
    store.flush()
    generation = store._current_generation()
    loaded = index.load(store, generation)
    assert len(loaded.metas) == 8
    forged = {}
    for rel, meta in loaded.metas.items():
        meta = dict(meta)
        meta["outputs"] = {k: "0" * 32 for k in meta["outputs"]}  # would poison downstream keys
        forged[rel] = meta
    index.write(store, generation, forged, {})
    _machine(monkeypatch, tmp_path, "victim")
    res, reports = _run(url, opts, secret="team", n=8)
    assert len(res.cached_steps) == 8 and CALLS == [] and reports == []


def test_damaged_inline_output_is_reported_and_recomputed(url, opts, s3, monkeypatch, tmp_path):
    _run(url, opts, n=3)
    meta_path = next(p for p in s3.find(url[5:] + "/joblib/flowyml/c1") if p.endswith("meta.json"))
    meta = json.loads(s3.cat_file(meta_path))
    assert "inline" in meta and "data" not in meta and meta["size"] <= INLINE_BYTES
    raw = bytearray(__import__("base64").b64decode(meta["inline"]))
    raw[-3] ^= 0xFF
    meta["inline"] = __import__("base64").b64encode(bytes(raw)).decode()
    s3.pipe_file(meta_path, json.dumps(meta).encode())
    _machine(monkeypatch, tmp_path, "other")
    res, reports = _run(url, opts, n=3)
    # the inline data is part of the signed metadata: the signature refuses it first
    assert len(reports) == 1 and "step 'c1'" in reports[0], reports
    assert "checksum" in reports[0] or "does not verify" in reports[0], reports
    assert CALLS == ["inc"] and res.cached_steps == ["c0", "c2"]


def test_hits_record_last_use_in_one_object_per_run_not_per_hit(url, opts, s3, monkeypatch,
                                                               tmp_path):
    _run(url, opts)
    store = open_store(url, opts)
    store.flush()
    folder = index.folder(store, store._current_generation())
    before = set(s3.find(folder))
    _machine(monkeypatch, tmp_path, "user")
    monkeypatch.setattr(index, "USE_RESOLUTION", 0.0)
    index._PENDING.clear()
    _run(url, opts)
    store.flush()
    s3.invalidate_cache()
    written = set(s3.find(folder)) - before
    assert len(written) == 1  # STEPS hits, one object
    used = json.loads(s3.cat_file(next(iter(written))))["used"]
    assert len(used) == STEPS


def test_many_index_objects_are_merged_by_a_reader(url, opts, s3, monkeypatch, tmp_path):
    monkeypatch.setattr(index, "FLUSH_EVERY", 5)  # the writer writes many small objects
    _run(url, opts)
    store = open_store(url, opts)
    store.flush()
    folder = index.folder(store, store._current_generation())
    assert len(s3.find(folder)) >= 6
    written = set(s3.find(folder))
    monkeypatch.setattr(index, "FLUSH_EVERY", 2000)
    monkeypatch.setattr(index, "COMPACT_OVER", 2)
    monkeypatch.setattr(index, "COMPACT_MIN_AGE", 0.0)
    _machine(monkeypatch, tmp_path, "reader")
    res, _ = _run(url, opts)
    assert len(res.cached_steps) == STEPS
    s3.invalidate_cache()
    left = set(s3.find(folder))
    assert not left & written  # merged, then removed
    merged = [json.loads(s3.cat_file(p)) for p in left]
    assert max(len(m["entries"]) for m in merged) == STEPS


@pytest.mark.parametrize("clear_step", [None, "c3"])
def test_clear_voids_the_index(url, opts, s3, monkeypatch, tmp_path, clear_step):
    _run(url, opts, n=10)
    store = open_store(url, opts)
    store.flush()
    store.clear(clear_step)
    _machine(monkeypatch, tmp_path, "after-clear")
    res, _ = _run(url, opts, n=10)
    # c3 recomputes the same value, so the steps after it keep their keys
    expected = [] if clear_step is None else [f"c{i}" for i in range(10) if i != 3]
    assert res.cached_steps == expected
