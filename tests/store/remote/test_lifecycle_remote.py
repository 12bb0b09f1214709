"""The cache lifecycle on a bucket: info, gc, the size budget and why, through the Python
API, the CLI and the magic, against the loopback S3 server."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from flowyml import Pipeline, step
from flowyml.store import lifecycle
from flowyml.store.locations import open_store
from flowyml.store.remote import RemoteStore

from .conftest import script_env

CALLS: dict[str, int] = {}


@step(outputs=["x"], register=False)
def make(n: int) -> np.ndarray:
    CALLS["make"] = CALLS.get("make", 0) + 1
    return np.arange(n, dtype=np.int64)


@step(inputs=["x"], outputs=["y"], register=False)
def total(x: np.ndarray) -> int:
    CALLS["total"] = CALLS.get("total", 0) + 1
    return int(x.sum())


def _run(url, opts, n, **kw):
    CALLS.clear()
    return Pipeline("life", cache_dir=url, storage_options=opts, context={"n": n},
                    **kw).add_steps([make, total]).run()


def _committed(s3, url, step_name=""):
    base = url[len("s3://"):] + "/joblib/flowyml/" + step_name
    return sorted(p for p in s3.find(base) if p.endswith("/meta.json"))


def _objects(s3, url):
    return sorted(s3.find(url[len("s3://"):] + "/joblib"))


@pytest.fixture
def three_generations(url, opts, monkeypatch, tmp_path):
    """Entries of n = 3000, 4000, 5000 (in that order of use), written by one machine."""
    for i, n in enumerate((3000, 4000, 5000)):
        _run(url, opts, n)
        if i < 2:
            time.sleep(1.1)  # distinct last-use times, also for the server's clock
    open_store(url, opts).flush()
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "gc-machine"))


def test_gc_keep_latest_on_a_bucket(url, opts, s3, three_generations, monkeypatch, tmp_path):
    assert len(_committed(s3, url, "make")) == 3 and len(_committed(s3, url, "total")) == 3
    store = open_store(url, opts)
    # just used: in use, left alone
    assert lifecycle.gc(store, keep_latest=1).removed == []
    report = lifecycle.gc(store, keep_latest=1, now=time.time() + 3600)
    assert len(report.removed) == 4 and report.kept == 2
    assert len(_committed(s3, url, "make")) == 1 and len(_committed(s3, url, "total")) == 1
    # nothing of a removed entry is left behind (data objects and metadata)
    kept = {c.rsplit("/", 1)[0] for c in _committed(s3, url)}
    assert {p.rsplit("/", 1)[0] for p in _objects(s3, url)} == kept
    # a fresh machine: the latest is a hit, a removed one is recomputed (the shared index
    # does not serve removed entries)
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "fresh"))
    assert _run(url, opts, 5000).cached_steps == ["make", "total"]
    res = _run(url, opts, 3000)
    assert res.cached_steps == [] and CALLS == {"make": 1, "total": 1}


def test_gc_dry_run_changes_nothing(url, opts, s3, three_generations):
    before = _objects(s3, url)
    report = lifecycle.gc(open_store(url, opts), keep_latest=0, now=time.time() + 3600,
                          dry_run=True)
    assert len(report.removed) == 6 and "would remove 6 entries" in report.summary()
    assert _objects(s3, url) == before


def test_gc_protects_the_current_definition_and_older_than(url, opts, s3, three_generations):
    store = open_store(url, opts)
    current = _run(url, opts, 3000)  # a hit: now the most recently used
    keys = [r.cache_key for r in current.step_results.values()]
    report = lifecycle.gc(store, keep_latest=0, protect=keys, now=time.time() + 3600)
    assert len(report.removed) == 4
    assert _run(url, opts, 3000).cached_steps == ["make", "total"]
    # --older-than: entries used within the age stay
    assert lifecycle.gc(store, keep_latest=0, older_than=7200, now=time.time() + 3600).removed == []


def test_budget_trims_a_bucket(url, opts, s3, three_generations, monkeypatch):
    monkeypatch.setattr(RemoteStore, "in_use_seconds", 0.0)  # the entries were all just used
    info = lifecycle.info(open_store(url, opts))
    assert info["total"]["entries"] == 6
    budget = info["total"]["bytes"] // 2
    res = _run(url, opts, 5000, cache_max_size=budget)
    assert res.cached_steps == ["make", "total"]
    after = lifecycle.info(open_store(url, opts))
    assert after["total"]["bytes"] <= budget and after["total"]["entries"] < 6
    # the run's own entries stay; the least recently used went first
    assert _run(url, opts, 5000).cached_steps == ["make", "total"]
    assert len(_committed(s3, url, "make")) < 3
    # the same budget from the environment: down to the run's own two entries
    monkeypatch.setenv("FLOWYML_CACHE_MAX_SIZE", "1")
    assert _run(url, opts, 5000).cached_steps == ["make", "total"]
    assert lifecycle.info(open_store(url, opts))["total"]["entries"] == 2


def test_info_json_lists_remote_entries_and_the_current_one(url, opts, s3_endpoint, tmp_path):
    _run(url, opts, 5000)
    _run(url, opts, 4000)
    module = tmp_path / "life_pipe.py"
    module.write_text(
        "import numpy as np\nfrom flowyml import Pipeline, step\n\n\n"
        "@step(outputs=['x'])\ndef make(n):\n    return np.arange(n, dtype=np.int64)\n\n\n"
        "pipeline = Pipeline('life', context={'n': 4000}).add_steps([make])\n")
    env = script_env(s3_endpoint)
    out = subprocess.run([sys.executable, "-m", "flowyml", "cache", "info", "--json",
                          "--cache-dir", url], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["root"] == url
    assert report["steps"]["make"]["entries"] == 2 and report["steps"]["total"]["entries"] == 2
    assert report["steps"]["make"]["bytes"] > 4000 * 8 and report["steps"]["make"]["last_used"] > 0

    def info_for_module():
        text = subprocess.run([sys.executable, "-m", "flowyml", "cache", "info", "--cache-dir",
                               url, "--pipeline", str(module)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60)
        assert text.returncode == 0, text.stderr
        return text.stdout

    assert "not stored (will run)" in info_for_module()  # its `make` is other code
    run = subprocess.run([sys.executable, "-m", "flowyml", "run", str(module), "--cache-dir", url],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    shown = info_for_module()
    assert "stored (a hit)" in shown and "last used" in shown


def test_cli_gc_on_a_bucket(url, opts, s3, s3_endpoint, three_generations, tmp_path, monkeypatch,
                            capsys):
    import fsspec.config

    from flowyml.cli import main

    env = script_env(s3_endpoint)
    before = _objects(s3, url)
    dry = subprocess.run([sys.executable, "-m", "flowyml", "cache", "gc", "--keep-latest", "1",
                          "--dry-run", "--cache-dir", url], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    assert f"cache at {url}: would remove 0 entries" in dry.stdout  # all just used: in use
    assert _objects(s3, url) == before
    # the same command once the entries are no longer in use
    monkeypatch.setattr(RemoteStore, "in_use_seconds", 0.0)
    monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": s3_endpoint})
    assert main(["cache", "gc", "--keep-latest", "1", "--cache-dir", url]) == 0
    assert f"cache at {url}: removed 4 entries" in capsys.readouterr().out
    assert len(_committed(s3, url)) == 2


def test_why_names_the_changed_part_on_a_bucket(url, s3_endpoint, tmp_path):
    module = tmp_path / "why_pipe.py"
    source = ("from flowyml import Pipeline, step\n\nSCALE = 2\n\n\n"
              "@step(outputs=['a'])\ndef base(n):\n    return list(range(n))\n\n\n"
              "@step(inputs=['a'], outputs=['b'])\ndef scaled(a):\n    return [v * SCALE for v in a]\n\n\n"
              "pipeline = Pipeline('why', context={'n': 5}).add_steps([base, scaled])\n")
    module.write_text(source)
    env = script_env(s3_endpoint)

    def flowyml(*args):
        proc = subprocess.run([sys.executable, "-m", "flowyml", *args, "--cache-dir", url],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    flowyml("run", str(module))
    assert "will be a cache hit" in flowyml("why", str(module), "scaled")
    module.write_text(source.replace("SCALE = 2", "SCALE = 3"))
    said = flowyml("why", str(module), "scaled")
    assert "will re-run" in said and "constant `SCALE` 2 → 3" in said, said
    assert "will be a cache hit" in flowyml("why", str(module), "base")


def test_magic_cache_gc_and_info_on_a_bucket(url, ipython_on_bucket, monkeypatch):
    from IPython.utils.capture import capture_output

    ip = ipython_on_bucket
    ip.run_line_magic("flowyml", f"cache dir {url}")
    ip.run_cell("%%step cubes\nN = 4\ncubes = [i ** 3 for i in range(N)]")
    ip.run_cell("%%step cubes\nN = 5\ncubes = [i ** 3 for i in range(N)]")
    with capture_output() as out:
        ip.run_line_magic("flowyml", "cache info --json")
    report = json.loads(out.stdout)
    assert report["steps"]["cubes"]["entries"] == 2 and report["steps"]["cubes"]["current_stored"]
    monkeypatch.setattr(RemoteStore, "in_use_seconds", 0.0)
    with capture_output() as out:
        ip.run_line_magic("flowyml", "cache gc --keep-latest 0")
    assert "removed 1 entries" in out.stdout  # the current definition's entry stays
    with capture_output() as out:
        ip.run_line_magic("flowyml", "why cubes")
    assert "will be a cache hit" in out.stdout


def test_entry_removed_between_metadata_and_data_is_a_plain_miss(url, opts, s3, monkeypatch,
                                                                  tmp_path):
    """A gc on another machine removes the entry after this reader read its meta.json: the
    reader finds the data gone, sees meta.json gone too, and misses without a warning."""
    import warnings

    _run(url, opts, 5000)
    monkeypatch.setenv("FLOWYML_CACHE_LOCAL_COPY_DIR", str(tmp_path / "reader"))
    store = RemoteStore(url, storage_options=opts)
    d = _committed(s3, url, "make")[0].rsplit("/", 1)[0]
    key = json.loads(s3.cat_file(f"{d}/meta.json"))["key"]
    real = RemoteStore._check_data

    def gc_meanwhile(self, entry_dir, meta):
        s3.rm(s3.find(d))
        return real(self, entry_dir, meta)

    monkeypatch.setattr(RemoteStore, "_check_data", gc_meanwhile)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.lookup(key) is None


def test_cli_gc_grace_on_a_bucket(url, opts, s3, s3_endpoint, three_generations, tmp_path):
    """Right after the runs every entry is in use: gc says how many it spared and why, and
    ``--grace 0s`` removes them (issue 21.2)."""
    env = script_env(s3_endpoint)

    def gc(*extra):
        proc = subprocess.run([sys.executable, "-m", "flowyml", "cache", "gc", "--keep-latest",
                               "1", "--cache-dir", url, *extra], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout

    said = gc()
    assert "removed 0 entries" in said and "4 entries used in the last" in said, said
    assert "they may be in use; --grace 0s to remove them" in said, said
    said = gc("--grace", "0s")
    assert "removed 4 entries" in said and "may be in use" not in said, said
    assert len(_committed(s3, url, "make")) == 1 and len(_committed(s3, url, "total")) == 1


def test_accept_on_a_bucket_is_an_alias_without_a_copy(url, s3, s3_endpoint, tmp_path):
    """`flowyml accept` against a bucket: a small alias entry; the edited step hits it from
    a fresh machine, without running, and gc keeps the entry it points at."""
    module = tmp_path / "acc_pipe.py"
    source = ("from pathlib import Path\nfrom flowyml import Pipeline, step\n\n"
              "MARK = Path(__file__).with_name('runs.txt')\n\n\n"
              "@step(outputs=['a'])\ndef base(n):\n    return list(range(n))\n\n\n"
              "@step(inputs=['a'], outputs=['b'])\ndef total(a):\n"
              "    MARK.open('a').write('x')\n    return sum(a)\n\n\n"
              "pipeline = Pipeline('acc', context={'n': 50}).add_steps([base, total])\n")
    module.write_text(source)
    env = script_env(s3_endpoint)

    def flowyml(*args, local="one", code=0):
        proc = subprocess.run([sys.executable, "-m", "flowyml", *args, "--cache-dir", url],
                              cwd=tmp_path, env={**env, "FLOWYML_CACHE_LOCAL_COPY_DIR":
                                                 str(tmp_path / local)},
                              capture_output=True, text=True, timeout=120,
                              stdin=subprocess.DEVNULL)
        assert proc.returncode == code, proc.stdout + proc.stderr
        return proc.stdout

    flowyml("run", str(module))
    module.write_text(source.replace("    return sum(a)", "    print('debug')\n    return sum(a)"))
    said = flowyml("accept", str(module), "total", "--yes")
    assert "its own code changed" in said and "accepted" in said, said
    ran = flowyml("run", str(module), local="fresh")
    assert "2 cached" in ran, ran
    assert (tmp_path / "runs.txt").read_text() == "x"
    metas = [json.loads(s3.cat_file(p)) for p in _committed(s3, url, "total")]
    (alias,) = [m for m in metas if "alias" in (m.get("notes") or {})]
    (target,) = [m for m in metas if m is not alias]
    assert alias["notes"]["alias"]["key"] == target["key"] and alias["size"] < 1024
    said = flowyml("cache", "gc", "--keep-latest", "1", "--grace", "0s")
    assert "removed 0 entries" in said, said  # the alias and its target are one version
    assert "2 cached" in flowyml("run", str(module), local="third")
