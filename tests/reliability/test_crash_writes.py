"""A process killed (SIGKILL) while storing an output never leaves an entry a later run uses.

The store writes an entry -- data, then the metadata trailer -- into a private
``.<hash>.entry.tmp-*`` file and renames it into place: the rename is the commit. Each case
freezes a real subprocess at one point of that write (through hooks in
``fixture_pipeline.py``), kills it with SIGKILL, then runs the pipeline again in a fresh
process: the step whose write was cut is recomputed, the step stored before it is a cache
hit, the leftover temporary file is never read, and the next writer into that step's
directory removes it (its process is dead). Temporary files of writers that may still be
running -- or that belong to another host sharing the cache -- are ignored, not counted by
``info()``, and removed by ``clear()``.
"""

from __future__ import annotations

import os
import signal

import pytest

from flowyml.store.entry import read_meta
from flowyml.store.local import CacheStore

from .conftest import entries, leftovers, run_pipeline, start_pipeline, wait_for

BIG = 25_000_000  # 200 MB of float64
SMALL = 1_000_000  # 8 MB


@pytest.mark.parametrize(
    ("hook", "n_floats"),
    [("mid-data", BIG), ("before-meta", SMALL), ("before-rename", SMALL)],
)
def test_sigkill_during_store_leaves_no_usable_entry(tmp_path, hook, n_floats):
    cache_dir = tmp_path / "cache"
    ready = tmp_path / "frozen"
    proc = start_pipeline(cache_dir, n_floats, FLOWYML_TEST_HOOK=hook, FLOWYML_TEST_READY=str(ready))
    wait_for(ready, proc)
    [tmp_entry] = leftovers(cache_dir, "make_big")
    if hook == "mid-data":  # really cut in the middle of the array
        written = tmp_entry.stat().st_size
        assert 0 < written < n_floats * 8
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    # what the killed process left: seed's entry, and only a temporary dir for make_big
    assert len(entries(cache_dir, "seed")) == 1
    assert entries(cache_dir, "make_big") == []
    assert CacheStore(cache_dir).info()["make_big"]["entries"] == 0

    again = run_pipeline(cache_dir, n_floats)
    assert again["states"] == {"seed": "cached", "make_big": "done", "summarise": "done"}
    assert again["total"] == float(n_floats) * (n_floats - 1) / 2

    [entry] = entries(cache_dir, "make_big")
    assert read_meta(entry)["key"].startswith("make_big:")
    # the dead writer's partial file was never read, and the next writer reclaimed it
    assert not tmp_entry.exists() and leftovers(cache_dir, "make_big") == []
    third = run_pipeline(cache_dir, n_floats)
    assert set(third["states"].values()) == {"cached"}


def test_leftovers_are_ignored_and_removed_by_clear(tmp_path):
    """Temporary files of writers that may still run (or run on another host) are kept
    until ``clear()``: never read as entries, never counted."""
    cache_dir = tmp_path / "cache"
    run_pipeline(cache_dir, 1000)
    [entry] = entries(cache_dir, "make_big")
    other_host = entry.parent / f".{entry.name}.tmp-otherhost-{os.getpid()}-abc"
    other_host.write_bytes(entry.read_bytes()[:-1000])  # a partial entry
    store = CacheStore(cache_dir)
    assert store.info()["make_big"]["entries"] == 1
    assert run_pipeline(cache_dir, 1000)["states"]["make_big"] == "cached"
    assert other_host.exists()
    assert store.clear() == 3  # counts entries, not leftovers ...
    assert not other_host.exists()  # ... but removes those too
