"""Cache lifecycle with real files: gc, budgets, info, why (issue 14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from flowyml import Pipeline, step
from flowyml.store import explain as _explain
from flowyml.store import lifecycle
from flowyml.store.entry import read_meta
from flowyml.store.local import CacheStore

ROOT = Path(__file__).resolve().parents[2]


def _pipeline(cache_dir, **context):
    @step(outputs=["y"], register=False)
    def double(x):
        return [x] * 2

    return Pipeline("p", context=context, cache_dir=cache_dir).add_step(double)


def _age(store, days):
    """Make every entry look last used ``days`` ago, in creation order (older first)."""
    entries = sorted(lifecycle.scan(store), key=lambda e: e.last_used)
    for i, e in enumerate(entries):
        t = time.time() - days * 86400 + i
        os.utime(e.path, (t, t))


def _tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_a_hit_records_its_use(tmp_path):
    pipe = _pipeline(tmp_path, x=1)
    pipe.run()
    (entry,) = lifecycle.scan(pipe.cache)
    os.utime(entry.path, (1, 1))
    assert pipe.run().step_results["double"].cached
    (entry,) = lifecycle.scan(pipe.cache)
    assert time.time() - entry.last_used < 60


def test_gc_keeps_the_latest_of_each_step_and_the_current_entries(tmp_path):
    for x in range(4):
        _pipeline(tmp_path, x=x).run()
    store = CacheStore(tmp_path)
    _age(store, 2)
    current = _pipeline(tmp_path, x=0)  # the oldest entry is what the current code would hit
    report = lifecycle.gc(store, keep_latest=1, protect=_explain.current_keys(current).values())
    assert len(report.removed) == 2 and report.kept == 2
    assert current.run().step_results["double"].cached  # never removed
    assert _pipeline(tmp_path, x=3).run().step_results["double"].cached  # the latest stays


def test_gc_older_than_and_max_size_least_recently_used_first(tmp_path):
    for x in range(5):
        _pipeline(tmp_path, x=x).run()
    store = CacheStore(tmp_path)
    _age(store, 40)
    entries = sorted(lifecycle.scan(store), key=lambda e: e.last_used)
    os.utime(entries[3].path, (time.time() - 3 * 86400,) * 2)
    assert len(lifecycle.gc(store, keep_latest=0, older_than=lifecycle.parse_age("30d"),
                            dry_run=True).removed) == 4
    one = entries[0].size
    report = lifecycle.gc(store, keep_latest=0, max_size=3 * one + one // 2)
    assert [e.name for e in report.removed] == [e.name for e in entries[:2]]  # LRU first
    assert report.kept_bytes <= 3 * one + one // 2


def test_gc_dry_run_changes_nothing_and_recent_entries_are_in_use(tmp_path):
    for x in range(3):
        _pipeline(tmp_path, x=x).run()
    store = CacheStore(tmp_path)
    before = _tree(tmp_path)
    assert lifecycle.gc(store, keep_latest=0).removed == []  # all used within a minute
    _age(store, 1)
    before = _tree(tmp_path)
    report = lifecycle.gc(store, keep_latest=0, dry_run=True)
    assert len(report.removed) == 3 and "would remove 3 entries" in report.summary()
    assert _tree(tmp_path) == before


def test_a_budget_trims_after_a_run_with_one_line(tmp_path, monkeypatch, capsys):
    for x in range(6):
        _pipeline(tmp_path, x=x).run()
    store = CacheStore(tmp_path)
    _age(store, 1)
    size = lifecycle.scan(store)[0].size
    monkeypatch.setenv("FLOWYML_CACHE_MAX_SIZE", str(3 * size))
    assert _pipeline(tmp_path, x=0).run().step_results["double"].cached
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "budget: trimmed" in err, err
    assert sum(e.size for e in lifecycle.scan(store)) <= 3 * size
    assert _pipeline(tmp_path, x=0).run().step_results["double"].cached  # this run's: kept


def test_gc_beside_a_writer_loses_nothing(tmp_path):
    """One process runs a pipeline in a loop; another gc's everything it can, over and over.
    The writer's results stay right, and no partial entry is ever left behind."""
    writer = tmp_path / "writer.py"
    writer.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from flowyml import Pipeline, step

        @step(outputs=["y"])
        def square(x):
            return [x * x] * 1000

        for i in range(60):
            r = Pipeline("w", context={{"x": i % 7}}, cache_dir={str(tmp_path / 'c')!r}).add_step(square).run()
            assert r.success and r["y"] == [(i % 7) ** 2] * 1000, (i, r.step_results)
        print("ok")
    """))
    gcer = tmp_path / "gc.py"
    gcer.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from flowyml.store import explain as _explain
        from flowyml.store import lifecycle
        from flowyml.store.local import CacheStore
        lifecycle.IN_USE_SECONDS = 0  # as aggressive as it gets
        store = CacheStore({str(tmp_path / 'c')!r})
        end = time.time() + 8
        n = 0
        while time.time() < end:
            n += len(lifecycle.gc(store, keep_latest=0, max_size=0).removed)
        print("removed", n)
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    w = subprocess.Popen([sys.executable, str(writer)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    g = subprocess.Popen([sys.executable, str(gcer)], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    w_out, w_err = w.communicate(timeout=120)
    _, g_err = g.communicate(timeout=120)
    assert w.returncode == 0 and "ok" in w_out, w_err[-2000:]
    assert g.returncode == 0, g_err[-2000:]
    store = CacheStore(tmp_path / "c")
    for entry in (tmp_path / "c").rglob("*.entry"):  # every entry left is whole and verifies
        meta = read_meta(entry)
        assert meta is not None and store.lookup(meta["key"]) is not None


def test_info_json_names_the_entry_the_current_definition_would_hit(tmp_path):
    module = tmp_path / "pipe.py"
    module.write_text(textwrap.dedent("""
        from flowyml import Pipeline, step

        @step(outputs=["y"])
        def double(x):
            return x * 2

        @step(inputs=["y"], outputs=["z"])
        def plus(y):
            return y + 1

        pipeline = Pipeline("p", context={"x": 3}).add_steps([double, plus])
    """))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FLOWYML_CACHE_DIR", None)
    flowyml = [sys.executable, "-m", "flowyml.cli"]
    out = subprocess.run([*flowyml, "cache", "info", "--json", "--pipeline", str(module)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["steps"]["double"]["current_stored"] is False
    subprocess.run([sys.executable, str(module)], cwd=tmp_path, env=env, check=True)
    subprocess.run([*flowyml, "run", str(module)], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    out = subprocess.run([*flowyml, "cache", "info", "--json", "--pipeline", str(module)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["steps"]["double"]["current_stored"] and report["steps"]["plus"]["current_stored"]
    assert report["total"]["entries"] == 2 and report["steps"]["plus"]["last_used"] > 0
    text = subprocess.run([*flowyml, "cache", "info", "--pipeline", str(module)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, check=True).stdout
    assert "stored (a hit)" in text and "total" in text


WHY_MODULE = """
from flowyml import Pipeline, step

FACTOR = {factor}

def clean(v):
    return v {helper}

@step(outputs=["y"])
def load(seed):
    return clean(seed) * FACTOR{own}

@step(inputs=["y"], outputs=["z"])
def report(y):
    return y + 1

pipeline = Pipeline("p", context={{"seed": {seed}}}).add_steps([load, report])

if __name__ == "__main__":
    pipeline.run()
"""


@pytest.mark.parametrize("change, expected", [
    ({"seed": 8}, "`seed` changed 7 → 8"),
    ({"helper": "+ 100"}, "helper `clean` changed"),
    ({"own": " + 1"}, "its own code changed"),
    ({"factor": 3}, "constant `FACTOR` 2 → 3"),
])
def test_why_names_what_changed(tmp_path, change, expected):
    base = {"factor": 2, "helper": "+ 0", "own": "", "seed": 7}
    module = tmp_path / "pipe.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOWYML_CACHE_DIR": str(tmp_path / "c")}
    module.write_text(WHY_MODULE.format(**base))
    subprocess.run([sys.executable, str(module)], cwd=tmp_path, env=env, check=True)
    why = [sys.executable, "-m", "flowyml.cli", "why", str(module)]
    out = subprocess.run([*why, "load"], env=env, capture_output=True, text=True, check=True)
    assert "will be a cache hit" in out.stdout
    module.write_text(WHY_MODULE.format(**{**base, **change}))
    out = subprocess.run([*why, "load"], env=env, capture_output=True, text=True, check=True)
    assert "will re-run" in out.stdout and expected in out.stdout, out.stdout
    down = subprocess.run([*why, "report"], env=env, capture_output=True, text=True, check=True)
    assert "it reads `y` from `load`, which re-runs because" in down.stdout, down.stdout


def test_entries_of_the_older_layout_are_never_read_and_gc_removes_them(tmp_path):
    """An entry of the directory layout (``output.pkl`` + ``meta.json``) left by an older
    flowyml is a miss, is counted by ``info``, and goes at the next gc, whatever its age."""
    pipe = _pipeline(tmp_path, x=1)
    pipe.run()
    (current,) = lifecycle.scan(pipe.cache)
    old = Path(current.path).with_name("0" * 32)  # the older layout: a directory per entry
    old.mkdir()
    (old / "output.pkl").write_bytes(b"\x80\x04N.")
    (old / "meta.json").write_text(json.dumps({"format": 1, "key": "double:old"}))
    assert sorted(e.legacy for e in lifecycle.scan(pipe.cache)) == [False, True]
    assert lifecycle.info(pipe.cache)["total"]["entries"] == 2
    report = lifecycle.gc(pipe.cache, keep_latest=1)
    assert [e.name for e in report.removed] == [old.name] and not old.exists()
    assert pipe.run().step_results["double"].cached


def test_gc_spares_an_entry_used_after_its_scan(tmp_path, monkeypatch):
    """gc removes an entry only if its last use is still what the scan saw: an entry hit (or
    rewritten) between the scan and the removal stays."""
    for x in range(2):
        _pipeline(tmp_path, x=x).run()
    store = CacheStore(tmp_path)
    _age(store, 5)
    stale = lifecycle.scan(store)  # the scan gc will act on ...
    _pipeline(tmp_path, x=0).run()  # ... then a hit records a use of one entry
    monkeypatch.setattr(lifecycle, "scan", lambda s, tombs=None: list(stale))
    report = lifecycle.gc(store, keep_latest=0)
    assert len(report.removed) == 1
    assert _pipeline(tmp_path, x=0).run().step_results["double"].cached  # the used one stayed


# -- issue 21: gc says what its grace spared; why follows the DAG; map tasks -------------------


def _cli(*args, cwd, env):
    proc = subprocess.run([sys.executable, "-m", "flowyml", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_gc_right_after_six_runs_says_what_it_spared_and_grace_0s_removes_them(tmp_path):
    module = tmp_path / "pipe.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("FLOWYML_CACHE_DIR", None)
    for x in range(6):  # six runs of one step, each with another input: six entries
        module.write_text("from flowyml import Pipeline, step\n\n@step(outputs=['y'])\n"
                          "def double(x):\n    return [x] * 2\n\n"
                          f"pipeline = Pipeline('p', context={{'x': {x}}}).add_step(double)\n")
        _cli("run", str(module), cwd=tmp_path, env=env)
    said = _cli("cache", "gc", "--keep-latest", "1", cwd=tmp_path, env=env)
    assert "removed 0 entries" in said and "6 entries" in said, said
    assert ("5 entries used in the last minute kept: they may be in use; --grace 0s to remove "
            "them") in said, said
    said = _cli("cache", "gc", "--keep-latest", "0", "--max-size", "1K", cwd=tmp_path, env=env)
    assert "removed 0 entries" in said and "still over 1.0 KiB" in said, said
    assert "entries used in the last minute kept: they may be in use" in said, said
    said = _cli("cache", "gc", "--keep-latest", "1", "--grace", "0s", cwd=tmp_path, env=env)
    assert "removed 5 entries" in said and "1 entries" in said and "may be in use" not in said, said
    ran = _cli("run", str(module), cwd=tmp_path, env=env)
    assert "cache hit" in ran  # the latest run's entry stayed
    bad = subprocess.run([sys.executable, "-m", "flowyml", "cache", "gc", "--grace", "soon"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not an age" in bad.stderr


def test_a_budget_that_cannot_be_met_says_why(tmp_path, monkeypatch, capsys):
    for x in range(4):
        _pipeline(tmp_path, x=x).run()
    capsys.readouterr()
    # room for two entries and a half (entry sizes differ by a few bytes of metadata)
    size = 5 * max(e.size for e in lifecycle.scan(CacheStore(tmp_path))) // 2
    monkeypatch.setenv("FLOWYML_CACHE_MAX_SIZE", str(size))
    assert _pipeline(tmp_path, x=0).run().step_results["double"].cached
    err = capsys.readouterr().err
    assert "budget: trimmed 0 entries" in err and "still over" in err, err
    assert "entries used in the last minute kept: they may be in use" in err, err
    assert len(lifecycle.scan(CacheStore(tmp_path))) == 4, err  # all in use: nothing went
    report = lifecycle.gc(CacheStore(tmp_path), keep_latest=0, max_size=size, grace=0,
                          protect=_explain.current_keys(_pipeline(tmp_path, x=0)).values())
    assert len(report.removed) == 2 and not report.spared, report.summary()


DAG_MODULE = """
from pathlib import Path

from flowyml import Pipeline, step

@step(outputs=["rows"])
def make(n_rows):
    return list(range(n_rows))

@step(inputs=["rows"], outputs=["count"])
def count(rows):
    return len(rows)

@step(inputs=["count"], outputs=["label"])
def label(count):
    return f"{{count}} rows"

pipeline = Pipeline("dag", context={{"n_rows": {n}}}).add_steps([make, count, label])
"""


def test_why_follows_the_dag_to_the_step_that_re_runs(tmp_path):
    module = tmp_path / "dag.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOWYML_CACHE_DIR": str(tmp_path / "c")}
    module.write_text(DAG_MODULE.format(n=10))
    _cli("run", str(module), cwd=tmp_path, env=env)
    assert "will be a cache hit" in _cli("why", str(module), "count", cwd=tmp_path, env=env)
    module.write_text(DAG_MODULE.format(n=12))
    said = _cli("why", str(module), "count", cwd=tmp_path, env=env)
    assert ("count' will re-run: its own code and inputs match a stored entry, but it reads "
            "`rows` from `make`, which re-runs because `n_rows` changed 10 → 12") in said, said
    said = _cli("why", str(module), "label", cwd=tmp_path, env=env)  # two steps down
    assert ("it reads `count` from `count`, which re-runs because it reads `rows` from `make`, "
            "which re-runs because `n_rows` changed 10 → 12") in said, said
    # its own code changed too: both are named
    module.write_text(DAG_MODULE.format(n=12).replace("return len(rows)", "return len(rows) + 0"))
    said = _cli("why", str(module), "count", cwd=tmp_path, env=env)
    assert "its own code changed; and it reads `rows` from `make`" in said, said
    # once make has run with 12, count is an ordinary re-run (its input changed)
    module.write_text(DAG_MODULE.format(n=12))
    _cli("run", str(module), cwd=tmp_path, env=env)
    assert "will be a cache hit" in _cli("why", str(module), "label", cwd=tmp_path, env=env)


MAP_MODULE = """
from flowyml import Pipeline, map_task, step

@step(outputs=["items"])
def items(n):
    return list(range(n))

@map_task(inputs=["items"], outputs=["squares"])
def square(item, offset):
    return item * item + offset

pipeline = Pipeline("m", context={{"n": {n}, "offset": {offset}}}).add_steps([items, square])
"""


def test_why_knows_a_map_tasks_whole_list_key_and_gc_keeps_whole_runs(tmp_path):
    module = tmp_path / "m.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOWYML_CACHE_DIR": str(tmp_path / "c")}
    module.write_text(MAP_MODULE.format(n=5, offset=0))
    _cli("run", str(module), cwd=tmp_path, env=env)
    assert "will be a cache hit" in _cli("why", str(module), "square", cwd=tmp_path, env=env)
    module.write_text(MAP_MODULE.format(n=5, offset=1))
    said = _cli("why", str(module), "square", cwd=tmp_path, env=env)
    assert "will re-run" in said and "`offset` changed 0 → 1" in said, said
    _cli("run", str(module), cwd=tmp_path, env=env)  # 5 new items and a new whole list
    store = CacheStore(tmp_path / "c")
    square_entries = [e for e in lifecycle.scan(store) if e.step == "square"]
    assert len(square_entries) == 12  # 2 versions x (5 items + the whole list)
    _age(store, 1)
    report = lifecycle.gc(store, keep_latest=1)
    assert [e.step for e in report.removed] == ["square"] * 6, report.summary()
    # the whole latest run stays: its whole list, and every item (a longer list reuses them)
    module.write_text(MAP_MODULE.format(n=6, offset=1))
    _cli("run", str(module), cwd=tmp_path, env=env)
    kept = [e for e in lifecycle.scan(store) if e.step == "square"]
    assert len(kept) == 5 + 1 + 1 + 1  # the kept items and whole list, a new item, a new whole list


def test_why_on_a_map_task_whose_whole_list_is_not_stored(tmp_path):
    module = tmp_path / "m.py"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOWYML_CACHE_DIR": str(tmp_path / "c")}
    module.write_text("import flowyml.executors.runner\n"
                      "flowyml.executors.runner.MAP_WHOLE_MAX_BYTES = 1  # never stored\n"
                      + MAP_MODULE.format(n=4, offset=0))
    _cli("run", str(module), cwd=tmp_path, env=env)
    said = _cli("why", str(module), "square", cwd=tmp_path, env=env)
    assert ("will re-run: its whole list is not stored; each item is looked up on its own "
            "(4 item entries stored)") in said, said
