"""Dead workers, resources, Dask connection modes: the executor-specific behaviour."""

from __future__ import annotations

import os
import signal
import time

import pytest

from flowyml import Pipeline, step
from flowyml.executors import get_executor
from flowyml.store.local import CacheStore


def die_once_pipeline(cache_dir, retry: int) -> Pipeline:
    @step(outputs=["value"], retry=retry, retry_delay=0.01)
    def fragile(marker):
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-step
        return {"answer": 42}

    @step(inputs=["value"], outputs=["final"])
    def after(value):
        return value["answer"] + 1

    return Pipeline("die", cache_dir=cache_dir).add_steps([fragile, after])


@pytest.mark.dask
def test_killed_dask_worker_is_retried_and_cache_stays_sound(dask_client, cache_dir, tmp_path):
    result = die_once_pipeline(cache_dir, retry=1).run(
        executor=dask_client, marker=str(tmp_path / "died"))
    res = result.step_results["fragile"]
    assert result.success, result.summary()
    assert result["final"] == 43 and (res.retries, res.attempts) == (1, 2)
    entry = CacheStore(cache_dir).lookup(res.cache_key)
    assert entry is not None  # the entry written by the second attempt verifies
    again = die_once_pipeline(cache_dir, retry=1).run(
        executor=dask_client, marker=str(tmp_path / "died"))
    assert sorted(again.cached_steps) == ["after", "fragile"] and again["final"] == 43
    dask_client.wait_for_workers(2, timeout=30)


@pytest.mark.dask
def test_killed_dask_worker_without_retry_fails_naming_the_worker(dask_client, cache_dir,
                                                                  tmp_path):
    result = die_once_pipeline(cache_dir, retry=0).run(
        executor=dask_client, marker=str(tmp_path / "died"))
    res = result.step_results["fragile"]
    assert res.state == "failed" and "died while running step 'fragile'" in res.error
    assert "tcp://127.0.0.1:" in res.error
    assert result.step_results["after"].state == "upstream_failed"
    assert CacheStore(cache_dir).info() == {} or "fragile" not in CacheStore(cache_dir).info()
    dask_client.wait_for_workers(2, timeout=30)


def test_killed_process_worker_is_retried(cache_dir, tmp_path):
    result = die_once_pipeline(cache_dir, retry=1).run(
        executor="processes", max_workers=2, marker=str(tmp_path / "died"))
    res = result.step_results["fragile"]
    assert result.success, result.summary()
    assert result["final"] == 43 and res.retries == 1
    assert CacheStore(cache_dir).lookup(res.cache_key) is not None


def test_killed_process_worker_without_retry_fails_naming_the_worker(cache_dir, tmp_path):
    result = die_once_pipeline(cache_dir, retry=0).run(
        executor="processes", max_workers=2, marker=str(tmp_path / "died"))
    res = result.step_results["fragile"]
    assert res.state == "failed" and "died while running step 'fragile'" in res.error
    assert ":MainThread" in res.error  # host:pid:thread of the worker


@pytest.mark.dask
def test_step_needing_a_resource_no_worker_has_fails_fast(dask_client, cache_dir):
    calls = []

    @step(outputs=["model"], resources={"gpu": 1})
    def train():
        calls.append(1)
        return "model"

    @step(outputs=["other"])
    def other():
        return "ok"

    started = time.monotonic()
    result = Pipeline("res", cache_dir=cache_dir).add_steps([train, other]).run(
        executor=dask_client)
    res = result.step_results["train"]
    assert res.state == "failed" and res.attempts == 0
    assert "GPU=1" in res.error and "no worker has them" in res.error
    assert result["other"] == "ok"
    assert time.monotonic() - started < 30


@pytest.mark.dask
def test_step_resources_become_dask_resources(dask_client, cache_dir):
    @step(outputs=["n"], resources={"cpu": "1"})
    def needs_cpu():
        from distributed import get_worker

        return get_worker().state.available_resources.get("CPU")

    result = Pipeline("cpu", cache_dir=cache_dir).add_step(needs_cpu).run(executor=dask_client)
    assert result["n"] == 0  # the task held the worker's only CPU while it ran


def test_cpu_resources_limit_local_concurrency(cache_dir, tmp_path):
    log = tmp_path / "log"

    def busy(name, path):
        with open(path, "a") as fh:
            fh.write(f"start {name}\n")
        time.sleep(0.3)
        with open(path, "a") as fh:
            fh.write(f"end {name}\n")
        return name

    @step(outputs=["a"], resources={"cpu": "2"}, cache=False)
    def heavy_a(path):
        return busy("a", path)

    @step(outputs=["b"], resources={"cpu": "2"}, cache=False)
    def heavy_b(path):
        return busy("b", path)

    result = Pipeline("cpu", cache_dir=cache_dir).add_steps([heavy_a, heavy_b]).run(
        executor="threads", max_workers=2, path=str(log))
    assert result.success
    lines = log.read_text().split()
    # each step occupied both slots: the second started only after the first ended
    assert lines[0::2] == ["start", "end", "start", "end"]


def test_more_cpu_than_the_pool_has_fails_fast(cache_dir):
    @step(outputs=["x"], resources={"cpu": "4"})
    def greedy():
        return 1

    result = Pipeline("g", cache_dir=cache_dir).add_step(greedy).run(
        executor="threads", max_workers=2)
    res = result.step_results["greedy"]
    assert res.state == "failed" and "cpu=4" in res.error and "max_workers>=4" in res.error


def test_thread_timeout_stops_a_stuck_step(cache_dir):
    @step(outputs=["x"], timeout=1)
    def stuck():
        time.sleep(30)

    started = time.monotonic()
    result = Pipeline("t", cache_dir=cache_dir).add_step(stuck).run(executor="threads")
    assert result.step_results["stuck"].state == "timed_out"
    assert "separate process" in result.step_results["stuck"].error
    # generous (the worker process has to start first), but far from the 30 s sleep
    assert time.monotonic() - started < 15


def test_unreachable_scheduler_fails_in_seconds_naming_the_address(cache_dir):
    pytest.importorskip("distributed")

    @step(outputs=["x"])
    def one():
        return 1

    started = time.monotonic()
    with pytest.raises(ConnectionError, match=r"tcp://127\.0\.0\.1:9"):
        Pipeline("a", cache_dir=cache_dir).add_step(one).run(executor="tcp://127.0.0.1:9")
    assert time.monotonic() - started < 15


@pytest.mark.dask
def test_dask_by_name_starts_and_closes_a_local_cluster(cache_dir):
    exe, owned = get_executor("dask", max_workers=2)
    try:
        assert owned and len(exe.client.scheduler_info()["workers"]) == 2
        cluster = exe._cluster
    finally:
        exe.close()
    assert cluster.status.name == "closed"


@pytest.mark.dask
def test_dask_by_address_uses_the_cluster(dask_client, cache_dir):
    @step(outputs=["x"])
    def one():
        return 1

    result = Pipeline("a", cache_dir=cache_dir).add_step(one).run(
        executor=dask_client.scheduler.address)
    assert result["x"] == 1 and result.step_results["one"].worker.startswith("tcp://")
    assert dask_client.status == "running"  # an existing client is never closed
