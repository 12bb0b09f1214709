"""Pipeline wiring, results and graph errors (SPEC §2)."""

from __future__ import annotations

import pytest

from flowyml import Context, Pipeline, step
from flowyml.graph import CycleError, DuplicateOutputError, MissingInputError


def test_wiring_by_name_then_position_and_results(cache_dir):
    @step(outputs=["raw"])
    def load():
        return [1, 2, 3]

    @step(inputs=["raw"], outputs=["total", "count"])
    def stats(values):  # bound by position
        return sum(values), len(values)

    @step(inputs=["count", "total"], outputs=["mean"])
    def mean(total, count):  # bound by name, whatever the declared order
        return total / count

    p = Pipeline("wiring", cache_dir=cache_dir).add_steps([load, stats, mean])
    r = p.run()
    assert r.success and r.run_id
    assert r["mean"] == 2.0 and r.outputs["total"] == 6 and r.outputs["stats"] == (6, 3)
    sr = r.step_results["stats"]
    assert sr.success and sr.output == (6, 3) and sr.error is None and not sr.cached
    assert sr.duration_seconds >= 0 and sr.retries == 0 and not sr.skipped


def test_dict_outputs_and_bad_outputs_name_the_step(cache_dir):
    @step(outputs=["a", "b"])
    def as_dict():
        return {"b": 2, "a": 1}

    @step(outputs=["c", "d"])
    def wrong():
        return 1, 2, 3

    r = Pipeline("outs", cache_dir=cache_dir).add_steps([as_dict, wrong]).run()
    assert r["a"] == 1 and r["b"] == 2
    assert not r.success
    err = r.step_results["wrong"].error
    assert "wrong" in err and "['c', 'd']" in err and "length 3" in err


def test_context_injection_defaults_and_missing(cache_dir):
    @step(outputs=["x"])
    def uses_ctx(lr, epochs=3):
        return lr * epochs

    @step(outputs=["y"])
    def needs(missing_param):
        return missing_param

    p = Pipeline("ctx", context=Context(lr=0.5), cache_dir=cache_dir).add_steps([uses_ctx, needs])
    r = p.run()
    assert r["x"] == 1.5
    r2 = p.run(epochs=4)
    assert r2["x"] == 2.0
    err = r.step_results["needs"].error
    assert "needs" in err and "missing_param" in err and not r.success


def test_declared_input_wins_over_context(cache_dir):
    @step(outputs=["data"])
    def produce():
        return "from-step"

    @step(inputs=["data"], outputs=["seen"])
    def consume(data):
        return data

    r = Pipeline("win", context={"data": "from-context"}, cache_dir=cache_dir).add_steps([produce, consume]).run()
    assert r["seen"] == "from-step"


def test_declared_input_from_context_when_nobody_produces_it(cache_dir):
    @step(inputs=["data"], outputs=["n"])
    def count(data):
        return len(data)

    assert Pipeline("c", cache_dir=cache_dir).add_step(count).run(data=[1, 2])["n"] == 2


def test_cycle_error_names_the_path():
    @step(inputs=["b"], outputs=["a"])
    def sa(b):
        return b

    @step(inputs=["a"], outputs=["b"])
    def sb(a):
        return a

    with pytest.raises(CycleError, match=r"sa -> sb -> sa|sb -> sa -> sb"):
        Pipeline("cyc").add_steps([sa, sb]).build()
    with pytest.raises(CycleError):
        Pipeline("cyc").add_steps([sa, sb]).run()


def test_duplicate_producers_named():
    @step(outputs=["x"])
    def one():
        return 1

    @step(outputs=["x"])
    def two():
        return 2

    with pytest.raises(DuplicateOutputError, match=r"'one'.*'two'"):
        Pipeline("dup").add_steps([one, two]).run()


def test_unknown_input_suggests_close_names():
    @step(outputs=["features"])
    def make():
        return 1

    @step(inputs=["featurs"], outputs=["model"])
    def train(featurs):
        return featurs

    with pytest.raises(MissingInputError) as info:
        Pipeline("miss").add_steps([make, train]).run()
    msg = str(info.value)
    assert "train" in msg and "featurs" in msg and "features" in msg


def test_order_is_deterministic_and_siblings_keep_insertion_order(cache_dir):
    order = []

    def make(name, inputs=None):
        def f(**kw):
            order.append(name)
            return name
        return step(name=name, inputs=inputs, outputs=[name], register=False)(f)

    steps = [make("root"), make("zeta", ["root"]), make("alpha", ["root"]), make("mid", ["root"])]
    p = Pipeline("order", cache_dir=cache_dir, enable_cache=False).add_steps(steps)
    assert [s.name for s in p.dag.topological_sort()] == ["root", "zeta", "alpha", "mid"]
    p.run()
    assert order == ["root", "zeta", "alpha", "mid"]


def test_auto_discover_is_re_resolved_every_run(cache_dir):
    @step(pipeline="auto", outputs=["a"])
    def first():
        return 1

    p = Pipeline("auto", auto_discover=True, cache_dir=cache_dir)
    assert set(p.run().outputs) == {"a", "first"}

    @step(inputs=["a"], outputs=["b"])
    def second(a):
        return a + 1

    @step(pipeline="elsewhere", outputs=["c"])
    def not_mine():
        return 0

    r = p.run()
    assert r["b"] == 2 and "c" not in r.outputs


def test_from_steps_and_add_step_return_pipeline(cache_dir):
    @step(outputs=["v"])
    def v():
        return 5

    p = Pipeline.from_steps(v, name="fs", cache_dir=cache_dir)
    assert p.name == "fs" and p.run()["v"] == 5
    assert isinstance(Pipeline("x").add_step(v), Pipeline)
    assert isinstance(Pipeline("x").add_steps([v]), Pipeline)


def test_failure_does_not_raise_and_independent_branch_runs(cache_dir):
    @step(outputs=["bad"])
    def boom():
        raise RuntimeError("kaput")

    @step(inputs=["bad"], outputs=["after"])
    def after(bad):
        return bad

    @step(outputs=["ok"])
    def fine():
        return "ok"

    r = Pipeline("fail", cache_dir=cache_dir).add_steps([boom, after, fine]).run()
    assert not r.success
    assert "kaput" in r.step_results["boom"].error and "RuntimeError" in r.step_results["boom"].traceback
    assert r.step_results["after"].state == "upstream_failed"
    assert r["ok"] == "ok"


def test_print_inside_a_step_prints(cache_dir, capsys):
    @step(outputs=["x"])
    def talk():
        print("hello from the step")
        return 1

    Pipeline("p", cache_dir=cache_dir).add_step(talk).run()
    assert "hello from the step" in capsys.readouterr().out


def test_no_files_outside_the_cache_dir(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    cache = tmp_path / "cache-here"

    @step(outputs=["x"])
    def s():
        return 1

    Pipeline("p", cache_dir=cache).add_step(s).run()
    assert list(work.iterdir()) == []
    assert cache.exists()


def test_step_output_keeps_the_returned_shape_computed_or_cached(cache_dir):
    @step(outputs=["a", "b"])
    def as_dict():
        return {"a": 1, "b": 2}

    @step(outputs=["c", "d"])
    def as_list():
        return [3, 4]

    @step(outputs=["e", "f"])
    def as_tuple():
        return 5, 6

    p = Pipeline("shapes", cache_dir=cache_dir).add_steps([as_dict, as_list, as_tuple])
    for run in (p.run(), p.run()):
        res = run.step_results
        assert res["as_dict"].output == {"a": 1, "b": 2}
        assert res["as_list"].output == [3, 4]
        assert res["as_tuple"].output == (5, 6)
    assert run.step_results["as_dict"].cached
