"""The pipeline test matrix, run on every executor: same results, keys, cache behaviour."""

from __future__ import annotations

import os
import time

import pytest

import flowyml
from flowyml import Pipeline, map_task, step


def diamond(cache_dir) -> Pipeline:
    @step(outputs=["raw"])
    def load(n):
        return list(range(n))

    @step(inputs=["raw"], outputs=["doubled"])
    def double(raw):
        return [x * 2 for x in raw]

    @step(inputs=["raw"], outputs=["total"])
    def total(raw):
        return sum(raw)

    @step(inputs=["doubled", "total"], outputs=["report"])
    def report(doubled, total):
        return {"n": len(doubled), "total": total, "max": max(doubled)}

    return Pipeline("diamond", cache_dir=cache_dir).add_steps([load, double, total, report])


def test_results_and_cache_match_sequential(executor, cache_dir, tmp_path):
    reference = diamond(tmp_path / "ref").run(n=10)
    first = diamond(cache_dir).run(executor=executor, max_workers=2, n=10)
    assert first.success, first.summary()
    assert first["report"] == reference["report"] == {"n": 10, "total": 45, "max": 18}
    assert {n: r.state for n, r in first.step_results.items()} == dict.fromkeys(
        ["load", "double", "total", "report"], "done")
    keys = {n: r.cache_key for n, r in first.step_results.items()}
    assert keys == {n: r.cache_key for n, r in reference.step_results.items()}
    assert all(r.worker for r in first.step_results.values())

    second = diamond(cache_dir).run(executor=executor, max_workers=2, n=10)
    assert sorted(second.cached_steps) == ["double", "load", "report", "total"]
    assert second["report"] == reference["report"]
    assert {n: r.cache_key for n, r in second.step_results.items()} == keys
    # a different input re-runs everything downstream of it
    third = diamond(cache_dir).run(executor=executor, max_workers=2, n=11)
    assert third.cached_steps == [] and third["report"]["total"] == 55


def test_events_arrive_on_the_calling_thread_in_order(executor, cache_dir):
    import threading

    seen = []
    main = threading.get_ident()
    result = diamond(cache_dir).run(executor=executor, max_workers=2, n=3, listeners=[
        lambda ev: seen.append((type(ev).__name__, getattr(ev, "step", None),
                                threading.get_ident() == main))])
    assert result.success
    assert all(on_main for *_, on_main in seen)
    names = [(kind, name) for kind, name, _ in seen]
    assert names[0][0] == "RunStarted" and names[-1][0] == "RunFinished"
    for name in ("load", "double", "total", "report"):
        assert names.index(("StepStarted", name)) < names.index(("StepFinished", name))
        assert names.count(("StepFinished", name)) == 1
    assert names.index(("StepFinished", "load")) < names.index(("StepStarted", "double"))


def test_retries_where_the_step_failed(executor, cache_dir, tmp_path):
    marker = tmp_path / "attempts"

    @step(outputs=["value"], retry=2, retry_delay=0.01)
    def flaky(path):
        with open(path, "a") as fh:
            fh.write("x")
        if os.path.getsize(path) < 3:
            raise RuntimeError("not yet")
        return 42

    result = Pipeline("r", cache_dir=cache_dir).add_step(flaky).run(
        executor=executor, max_workers=2, path=str(marker))
    res = result.step_results["flaky"]
    assert result.success and res.output == 42
    assert (res.retries, res.attempts) == (2, 3)


def test_failure_is_reported_and_downstream_not_run(executor, cache_dir):
    @step(outputs=["a"])
    def broken():
        raise ValueError("bad input file")

    @step(inputs=["a"], outputs=["b"])
    def after(a):
        return a

    @step(outputs=["c"])
    def independent():
        return "fine"

    result = Pipeline("f", cache_dir=cache_dir).add_steps([broken, after, independent]).run(
        executor=executor, max_workers=2)
    states = {n: r.state for n, r in result.step_results.items()}
    assert states == {"broken": "failed", "after": "upstream_failed", "independent": "done"}
    assert "ValueError: bad input file" in result.step_results["broken"].error
    assert "ValueError" in result.step_results["broken"].traceback
    assert result["c"] == "fine" and not result.success


def test_conditions_skip_steps_and_their_dependents(executor, cache_dir):
    @step(outputs=["x"])
    def make():
        return 1

    @step(inputs=["x"], outputs=["y"], condition=lambda enabled: enabled)
    def maybe(x):
        return x + 1

    @step(inputs=["y"], outputs=["z"])
    def later(y):
        return y * 10

    pipe = Pipeline("c", cache_dir=cache_dir).add_steps([make, maybe, later])
    off = pipe.run(executor=executor, max_workers=2, enabled=False)
    assert {n: r.state for n, r in off.step_results.items()} == {
        "make": "done", "maybe": "skipped", "later": "skipped"}
    assert off.success
    on = pipe.run(executor=executor, max_workers=2, enabled=True)
    assert on["z"] == 20


def test_timeout_stops_the_step_and_retries(executor, cache_dir, tmp_path):
    marker = tmp_path / "tries"

    @step(outputs=["out"], timeout=1, retry=1, retry_delay=0.01)
    def stuck(path):
        with open(path, "a") as fh:
            fh.write("x")
        time.sleep(10)
        return "never"

    started = time.monotonic()
    result = Pipeline("t", cache_dir=cache_dir).add_step(stuck).run(
        executor=executor, max_workers=2, path=str(marker))
    elapsed = time.monotonic() - started
    res = result.step_results["stuck"]
    assert res.state == "timed_out" and res.attempts == 2 and res.retries == 1
    assert "timed out after 1 s" in res.error
    assert marker.read_text() == "xx"
    assert elapsed < 9  # generous: both attempts were stopped, neither slept 10 s


def test_map_task_items_cached_one_by_one(executor, cache_dir, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()

    @step(outputs=["items"])
    def items(n):
        return list(range(n))

    @map_task(inputs=["items"], outputs=["squares"], concurrency=2)
    def square(item, calls_dir):
        (calls_dir / f"{item}-{os.getpid()}-{time.monotonic_ns()}").touch()
        return item * item

    pipe = Pipeline("m", cache_dir=cache_dir).add_steps([items, square])
    first = pipe.run(executor=executor, max_workers=2, n=4, calls_dir=calls)
    assert first.success, first.summary()
    assert first["squares"] == [0, 1, 4, 9] and len(list(calls.iterdir())) == 4
    grown = pipe.run(executor=executor, max_workers=2, n=5, calls_dir=calls)
    assert grown["squares"] == [0, 1, 4, 9, 16]
    assert len(list(calls.iterdir())) == 5  # only the new item ran


def test_execution_group_runs_in_one_worker(executor, cache_dir):
    @step(outputs=["a"], execution_group="g")
    def first():
        return os.getpid()

    @step(inputs=["a"], outputs=["b"], execution_group="g")
    def second(a):
        return (a, os.getpid())

    result = Pipeline("g", cache_dir=cache_dir).add_steps([first, second]).run(
        executor=executor, max_workers=2)
    pid_a, pid_b = result["b"]
    assert pid_a == pid_b
    workers = {r.worker for r in result.step_results.values()}
    assert len(workers) == 1


def test_independent_steps_run_concurrently(executor, cache_dir, tmp_path):
    if executor == "sequential":
        pytest.skip("the sequential executor runs one step at a time by design")
    rendezvous = tmp_path / "rendezvous"
    rendezvous.mkdir()

    def meet(me: str, other: str, where) -> bool:
        (where / me).touch()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (where / other).exists():
                return True
            time.sleep(0.02)
        return False

    @step(outputs=["left"], cache=False)
    def left(where):
        return meet("left", "right", where)

    @step(outputs=["right"], cache=False)
    def right(where):
        return meet("right", "left", where)

    result = Pipeline("conc", cache_dir=cache_dir).add_steps([left, right]).run(
        executor=executor, max_workers=2, where=rendezvous)
    assert result["left"] is True and result["right"] is True


def test_uncacheable_outputs_come_back_as_values(executor, cache_dir):
    @step(outputs=["big"], cache=False)
    def big():
        return list(range(1000))

    @step(inputs=["big"], outputs=["n"])
    def count(big):
        return len(big)

    result = Pipeline("u", cache_dir=cache_dir).add_steps([big, count]).run(
        executor=executor, max_workers=2)
    assert result["big"] == list(range(1000)) and result["n"] == 1000
    assert result.step_results["big"].cache_key is None


def test_a_run_leaves_no_registry_or_executor_state(executor, cache_dir):
    flowyml.clear_step_registry()
    result = diamond(cache_dir).run(executor=executor, max_workers=2, n=2)
    again = diamond(cache_dir).run(executor=executor, max_workers=2, n=2)
    assert result.success and len(again.cached_steps) == 4


@pytest.mark.dask
def test_dask_map_task_items_fan_out_across_workers(dask_client, cache_dir):
    @step(outputs=["items"])
    def items():
        return list(range(8))

    @map_task(inputs=["items"], outputs=["pids"], concurrency=4)
    def where(item):
        time.sleep(0.3)  # long enough that one worker cannot take every item
        return os.getpid()

    pipe = Pipeline("fan", cache_dir=cache_dir).add_steps([items, where])
    result = pipe.run(executor=dask_client)
    assert result.success, result.summary()
    worker_pids = set(dask_client.run(os.getpid).values())
    assert set(result["pids"]) == worker_pids and len(worker_pids) == 2


def test_unpicklable_context_value_only_affects_steps_that_take_it(executor, cache_dir):
    import threading

    @step(outputs=["locked"])
    def uses_lock(lock):
        with lock:
            return "ok"

    @step(outputs=["plain"])
    def plain(n):
        return n + 1

    result = Pipeline("ctxlock", cache_dir=cache_dir).add_steps([uses_lock, plain]).run(
        executor=executor, max_workers=2, lock=threading.Lock(), n=1)
    assert result["plain"] == 2
    if executor in ("sequential", "threads"):
        assert result["locked"] == "ok"
    else:  # a lock cannot travel to another process: only the step taking it fails
        assert not result.step_results["uses_lock"].success
