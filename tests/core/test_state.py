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
    monkeypatch.setattr(state, "_drawn_from", {})
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
    state._drawn_from.clear()  # another process (a kernel restarted): any state will do
    assert state.refusal(notes) is None


def test_an_unseeded_draw_already_shown_in_this_process_is_not_shown_again():
    """The same unseeded cell run twice (or two cells ``random.randint(0, 100)``): the
    entry's numbers were drawn here already, so a hit would repeat them; from the state it
    started in (nothing drawn since) it may still hit."""
    random.seed()
    before = state.snapshot()
    random.random()
    notes = state.record(before, "x = random.random()")
    assert "not seeded" in state.refusal(notes)
    random.setstate(before["random"])
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


@pytest.fixture
def box():
    """A registered item of process state: ``box["value"]``, in a module of its own."""
    box = {"value": 1}
    sys.modules["_flowyml_test_box"] = type(sys)("_flowyml_test_box")
    state.register(state.StateItem(
        "box", "_flowyml_test_box", lambda m: box["value"],
        lambda a, b: None if a == b else b, lambda m, v: box.__setitem__("value", v)))
    yield box
    state._REGISTRY[:] = [i for i in state._REGISTRY if i.name != "box"]
    del sys.modules["_flowyml_test_box"]


def test_the_registry_is_open(box):
    before = state.snapshot()
    box["value"] = 5
    notes = state.record(before, "")
    box["value"] = 1
    state.replay(notes)
    assert box["value"] == 5


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



def test_ambient_settings_a_step_started_from_are_checked_but_not_those_it_sets():
    pd = pytest.importorskip("pandas")
    try:
        before = state.snapshot()
        notes = state.record(before, "print(df)", shown=True)
        assert "pandas' display options" in notes["started"]
        assert state.refusal(notes) is None
        pd.set_option("display.precision", 3)  # a plain cell changes a display option
        assert "pandas' display options are not what they were" in state.refusal(notes)
        pd.reset_option("display.precision")
        assert state.refusal(notes) is None
        quiet = state.record(state.snapshot(), "m = df.mean()")  # shows nothing
        pd.set_option("display.precision", 3)
        assert state.refusal(quiet) is None
        # a step that sets the option itself started from it, whatever it was
        before = state.snapshot()
        pd.set_option("display.precision", 4)
        own = state.record(before, "pd.set_option('display.precision', 4); print(df)", shown=True)
        assert state.refusal(own) is None
        assert own["started"]["pandas' display options"][1] == ["display.precision"]
    finally:
        pd.reset_option("display.precision")


def test_a_function_set_as_an_option_is_stored_and_re_applied():
    pd = pytest.importorskip("pandas")
    try:
        before = state.snapshot()
        pd.set_option("display.float_format", lambda v: f"<{v:.1f}>")
        notes = state.record(before, "")
        assert "unstored" not in notes and "pandas.options" in notes["changed"]
        pd.reset_option("display.float_format")
        assert state.replay(notes) == []
        assert pd.get_option("display.float_format")(2.25) == "<2.2>"
    finally:
        pd.reset_option("display.float_format")


def test_a_change_that_cannot_be_stored_is_never_a_hit(box):
    before = state.snapshot()
    box["value"] = (x for x in ())  # a generator: not picklable, not even by value
    notes = state.record(before, "")
    assert notes["unstored"] == ["box"]
    assert "it changes box in a way that cannot be stored" in state.refusal(notes)


def test_a_pipeline_step_depending_on_a_pandas_option_reruns_when_it_changes(tmp_path):
    pd = pytest.importorskip("pandas")

    @flowyml.step(outputs=["total"], register=False)
    def total():
        return float(pd.Series([1.0, 2.0]).sum())

    def run():
        pipe = flowyml.Pipeline("ambient", cache_dir=str(tmp_path / "cache"))
        pipe.add_steps([total])
        return pipe.run()

    flag = pd.get_option("compute.use_bottleneck")
    try:
        run()
        assert run().step_results["total"].cached
        pd.set_option("compute.use_bottleneck", not flag)
        again = run().step_results["total"]
        assert not again.cached and "pandas' options are not what they were" in again.rerun_reason
    finally:
        pd.set_option("compute.use_bottleneck", flag)


def test_settings_read_from_remembered_places_follow_changes_and_new_options():
    """pandas' options are read through the places worked out once (its nested config),
    and the digest of settings is remembered while they stay equal: a changed option, a
    reset one and an option registered later must all be seen."""
    pd = pytest.importorskip("pandas")
    from pandas._config import config

    try:
        first = state.record(state.snapshot(), "print(df)", shown=True)[
            "started"]["pandas' display options"][0]
        pd.set_option("display.precision", 2)
        moved = state.record(state.snapshot(), "print(df)", shown=True)["started"]
        assert moved["pandas' display options"][0] != first
        pd.reset_option("display.precision")
        again = state.record(state.snapshot(), "print(df)", shown=True)["started"]
        assert again["pandas' display options"][0] == first
        config.register_option("flowyml_test_flag", False)
        assert "flowyml_test_flag" in state.snapshot()["pandas.options"]
        quiet = state.record(state.snapshot(), "m = df.mean()")
        assert state.refusal(quiet) is None
        pd.set_option("flowyml_test_flag", True)  # a plain cell sets the new option
        assert state.snapshot()["pandas.options"]["flowyml_test_flag"] is True
        assert "pandas' options are not what they were" in (state.refusal(quiet) or "")
    finally:
        pd.reset_option("display.precision")
        config._registered_options.pop("flowyml_test_flag", None)
        config._global_config.pop("flowyml_test_flag", None)
