"""Caching is content-addressed and correct (SPEC §3)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import pytest

from flowyml import Pipeline, step
from flowyml.store.entry import CacheWarning, entry_file_parts, write_entry_file
from tests.conftest import run_cell


def counting_pipeline(cache_dir, calls, source_value):
    @step(outputs=["raw"])
    def load():
        calls.append("load")
        return source_value()

    @step(inputs=["raw"], outputs=["doubled"])
    def double(raw):
        calls.append("double")
        return [x * 2 for x in raw]

    @step(inputs=["doubled"], outputs=["total"])
    def total(doubled):
        calls.append("total")
        return sum(doubled)

    return Pipeline("count", cache_dir=cache_dir).add_steps([load, double, total])


def test_second_run_is_all_hits(cache_dir):
    calls = []
    p = counting_pipeline(cache_dir, calls, lambda: [1, 2])
    assert p.run()["total"] == 6
    r = p.run()
    assert r["total"] == 6 and calls == ["load", "double", "total"]
    assert all(res.cached for res in r.step_results.values())


def test_downstream_reruns_when_upstream_result_changes(cache_dir):
    calls = []
    data = {"v": [1, 2]}
    p = counting_pipeline(cache_dir, calls, lambda: data["v"])
    # load is not cached by its result: make it re-run each time
    p.steps[0].cache = False
    assert p.run()["total"] == 6
    data["v"] = [1, 2, 3]
    r = p.run()
    assert r["total"] == 12
    assert calls == ["load", "double", "total", "load", "double", "total"]
    data["v"] = [1, 2, 3]  # same content again: downstream hits
    p.run()
    assert calls[6:] == ["load"]


def test_numpy_arrays_differing_in_one_element_get_different_keys(cache_dir):
    np = pytest.importorskip("numpy")

    @step(inputs=["arr"], outputs=["s"])
    def s(arr):
        return float(arr.sum())

    a = np.zeros(10_000_000)
    b = a.copy()
    b[5_000_000] = 1e-9
    assert s.get_cache_key({"arr": a}) != s.get_cache_key({"arr": b})
    assert s.get_cache_key({"arr": a}) == s.get_cache_key({"arr": a.copy()})


def test_helper_edit_invalidates_comment_edit_does_not(notebook_ns, cache_dir):
    notebook_ns["cache_dir"] = cache_dir
    notebook_ns["calls"] = []
    run_cell(notebook_ns, "from flowyml import step, Pipeline\ndef helper(x):\n    return x + 1\n")
    run_cell(notebook_ns, textwrap.dedent("""
        @step(outputs=["y"])
        def use():
            calls.append(1)
            return helper(1)
        p = Pipeline("h", cache_dir=cache_dir).add_step(use)
        r = p.run()
    """))
    assert notebook_ns["r"]["y"] == 2
    # comments and formatting in both the step and the helper do not matter
    run_cell(notebook_ns, "def helper(x):   # a comment\n\n    return x+1  # another\n")
    run_cell(notebook_ns, textwrap.dedent("""
        @step(outputs=["y"])
        def use():
            # a new comment
            calls.append(1)
            return helper( 1 )
        p = Pipeline("h", cache_dir=cache_dir).add_step(use)
        r = p.run()
    """))
    assert notebook_ns["r"].step_results["use"].cached and len(notebook_ns["calls"]) == 1
    # a real change to the helper invalidates the step that calls it
    run_cell(notebook_ns, "def helper(x):\n    return x + 2\n")
    run_cell(notebook_ns, "r = p.run()\n")
    assert notebook_ns["r"]["y"] == 3 and len(notebook_ns["calls"]) == 2


def test_transitive_helpers_and_constants(notebook_ns):
    run_cell(notebook_ns, "SCALE = 2\ndef inner(x):\n    return x * SCALE\ndef outer(x):\n    return inner(x)\n")
    run_cell(notebook_ns, "from flowyml import step\n@step(register=False)\ndef s():\n    return outer(1)\n")
    before = notebook_ns["s"].get_code_hash()
    run_cell(notebook_ns, "def inner(x):\n    return x * SCALE + 1\n")
    after_inner = notebook_ns["s"].get_code_hash()
    run_cell(notebook_ns, "SCALE = 3\n")
    after_const = notebook_ns["s"].get_code_hash()
    assert len({before, after_inner, after_const}) == 3


def test_context_change_reruns_only_steps_that_receive_it(cache_dir):
    calls = []

    @step(outputs=["a"])
    def uses_lr(lr):
        calls.append("a")
        return lr

    @step(outputs=["b"])
    def uses_seed(seed):
        calls.append("b")
        return seed

    p = Pipeline("ctx", context={"lr": 0.1, "seed": 1}, cache_dir=cache_dir).add_steps([uses_lr, uses_seed])
    p.run()
    r = p.run(lr=0.2)
    assert calls == ["a", "b", "a"]
    assert r.step_results["uses_seed"].cached and not r.step_results["uses_lr"].cached


def test_strategies_input_hash_callable_and_false(cache_dir):
    calls = []

    @step(outputs=["x"], cache="input_hash")
    def ih(n):
        calls.append("ih")
        return n

    @step(outputs=["y"], cache=lambda inputs, ctx: f"n={ctx['n'] % 2}")
    def custom(n):
        calls.append("custom")
        return n

    @step(outputs=["z"], cache=False)
    def never(n):
        calls.append("never")
        return n

    p = Pipeline("strat", cache_dir=cache_dir).add_steps([ih, custom, never])
    p.run(n=1)
    r = p.run(n=3)  # same parity: the custom key hits (and returns the stored 1)
    assert r["y"] == 1 and r["x"] == 3
    assert calls == ["ih", "custom", "never", "ih", "never"]
    assert r.step_results["never"].cache_key is None


def test_none_is_cacheable(cache_dir):
    calls = []

    @step(outputs=["nothing"])
    def none():
        calls.append(1)

    p = Pipeline("none", cache_dir=cache_dir).add_step(none)
    p.run()
    r = p.run()
    assert r.step_results["none"].cached and r["nothing"] is None and calls == [1]


def test_unpicklable_output_warns_and_is_not_cached(cache_dir):
    import threading

    @step(outputs=["lock"])
    def make_lock():
        return threading.Lock()

    p = Pipeline("unp", cache_dir=cache_dir).add_step(make_lock)
    with pytest.warns(CacheWarning, match="output 'lock' cannot be pickled"):
        r = p.run()
    assert r.success and r.step_results["make_lock"].cache_key is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert not p.run().step_results["make_lock"].cached


def test_unhashable_input_runs_uncached_with_reason(cache_dir):
    from flowyml.executors.runner import UncacheableWarning

    @step(outputs=["n"])
    def consume(gen):
        return sum(gen)

    p = Pipeline("gen", cache_dir=cache_dir).add_step(consume)
    with pytest.warns(UncacheableWarning, match="'gen'"):
        r = p.run(gen=(i for i in range(4)))
    assert r["n"] == 6 and "gen" in r.step_results["consume"].uncacheable_reason


def test_truncated_entry_is_recomputed_with_a_warning(cache_dir):
    calls = []
    p = counting_pipeline(cache_dir, calls, lambda: list(range(1000)))
    p.run()
    victims = list(cache_dir.rglob("*.entry"))
    assert len(victims) == 3
    for entry in victims:
        data = entry.read_bytes()
        entry.write_bytes(data[: len(data) // 2])
    with pytest.warns(CacheWarning, match="truncated"):
        r = p.run()
    assert r["total"] == sum(range(1000)) * 2 and calls.count("total") == 2


def test_flipped_byte_and_old_format_are_recomputed(cache_dir):
    calls = []
    p = counting_pipeline(cache_dir, calls, lambda: list(range(100)))
    p.run()
    files = sorted(cache_dir.rglob("*.entry"))
    raw = bytearray(files[0].read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    files[0].write_bytes(bytes(raw))
    doc, data, replay = entry_file_parts(files[1])
    doc["format"] = 0
    write_entry_file(files[1], doc, data, replay)
    with pytest.warns(CacheWarning):
        r = p.run()
    assert r.success and r["total"] == sum(range(100)) * 2
    assert len(calls) > 3


def test_cache_survives_a_new_process(tmp_path):
    script = tmp_path / "pipe.py"
    script.write_text(textwrap.dedent("""
        import sys
        from flowyml import Pipeline, step

        @step(outputs=["x"])
        def slow():
            print("COMPUTED")
            return 41 + 1

        r = Pipeline("restart").add_step(slow).run()
        print("cached" if r.step_results["slow"].cached else "fresh", r["x"])
    """))
    env = {**__import__("os").environ}
    env.pop("FLOWYML_CACHE_DIR", None)
    outs = [subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, check=True).stdout
            for _ in range(2)]
    assert "COMPUTED" in outs[0] and "fresh 42" in outs[0]
    assert "COMPUTED" not in outs[1] and "cached 42" in outs[1]
    assert (tmp_path / ".flowyml" / "cache").is_dir()


def test_cache_dir_is_owner_only(cache_dir):
    @step(outputs=["x"])
    def s():
        return 1

    Pipeline("perm", cache_dir=cache_dir).add_step(s).run()
    assert cache_dir.stat().st_mode & 0o777 == 0o700


def test_a_context_value_taken_by_many_steps_is_hashed_once_per_run(cache_dir):
    from flowyml.hashing import fingerprint

    hashed = []

    class Big:
        def __init__(self, payload):
            self.payload = payload

    @fingerprint.register(Big)
    def _(obj, h):
        hashed.append(1)
        h.update(obj.payload)

    steps = [step(name=f"s{i}", outputs=[f"o{i}"], register=False)(lambda big: len(big.payload))
             for i in range(5)]
    p = Pipeline("memo", cache_dir=cache_dir).add_steps(steps)
    big = Big(b"x" * 1000)
    assert p.run(big=big).success and len(hashed) == 1
    assert all(r.cached for r in p.run(big=big).step_results.values()) and len(hashed) == 2
    big.payload = b"y" * 1000  # changed between runs: seen, not served from a stale memo
    assert not any(r.cached for r in p.run(big=big).step_results.values())
