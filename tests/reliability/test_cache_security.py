"""The cache holds pickles and loading a pickle runs code: whose directory is it?

* A cache directory flowyml creates is owner-only (0700), and its entry files 0600.
* A world-writable directory, or one (or a sub-directory of it) owned by another user, is
  refused before any step runs: ``Pipeline.run`` raises ``UnsafeCacheDirError`` with the
  reason and the fix. ``FLOWYML_TRUST_CACHE_DIR=1`` or ``trust_cache_dir=True`` overrides.
* An entry that links outside the cache directory (the entry file or the step directory)
  is never loaded, even when the file it
  points to is a perfectly valid pickle: it is a reported miss (a ``CacheWarning`` naming
  the step), removed -- only the link, never its target -- and the step is recomputed; the
  run does not fail. ``CacheStore.load`` itself refuses such an entry with a clear error.
"""

from __future__ import annotations

import os
import shutil
import stat
import warnings

import pytest

from flowyml import Pipeline, step
from flowyml.store.entry import CacheEntry, CacheWarning
from flowyml.store.local import CacheStore, UnsafeCacheDirError

from .conftest import entries

CALLS = {"n": 0}
OTHER_UID = 54321
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@step(outputs=["value"], register=False)
def compute(x: int) -> list:
    CALLS["n"] += 1
    return [x, x * 2]


def _run(cache_dir, **kwargs):
    return Pipeline("p", cache_dir=cache_dir, **kwargs).add_step(compute).run(x=3)


@pytest.fixture(autouse=True)
def _no_trust(monkeypatch):
    monkeypatch.delenv("FLOWYML_TRUST_CACHE_DIR", raising=False)
    CALLS["n"] = 0


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_created_owner_only(tmp_path):
    cache_dir = tmp_path / "new" / "cache"
    assert _run(cache_dir).success
    assert _mode(cache_dir) == 0o700
    [entry] = entries(cache_dir, "compute")
    assert _mode(entry) == 0o600 and _mode(entry.parent) == 0o700


def _refused(cache_dir, reason):
    with pytest.raises(UnsafeCacheDirError, match=reason) as info:
        _run(cache_dir)
    assert "FLOWYML_TRUST_CACHE_DIR=1" in str(info.value)
    assert CALLS["n"] == 0  # refused before any step ran
    return info.value


def _trusted_both_ways(cache_dir, monkeypatch):
    assert _run(cache_dir, trust_cache_dir=True).success
    monkeypatch.setenv("FLOWYML_TRUST_CACHE_DIR", "1")
    again = _run(cache_dir)
    assert again.success and again.step_results["compute"].state == "cached"


def test_world_writable_dir_is_refused(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    os.chmod(cache_dir, 0o777)
    err = _refused(cache_dir, "world-writable")
    assert f"chmod 700 {cache_dir}" in str(err)
    _trusted_both_ways(cache_dir, monkeypatch)


@needs_root
def test_dir_of_another_user_is_refused(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir(mode=0o700)
    os.chown(cache_dir, OTHER_UID, OTHER_UID)
    _refused(cache_dir, f"belongs to another user \\(uid {OTHER_UID}\\)")
    _trusted_both_ways(cache_dir, monkeypatch)


@needs_root
def test_planted_subdirectory_of_another_user_is_refused(tmp_path):
    cache_dir = tmp_path / "cache"
    assert _run(cache_dir).success
    entries_dir = CacheStore(cache_dir).entries_dir
    os.chown(entries_dir, OTHER_UID, OTHER_UID)
    CALLS["n"] = 0
    _refused(cache_dir, "belongs to another user")


def _outside_copy(tmp_path, inside):
    """A valid copy of ``inside`` placed outside the cache (a would-be planted pickle)."""
    outside = tmp_path / "elsewhere" / inside.name
    outside.parent.mkdir(exist_ok=True)
    if inside.is_dir():
        shutil.copytree(inside, outside)
    else:
        shutil.copy2(inside, outside)
    return outside


@pytest.mark.parametrize("what", ["entry file", "step dir"])
def test_links_out_of_the_cache_are_never_followed(tmp_path, what):
    cache_dir = tmp_path / "cache"
    assert _run(cache_dir).success and CALLS["n"] == 1
    [entry] = entries(cache_dir, "compute")
    target = {"entry file": entry, "step dir": entry.parent}[what]
    outside = _outside_copy(tmp_path, target)
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    target.symlink_to(outside, target_is_directory=outside.is_dir())
    before = sorted(_tree(outside))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = _run(cache_dir)
    assert res.success and res.step_results["compute"].state == "done" and res["value"] == [3, 6]
    assert CALLS["n"] == 2
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(reports) == 1 and "step 'compute'" in reports[0]
    assert "outside the cache directory" in reports[0] or "is a link" in reports[0]
    # the link was removed, never what it points to, and nothing was written out there
    assert sorted(_tree(outside)) == before
    assert not target.is_symlink()
    [fresh] = entries(cache_dir, "compute")
    assert not fresh.is_symlink() and fresh.resolve().is_relative_to(cache_dir)
    assert _run(cache_dir).step_results["compute"].state == "cached"


def _tree(path):
    return [path] if path.is_file() else [p for p in path.rglob("*")]


def test_a_linked_entries_directory_is_refused(tmp_path):
    cache_dir = tmp_path / "cache"
    assert _run(cache_dir).success
    entries_dir = CacheStore(cache_dir).entries_dir
    outside = _outside_copy(tmp_path, entries_dir)
    shutil.rmtree(entries_dir)
    entries_dir.symlink_to(outside, target_is_directory=True)
    CALLS["n"] = 0
    with pytest.raises(UnsafeCacheDirError, match="links outside the cache directory"):
        _run(cache_dir)
    assert CALLS["n"] == 0


def test_load_refuses_an_entry_swapped_for_a_link_after_lookup(tmp_path):
    cache_dir = tmp_path / "cache"
    _run(cache_dir)
    store = CacheStore(cache_dir)
    key = Pipeline("p", cache_dir=cache_dir).add_step(compute).run(x=3).step_results["compute"].cache_key
    entry = CacheEntry(store.entry_path(key), {})  # as a worker's stored output is loaded
    outside = _outside_copy(tmp_path, entry.path)
    entry.path.unlink()
    entry.path.symlink_to(outside)
    with pytest.raises(UnsafeCacheDirError, match="refusing to load it"):
        store.load(entry)
