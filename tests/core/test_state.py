"""flowyml.tracking.state: process-wide state around a step, and Pipeline steps using it."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import warnings

import pytest

import flowyml
from flowyml.tracking import state


@pytest.fixture(autouse=True)
def _clean_process_state(monkeypatch):
    """Each test starts unseeded and leaves sys.path, cwd, environ, filters as they were."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(os.getcwd())
    monkeypatch.setattr(state, "_determined", {})
    saved_filters = list(warnings.filters)
    yield
    warnings.filters[:] = saved_filters
    os.environ.pop("FLOWYML_TEST_STATE", None)


def test_nothing_is_imported_to_take_a_snapshot():
    code = ("import sys\nfrom flowyml.tracking import state\nstate.snapshot()\n"
            "print(sorted(m for m in ('numpy', 'pandas', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "[]"


def test_a_seed_is_a_change_re_applied_and_a_draw_from_it_is_checked():
    before = state.snapshot()
    random.seed(7)
    seeded = state.record(before, "random.seed(7)")
    assert seeded is not None and "random" in seeded["changed"]
    assert seeded["generators"]["random"]["seeded"] and "before" not in seeded["generators"]["random"]
    assert state.is_determined("random")

    before = state.snapshot()
    drawn = random.random()
    consumed = state.record(before, "x = random.random()")
    assert consumed["generators"]["random"]["before"]  # the state it started from

    random.seed(99)  # another known state: drawing again would give other numbers
    state.mark_source("random.seed(99)")
    assert state.refusal(consumed) is not None and "random" in state.refusal(consumed)
    assert state.replay(seeded) == []  # the seed again: the draw is valid now
    assert state.refusal(consumed) is None
    assert state.replay(consumed) == []  # where the draw left it
    plain = random.Random(7)
    assert drawn == plain.random()
    assert random.random() == plain.random()


def test_a_draw_from_an_unseeded_generator_may_hit_from_any_state():
    random.seed()  # from the OS: arbitrary numbers in plain Python too
    before = state.snapshot()
    random.random()
    notes = state.record(before, "x = random.random()")
    assert notes["generators"]["random"]["known_before"] is False
    random.seed()
    assert state.refusal(notes) is None


def test_options_paths_environment_cwd_and_filters_are_re_applied(tmp_path):
    before = state.snapshot()
    sys.path.insert(0, str(tmp_path))
    os.environ["FLOWYML_TEST_STATE"] = "on"
    os.chdir(tmp_path)
    warnings.filterwarnings("ignore", message="flowyml-test")
    notes = state.record(before, "")
    assert set(notes["changed"]) >= {"sys.path", "os.environ", "cwd", "warnings.filters"}
    sys.path.remove(str(tmp_path))
    del os.environ["FLOWYML_TEST_STATE"]
    os.chdir("/")
    warnings.filters.pop(0)
    assert state.replay(notes) == []
    assert sys.path[0] == str(tmp_path) and os.environ["FLOWYML_TEST_STATE"] == "on"
    assert os.getcwd() == str(tmp_path) and warnings.filters[0][1].pattern == "flowyml-test"


def test_the_registry_is_open():
    box = {"value": 1}
    sys.modules["_flowyml_test_box"] = type(sys)("_flowyml_test_box")
    try:
        state.register(state.StateItem(
            "box", "_flowyml_test_box", lambda m: box["value"],
            lambda a, b: None if a == b else b, lambda m, v: box.__setitem__("value", v)))
        before = state.snapshot()
        box["value"] = 5
        notes = state.record(before, "")
        box["value"] = 1
        state.replay(notes)
        assert box["value"] == 5
    finally:
        state._REGISTRY[:] = [i for i in state._REGISTRY if i.name != "box"]
        del sys.modules["_flowyml_test_box"]


def test_a_pipeline_step_that_seeds_is_replayed_on_a_hit(tmp_path):
    @flowyml.step(outputs=["ready"], register=False)
    def seed_it():
        random.seed(3)
        return True

    @flowyml.step(inputs=["ready"], outputs=["x"], register=False)
    def draw(ready):
        return random.random()

    def run():
        pipe = flowyml.Pipeline("seeded", cache_dir=str(tmp_path / "cache"))
        pipe.add_steps([seed_it, draw])
        return pipe.run()

    first = run()
    after_first = random.random()
    random.seed()  # as in a new process
    state._determined.clear()
    second = run()
    assert second["x"] == first["x"]
    assert random.random() == after_first  # the generator continues as plain Python's


def test_a_chdir_is_replayed_relative_to_where_the_step_started(tmp_path):
    for root in ("alice", "bob"):
        (tmp_path / root / "data").mkdir(parents=True)
    os.chdir(tmp_path / "alice")
    before = state.snapshot()
    os.chdir("data")
    notes = state.record(before, "")
    os.chdir(tmp_path / "bob")  # the same project elsewhere (another machine, a shared cache)
    assert state.replay(notes) == []
    assert os.getcwd() == str(tmp_path / "bob" / "data")
    os.chdir(tmp_path / "alice")
    assert state.replay(notes) == [] and os.getcwd() == str(tmp_path / "alice" / "data")

