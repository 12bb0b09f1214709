"""The wave's rules (flowyml.notebook.reactive), as a table of cases over a fake step runner."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from flowyml.notebook import reactive
from flowyml.notebook.staleness import FRESH, STALE, Verdict
from flowyml.notebook.stepcells import StepRunError

ORDER = ["a", "b", "c", "d", "e"]


def verdicts(**states: str) -> dict[str, Verdict]:
    return {n: Verdict(n, states.get(n, FRESH)) for n in ORDER}


@pytest.mark.parametrize(("trigger", "downstream", "stale", "plan"), [
    ("a", {"b", "c", "d"}, {"b", "c", "d"}, ["b", "c", "d"]),
    ("a", {"b", "c", "d"}, {"c"}, ["c"]),                     # fresh descendants stay
    ("a", {"b", "c"}, {"b", "c", "e"}, ["b", "c"]),           # stale non-descendants stay
    ("a", {"a", "b"}, {"a", "b"}, ["b"]),                     # never the trigger
    ("c", set(), {"d", "e"}, []),
])
def test_plan_downstream(trigger, downstream, stale, plan):
    v = verdicts(**dict.fromkeys(stale, STALE))
    assert reactive.plan_downstream(trigger, ORDER, downstream, v) == plan


def test_plan_upto_runs_stale_ancestors_then_the_target_even_when_fresh():
    v = verdicts(a=STALE, c=STALE)
    assert reactive.plan_upto("d", ORDER, {"a", "b", "c"}, v) == ["a", "c", "d"]
    assert reactive.plan_upto("b", ORDER, {"a"}, verdicts()) == ["b"]


def runner(outcomes: dict[str, object], ran: list[str]):
    def run(name: str):
        ran.append(name)
        outcome = outcomes.get(name, "done")
        if isinstance(outcome, BaseException):
            raise outcome
        return SimpleNamespace(state=outcome, duration=0.1, time_saved=None, error=None)
    return run


def wave(*names: str, **kw) -> reactive.Wave:
    return reactive.Wave([reactive.WaveItem(n) for n in names], **kw)


def test_every_step_once_in_order():
    ran: list[str] = []
    w = reactive.run_wave(wave("b", "c", "d", trigger="a"), runner({"c": "cached"}, ran))
    assert ran == ["b", "c", "d"]
    assert [i.state for i in w.items] == ["done", "cached", "done"]
    assert w.stopped_at is None
    assert "after 'a', 3 stale step(s): 2 done, 1 cached" in w.headline()


@pytest.mark.parametrize("state", ["failed", "timed_out", "pending"])
def test_first_failure_stops_the_wave_and_says_where(state):
    ran: list[str] = []
    error = StepRunError("c", state, f"step 'c' {state}: ValueError: bad")
    w = reactive.run_wave(wave("b", "c", "d", "e", trigger="a"), runner({"c": error}, ran))
    assert ran == ["b", "c"]
    assert [i.state for i in w.items] == ["done", state, "stale", "stale"]
    assert w.stopped_at == "c" and w.item("c").error == "ValueError: bad"
    said = {"failed": "failed", "timed_out": "timed out", "pending": "could not get its inputs"}
    assert f"stopped at 'c', which {said[state]}" in w.summary()
    assert "d: stale (not run: the wave stopped before it)" in w.summary()


def test_an_interrupt_stops_after_the_current_step():
    for error in (StepRunError("c", "interrupted", "step 'c' interrupted: interrupted"),
                  KeyboardInterrupt()):
        ran: list[str] = []
        w = reactive.run_wave(wave("b", "c", "d", trigger="a"), runner({"c": error}, ran))
        assert ran == ["b", "c"]
        assert [i.state for i in w.items] == ["done", "interrupted", "stale"]
        assert "which was interrupted" in w.headline()


def test_a_step_whose_inputs_came_out_unchanged_is_not_run():
    ran: list[str] = []
    seen: list[dict] = []

    def still_stale(name, known):
        seen.append(dict(known))
        return Verdict(name, FRESH if name == "c" else STALE)

    w = reactive.run_wave(wave("b", "c", "d", trigger="a"), runner({}, ran), still_stale,
                          verdicts(b=STALE, c=STALE, d=STALE))
    assert ran == ["b", "d"]
    assert w.item("c").state == "unchanged"
    assert seen[1]["b"].state == FRESH  # what the wave ran counts as fresh for the next


def test_the_upto_target_always_runs_and_changes_are_reported_live():
    ran: list[str] = []
    events: list[tuple[str, str]] = []
    reactive.run_wave(wave("a", "d", target="d"), runner({}, ran),
                      lambda n, k: Verdict(n, FRESH), verdicts(),
                      lambda w, item: events.append((item.step, item.state)))
    assert ran == ["d"]
    assert events == [("a", "unchanged"), ("d", "running"), ("d", "done")]


def test_an_interrupt_while_checking_a_step_stops_the_wave_there():
    ran: list[str] = []

    def still_stale(name, known):
        if name == "c":
            raise KeyboardInterrupt
        return Verdict(name, STALE)

    w = reactive.run_wave(wave("b", "c", "d", trigger="a"), runner({}, ran), still_stale)
    assert ran == ["b"]
    assert [i.state for i in w.items] == ["done", "interrupted", "stale"]
