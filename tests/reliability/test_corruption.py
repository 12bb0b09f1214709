"""A damaged cache entry is detected, reported once (naming the step), and recomputed.

Every entry carries ``meta.json`` (format version, key, size and checksum of
``output.pkl``), written after the data and renamed into place with it. An entry is loaded
only when its metadata parses, has this format version and key, and the data file has the
recorded size and checksum; otherwise a single :class:`flowyml.cache.CacheWarning` names the
step, the entry is removed and the step runs again. The corrupted bytes are never
unpickled (``CacheStore.load`` is not called for the damaged step).

Known limitation, by design: entries up to 64 MiB (``FULL_VERIFY_BYTES``) are checksummed
in full on every lookup. Larger entries, which load memory-mapped, are verified by their
exact size plus a checksum of 64 sampled 64 KiB blocks (including the first and the last),
so a truncated or extended large file, or damage in a sampled block (the pickle header
among them), is always detected, while a flipped byte elsewhere in the middle of a huge
array is not. ``test_large_entry_truncation_is_detected`` proves the size check.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from flowyml import Pipeline, step
from flowyml.cache import FULL_VERIFY_BYTES, CacheStore, CacheWarning, make_key
from flowyml.hashing import hash_value

from .conftest import entries

CALLS: dict[str, int] = {}


@step(outputs=["n"], register=False)
def seed(size: int) -> int:
    CALLS["seed"] = CALLS.get("seed", 0) + 1
    return size


@step(inputs=["n"], outputs=["big"], register=False)
def make_big(n: int) -> np.ndarray:
    CALLS["make_big"] = CALLS.get("make_big", 0) + 1
    return np.arange(n, dtype=np.int64) * 3


def _pipeline(cache_dir):
    return Pipeline("corrupt", cache_dir=cache_dir).add_steps([seed, make_big])


def _truncate(entry):
    data = entry / "output.pkl"
    data.write_bytes(data.read_bytes()[:-100])


def _flip(entry):
    data = entry / "output.pkl"
    raw = bytearray(data.read_bytes())
    raw[-80] ^= 0xFF  # inside the array's bytes: unpickling it would give a wrong value
    data.write_bytes(bytes(raw))


def _delete_meta(entry):
    (entry / "meta.json").unlink()


def _delete_data(entry):
    (entry / "output.pkl").unlink()


def _edit_meta(**changes):
    def corrupt(entry):
        meta = json.loads((entry / "meta.json").read_text())
        meta.update(changes)
        (entry / "meta.json").write_text(json.dumps(meta))
    return corrupt


def _raw_meta(text):
    def corrupt(entry):
        (entry / "meta.json").write_text(text)
    return corrupt


CORRUPTIONS = {
    "truncated output.pkl": (_truncate, "truncated"),
    "flipped bytes": (_flip, "checksum mismatch"),
    "deleted meta.json": (_delete_meta, "meta.json is missing"),
    "deleted output.pkl": (_delete_data, "-1 bytes"),
    "older format version": (_edit_meta(format=0), "format version"),
    "meta names another key": (_edit_meta(key="make_big:0000"), "another key"),
    "garbage meta.json": (_raw_meta("\x00{not json"), "unreadable metadata"),
    "meta.json not an object": (_raw_meta("[1, 2]"), "unreadable metadata"),
    "wrong checksum recorded": (_edit_meta(checksum="full:0"), "checksum mismatch"),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corrupt_entry_is_reported_once_and_recomputed(tmp_path, monkeypatch, corruption):
    corrupt, expected_problem = CORRUPTIONS[corruption]
    cache_dir = tmp_path / "cache"
    CALLS.clear()
    first = _pipeline(cache_dir).run(size=50_000)
    assert first.success and CALLS == {"seed": 1, "make_big": 1}
    [entry] = entries(cache_dir, "make_big")
    corrupt(entry)

    loaded = []
    real_load = CacheStore.load
    monkeypatch.setattr(CacheStore, "load", lambda self, e: loaded.append(e.path) or real_load(self, e))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = _pipeline(cache_dir).run(size=50_000)
        reports = [w for w in caught if issubclass(w.category, CacheWarning)]
        assert len(reports) == 1, [str(w.message) for w in reports]
        assert "step 'make_big'" in str(reports[0].message)
        assert expected_problem in str(reports[0].message)
        assert second.step_results["make_big"].state == "done"
        assert second.step_results["seed"].state == "cached"
        np.testing.assert_array_equal(second["big"], np.arange(50_000, dtype=np.int64) * 3)
        assert entry not in loaded  # the damaged data was never unpickled
        assert CALLS == {"seed": 1, "make_big": 2}

        third = _pipeline(cache_dir).run(size=50_000)  # repaired: a clean hit, no report
        assert third.step_results["make_big"].state == "cached"
        assert not [w for w in caught[len(reports):] if issubclass(w.category, CacheWarning)]
    np.testing.assert_array_equal(third["big"], np.arange(50_000, dtype=np.int64) * 3)
    [fresh] = entries(cache_dir, "make_big")
    assert json.loads((fresh / "meta.json").read_text())["format"] == 1


def _store_large(root):
    store = CacheStore(root)
    arr = np.arange(FULL_VERIFY_BYTES // 8 + 1_000_000, dtype=np.int64)  # ~72 MiB
    key = make_key("large", "code", {})
    assert store.store(key, {"a": arr}, output_hashes={"a": hash_value(arr)})
    return store, key, store.lookup(key).path / "output.pkl"


def test_large_entry_truncation_is_detected(tmp_path, cache_warnings):
    store, key, data = _store_large(tmp_path / "cache")
    assert json.loads((data.parent / "meta.json").read_text())["checksum"].startswith("sampled:")
    with open(data, "r+b") as fh:
        fh.truncate(data.stat().st_size - 4096)
    assert store.lookup(key) is None
    [report] = [w for w in cache_warnings if issubclass(w.category, CacheWarning)]
    assert "step 'large'" in str(report.message) and "truncated" in str(report.message)
    assert not data.parent.exists()


def test_large_entry_damage_in_a_sampled_block_is_detected(tmp_path, cache_warnings):
    store, key, data = _store_large(tmp_path / "cache")
    with open(data, "r+b") as fh:  # the pickle header lives in the first (sampled) block
        fh.seek(10)
        byte = fh.read(1)
        fh.seek(10)
        fh.write(bytes([byte[0] ^ 0xFF]))
    assert store.lookup(key) is None
    assert any("checksum mismatch" in str(w.message) for w in cache_warnings)


def test_entry_removed_between_lookup_and_load_is_a_clear_error_then_recomputed(tmp_path):
    """A concurrent ``clear()`` (simulated: the listener deletes the data right after the
    hit) makes the consumer fail with an error naming the producing step; the entry is
    dropped, and the next run recomputes it."""

    @step(inputs=["big"], outputs=["total"], register=False)
    def total(big: np.ndarray) -> int:
        return int(big.sum())

    cache_dir = tmp_path / "cache"
    _pipeline(cache_dir).run(size=1000)
    [entry] = entries(cache_dir, "make_big")

    def vanish(event):
        if getattr(event, "step", None) == "make_big" and getattr(event, "state", None) == "cached":
            (entry / "output.pkl").unlink()

    res = _pipeline(cache_dir).add_step(total).run(size=1000, listeners=[vanish])
    failed = res.step_results["total"]
    assert not res.success and failed.state == "failed"
    assert "step 'make_big'" in failed.error and "run again to recompute" in failed.error
    assert entries(cache_dir, "make_big") == []

    CALLS.clear()
    again = _pipeline(cache_dir).add_step(total).run(size=1000)
    assert again.success and again["total"] == 3 * 999 * 1000 // 2
    assert again.step_results["make_big"].state == "done" and CALLS == {"make_big": 1}
