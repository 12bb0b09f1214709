"""Process-wide state (SPEC §9) where steps do not run in the main thread: recorded where a
step runs alone in its process (the threads executor running a chain, a Dask worker with one
thread), never attributed when steps run side by side, and re-applied where the next steps
run (a Dask worker, not the client)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import threading

import pytest

from flowyml import Pipeline, step
from flowyml.store.local import CacheStore
from flowyml.tracking import state

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@step(outputs=["ready"])
def seed_it(seed=3):
    random.seed(seed)
    return True


@step(inputs=["ready"], outputs=["numbers"])
def draw(ready, n):
    return [random.random() for _ in range(n)]


def _meet() -> None:
    """Wait for the other side-by-side step when a test asks for it (a barrier hung on
    ``sys``: not part of any step's code fingerprint)."""
    barrier = getattr(sys, "_flowyml_side_by_side", None)
    if barrier is not None:
        barrier.wait(timeout=60)


@step(outputs=["a"])
def sets_env():
    _meet()
    os.environ["FLOWYML_SIDE_A"] = "on"
    _meet()
    return 1


@step(outputs=["b"])
def pure():
    _meet()
    _meet()  # the other step changed the environment while this one ran
    return 2


def _plain(n: int, seed: int = 3) -> list[float]:
    gen = random.Random(seed)
    return [gen.random() for _ in range(n)]


def _notes(cache_dir, result, name):
    key = result.step_results[name].cache_key
    assert key is not None, result.summary()
    return CacheStore(cache_dir).lookup(key).meta.get("notes") or {}


@pytest.fixture(autouse=True)
def _clean_state(monkeypatch):
    monkeypatch.setattr(state, "_determined", {})
    saved = random.getstate()
    yield
    random.setstate(saved)
    os.environ.pop("FLOWYML_SIDE_A", None)


SCRIPT = textwrap.dedent('''
    import json, random, sys
    import flowyml

    @flowyml.step(outputs=["ready"])
    def seed_it(seed):
        random.seed(seed)
        return True

    @flowyml.step(inputs=["ready"], outputs=["numbers"])
    def draw(ready, n):
        return [random.random() for _ in range(n)]

    pipe = flowyml.Pipeline("seeded", cache_dir=sys.argv[1]).add_steps([seed_it, draw])
    result = pipe.run(executor="threads", n=int(sys.argv[2]), seed=int(sys.argv[3]))
    assert result.success, result.summary()
    print(json.dumps({"cached": sorted(result.cached_steps), "numbers": result["numbers"],
                      "why": result.step_results["draw"].rerun_reason}))
''')


def test_a_threads_chain_restarted_in_a_fresh_process_gives_plain_pythons_numbers(tmp_path):
    script = tmp_path / "seeded.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": ROOT}

    def run(n, seed=3):
        out = subprocess.run([sys.executable, str(script), str(tmp_path / "cache"), str(n),
                              str(seed)],
                             capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    first = run(2)
    assert first == {"cached": [], "numbers": _plain(2), "why": None}
    # a new process, unseeded: the cached seed is re-applied in the pool thread's process,
    # so the drawing step, made to run again by its new argument, draws what plain Python does
    second = run(3)
    assert second == {"cached": ["seed_it"], "numbers": _plain(3), "why": None}
    assert run(3)["cached"] == ["draw", "seed_it"]  # from the state it started from: a hit
    # another seed: the drawing step's key is the same (its input is True either way), but
    # the generator is in another known state, so it draws again -- plain Python's numbers
    fourth = run(3, seed=4)
    assert fourth["cached"] == [] and fourth["numbers"] == _plain(3, seed=4)
    assert "draws from the global random generator" in fourth["why"]


def test_a_threads_chain_records_the_state_of_each_step(cache_dir):
    pipe = Pipeline("seeded", cache_dir=cache_dir).add_steps([seed_it, draw])
    result = pipe.run(executor="threads", n=2)
    assert result["numbers"] == _plain(2)
    seeded = _notes(cache_dir, result, "seed_it")["state"]
    assert seeded["changed"] == ["random"] and seeded["generators"]["random"]["seeded"]
    drew = _notes(cache_dir, result, "draw")["state"]
    assert "before" in drew["generators"]["random"]  # it drew from the seeded state


def test_steps_side_by_side_in_threads_record_no_state_rather_than_a_wrong_one(cache_dir,
                                                                               monkeypatch):
    def run(executor):
        pipe = Pipeline("side", cache_dir=cache_dir).add_steps([sets_env, pure])
        result = pipe.run(executor=executor)
        assert result.success, result.summary()
        return result

    monkeypatch.setattr(sys, "_flowyml_side_by_side", threading.Barrier(2), raising=False)
    first = run("threads")  # both wait for the other: they surely run at the same time
    monkeypatch.delattr(sys, "_flowyml_side_by_side")
    for name in ("sets_env", "pure"):
        notes = _notes(cache_dir, first, name)["state"]
        assert "changed" not in notes and "data" not in notes  # nothing attributed to it
        assert notes["untracked"] == ["os.environ"]  # but it does not pretend nothing moved

    # in the main thread, alone, where a hit would have to re-apply what it changed: both
    # run again (a hit could not say whose the change was), this time recorded properly
    del os.environ["FLOWYML_SIDE_A"]
    second = run("sequential")
    for name in ("sets_env", "pure"):
        res = second.step_results[name]
        assert res.state == "done" and "ran beside other steps" in res.rerun_reason
        assert "os.environ" in res.rerun_reason
    assert _notes(cache_dir, second, "sets_env")["state"]["changed"] == ["os.environ"]
    alone = _notes(cache_dir, second, "pure").get("state") or {}
    assert "changed" not in alone and "untracked" not in alone  # alone: it changed nothing

    del os.environ["FLOWYML_SIDE_A"]
    third = run("sequential")
    assert sorted(third.cached_steps) == ["pure", "sets_env"]
    assert os.environ["FLOWYML_SIDE_A"] == "on"  # re-applied by the hit


def _run_seeded(executor, cache_dir, n):
    """The seeded chain (``seed_it`` then ``draw``) on ``executor``, successful."""
    pipe = Pipeline("seeded", cache_dir=cache_dir).add_steps([seed_it, draw])
    result = pipe.run(executor=executor, n=n)
    assert result.success, result.summary()
    return result


@pytest.mark.dask
def test_a_dask_worker_with_one_thread_records_and_re_applies_the_seed(dask_client, cache_dir):
    def run(n):
        return _run_seeded(dask_client, cache_dir, n)

    first = run(2)
    assert first["numbers"] == _plain(2)
    seeded = _notes(cache_dir, first, "seed_it")["state"]
    assert seeded["changed"] == ["random"]
    # its code seeds (read on the client: the function travels by value, without a file)
    assert seeded["generators"]["random"]["seeded"]
    dask_client.run(random.seed)  # every worker's generator somewhere else
    second = run(3)
    assert second.cached_steps == ["seed_it"]
    assert second["numbers"] == _plain(3)  # the seed re-applied on the worker that drew
    assert not state.is_determined("random")  # and not in the client (its state is its own)
    # another seed: same key for the drawing step, another known state on the worker
    pipe = Pipeline("seeded", cache_dir=cache_dir).add_steps([seed_it, draw])
    third = pipe.run(executor=dask_client, n=3, seed=4)
    assert third.cached_steps == [] and third["numbers"] == _plain(3, seed=4)
    assert "draws from the global random generator" in third.step_results["draw"].rerun_reason


@pytest.mark.dask
def test_dask_workers_without_the_cache_get_the_seed_of_a_hit_on_the_client(dask_client,
                                                                            cache_dir,
                                                                            monkeypatch):
    from flowyml.executors.dask import DaskExecutor

    # the workers cannot see the client's cache: it looks the unit up itself and ships the rest
    monkeypatch.setattr(DaskExecutor, "shares_store", lambda self, store: False)

    def run(n):
        return _run_seeded(dask_client, cache_dir, n)

    first = run(2)
    assert first["numbers"] == _plain(2)
    assert _notes(cache_dir, first, "seed_it")["state"]["changed"] == ["random"]  # relayed
    dask_client.run(random.seed)
    second = run(3)
    assert second.cached_steps == ["seed_it"]  # a hit on the client...
    assert second["numbers"] == _plain(3)  # ...whose seed the worker re-applied first
    assert not state.is_determined("random")  # not the client, whose state is its own


def test_untracked_notes_refuse_a_hit_only_where_what_moved_matters():
    before = state.snapshot()
    random.random()
    drew = state.untracked(before, "x = random.random()")
    assert drew == {"untracked": ["random"], "seeds": False, "untracked_generators": ["random"]}
    assert state.refusal(drew) is None  # an unseeded generator: arbitrary in plain Python too
    state._determined["random"] = True
    assert "random" in state.refusal(drew)  # a known state: it may have drawn from it
    assert state.refusal(drew, plain=False) is None  # beside other steps: nothing to compare

    before = state.snapshot()
    random.seed(5)
    seeded = state.untracked(before, "random.seed(5)")
    state._determined.clear()
    assert seeded["seeds"] and "random" in state.refusal(seeded)
    assert state.untracked(state.snapshot(), "") is None
