"""Dask workers that cannot see the client's files: each runs under ``unshare -m`` with a
private tmpfs over pytest's temporary directory, where every test's directory is (the
client's cache, its local copies). Only that is hidden, not the whole system temp folder:
a project cloned there (its ``.venv``, the interpreter the workers run) must stay visible.

Results always reach the client -- through the bucket when the cache is one, through Dask
when it is a local directory -- and never as a ``CacheLoadError``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from flowyml import Pipeline
from flowyml.store.local import CacheStore

from .conftest import AWS_ENV, REPO, free_port, stop, wait_for_port
from .dask_steps import STEPS

pytest.importorskip("distributed", reason="dask.distributed is not installed")
pytestmark = [pytest.mark.dask, pytest.mark.slow]

DASK = Path(sys.executable).parent / "dask"


def hidden_dir(basetemp: Path, testdir: Path, needed: list[Path]) -> Path | None:
    """What to hide from the workers: pytest's whole temporary directory, else (when what
    the workers need is inside it: ``--basetemp`` in the project) only this test's
    directory; ``None`` when even that would hide what they need."""
    needed = [p.resolve() for p in needed]
    for candidate in (basetemp, testdir):
        candidate = candidate.resolve()
        if not any(p == candidate or candidate in p.parents for p in needed):
            return candidate
    return None


def _can_isolate(directory: Path) -> str | None:
    """Why workers cannot be isolated here (None: they can)."""
    if not shutil.which("unshare"):
        return "unshare(1) is not available"
    if not DASK.exists():
        return f"{DASK} is not installed"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs {directory}"],
                           capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return f"cannot make a private mount namespace here: {probe.stderr.strip()[:200]}"
    return None


@pytest.fixture(scope="module")
def isolated(tmp_path_factory, s3_endpoint):
    """(scheduler address, the client's directory): a scheduler and two workers on loopback;
    the workers see neither the client's /tmp nor its directory."""
    testdir = tmp_path_factory.mktemp("client-side")
    # the interpreter (a venv's python may be a symlink: both sides), the dask script, and
    # the code the workers import
    needed = [Path(sys.executable), Path(sys.executable).resolve(), DASK, REPO]
    hide = hidden_dir(tmp_path_factory.getbasetemp(), testdir, needed)
    if hide is None:
        pytest.skip(f"the workers' interpreter or code is inside {testdir}")
    reason = _can_isolate(hide)
    if reason:
        pytest.skip(reason)
    port = free_port()
    env = {**os.environ, **AWS_ENV, "FSSPEC_S3_ENDPOINT_URL": s3_endpoint,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    procs = []
    try:
        procs.append(subprocess.Popen(
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True))
        wait_for_port(port, procs[0])
        for i in range(2):
            script = (f"mount -t tmpfs tmpfs {shlex.quote(str(hide))} && "
                      f"exec {DASK} worker tcp://127.0.0.1:{port} --host 127.0.0.1 --nthreads 1 "
                      f"--no-dashboard --name isolated-{i} --death-timeout 60")
            procs.append(subprocess.Popen(["unshare", "-m", "sh", "-c", script], cwd=REPO, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        from distributed import Client

        address = f"tcp://127.0.0.1:{port}"
        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=90)
            (testdir / "visible").write_text("x")
            seen = client.run(os.path.exists, str(testdir / "visible"))
            assert seen and not any(seen.values()), f"workers see the client's files: {seen}"
        yield address, testdir
    finally:
        for proc in reversed(procs):
            stop(proc)


def _pipeline(cache_dir, **kw):
    return Pipeline("isolated", cache_dir=cache_dir, context={"n": 50_000, "k": 3},
                    **kw).add_steps(STEPS)


def _expected(k=3):
    return np.arange(50_000, dtype=np.float64) * k


def test_local_cache_values_travel_through_dask(isolated):
    address, testdir = isolated
    cache = testdir / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=Warning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*[Pp]ort.*")
        first = _pipeline(cache).run(executor=address)
    assert first.success, first.summary()
    assert not first.cached_steps
    assert all(r.worker.startswith("tcp://") for r in first.step_results.values())
    assert np.array_equal(first["scaled"], _expected())  # no CacheLoadError: values came back
    assert first["where"]["sum"] == float(_expected().sum())
    assert first["where"]["pid"] != os.getpid()
    # the client stored them in its own cache: the next run is all hits, on the client
    store = CacheStore(cache)
    assert all(store.lookup(r.cache_key) for r in first.step_results.values())
    second = _pipeline(cache).run(executor=address)
    assert second.cached_steps == ["make_base", "scale", "where_am_i"]
    assert np.array_equal(second["scaled"], _expected())
    # a changed context value: 'scale' runs on a worker with the cached input's value
    third = _pipeline(cache).run(executor=address, k=5)
    assert third.cached_steps == ["make_base"]
    assert third.step_results["scale"].worker.startswith("tcp://")
    assert np.array_equal(third["scaled"], _expected(5))
    assert third["where"]["sum"] == float(_expected(5).sum())


def test_s3_cache_workers_write_the_bucket_and_the_client_gets_all_hits(isolated, url, opts,
                                                                         monkeypatch, tmp_path):
    address, _ = isolated
    first = _pipeline(url, storage_options=opts).run(executor=address)
    assert first.success and not first.cached_steps, first.summary()
    assert all(r.worker.startswith("tcp://") for r in first.step_results.values())
    assert np.array_equal(first["scaled"], _expected())  # lazy, from the bucket
    # another machine (a fresh local copy), no Dask: everything is in the bucket
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "notebook-machine"))
    second = _pipeline(url, storage_options=opts).run()
    assert second.cached_steps == ["make_base", "scale", "where_am_i"]
    assert np.array_equal(second["scaled"], _expected())
    assert second["where"] == first["where"]


def test_isolation_hides_the_test_directories_not_a_project_cloned_in_the_temp_folder(tmp_path):
    """A clone in the system temp folder (its .venv too) stays visible to the workers: only
    pytest's directory is hidden, or this test's when the project is inside that."""
    system_tmp = tmp_path / "tmp"
    basetemp, clone = system_tmp / "pytest-of-me" / "pytest-3", system_tmp / "x"
    testdir = basetemp / "client-side0"
    for d in (testdir, clone / ".venv" / "bin"):
        d.mkdir(parents=True)
    python = clone / ".venv" / "bin" / "python"
    assert hidden_dir(basetemp, testdir, [python, clone]) == basetemp.resolve()
    # --basetemp inside the project: only the test's own directory can go
    inner = clone / ".pytest-tmp"
    (inner / "client-side0").mkdir(parents=True)
    assert hidden_dir(inner.parent, inner / "client-side0", [python, clone]) == \
        (inner / "client-side0").resolve()
    assert hidden_dir(testdir, testdir, [testdir / "python"]) is None
