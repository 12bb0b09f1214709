"""One bucket, one cache: the local store's promises, on a real S3-protocol server.

Each "machine" is a process (or a store) with its own working directory and its own local
copy; they share nothing but the bucket.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from flowyml import Pipeline, step
from flowyml.store.entry import CacheLoadError, CacheWarning
from flowyml.store.local import CacheStore
from flowyml.store.locations import open_store
from flowyml.store.remote import RemoteStore

from .conftest import REPO, run_script, script_env

CALLS: dict[str, int] = {}


@step(outputs=["x"], register=False)
def make(n: int) -> np.ndarray:
    CALLS["make"] = CALLS.get("make", 0) + 1
    return np.arange(n, dtype=np.int64) * 3


@step(inputs=["x"], outputs=["y"], register=False)
def total(x: np.ndarray) -> int:
    CALLS["total"] = CALLS.get("total", 0) + 1
    return int(x.sum())


def _run(url, opts, n=5000, **kw):
    CALLS.clear()
    pipeline = Pipeline("remote", cache_dir=url, storage_options=opts, context={"n": n}, **kw)
    return pipeline.add_steps([make, total]).run()


def _entry(s3, url, step_name):
    """The one committed entry of a step: (its directory, its meta)."""
    base = url[len("s3://"):] + f"/joblib/flowyml/{step_name}"
    metas = [p for p in s3.find(base) if p.endswith("/meta.json")]
    assert len(metas) == 1, metas
    return metas[0].rsplit("/", 1)[0], json.loads(s3.cat_file(metas[0]))


def _new_machine(monkeypatch, tmp_path, name):
    """Another machine: a local copy of its own (the bucket is all it shares)."""
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / name))


def test_two_processes_in_different_directories_share_one_bucket(url, s3_endpoint, tmp_path):
    first, second = tmp_path / "laptop", tmp_path / "ci"
    first.mkdir()
    second.mkdir()
    a = run_script(first, s3_endpoint, url, FLOWYML_CACHE_LOCAL_COPY_DIR=str(first / "copy"))
    b = run_script(second, s3_endpoint, url, FLOWYML_CACHE_LOCAL_COPY_DIR=str(second / "copy"))
    assert a["success"] and a["ran"] == ["make_data", "summarise"] and a["cached"] == []
    assert b["success"] and b["cached"] == ["make_data", "summarise"] and b["ran"] == []
    assert (b["total"], b["first"]) == (a["total"], a["first"]) == (999000.0, 2.0)
    assert not [w for w in a["warnings"] + b["warnings"] if "flowyml" in w]
    # a URL never becomes a local folder
    for cwd in (first, second):
        assert not [p for p in cwd.rglob("*") if "s3:" in str(p) or p.name == ".flowyml"]


def test_second_hit_on_a_machine_needs_no_download(url, opts, s3, monkeypatch, tmp_path):
    assert not _run(url, opts).cached_steps
    _new_machine(monkeypatch, tmp_path, "fresh")
    store = open_store(url, opts)
    gets, cats = [], []
    real_get, real_cat = store.fs.get_file, store.fs.cat_file
    # fsspec shares one file system instance per set of options: the pipeline's is this one
    monkeypatch.setattr(store.fs, "get_file", lambda *a, **k: gets.append(a) or real_get(*a, **k))
    monkeypatch.setattr(store.fs, "cat_file", lambda *a, **k: cats.append(a) or real_cat(*a, **k))
    res = _run(url, opts)
    assert res.cached_steps == ["make", "total"] and CALLS == {}
    assert int(res["y"]) == int((np.arange(5000) * 3).sum())
    def fetched(what):
        return [c for c in gets + cats if what in str(c[0])]

    # first hit on this machine: the large output's data object once; the small one (an
    # int) lives inside its meta.json
    assert len(fetched("/output-")) == 1
    gets.clear()
    cats.clear()
    # a second hit reads the verified local copy, memory-mapped: no data object is fetched,
    # and no metadata either (only the store's generation, at most once a second)
    res = _run(url, opts)
    assert isinstance(res["x"], np.memmap) or isinstance(getattr(res["x"], "base", None), np.memmap)
    assert res.cached_steps == ["make", "total"]
    assert fetched("/output-") == [] and fetched("meta.json") == []


def test_url_is_never_a_local_folder(monkeypatch, url, tmp_path):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", url)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="is a URL"):
        CacheStore()
    with pytest.raises(ValueError, match="is a URL"):
        CacheStore(url)
    assert isinstance(open_store(), RemoteStore) and open_store().root == url
    assert isinstance(open_store(f"file://{tmp_path}/c"), CacheStore)
    assert open_store(f"file://{tmp_path}/c").root == (tmp_path / "c").resolve()
    assert not list(tmp_path.iterdir())


def _truncate(s3, d, meta):
    path = f"{d}/{meta['data']}"
    s3.pipe_file(path, s3.cat_file(path)[:-50])


def _flip(s3, d, meta):
    path = f"{d}/{meta['data']}"
    raw = bytearray(s3.cat_file(path))
    raw[-60] ^= 0xFF
    s3.pipe_file(path, bytes(raw))


def _garbage_meta(s3, d, meta):
    s3.pipe_file(f"{d}/meta.json", b"\x00{not json")


def _missing_data(s3, d, meta):
    s3.rm_file(f"{d}/{meta['data']}")


@pytest.mark.parametrize("damage", [_truncate, _flip, _garbage_meta, _missing_data],
                         ids=["truncated", "flipped-bytes", "garbage-meta", "missing-data"])
def test_damaged_object_is_reported_removed_and_recomputed(damage, url, opts, s3, monkeypatch,
                                                           tmp_path):
    _run(url, opts)
    d, meta = _entry(s3, url, "make")
    damage(s3, d, meta)
    _new_machine(monkeypatch, tmp_path, "other-machine")
    loads = []
    real_load = RemoteStore.load
    monkeypatch.setattr(RemoteStore, "load", lambda self, e: loads.append(e.meta.get("key")) or
                        real_load(self, e))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _run(url, opts)
        value = res["y"]
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(reports) == 1 and "step 'make'" in reports[0], reports
    assert CALLS == {"make": 1} and value == int((np.arange(5000) * 3).sum())  # same x: total hits
    assert not [k for k in loads if k and k.startswith("make:")]  # never unpickled
    _, meta2 = _entry(s3, url, "make")  # a fresh, sound entry replaced it
    assert meta2["data"] != meta.get("data") or damage is _garbage_meta
    _new_machine(monkeypatch, tmp_path, "third-machine")
    assert _run(url, opts).cached_steps == ["make", "total"]


def test_large_object_damaged_is_caught_when_loaded_never_unpickled(url, opts, s3, monkeypatch,
                                                                    tmp_path):
    import flowyml.store.remote as rs

    monkeypatch.setattr(rs, "VERIFY_AT_LOOKUP_BYTES", 1024)  # "large": checked by size at lookup
    _run(url, opts)
    d, meta = _entry(s3, url, "make")
    _flip(s3, d, meta)
    _new_machine(monkeypatch, tmp_path, "other")
    res = _run(url, opts)
    assert res.cached_steps == ["make", "total"]  # lazy: nothing downloaded yet
    unpickled = []
    from joblib import numpy_pickle

    real = numpy_pickle.load
    monkeypatch.setattr(numpy_pickle, "load", lambda *a, **k: unpickled.append(a) or real(*a, **k))
    with pytest.raises(CacheLoadError, match=r"step 'make'.*checksum mismatch"):
        res["x"]
    assert unpickled == []
    assert not [p for p in s3.find(d) if p.endswith("meta.json")]  # removed
    assert _run(url, opts).cached_steps == ["total"] and CALLS == {"make": 1}


def test_eight_concurrent_writers_of_one_key_leave_one_valid_entry(url, s3_endpoint, s3, tmp_path):
    hold = tmp_path / "go"
    procs = []
    for i in range(8):
        cwd = tmp_path / f"w{i}"
        cwd.mkdir()
        env = script_env(s3_endpoint, FLOWYML_TEST_HOLD=str(hold),
                         FLOWYML_CACHE_LOCAL_COPY_DIR=str(cwd / "copy"))
        procs.append(subprocess.Popen([sys.executable, str(Path(__file__).parent / "remote_pipeline.py"),
                                       url, "200000"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    try:
        import time

        time.sleep(3)  # let them all reach the hold (imports done, lookups missed)
        hold.touch()
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    d, meta = _entry(s3, url, "make_data")  # exactly one committed entry
    objects = s3.find(d)
    assert f"{d}/{meta['data']}" in objects
    # the entry is valid, and it is one writer's value, never a mix
    store = RemoteStore(url, storage_options={"endpoint_url": s3_endpoint})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        entry = store.lookup(meta["key"])
    assert entry is not None
    value = store.load(entry)["data"]
    assert float(value[1]) in {o["first"] for o in outs}
    assert np.array_equal(value, np.arange(200000, dtype=np.float64) * float(value[1]))
    # losers' data objects are garbage that clear() removes
    assert store.clear() >= 1
    assert not s3.find(url[len("s3://"):] + "/joblib")


def test_info_and_clear_on_the_bucket(url, opts, s3):
    _run(url, opts)
    store = open_store(url, opts)
    info = store.info()
    assert info["make"]["entries"] == 1 and info["total"]["entries"] == 1
    assert info["make"]["bytes"] > 5000 * 8
    from flowyml.store.local import cache_report

    assert f"cache at {url}" in cache_report(store)
    assert cache_report(store, "clear", "make") == f"removed 1 entries of step 'make' from {url}"
    assert set(store.info()) == {"total"}
    res = _run(url, opts)  # cleared: recomputed, even on this machine (its local copy)
    assert res.cached_steps == [] or res.cached_steps == ["total"]
    assert CALLS["make"] == 1


def test_cli_cache_info_and_clear_on_a_bucket(url, opts, s3_endpoint, tmp_path):
    _run(url, opts)
    env = script_env(s3_endpoint)

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "flowyml", "cache", *args, "--cache-dir", url],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)

    info = cli("info")
    assert info.returncode == 0, info.stderr
    assert url in info.stdout and "make" in info.stdout and "total" in info.stdout
    cleared = cli("clear")
    assert cleared.returncode == 0 and "removed 2 entries of all steps" in cleared.stdout
    assert "(empty)" in cli("info").stdout
    assert not (tmp_path / "s3:").exists()


def test_flowyml_run_with_a_bucket(url, s3_endpoint, tmp_path):
    module = tmp_path / "pipe.py"
    module.write_text((REPO / "tests" / "store" / "remote" / "remote_pipeline.py").read_text()
                      .replace("def main()", "pipeline = Pipeline('remote', context={'n': 100})\n"
                               "pipeline.add_steps([make_data, summarise])\n\n\ndef main()"))
    env = script_env(s3_endpoint)
    cmd = [sys.executable, "-m", "flowyml", "run", str(module), "--cache-dir", url]
    first = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "2 cached" in second.stdout, second.stdout
    assert not (tmp_path / ".flowyml").exists()


def test_notebook_magic_cache_dir(url, ipython_on_bucket):
    from IPython.core.error import UsageError
    from IPython.utils.capture import capture_output

    import flowyml_jupyter

    ip = ipython_on_bucket
    with capture_output() as out:
        ip.run_line_magic("flowyml", f"cache dir {url}")
    assert f"flowyml cache at {url}" in out.stdout
    ip.run_cell("%%step\nsquares = [i * i for i in range(10)]")
    ip.run_cell("%%step\nsquares = [i * i for i in range(10)]")
    session = flowyml_jupyter._LOADED[id(ip)].session
    assert isinstance(session.store, RemoteStore)
    assert session.steps["squares"].state == "cached"
    with capture_output() as out:
        ip.run_line_magic("flowyml", "cache info")
    shown = out.stdout + "".join(o.data.get("text/plain", "") for o in out.outputs)
    assert "squares" in shown and url in shown and "stored (a hit)" in shown
    with pytest.raises(UsageError, match="cannot use s3://"):
        ip.run_line_magic("flowyml", "cache dir s3://no-such-bucket-flowyml/x")
    assert session.cache_dir == url  # unchanged


def test_concurrent_threads_share_one_store(url, opts):
    store = open_store(url, opts)
    errors = []

    def work(i):
        try:
            key = f"t:{i % 2}"
            store.store(key, {"t": np.full(10, i % 2)}, output_hashes={"t": "h"})
            entry = store.lookup(key)
            assert entry is not None and int(store.load(entry)["t"][0]) == i % 2
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
