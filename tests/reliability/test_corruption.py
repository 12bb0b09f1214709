"""A damaged cache entry is detected, reported once (naming the step), and recomputed.

An entry is one file: the pickled outputs (arrays as out-of-band buffers), the replay, the
metadata (format version, key, sizes, checksum of the data) and a trailer holding the
metadata's length and its own checksum, renamed into place whole. An entry is loaded only
when its trailer and metadata check out, it has this format version and key, the file has
exactly the recorded size and the data has the recorded checksum; otherwise a single
:class:`flowyml.store.entry.CacheWarning` names the step, the entry is removed and the step runs
again. The corrupted bytes are never unpickled (``CacheStore.load`` is not called for the
damaged step).

Known limitation, by design: entries up to 64 MiB (``FULL_VERIFY_BYTES``) are checksummed
in full on every lookup. Larger entries, which load memory-mapped, are verified by their
exact size plus a checksum of 64 sampled 64 KiB blocks (including the first and the last),
so a truncated or extended large file, or damage in a sampled block (the pickle header
among them), is always detected, while a flipped byte elsewhere in the middle of a huge
array is not. ``test_large_entry_truncation_is_detected`` proves the size check.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import xxhash

from flowyml import Pipeline, step
from flowyml.hashing import hash_value
from flowyml.keys import make_key
from flowyml.store.entry import (
    FORMAT_VERSION,
    FULL_VERIFY_BYTES,
    MAGIC,
    TRAILER,
    CacheWarning,
    entry_file_parts,
    read_meta,
    write_entry_file,
)
from flowyml.store.local import CacheStore

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
    entry.write_bytes(entry.read_bytes()[:-100])


def _empty(entry):  # what a power loss can leave where the rename was committed first
    entry.write_bytes(b"")


def _flip(entry):
    meta, _, _ = entry_file_parts(entry)
    raw = bytearray(entry.read_bytes())
    raw[meta["buffers"][0][0] + 80] ^= 0xFF  # inside the array: unpickling it gives a wrong value
    entry.write_bytes(bytes(raw))


def _flip_meta(entry):
    raw = bytearray(entry.read_bytes())
    raw[-TRAILER.size - 10] ^= 0x01  # inside the metadata JSON
    entry.write_bytes(bytes(raw))


def _cut_data(entry):  # trailer and metadata intact, the data shorter than recorded
    meta, data, replay = entry_file_parts(entry)
    write_entry_file(entry, meta, data[:-100], replay)


def _edit_meta(**changes):
    def corrupt(entry):
        meta, data, replay = entry_file_parts(entry)
        meta.update(changes)
        write_entry_file(entry, meta, data, replay)
    return corrupt


def _raw_meta(text):
    def corrupt(entry):  # a well-formed trailer around metadata that is not what we wrote
        _, data, replay = entry_file_parts(entry)
        blob = text.encode()
        entry.write_bytes(data + replay + blob + TRAILER.pack(
            len(blob), xxhash.xxh3_64_digest(blob), MAGIC))
    return corrupt


CORRUPTIONS = {
    "truncated file": (_truncate, "truncated"),
    "empty file": (_empty, "truncated"),
    "data cut short": (_cut_data, "truncated"),
    "flipped bytes": (_flip, "checksum mismatch"),
    "flipped metadata byte": (_flip_meta, "metadata checksum mismatch"),
    "older format version": (_edit_meta(format=0), "format version"),
    "meta names another key": (_edit_meta(key="make_big:0000"), "another key"),
    "garbage metadata": (_raw_meta("\x00{not json"), "unreadable metadata"),
    "metadata not an object": (_raw_meta("[1, 2]"), "unreadable metadata"),
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
    assert read_meta(fresh)["format"] == FORMAT_VERSION


def _store_large(root):
    store = CacheStore(root)
    arr = np.arange(FULL_VERIFY_BYTES // 8 + 1_000_000, dtype=np.int64)  # ~72 MiB
    key = make_key("large", "code", {})
    assert store.store(key, {"a": arr}, output_hashes={"a": hash_value(arr)})
    return store, key, store.lookup(key).path


def test_large_entry_truncation_is_detected(tmp_path, cache_warnings):
    store, key, data = _store_large(tmp_path / "cache")
    assert read_meta(data)["checksum"].startswith("sampled:")
    with open(data, "r+b") as fh:
        fh.truncate(data.stat().st_size - 4096)
    assert store.lookup(key) is None
    [report] = [w for w in cache_warnings if issubclass(w.category, CacheWarning)]
    assert "step 'large'" in str(report.message) and "truncated" in str(report.message)
    assert not data.exists()


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
    """A concurrent ``clear()`` (simulated: the listener deletes the entry right after the
    hit) makes the consumer fail with an error naming the producing step; the entry is
    dropped, and the next run recomputes it. (The array is over 64 KiB: the bytes of a
    smaller entry are kept from its lookup, see the next test.)"""

    @step(inputs=["big"], outputs=["total"], register=False)
    def total(big: np.ndarray) -> int:
        return int(big.sum())

    cache_dir = tmp_path / "cache"
    _pipeline(cache_dir).run(size=20_000)
    [entry] = entries(cache_dir, "make_big")

    def vanish(event):
        if getattr(event, "step", None) == "make_big" and getattr(event, "state", None) == "cached":
            entry.unlink()

    res = _pipeline(cache_dir).add_step(total).run(size=20_000, listeners=[vanish])
    failed = res.step_results["total"]
    assert not res.success and failed.state == "failed"
    assert "step 'make_big'" in failed.error and "run again to recompute" in failed.error
    assert entries(cache_dir, "make_big") == []

    CALLS.clear()
    again = _pipeline(cache_dir).add_step(total).run(size=20_000)
    assert again.success and again["total"] == 3 * 19_999 * 20_000 // 2
    assert again.step_results["make_big"].state == "done" and CALLS == {"make_big": 1}


def test_a_small_hit_loads_the_bytes_its_lookup_verified(tmp_path):
    """A small entry is read once: what the lookup checked is what is unpickled, even when
    the file is replaced or removed in between (no second read, no window for a swap)."""
    store = CacheStore(tmp_path / "cache")
    key = make_key("small", "code", {})
    assert store.store(key, {"v": [1, 2, 3]}, output_hashes={"v": hash_value([1, 2, 3])})
    entry = store.lookup(key)
    entry.path.write_bytes(b"\x80\x05garbage that must never be unpickled")
    assert store.load(entry) == {"v": [1, 2, 3]}
    entry.path.unlink()
    assert store.load(entry) == {"v": [1, 2, 3]}
