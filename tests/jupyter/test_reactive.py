"""Reactive mode through a real IPython shell: ``%flowyml auto``, waves, ``run --upto``.

An in-process shell has no front end to update other cells in, so every wave step's
outputs are shown in the summary under the cell that started the wave (the kernel tests in
test_reactive_kernel.py check the areas under each step's own cell).
"""

from __future__ import annotations

import pytest
from IPython.core.error import UsageError

from tests.jupyter.conftest import step_cell

CELLS = [
    ("a", "x = 1"),
    ("b", "y = x + 1\nprint('y is', y)"),
    ("c", "z = y * 2\nprint('z is', z)"),
    ("d", "w = x * 10\nw"),
]


def run_all(ip):
    for name, body in CELLS:
        assert step_cell(ip, name, body).success


def test_off_by_default_nothing_reruns(ip, session, capsys):
    run_all(ip)
    step_cell(ip, "a", "x = 2")
    assert (ip.user_ns["y"], ip.user_ns["z"]) == (2, 4)
    assert "flowyml auto" not in capsys.readouterr().out
    assert {r.name: r.state for r in session.status()}["b"] == "stale"


def test_an_upstream_edit_reruns_the_stale_descendants_in_dag_order(ip, session, capsys):
    ip.run_line_magic("flowyml", "auto on")
    run_all(ip)
    capsys.readouterr()
    runs = {n: session.steps[n].runs for n in "abcd"}
    step_cell(ip, "a", "x = 2")
    out = capsys.readouterr().out
    assert (ip.user_ns["y"], ip.user_ns["z"], ip.user_ns["w"]) == (3, 6, 20)
    summary = out[out.index("flowyml auto: after 'a'"):]
    assert summary.index("b: done") < summary.index("c: done") < summary.index("d: done")
    assert "y is 3" in summary and "z is 6" in summary and "20" in summary
    # the trigger ran once (its own cell), each descendant once
    assert {n: session.steps[n].runs - runs[n] for n in "abcd"} == dict.fromkeys("abcd", 1)
    assert all(r.state in ("done", "cached") for r in session.status())


def test_going_back_is_a_wave_of_cache_hits(ip, session, capsys):
    ip.run_line_magic("flowyml", "config auto=on")
    run_all(ip)
    step_cell(ip, "a", "x = 2")
    capsys.readouterr()
    step_cell(ip, "a", "x = 1")
    out = capsys.readouterr().out
    assert "3 stale step(s): 3 cached" in out
    assert "y is 2" in out  # what the cached step showed, replayed
    assert (ip.user_ns["y"], ip.user_ns["z"], ip.user_ns["w"]) == (2, 4, 10)


def test_a_step_whose_input_came_out_the_same_is_not_run(ip, session, capsys):
    ip.run_line_magic("flowyml", "auto on")
    step_cell(ip, "a", "x = 1")
    step_cell(ip, "parity", "odd = x % 2")
    step_cell(ip, "label", "text = 'odd' if odd else 'even'\nprint(text)")
    runs = session.steps["label"].runs
    capsys.readouterr()
    step_cell(ip, "a", "x = 3")
    out = capsys.readouterr().out
    assert "parity: done" in out and "label: unchanged" in out
    assert session.steps["label"].runs == runs


def test_the_first_failure_stops_the_wave_and_says_where(ip, session, capsys):
    ip.run_line_magic("flowyml", "auto on")
    step_cell(ip, "a", "x = 1")
    step_cell(ip, "b", "y = 10 / (x - 3)")
    step_cell(ip, "c", "z = y * 2")
    capsys.readouterr()
    result = step_cell(ip, "a", "x = 3")
    out = capsys.readouterr().out
    assert result.success  # the edited cell itself ran fine
    assert "stopped at 'b', which failed" in out
    assert "b: failed: ZeroDivisionError: division by zero" in out
    assert "c: stale (not run: the wave stopped before it)" in out
    assert "Traceback" in out or "ZeroDivisionError" in out
    states = {r.name: r.state for r in session.status()}
    assert states["c"] == "stale" and states["b"] != "done"
    assert ip.user_ns["z"] == -10.0  # c kept what it made


def test_no_wave_after_a_failed_cell_or_inside_a_wave(ip, session, capsys):
    ip.run_line_magic("flowyml", "auto on")
    run_all(ip)
    capsys.readouterr()
    assert not step_cell(ip, "a", "x = 1 / 0").success
    assert "flowyml auto: after" not in capsys.readouterr().out
    assert ip.user_ns["y"] == 2


def test_run_upto_runs_what_a_step_needs_then_the_step(ip, session, capsys):
    run_all(ip)  # auto is off
    step_cell(ip, "a", "x = 5")
    capsys.readouterr()
    ip.run_line_magic("flowyml", "run --upto c")
    out = capsys.readouterr().out
    assert "flowyml run --upto c: 2 step(s)" in out
    assert out.index("b: done") < out.index("c: done")
    assert (ip.user_ns["y"], ip.user_ns["z"]) == (6, 12)
    assert ip.user_ns["w"] == 10  # not needed by c: left alone (stale)
    assert {r.name: r.state for r in session.status()}["d"] == "stale"
    with pytest.raises(UsageError, match="no notebook step named 'nope'"):
        ip.run_line_magic("flowyml", "run --upto nope")


def test_auto_switch_and_bad_values(ip, capsys):
    ip.run_line_magic("flowyml", "auto")
    assert "flowyml auto: off" in capsys.readouterr().out
    ip.run_line_magic("flowyml", "auto on")
    assert "flowyml auto: on" in capsys.readouterr().out
    ip.run_line_magic("flowyml", "config auto=off")
    assert "auto=off" in capsys.readouterr().out
    with pytest.raises(UsageError, match="takes on or off; got 'maybe'"):
        ip.run_line_magic("flowyml", "config auto=maybe")
    with pytest.raises(UsageError):
        ip.run_line_magic("flowyml", "auto sometimes")
