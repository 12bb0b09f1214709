"""Retries, timeouts, conditions, execution groups and map_task (SPEC §4)."""

from __future__ import annotations

import time

import pytest

from flowyml import MapTaskResult, Pipeline, map_task, step
from flowyml.events import StepFinished, StepRetrying


def test_retry_gives_n_plus_one_attempts_and_counts_retries(cache_dir):
    attempts = []

    @step(outputs=["x"], retry=2, retry_delay=0.01)
    def flaky():
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return "ok"

    events = []
    r = Pipeline("retry", cache_dir=cache_dir).add_step(flaky).run(listeners=[events.append])
    res = r.step_results["flaky"]
    assert r.success and res.output == "ok" and res.retries == 2 and res.attempts == 3
    assert [e.attempt for e in events if isinstance(e, StepRetrying)] == [1, 2]


def test_retries_exhausted_is_a_failure(cache_dir):
    @step(outputs=["x"], retries=1, retry_delay=0.01)
    def always():
        raise ValueError("nope")

    res = Pipeline("r", cache_dir=cache_dir).add_step(always).run().step_results["always"]
    assert not res.success and res.retries == 1 and res.attempts == 2 and "nope" in res.error


def test_timeout_stops_a_slow_step_and_is_retried(cache_dir):
    attempts = []

    @step(outputs=["x"], timeout=1, retry=1, retry_delay=0.01)
    def slow():
        attempts.append(time.perf_counter())
        if len(attempts) == 1:
            time.sleep(2)
        return "second attempt"

    t0 = time.perf_counter()
    r = Pipeline("t", cache_dir=cache_dir).add_step(slow).run()
    elapsed = time.perf_counter() - t0
    res = r.step_results["slow"]
    assert res.success and res.output == "second attempt" and res.retries == 1
    assert elapsed < 1.9  # the 2 s sleep was cut short, not waited out


def test_timeout_without_retry_fails_in_about_the_limit(cache_dir):
    @step(outputs=["x"], timeout=1)
    def stuck():
        time.sleep(2)
        return 1

    t0 = time.perf_counter()
    res = Pipeline("t", cache_dir=cache_dir).add_step(stuck).run().step_results["stuck"]
    assert res.state == "timed_out" and "timed out" in res.error and not res.success
    assert 0.9 < time.perf_counter() - t0 < 1.9

    @step(outputs=["y"])
    def after():  # the process is still healthy
        time.sleep(0.05)
        return 2

    assert Pipeline("t2", cache_dir=cache_dir).add_step(after).run()["y"] == 2


def test_condition_false_skips_step_and_dependents(cache_dir):
    calls = []

    @step(outputs=["score"])
    def evaluate():
        return 0.4

    @step(inputs=["score"], outputs=["deployed"], condition=lambda score, threshold: score > threshold)
    def deploy(score):
        calls.append("deploy")
        return True

    @step(inputs=["deployed"], outputs=["notified"])
    def notify(deployed):
        calls.append("notify")
        return True

    p = Pipeline("cond", context={"threshold": 0.5}, cache_dir=cache_dir).add_steps([evaluate, deploy, notify])
    r = p.run()
    assert r.success and calls == []
    assert r.step_results["deploy"].skipped and r.step_results["deploy"].state == "skipped"
    assert r.step_results["notify"].skipped and r.step_results["notify"].error is None
    r = p.run(threshold=0.1)
    assert r.success and calls == ["deploy", "notify"]


def test_condition_on_upstream_output_orders_the_dag(cache_dir):
    @step(outputs=["flag"])
    def decide():
        return False

    @step(outputs=["x"], condition=lambda flag: flag)
    def guarded():
        return 1

    # added in the "wrong" order: the condition's input still runs first
    r = Pipeline("c2", cache_dir=cache_dir).add_steps([guarded, decide]).run()
    assert r.step_results["guarded"].skipped and list(r.step_results) == ["decide", "guarded"]


def test_execution_group_runs_members_together_in_order(cache_dir):
    order = []

    def mk(name, inputs, group=None):
        def f(**kw):
            order.append(name)
            return name
        return step(name=name, inputs=inputs, outputs=[name], execution_group=group, register=False)(f)

    steps = [mk("a", [], "g"), mk("x", []), mk("b", ["a"], "g")]
    Pipeline("grp", cache_dir=cache_dir, enable_cache=False).add_steps(steps).run()
    assert order == ["a", "b", "x"]


def test_execution_group_with_outsider_between_members_is_an_error():
    from flowyml.graph import PipelineGraphError

    s1 = step(name="a", outputs=["a"], execution_group="g", register=False)(lambda: 1)
    s2 = step(name="m", inputs=["a"], outputs=["m"], register=False)(lambda a: a)
    s3 = step(name="b", inputs=["m"], outputs=["b"], execution_group="g", register=False)(lambda m: m)
    with pytest.raises(PipelineGraphError, match="outside the group"):
        Pipeline("bad").add_steps([s1, s2, s3]).run()


def test_map_task_called_directly():
    @map_task(concurrency=3, retries=0, min_success_ratio=0.5)
    def inv(x):
        return 1 / x

    res = inv([1, 2, 0, 4])
    assert isinstance(res, MapTaskResult)
    assert res.total == 4 and res.successes == 3 and res.failures == 1
    assert 2 in res.errors and res.success_ratio == 0.75
    assert res.successful_results == [1.0, 0.5, 0.25]
    with pytest.raises(RuntimeError, match="success ratio"):
        map_task(min_success_ratio=1.0)(lambda x: 1 / x)([0, 1])


def test_map_task_in_a_pipeline_caches_each_item(cache_dir):
    seen = []

    @step(outputs=["items"])
    def items(n):
        return list(range(n))

    @map_task(inputs=["items"], outputs=["squares"])
    def square(item):
        seen.append(item)
        return item * item

    @step(inputs=["squares"], outputs=["total"])
    def total(squares):
        return sum(squares)

    p = Pipeline("map", cache_dir=cache_dir).add_steps([items, square, total])
    assert p.run(n=3)["total"] == 5
    r = p.run(n=4)  # one new item: one new call
    assert r["total"] == 14 and seen == [0, 1, 2, 3]
    assert r.step_results["square"].map_result.cached == 3


def test_events_report_every_final_state(cache_dir):
    @step(outputs=["x"])
    def ok():
        return 1

    events = []
    p = Pipeline("ev", cache_dir=cache_dir).add_step(ok)
    p.run(listeners=[events.append])
    p.run(listeners=[events.append])
    assert [e.state for e in events if isinstance(e, StepFinished)] == ["done", "cached"]
