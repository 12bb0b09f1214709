"""``async def`` steps (and so ``%%step`` cells that await, exported): each executor runs
the coroutine to its end, in plain code and where an event loop already runs (a kernel, an
async application); the time limit cancels it; the files it reads are recorded."""

from __future__ import annotations

import asyncio
import threading

import pytest

from flowyml import Pipeline, map_task, step


@step(outputs=["numbers"])
async def fetch():
    await asyncio.sleep(0.01)
    return [1, 2, 3]


@step(inputs=["numbers"], outputs=["total"])
def add(numbers):
    return sum(numbers)


@pytest.mark.parametrize("executor", ["sequential", "threads", "processes"])
def test_an_async_step_runs_to_its_end_and_hits(cache_dir, executor):
    pipe = Pipeline("async", cache_dir=cache_dir).add_steps([fetch, add])
    first = pipe.run(executor=executor)
    assert first.success, first.step_results["fetch"].error
    assert first.step_results["fetch"].output == [1, 2, 3]
    assert first.step_results["add"].output == 6
    again = pipe.run(executor=executor)
    assert again.step_results["fetch"].state == "cached"


def test_an_async_step_runs_where_an_event_loop_already_runs(cache_dir):
    seen = []

    @step(outputs=["where"])
    async def where():
        seen.append(threading.current_thread().name)
        return await asyncio.sleep(0, result="ran")

    async def app():  # the pipeline called from async code (a kernel runs a loop, too)
        return Pipeline("in_loop", cache_dir=cache_dir).add_step(where).run()

    result = asyncio.run(app())
    assert result.success and result.step_results["where"].output == "ran"
    assert seen and seen[0].startswith("flowyml-await"), seen  # a loop of its own, beside


def test_the_time_limit_cancels_an_async_step(cache_dir):
    cancelled = []

    @step(outputs=["x"], timeout=0.3)
    async def stuck():
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return 1

    res = Pipeline("slow", cache_dir=cache_dir).add_step(stuck).run().step_results["stuck"]
    assert res.state == "timed_out" and "timed out after 0.3 s" in res.error, res.error
    assert cancelled == [True]  # cancelled in its loop, not left running


def test_a_timeout_error_of_the_step_itself_is_no_time_out(cache_dir):
    @step(outputs=["x"], timeout=30)
    async def own():
        raise TimeoutError("the server did not answer")

    res = Pipeline("own", cache_dir=cache_dir).add_step(own).run().step_results["own"]
    assert res.state == "failed" and "the server did not answer" in res.error


def test_an_async_step_s_file_reads_are_recorded(cache_dir, tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("1")

    @step(outputs=["n"])
    async def read():
        await asyncio.sleep(0)
        with open(data) as fh:
            return int(fh.read())

    pipe = Pipeline("files", cache_dir=cache_dir).add_step(read)
    assert pipe.run().step_results["read"].output == 1
    assert pipe.run().step_results["read"].state == "cached"
    data.write_text("2")
    again = pipe.run().step_results["read"]
    assert again.state == "done" and again.output == 2


def test_an_async_map_task(cache_dir):
    @map_task(outputs=["squares"])
    async def square(x):
        return await asyncio.sleep(0, result=x * x)

    assert list(square([1, 2, 3]).results) == [1, 4, 9]
