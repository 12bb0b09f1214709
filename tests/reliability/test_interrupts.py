"""Interrupts and timeouts: the state says so, nothing half-stored, the cache stays sound.

* ``KeyboardInterrupt`` raised inside a step, and a real SIGINT sent to a process running a
  pipeline: the step is reported ``interrupted`` (a ``StepFinished`` event), the interrupt
  reaches the caller, nothing is stored for that step, and the steps before it are cache
  hits on the next run.
* A step over its ``timeout`` is ``timed_out`` and stores nothing; the timer is disarmed
  before the output is written, so a slow write never turns a finished step into a
  timeout; a timeout or interrupt that does land inside a write leaves no entry and no
  temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import time
import warnings

import numpy as np
import pytest

from flowyml import Pipeline, step
from flowyml.events import StepFinished
from flowyml.hashing import hash_value
from flowyml.keys import make_key
from flowyml.store import local as flowyml_cache
from flowyml.store.entry import CacheWarning
from flowyml.store.local import CacheStore
from flowyml.timeouts import StepTimeoutError

from .conftest import entries, leftovers, run_pipeline, start_pipeline, wait_for

SWITCH = {"interrupt": False, "sleep": 0.0}


@step(outputs=["a"], register=False)
def first(k: int) -> int:
    return k * 2


@step(inputs=["a"], outputs=["b"], register=False, timeout=1)
def second(a: int) -> int:
    if SWITCH["interrupt"]:
        raise KeyboardInterrupt
    time.sleep(SWITCH["sleep"])
    return a + 1


@pytest.fixture(autouse=True)
def _reset_switch():
    yield
    SWITCH.update(interrupt=False, sleep=0.0)


def test_keyboard_interrupt_in_a_step(tmp_path):
    cache_dir = tmp_path / "cache"
    events = []
    SWITCH["interrupt"] = True
    with pytest.raises(KeyboardInterrupt):
        Pipeline("p", cache_dir=cache_dir).add_steps([first, second]).run(listeners=[events.append], k=5)
    finished = {e.step: e.state for e in events if isinstance(e, StepFinished)}
    assert finished == {"first": "done", "second": "interrupted"}
    assert len(entries(cache_dir, "first")) == 1
    assert entries(cache_dir, "second") == [] and leftovers(cache_dir, "second") == []

    SWITCH["interrupt"] = False
    res = Pipeline("p", cache_dir=cache_dir).add_steps([first, second]).run(k=5)
    assert res.step_results["first"].state == "cached"
    assert res.step_results["second"].state == "done" and res["b"] == 11


def test_real_sigint_to_a_running_pipeline(tmp_path):
    cache_dir, ready = tmp_path / "cache", tmp_path / "in-step"
    proc = start_pipeline(cache_dir, 1000, FLOWYML_TEST_HOOK="in-step", FLOWYML_TEST_READY=str(ready))
    wait_for(ready, proc)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert json.loads(out.strip().splitlines()[-1]) == {"interrupted": True}
    assert len(entries(cache_dir, "seed")) == 1 and len(entries(cache_dir, "make_big")) == 1
    assert entries(cache_dir, "summarise") == [] and leftovers(cache_dir, "summarise") == []

    again = run_pipeline(cache_dir, 1000)
    assert again["states"] == {"seed": "cached", "make_big": "cached", "summarise": "done"}
    assert again["total"] == 1000 * 999 / 2


def test_timed_out_step_stores_nothing(tmp_path):
    cache_dir = tmp_path / "cache"
    SWITCH["sleep"] = 10
    started = time.monotonic()
    res = Pipeline("p", cache_dir=cache_dir).add_steps([first, second]).run(k=1)
    assert time.monotonic() - started < 9  # generous: the 10 s sleep was cut short
    r = res.step_results["second"]
    assert r.state == "timed_out" and "timed out after 1 s" in r.error
    assert entries(cache_dir, "second") == [] and leftovers(cache_dir, "second") == []
    SWITCH["sleep"] = 0
    res = Pipeline("p", cache_dir=cache_dir).add_steps([first, second]).run(k=1)
    assert res.step_results["second"].state == "done" and res["b"] == 3


def test_slow_write_after_a_step_in_time_is_not_a_timeout(tmp_path, monkeypatch):
    @step(outputs=["arr"], register=False, timeout=0.3)
    def quick() -> np.ndarray:
        return np.arange(1000)

    real = flowyml_cache.write_segments

    def slow_write(path, segments, tail, size):
        time.sleep(0.8)  # the write takes longer than the step's whole timeout
        return real(path, segments, tail, size)

    monkeypatch.setattr(flowyml_cache, "write_segments", slow_write)
    cache_dir = tmp_path / "cache"
    res = Pipeline("p", cache_dir=cache_dir).add_step(quick).run()
    assert res.step_results["quick"].state == "done"
    monkeypatch.setattr(flowyml_cache, "write_segments", real)
    again = Pipeline("p", cache_dir=cache_dir).add_step(quick).run()
    assert again.step_results["quick"].state == "cached"
    np.testing.assert_array_equal(again["arr"], np.arange(1000))


@pytest.mark.parametrize("error", [StepTimeoutError("timed out after 1 s"), KeyboardInterrupt()],
                         ids=["timeout", "interrupt"])
def test_timeout_or_interrupt_inside_a_write_leaves_nothing(tmp_path, monkeypatch, error):
    real_write = flowyml_cache.write_segments

    def write_then_fail(path, segments, tail, size):
        with open(path, "xb") as fh:
            fh.write(b"\x80\x05partial pickle")  # some bytes are on disk already
        raise error

    store = CacheStore(tmp_path / "cache")
    key = make_key("writer", "code", {})
    arr = np.arange(10)
    monkeypatch.setattr(flowyml_cache, "write_segments", write_then_fail)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if isinstance(error, KeyboardInterrupt):
            with pytest.raises(KeyboardInterrupt):
                store.store(key, {"a": arr}, output_hashes={"a": hash_value(arr)})
        else:
            assert store.store(key, {"a": arr}, output_hashes={"a": hash_value(arr)}) is False
            assert any(issubclass(w.category, CacheWarning) for w in caught)
    assert store.lookup(key) is None
    assert entries(tmp_path / "cache", "writer") == [] and leftovers(tmp_path / "cache", "writer") == []
    monkeypatch.setattr(flowyml_cache, "write_segments", real_write)
    assert store.store(key, {"a": arr}, output_hashes={"a": hash_value(arr)})  # unpoisoned
    np.testing.assert_array_equal(store.load(store.lookup(key))["a"], arr)
