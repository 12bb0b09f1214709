"""Cache locations without a network: URLs through fsspec's memory file system, file:// paths,
URLs never turned into folders, and ``import flowyml`` not loading fsspec."""

from __future__ import annotations

import subprocess
import sys
import uuid
import warnings

import pytest

from flowyml import Pipeline, open_store, step
from flowyml.store.entry import CacheWarning
from flowyml.store.local import CacheStore

pytest.importorskip("fsspec")

CALLS: list[str] = []


@step(outputs=["a"], register=False)
def first() -> list[int]:
    CALLS.append("first")
    return [1, 2, 3]


@step(inputs=["a"], outputs=["b"], register=False)
def second(a: list[int]) -> int:
    CALLS.append("second")
    return sum(a)


@pytest.fixture
def memory_url(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "copy"))
    return f"memory://flowyml-{uuid.uuid4().hex[:8]}/cache"


def test_memory_url_round_trip_and_info(memory_url, tmp_path, monkeypatch):
    CALLS.clear()
    assert Pipeline("m", cache_dir=memory_url).add_steps([first, second]).run()["b"] == 6
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "other-machine"))
    res = Pipeline("m", cache_dir=memory_url).add_steps([first, second]).run()
    assert res.cached_steps == ["first", "second"] and res["b"] == 6 and CALLS == ["first", "second"]
    store = open_store(memory_url)
    assert set(store.info()) == {"first", "second"}
    assert store.clear() == 2 and store.info() == {}


def test_signed_memory_store_refuses_another_secret(memory_url, tmp_path, monkeypatch):
    CALLS.clear()
    Pipeline("m", cache_dir=memory_url, cache_secret="a").add_steps([first, second]).run()
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "other"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = Pipeline("m", cache_dir=memory_url, cache_secret="b").add_steps([first, second]).run()
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert not res.cached_steps and CALLS == ["first", "second", "first", "second"]
    assert len(reports) == 2 and all("signature does not match" in r for r in reports)


def test_file_url_is_a_local_cache(tmp_path):
    store = open_store(f"file://{tmp_path}/c")
    assert isinstance(store, CacheStore) and store.root == (tmp_path / "c").resolve()


def test_url_is_never_a_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWYML_CACHE_DIR", "s3://bucket/cache")
    with pytest.raises(ValueError, match="is a URL"):
        CacheStore()
    with pytest.raises(ValueError, match="is a URL"):
        CacheStore("gs://bucket/cache")
    assert list(tmp_path.iterdir()) == []


def test_import_flowyml_does_not_load_fsspec():
    code = "import sys, flowyml; print([m for m in ('fsspec', 's3fs', 'gcsfs', 'adlfs') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_signed_large_entry_is_hashed_once_per_process(tmp_path, monkeypatch):
    """Every byte of a signed entry is checked against its signed SHA-256, but a file this
    process verified and has not seen change is not hashed again, although each hit touches
    it (a use changes its times, not its content)."""
    import hashlib

    import numpy as np

    from flowyml.keys import make_key
    from flowyml.store import local as flowyml_cache

    hashed: list[int] = []
    real_sha256 = hashlib.sha256

    def counting_sha256(data=b"", **kwargs):
        hashed.append(memoryview(data).nbytes)
        return real_sha256(data, **kwargs)

    store = CacheStore(tmp_path / "cache", secret="team-secret")
    arr = np.arange(300_000)  # 2.4 MB: checked through a memory map, not kept in memory
    key = make_key("big", "code", {})
    assert store.store(key, {"a": arr}, output_hashes={"a": "-"})
    monkeypatch.setattr(hashlib, "sha256", counting_sha256)
    monkeypatch.setattr(flowyml_cache, "_TOUCH_EVERY", 0.0)  # every hit records its use
    for _ in range(3):
        entry = store.lookup(key)
        assert entry is not None
        np.testing.assert_array_equal(store.load(entry)["a"], arr)
    assert len([n for n in hashed if n > 1_000_000]) == 1
    with open(entry.path, "r+b") as fh:  # changed behind the store's back: hashed again
        fh.seek(100_000)
        fh.write(b"\0")
    with pytest.warns(CacheWarning, match="checksum mismatch"):
        assert store.lookup(key) is None
