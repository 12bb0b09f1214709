"""Small steps batched per worker call, and chains fused into one unit: same answers per step.

The processes and Dask executors send several small ready units to a worker as one job and
run a chain of steps that only feed each other as one unit. Whatever is batched or fused,
each step still reports its own state, error and traceback, retries and conditions are per
step, and long independent steps are never serialised.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from flowyml import Pipeline, step
from flowyml.executors.base import fuse_chains
from flowyml.executors.processes import ProcessesExecutor
from flowyml.store.local import CacheStore

PARALLEL = ["processes", pytest.param("dask", marks=pytest.mark.dask)]


def record(exe):
    """Note in ``exe.jobs`` the step names each worker call carried."""
    exe.jobs = []
    start = exe._start

    def recording(units, live):
        exe.jobs.append([s.name for u in units for s in u.steps])
        return start(units, live)

    exe._start = recording
    return exe


@pytest.fixture(params=PARALLEL)
def make_executor(request):
    """A fresh batching executor (for the run), recording the steps each job carried."""
    made = []

    def make():
        if request.param == "dask":
            from flowyml.executors.dask import DaskExecutor

            exe = DaskExecutor(client=request.getfixturevalue("dask_client"))
        else:
            exe = ProcessesExecutor(max_workers=2)
        made.append(record(exe))
        return exe

    yield make
    for exe in made:
        exe.close()


def independent(n: int, cache_dir, fail: int | None = None, name: str = "ind",
                **options) -> Pipeline:
    steps = []
    for i in range(n):
        def work(base, _i=i):
            if _i == fail:
                raise ValueError(f"step {_i} refuses")
            return base + _i

        steps.append(step(work, name=f"{name}_{i}", outputs=[f"{name}_out_{i}"], **options))
    return Pipeline(name, cache_dir=cache_dir).add_steps(steps)


def chain(n: int, cache_dir, fail: int | None = None, name: str = "ch",
          **options) -> Pipeline:
    def first(base):
        return base

    steps = [step(first, name=f"{name}_0", outputs=[f"{name}_out_0"], **options)]
    for i in range(1, n):
        def link(x, _i=i):
            if _i == fail:
                raise ValueError(f"link {_i} refuses")
            return x + 1

        steps.append(step(link, name=f"{name}_{i}", inputs=[f"{name}_out_{i - 1}"],
                          outputs=[f"{name}_out_{i}"], **options))
    return Pipeline(name, cache_dir=cache_dir).add_steps(steps)


def test_a_failing_step_inside_a_batch_is_named_and_the_others_are_kept(make_executor,
                                                                         cache_dir):
    exe = make_executor()
    result = independent(40, cache_dir, fail=30).run(executor=exe, base=100)
    assert max(len(job) for job in exe.jobs) > 1  # small steps did share jobs
    failed = result.step_results["ind_30"]
    assert failed.state == "failed" and "step 30 refuses" in failed.error
    assert "ValueError" in failed.traceback and "work" in failed.traceback
    assert [n for n, r in result.step_results.items() if r.state != "done"] == ["ind_30"]
    assert all(result[f"ind_out_{i}"] == 100 + i for i in range(40) if i != 30)
    # what ran was stored: a second run is all hits but the failed step
    again = independent(40, cache_dir, fail=30).run(executor=make_executor(), base=100)
    assert sorted(again.cached_steps) == sorted(f"ind_{i}" for i in range(40) if i != 30)


def test_a_batch_with_mixed_cache_hits(make_executor, cache_dir):
    independent(15, cache_dir).run(executor=make_executor(), base=1)
    exe = make_executor()
    result = independent(40, cache_dir).run(executor=exe, base=1)
    assert result.success, result.summary()
    assert sorted(result.cached_steps) == sorted(f"ind_{i}" for i in range(15))
    assert [result[f"ind_out_{i}"] for i in range(40)] == [1 + i for i in range(40)]
    store = CacheStore(cache_dir)
    assert all(store.lookup(r.cache_key) for r in result.step_results.values())


def test_events_of_batched_steps_arrive_once_each_in_order(make_executor, cache_dir):
    seen = []
    main = threading.get_ident()
    result = independent(30, cache_dir).run(
        executor=make_executor(), base=0,
        listeners=[lambda ev: seen.append((type(ev).__name__, getattr(ev, "step", None),
                                           threading.get_ident()))])
    assert result.success
    assert {t for _, _, t in seen} == {main}
    for i in range(30):
        mine = [kind for kind, name, _ in seen if name == f"ind_{i}"]
        assert mine == ["StepStarted", "StepFinished"], (i, mine)


def test_long_independent_steps_are_not_batched(make_executor, cache_dir):
    exe = make_executor()

    def nap(seconds):
        import time

        time.sleep(seconds)
        return seconds

    steps = [step(nap, name=f"nap_{i}", outputs=[f"nap_{i}"], cache=False) for i in range(6)]
    result = Pipeline("naps", cache_dir=cache_dir).add_steps(steps).run(executor=exe,
                                                                       seconds=0.3)
    assert result.success
    assert all(len(job) == 1 for job in exe.jobs), exe.jobs


def test_a_chain_is_one_job_and_a_failure_in_it_stops_the_rest(make_executor, cache_dir):
    exe = make_executor()
    result = chain(30, cache_dir, fail=20).run(executor=exe, base=0)
    assert len(exe.jobs) == 1 and len(exe.jobs[0]) == 30  # one worker call for the chain
    states = {n: r.state for n, r in result.step_results.items()}
    assert all(states[f"ch_{i}"] == "done" for i in range(20))
    assert states["ch_20"] == "failed" and "link 20 refuses" in result.step_results["ch_20"].error
    assert all(states[f"ch_{i}"] == "upstream_failed" for i in range(21, 30))
    assert result["ch_out_19"] == 19
    # the steps before the failure were stored: the next run answers them from the cache
    again = chain(30, cache_dir, fail=20).run(executor=make_executor(), base=0)
    assert sorted(again.cached_steps) == sorted(f"ch_{i}" for i in range(20))
    assert again.step_results["ch_20"].state == "failed" and again["ch_out_19"] == 19


def test_conditions_and_retries_inside_a_chain_are_per_step(make_executor, cache_dir, tmp_path):
    @step(outputs=["a"])
    def a(n):
        return n

    @step(inputs=["a"], outputs=["b"], retry=2, retry_delay=0.01)
    def b(a, flaky):
        count = len(os.listdir(flaky))
        open(os.path.join(flaky, str(count)), "w").close()
        if count < 2:
            raise RuntimeError("not yet")
        return a + 1

    @step(inputs=["b"], outputs=["c"], condition=lambda b: b > 100)
    def c(b):
        return b * 2

    @step(inputs=["c"], outputs=["d"])
    def d(c):
        return c

    flaky = tmp_path / "flaky"
    flaky.mkdir()
    exe = make_executor()
    result = Pipeline("cond", cache_dir=cache_dir).add_steps([a, b, c, d]).run(
        executor=exe, n=1, flaky=str(flaky))
    assert exe.jobs == [["a", "b", "c", "d"]]
    res = result.step_results
    assert (res["b"].state, res["b"].retries, res["b"].attempts) == ("done", 2, 3)
    assert res["c"].state == "skipped" and res["d"].state == "skipped"
    assert result.success and result["b"] == 2


def test_unpicklable_context_in_a_chain_only_fails_its_step(make_executor, cache_dir):
    @step(outputs=["x"])
    def make(n):
        return n

    @step(inputs=["x"], outputs=["y"])
    def locked(x, lock):
        with lock:
            return x

    @step(inputs=["y"], outputs=["z"])
    def after(y):
        return y

    @step(outputs=["free"])
    def free(n):
        return n + 1

    result = Pipeline("lockchain", cache_dir=cache_dir).add_steps([make, locked, after, free]).run(
        executor=make_executor(), n=3, lock=threading.Lock())
    res = result.step_results
    assert res["make"].state == "done" and result["x"] == 3
    assert res["locked"].state == "failed" and "must be picklable" in res["locked"].error
    assert res["after"].state == "upstream_failed"
    assert res["free"].state == "done" and result["free"] == 4


def killer_chain(cache_dir, retry: int) -> Pipeline:
    @step(outputs=["a"])
    def a(marker):
        return 1

    @step(inputs=["a"], outputs=["b"], retry=retry, retry_delay=0.01)
    def b(a, marker):
        if not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies in the middle of the chain
        return a + 1

    @step(inputs=["b"], outputs=["c"])
    def c(b):
        return b + 1

    return Pipeline("killer", cache_dir=cache_dir).add_steps([a, b, c])


def test_worker_dying_inside_a_chain_blames_the_step_and_retries_it(cache_dir, tmp_path):
    result = killer_chain(cache_dir, retry=1).run(executor="processes", max_workers=2,
                                                  marker=str(tmp_path / "died"))
    res = result.step_results
    assert result.success, result.summary()
    assert result["c"] == 3 and (res["b"].retries, res["b"].attempts) == (1, 2)
    assert res["a"].retries == 0 and res["c"].retries == 0


def test_worker_dying_inside_a_chain_without_retry_fails_that_step(cache_dir, tmp_path):
    result = killer_chain(cache_dir, retry=0).run(executor="processes", max_workers=2,
                                                  marker=str(tmp_path / "died"))
    res = result.step_results
    assert res["a"].state in ("done", "cached") and result["a"] == 1  # stored before the death
    assert res["b"].state == "failed" and "died while running step 'b'" in res["b"].error
    assert res["c"].state == "upstream_failed"


def test_worker_dying_inside_a_batch_blames_only_its_step(cache_dir, tmp_path):
    marker = str(tmp_path / "died")
    steps = []
    for i in range(30):
        def work(base, marker, _i=i):
            if _i == 25 and not os.path.exists(marker):
                open(marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            return base + _i

        steps.append(step(work, name=f"w_{i}", outputs=[f"w_{i}"], retry=1, cache=False))
    exe = record(ProcessesExecutor(max_workers=1))  # one worker: nothing else runs then
    try:
        result = Pipeline("batchdeath", cache_dir=cache_dir).add_steps(steps).run(
            executor=exe, base=0, marker=marker)
    finally:
        exe.close()
    res = result.step_results
    assert any("w_25" in job and len(job) > 1 for job in exe.jobs)  # it died inside a batch
    assert result.success, result.summary()
    assert [result[f"w_{i}"] for i in range(30)] == list(range(30))
    assert res["w_25"].retries == 1
    assert all(res[f"w_{i}"].retries == 0 for i in range(30) if i != 25)


def test_fuse_chains_merges_only_links_that_feed_each_other_alone():
    class S:
        def __init__(self, name, execution_group=None):
            self.name, self.execution_group = name, execution_group

    a, b, c, d, e, g = S("a"), S("b"), S("c"), S("d"), S("e"), S("g", "grp")
    # a -> b -> c, and c -> d, c -> e (c has two readers), g alone in a group reads e
    units = [[a], [b], [c], [d], [e], [g]]
    deps = [set(), {0}, {1}, {2}, {2}, {4}]
    fused = fuse_chains(units, deps, lambda unit: True)
    assert [[s.name for s in u] for u in fused] == [["a", "b", "c"], ["d"], ["e"], ["g"]]
    # a link that may not be fused breaks the chain on both sides
    assert fuse_chains(units, deps, lambda unit: unit[0].name != "b") == [[a], [b], [c], [d], [e],
                                                                           [g]]


@pytest.mark.dask
def test_dask_step_asking_more_cpus_than_two_runs_where_a_worker_has_them(cache_dir):
    import dask
    from distributed import Client, LocalCluster

    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1", resources={"CPU": 4})
    client = Client(cluster)
    try:
        @step(outputs=["cpus"], resources={"cpu": 4})
        def wide():
            from distributed import get_worker

            return get_worker().state.available_resources.get("CPU")

        # Dask places it by its resources; no local slot count holds it back
        result = Pipeline("wide", cache_dir=cache_dir).add_step(wide).run(executor=client)
        assert result.success and result["cpus"] == 0
    finally:
        client.close()
        cluster.close()


def test_a_long_step_inside_a_batch_is_seen_running(make_executor, cache_dir, tmp_path):
    """Held events still reach listeners while the job runs: step 25 only returns once the
    listener has seen it start (it waits for a file the listener writes)."""
    seen = tmp_path / "seen"
    steps = []
    for i in range(30):
        def work(where, _i=i):
            import time

            if _i != 25:
                return _i
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                if os.path.exists(where):
                    return True
                time.sleep(0.01)
            return False

        steps.append(step(work, name=f"s_{i}", outputs=[f"s_{i}"], cache=False))

    def listener(event):
        if type(event).__name__ == "StepStarted" and event.step == "s_25":
            seen.touch()

    exe = make_executor()
    result = Pipeline("seen", cache_dir=cache_dir).add_steps(steps).run(
        executor=exe, where=str(seen), listeners=[listener])
    assert any("s_25" in job and len(job) > 1 for job in exe.jobs)
    assert result["s_25"] is True
