"""A full disk or a read-only cache directory turns caching off -- it never fails a run.

Each step still runs and returns its result; one ``CacheWarning`` says caching is off (and
why, and what to do); no partial entry or temporary directory is left behind.

Real file systems where the machine allows it: a 1 MiB tmpfs (ENOSPC) and a read-only
tmpfs (EROFS) -- the tests run as root, for whom ``chmod 0o500`` does not stop writes, so a
chmod-based test would prove nothing. Where mounting is not allowed those two skip, and the
same errors are injected with monkeypatched ``os.rename`` / ``os.mkdir``, which always run.
"""

from __future__ import annotations

import errno
import os
import subprocess
import warnings

import numpy as np
import pytest

from flowyml import Pipeline, step
from flowyml.store.entry import CacheWarning

from .conftest import entries, leftovers


@step(outputs=["big"], register=False)
def make_big(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.float64)


@step(inputs=["big"], outputs=["also_big"], register=False)
def double(big: np.ndarray) -> np.ndarray:
    return big * 2


def _mount_tmpfs(where, options):
    where.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({proc.stderr.strip()}); see the injected tests")


@pytest.fixture
def tiny_fs(tmp_path):
    where = tmp_path / "tiny"
    _mount_tmpfs(where, "size=1m,mode=0700")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def readonly_fs(tmp_path):
    where = tmp_path / "ro"
    _mount_tmpfs(where, "ro,size=1m")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def _run_and_check(cache_dir):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = Pipeline("p", cache_dir=cache_dir).add_steps([make_big, double]).run(n=500_000)
        again = Pipeline("p", cache_dir=cache_dir).add_steps([make_big, double]).run(n=500_000)
    for r in (res, again):
        assert r.success, r.summary()
        assert {s.state for s in r.step_results.values()} == {"done"}
        np.testing.assert_array_equal(r["also_big"], np.full(500_000, 2.0))
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    per_run = len(reports) // 2
    assert per_run == 1 and len(reports) == 2, reports  # one per run (a new pipeline each)
    assert "caching is off" in reports[0]
    return reports[0]


def test_disk_full_on_a_real_tiny_filesystem(tiny_fs):
    cache_dir = tiny_fs / "cache"
    message = _run_and_check(cache_dir)
    assert "No space left on device" in message
    for name in ("make_big", "double"):
        assert entries(cache_dir, name) == [] and leftovers(cache_dir, name) == []
    used = sum(f.stat().st_size for f in tiny_fs.rglob("*") if f.is_file())
    assert used < 64 * 1024  # the partial 4 MB writes were removed


def test_read_only_filesystem(readonly_fs):
    message = _run_and_check(readonly_fs / "cache")
    assert "Read-only file system" in message


def test_disk_full_injected(tmp_path, monkeypatch):
    real_rename = os.rename

    def full(src, dst, *args, **kwargs):
        if ".tmp-" in str(src):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", full)
    cache_dir = tmp_path / "cache"
    assert "No space left on device" in _run_and_check(cache_dir)
    for name in ("make_big", "double"):
        assert entries(cache_dir, name) == [] and leftovers(cache_dir, name) == []


def test_read_only_cache_dir_injected(tmp_path, monkeypatch):
    real_mkdir = os.mkdir

    def read_only(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", read_only)
    assert "Read-only file system" in _run_and_check(tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
