"""%%step and %flowyml through a real InteractiveShell (run_cell / run_cell_magic)."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from IPython.core.error import UsageError

import flowyml
from flowyml.core.step import global_registry
from tests.jupyter.conftest import step_cell

SETUP = """
calls = []
def tick(tag):
    calls.append(tag)
n = 4
def helper(x):
    return x * 2
"""


def _setup(ip):
    ip.run_cell(SETUP)


def _calls(ip):
    return list(ip.user_ns["calls"])


def _pipeline_cells(ip):
    _setup(ip)
    assert step_cell(ip, "", "tick('a')\nxs = [helper(i) for i in range(n)]", cell_id="c1").success
    assert step_cell(ip, "", "tick('b')\ntotal = sum(xs)", cell_id="c2").success
    assert step_cell(ip, "", "tick('c')\nreport = f'total={total}'", cell_id="c3").success


# -- hit / miss ---------------------------------------------------------------------------------


def test_miss_runs_body_then_rerun_is_hit(ip, session, capsys):
    _setup(ip)
    res = step_cell(ip, "", "tick('a')\nprint('computing')\nxs = [helper(i) for i in range(n)]")
    assert res.success
    assert _calls(ip) == ["a"]
    assert ip.user_ns["xs"] == [0, 2, 4, 6]
    assert "computing" in capsys.readouterr().out
    assert session.steps["xs"].state == "done"

    ip.user_ns["xs"] = None
    res = step_cell(ip, "", "tick('a')\nprint('computing')\nxs = [helper(i) for i in range(n)]")
    assert res.success
    assert _calls(ip) == ["a"], "a cache hit must not execute the body"
    assert ip.user_ns["xs"] == [0, 2, 4, 6]
    assert session.steps["xs"].state == "cached"
    assert "computing" in capsys.readouterr().out, "a hit replays what the cell printed"


def test_formatting_and_comments_do_not_change_the_key(ip, session):
    _setup(ip)
    step_cell(ip, "", "tick('a')\nxs = [helper(i) for i in range(n)]")
    step_cell(ip, "", "# a comment\ntick( 'a' )\nxs = [ helper(i)  for i in range(n) ]  # why")
    assert _calls(ip) == ["a"]
    assert session.steps["xs"].state == "cached"


def test_input_value_is_part_of_the_key(ip, session):
    _setup(ip)
    step_cell(ip, "", "tick('a')\nxs = list(range(n))")
    ip.run_cell("n = 5")
    step_cell(ip, "", "tick('a')\nxs = list(range(n))")
    assert _calls(ip) == ["a", "a"]
    assert ip.user_ns["xs"] == [0, 1, 2, 3, 4]
    ip.run_cell("n = 4")
    step_cell(ip, "", "tick('a')\nxs = list(range(n))")
    assert _calls(ip) == ["a", "a"], "back to n=4: the first result comes from the cache"
    assert ip.user_ns["xs"] == [0, 1, 2, 3]


def test_notebook_key_equals_pipeline_key(ip, session, tmp_path):
    """The exported module's steps compute the same keys: a Pipeline run is all hits."""
    _pipeline_cells(ip)
    steps = [session.steps[name].step for name in ("xs", "total", "report")]
    pipe = flowyml.Pipeline("nb", context={"n": 4}, cache_dir=session.store.root)
    pipe.add_steps(steps)
    result = pipe.run()
    assert result.success
    assert {name: r.state for name, r in result.step_results.items()} == {
        "xs": "cached", "total": "cached", "report": "cached"}
    assert result["report"] == "total=12"
    rec = session.steps["xs"]
    assert rec.step.get_cache_key(context_params={"n": 4}) == rec.cache_key


def test_restart_and_rerun_is_all_hits(ip, session):
    _pipeline_cells(ip)
    assert _calls(ip) == ["a", "b", "c"]
    ip.restart()
    _pipeline_cells(ip)
    assert _calls(ip) == [], "after a restart every unchanged step cell is a cache hit"
    assert ip.user_ns["report"] == "total=12"
    new_session = flowyml_jupyter_session(ip)
    assert {r.name: r.state for r in new_session.status()} == {
        "xs": "cached", "total": "cached", "report": "cached"}


def flowyml_jupyter_session(ip):
    import flowyml_jupyter

    return flowyml_jupyter._LOADED[id(ip)].session


def test_no_cache_always_runs(ip):
    _setup(ip)
    step_cell(ip, "--no-cache", "tick('a')\nxs = [1]")
    step_cell(ip, "--no-cache", "tick('a')\nxs = [1]")
    assert _calls(ip) == ["a", "a"]


# -- inference and declarations -----------------------------------------------------------------


def test_inference_of_inputs_outputs_and_name(ip, session):
    ip.run_cell("import math\nscale = 3\ndef sq(v):\n    return v * v")
    step_cell(ip, "", "_tmp = sq(scale)\narea = math.pi * _tmp\nlabel = 'circle'")
    rec = session.steps["area"]
    assert rec.params == ["scale"], "modules and functions are code, not inputs"
    assert rec.outputs == ["area", "label"], "private _names are temporaries"
    assert rec.name == "area"
    assert isinstance(global_registry.get("area"), flowyml.Step)
    assert global_registry.get("area").origin == ("__notebook__", "area")


def test_declared_lists_win(ip, session):
    ip.run_cell("a = 1\nb = 2")
    step_cell(ip, "summed -i a -o s", "s = a + b\nextra = 1")
    rec = session.steps["summed"]
    assert rec.params == ["a"] and rec.outputs == ["s"]
    assert ip.user_ns["s"] == 3


def test_declared_output_never_assigned_is_an_error(ip):
    ip.run_cell("a = 1")
    with pytest.raises(UsageError, match="'missing'"):
        ip.run_cell_magic("step", "-o s,missing", "s = a + 1")
    assert "s" not in ip.user_ns and "s" not in global_registry


def test_undefined_name_is_an_error_naming_it(ip):
    ip.run_cell("values = [1, 2]")
    with pytest.raises(UsageError, match="valuez") as info:
        ip.run_cell_magic("step", "", "total = sum(valuez)")
    assert "values" in str(info.value), "the error suggests the close name"


@pytest.mark.parametrize("line, message", [
    ("--retries -1", "--retries"),
    ("--timeout 0", "--timeout"),
    ("--cache sometimes", "invalid choice"),
    ("--cache code_hash --no-cache", "contradict"),
    ("bad-name", "identifier"),
    ("--condition 'x ==='", "--condition"),
    ("--bogus 1", "unrecognized"),
    ("--tags novalue", "key=value"),
    ("-o 'x,,1y'", "identifiers"),
])
def test_bad_options_raise_usage_error_and_change_nothing(ip, line, message):
    ip.run_cell("a = 1")
    before = len(global_registry)
    with pytest.raises(UsageError, match=message):
        ip.run_cell_magic("step", line, "x = a + 1")
    assert len(global_registry) == before
    assert "x" not in ip.user_ns


def test_step_help_lists_every_option(ip):
    doc = ip.magics_manager.magics["cell"]["step"].__doc__
    for flag in ("--inputs", "--outputs", "--cache", "--no-cache", "--retries", "--timeout",
                 "--tags", "--resources", "--pipeline", "--group", "--condition",
                 "--description"):
        assert flag in doc


def test_options_reach_the_step(ip, session):
    ip.run_cell("a = 1")
    step_cell(ip, "plus --retries 2 --timeout 5 --tags team=ds stage=prep --resources cpu=2 "
              "--pipeline demo --group g1 --description 'adds one' --cache input_hash",
              "b = a + 1")
    step = session.steps["plus"].step
    assert (step.retry, step.timeout, step.execution_group, step.description) == (
        2, 5.0, "g1", "adds one")
    assert step.tags == {"team": "ds", "stage": "prep", "pipeline": "demo"}
    assert step.cache == "input_hash"
    assert step.resource_requirements is not None


def test_failing_cell_reports_error_and_is_not_cached(ip, session):
    _setup(ip)
    res = step_cell(ip, "", "tick('x')\nboom = 1 / 0")
    assert not res.success
    assert session.steps["boom"].state == "failed"
    assert "ZeroDivisionError" in session.steps["boom"].error
    step_cell(ip, "", "tick('x')\nboom = 1 / 0")
    assert _calls(ip) == ["x", "x"]


def test_retries_rerun_the_body(ip, session):
    ip.run_cell("attempts = []\ndef flaky():\n    attempts.append(1)\n"
                "    if len(attempts) < 3:\n        raise RuntimeError('flaky')\n    return 7")
    res = step_cell(ip, "--retries 2", "value = flaky()")
    assert res.success
    assert ip.user_ns["value"] == 7
    assert session.steps["value"].attempts == 3


def test_condition_false_skips(ip, session):
    _setup(ip)
    ip.run_cell("enabled = False")
    res = step_cell(ip, "--condition 'enabled and n > 2'", "tick('s')\nmaybe = 1")
    assert res.success
    assert _calls(ip) == []
    assert session.steps["maybe"].state == "skipped"
    ip.run_cell("enabled = True")
    step_cell(ip, "--condition 'enabled and n > 2'", "tick('s')\nmaybe = 1")
    assert _calls(ip) == ["s"] and session.steps["maybe"].state == "done"


def test_context_values_are_injected_and_keyed(ip, session):
    _setup(ip)
    ip.run_line_magic("flowyml", "context threshold=0.5 label=hello")
    assert session.context == {"threshold": 0.5, "label": "hello"}
    step_cell(ip, "", "tick('t')\nflag = threshold > 0.2")
    assert ip.user_ns["flag"] is True
    ip.run_line_magic("flowyml", "context threshold=0.1")
    step_cell(ip, "", "tick('t')\nflag = threshold > 0.2")
    assert ip.user_ns["flag"] is False
    assert _calls(ip) == ["t", "t"]


# -- timeouts and interrupts --------------------------------------------------------------------


def test_timeout_stops_the_body_and_leaves_shell_usable(ip, session):
    _setup(ip)
    res = step_cell(ip, "--timeout 0.3", "import time\ntick('slow')\ntime.sleep(30)\nslow = 1")
    assert not res.success
    rec = session.steps["slow"]
    assert rec.state == "timed_out"
    assert session.store.info().get("slow") is None, "nothing stored for a timed-out step"
    assert ip.run_cell("after = 1 + 1").success and ip.user_ns["after"] == 2
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_timeout_is_retried(ip, session):
    ip.run_cell("import time\ntries = []")
    res = step_cell(ip, "--timeout 0.3 --retries 1",
                    "tries.append(1)\nif len(tries) < 2:\n    time.sleep(30)\nquick = len(tries)")
    assert res.success
    assert ip.user_ns["quick"] == 2
    assert session.steps["quick"].attempts == 2


def test_interrupt_leaves_shell_usable_and_cache_clean(ip, session):
    _setup(ip)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        res = step_cell(ip, "", "import time\ntick('i')\ntime.sleep(30)\nstopped = 1")
    finally:
        timer.cancel()
    assert not res.success
    assert session.steps["stopped"].state == "interrupted"
    assert session.store.info().get("stopped") is None
    res = step_cell(ip, "", "import time\ntick('i')\nstopped = 2")
    assert res.success and ip.user_ns["stopped"] == 2
    assert _calls(ip) == ["i", "i"]


# -- staleness ----------------------------------------------------------------------------------


def _states(session):
    return {r.name: (r.state, r.why) for r in session.status()}


def test_fresh_after_running(ip, session):
    _pipeline_cells(ip)
    assert {k: v[0] for k, v in _states(session).items()} == {
        "xs": "done", "total": "done", "report": "done"}


def test_changed_variable_makes_step_and_descendants_stale(ip, session):
    _pipeline_cells(ip)
    ip.run_cell("n = 6")
    states = _states(session)
    assert states["xs"][0] == "stale" and "input 'n' changed" in states["xs"][1]
    assert "code" not in states["xs"][1]
    assert states["total"][0] == "stale" and "upstream step 'xs' is stale" in states["total"][1]
    assert states["report"][0] == "stale"


def test_edited_helper_is_a_code_change(ip, session):
    _pipeline_cells(ip)
    ip.run_cell("def helper(x):\n    return x * 3")
    states = _states(session)
    assert states["xs"][0] == "stale" and "code changed" in states["xs"][1]
    assert "upstream step 'xs'" in states["total"][1]


def test_plain_step_cells_re_run_replace_and_two_lambdas_in_one_cell_clash(ip):
    cell = "from flowyml import step\n@step\ndef load():\n    return 1\nlam = step(name='lam')(lambda: 1)\n"
    assert ip.run_cell(cell).success
    assert ip.run_cell(cell).success  # the same cell again
    assert ip.run_cell("# edited\n" + cell.replace("1", "2")).success
    assert global_registry.get_by_name("load") is ip.user_ns["load"]
    assert global_registry.get_by_name("lam")() == 2
    clash = ip.run_cell("a = step(name='two')(lambda: 1)\nb = step(name='two')(lambda: 2)\n")
    assert isinstance(clash.error_in_exec, ValueError) and "'two' is already registered" in str(clash.error_in_exec)


def test_rerun_edited_cell_marks_descendants_stale_with_upstream_reason(ip, session):
    _pipeline_cells(ip)
    step_cell(ip, "", "tick('a')\nxs = [helper(i) + 1 for i in range(n)]", cell_id="c1")  # edited
    states = _states(session)
    assert states["xs"][0] == "done"
    assert states["total"][0] == "stale"
    assert "upstream step 'xs' produced a different 'xs'" in states["total"][1]
    assert "upstream step 'total' is stale" in states["report"][1]


def test_rerun_with_same_result_keeps_descendants_fresh(ip, session):
    _pipeline_cells(ip)
    step_cell(ip, "", "tick('a')\nxs = [2 * i for i in range(n)]", cell_id="c1")  # same values
    assert {k: v[0] for k, v in _states(session).items()} == {
        "xs": "done", "total": "done", "report": "done"}


def test_variable_overwritten_outside_its_step(ip, session):
    _pipeline_cells(ip)
    ip.run_cell("xs = [100]")
    states = _states(session)
    assert states["xs"][0] == "done"
    assert "'xs' was changed outside its step 'xs'" in states["total"][1]


def test_status_magic_prints_a_table(ip, capsys):
    _pipeline_cells(ip)
    ip.run_cell("n = 5")
    capsys.readouterr()
    ip.run_line_magic("flowyml", "status")
    out = capsys.readouterr().out
    assert "xs" in out and "stale" in out and "input 'n' changed" in out


# -- %flowyml run -------------------------------------------------------------------------------


def test_run_touches_only_stale_steps(ip, session, capsys):
    _setup(ip)
    step_cell(ip, "", "tick('a')\nxs = list(range(n))")
    step_cell(ip, "", "tick('b')\ntotal = sum(xs)")
    step_cell(ip, "", "tick('u')\nunrelated = 'x' * 3")
    ip.user_ns["calls"].clear()
    ip.run_cell("n = 10")
    capsys.readouterr()
    ip.run_line_magic("flowyml", "run")
    assert _calls(ip) == ["a", "b"], "the fresh step 'unrelated' is not touched"
    assert ip.user_ns["total"] == 45
    out = capsys.readouterr().out
    assert "ran xs, total" in out and "unrelated" in out
    assert {k: v[0] for k, v in _states(session).items()} == {
        "xs": "done", "total": "done", "unrelated": "done"}
    ip.run_line_magic("flowyml", "run")
    assert _calls(ip) == ["a", "b"]
    assert "nothing to run" in capsys.readouterr().out


def test_run_target_runs_only_what_it_needs(ip, session):
    _setup(ip)
    step_cell(ip, "", "tick('a')\nxs = list(range(n))")
    step_cell(ip, "", "tick('b')\ntotal = sum(xs)")
    step_cell(ip, "", "tick('m')\nbiggest = max(xs)")
    ip.user_ns["calls"].clear()
    ip.run_cell("n = 3")
    ip.run_line_magic("flowyml", "run total")
    assert _calls(ip) == ["a", "b"]
    assert _states(session)["biggest"][0] == "stale"
    ip.run_line_magic("flowyml", "run --all")
    assert _calls(ip) == ["a", "b", "m"]


def test_run_uses_cache_for_previously_seen_inputs(ip, session):
    _setup(ip)
    step_cell(ip, "", "tick('a')\nxs = list(range(n))")
    ip.run_cell("n = 8")
    ip.run_line_magic("flowyml", "run")
    ip.run_cell("n = 4")
    ip.run_line_magic("flowyml", "run")
    assert _calls(ip) == ["a", "a"]
    assert session.steps["xs"].state == "cached" and ip.user_ns["xs"] == [0, 1, 2, 3]


def test_run_with_threads_executor(ip, session):
    _setup(ip)
    step_cell(ip, "", "left = n + 1")
    step_cell(ip, "", "right = n + 2")
    step_cell(ip, "", "both = left * right")
    ip.run_cell("n = 1")
    ip.run_line_magic("flowyml", "run --executor threads")
    assert ip.user_ns["both"] == 6
    assert all(r.state == "done" for r in session.status())


def test_run_unknown_step_is_usage_error(ip):
    with pytest.raises(UsageError, match="nope"):
        ip.run_line_magic("flowyml", "run nope")


# -- other commands, loading --------------------------------------------------------------------


def test_cache_info_and_clear(ip, session, capsys):
    _pipeline_cells(ip)
    capsys.readouterr()
    ip.run_line_magic("flowyml", "cache info")
    out = capsys.readouterr().out
    assert "xs" in out and "total" in out
    ip.run_line_magic("flowyml", "cache clear xs")
    assert "removed 1" in capsys.readouterr().out
    assert set(session.store.info()) == {"total", "report"}
    ip.run_line_magic("flowyml", "cache clear")
    assert session.store.info() == {}


def test_bad_flowyml_commands(ip):
    with pytest.raises(UsageError):
        ip.run_line_magic("flowyml", "")
    with pytest.raises(UsageError):
        ip.run_line_magic("flowyml", "frobnicate")
    with pytest.raises(UsageError, match="name=value"):
        ip.run_line_magic("flowyml", "context novalue")


def test_load_twice_is_harmless_and_unload_removes_everything(ip):
    from flowyml.events import bus

    listeners = len(bus._listeners)
    ip.run_line_magic("load_ext", "flowyml")
    flowyml.load_ipython_extension(ip)
    assert len(bus._listeners) == listeners
    flowyml.unload_ipython_extension(ip)
    assert "step" not in ip.magics_manager.magics["cell"]
    assert "flowyml" not in ip.magics_manager.magics["line"]
    assert len(bus._listeners) == listeners - 1
    flowyml.load_ipython_extension(ip)
    assert "step" in ip.magics_manager.magics["cell"]


def test_status_widget_follows_the_step(ip):
    import flowyml_jupyter

    magics = flowyml_jupyter._LOADED[id(ip)]
    _setup(ip)
    step_cell(ip, "", "xs = [1, 2]")
    widget = magics._status_widgets["xs"]
    assert widget.state == "done"
    step_cell(ip, "", "xs = [1, 2]")
    widget = magics._status_widgets["xs"]
    assert widget.state == "cached"
    assert "cached" in widget.static_text()
