"""Step status and DAG widgets, driven without a browser through a recording comm.

ipywidgets 8.1 opens every widget's comm with ``comm.create_comm(...)`` (via
``ipywidgets.comm``); patching that function records what a front end would receive, as
ipywidgets' own ``tests/utils.py`` does.
"""

from __future__ import annotations

import shutil
import threading
import uuid

import comm
import networkx as nx
import pytest
import traitlets
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from flowyml import render
from flowyml.events import RunFinished, RunStarted, StepFinished, StepRetrying, StepStarted
from flowyml_jupyter import widgets
from flowyml_jupyter.kernels import LocalKernelManager
from flowyml_jupyter.widgets import DagWidget, StepStatusWidget

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
ALL_STATES = list(render.STATE_COLORS)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` not installed")


class RecordingComm:
    """Stands in for a kernel comm: remembers the opening state and every message sent."""

    kernel = "a kernel"

    def __init__(self, **kwargs):
        self.comm_id = kwargs.get("comm_id") or uuid.uuid4().hex
        self.open_data = kwargs.get("data")
        self.messages: list[dict] = []
        self.threads: list[str] = []

    def send(self, data=None, metadata=None, buffers=None):
        self.messages.append(data)
        self.threads.append(threading.current_thread().name)

    def on_msg(self, callback):
        pass

    def open(self, *args, **kwargs):
        pass

    def close(self, *args, **kwargs):
        pass

    def updates(self, key: str) -> list:
        """Values sent for state ``key``, in order."""
        return [m["state"][key] for m in self.messages if m.get("method") == "update"
                and key in m.get("state", {})]


@pytest.fixture(autouse=True)
def recording_comm(monkeypatch):
    from ipywidgets.widgets.widget import _instances

    before = set(_instances)
    monkeypatch.setattr(comm, "create_comm", lambda **kwargs: RecordingComm(**kwargs))
    yield
    # no widget this test made outlives it; another test's widgets are that test's to close
    # (closing them here went through a comm manager that never knew them: a KeyError)
    for key in [k for k in _instances if k not in before]:
        _instances[key].close()
    widgets.release_shared_models()


def sent_html(widget) -> list[str]:
    """Every ``value`` the widget's HTML child sent to the front end: the one it opened
    with (when not empty), then each update."""
    html_comm = widget._html.comm
    first = (html_comm.open_data or {}).get("state", {}).get("value")
    return [first] * bool(first) + html_comm.updates("value")


def started(step, attempt=1):
    return StepStarted(run_id="r1", step=step, attempt=attempt)


def finished(step, state, **kwargs):
    return StepFinished(run_id="r1", step=step, state=state, **kwargs)


def diamond() -> nx.DiGraph:
    graph = nx.DiGraph()
    for index, name in enumerate(["load", "clean", "plot", "train"]):
        graph.add_node(name, index=index)
    graph.add_edge("load", "clean", artifacts=["raw"])
    graph.add_edge("load", "plot", artifacts=["raw"])
    graph.add_edge("clean", "train", artifacts=["X", "y"])
    return graph


# ---------------------------------------------------------------------------------------
# StepStatusWidget
# ---------------------------------------------------------------------------------------


def test_status_widget_follows_a_step_through_its_events():
    w = StepStatusWidget("load")
    assert w.state == "pending" and "pending" in w.static_text()
    assert sent_html(w) == [w.static_html()]  # drawn once when made
    w.handle_event(started("load"))
    assert (w.state, w.attempts) == ("running", 1)
    w.handle_event(StepRetrying(run_id="r1", step="load", attempt=1, error="OSError: busy",
                                delay=0.1))
    assert (w.state, w.attempts) == ("running", 2)
    assert "attempt 2" in w.static_text() and "OSError: busy" in w.static_text()
    w.handle_event(finished("load", "done", duration=1.5, attempts=2))
    assert (w.state, w.duration, w.attempts) == ("done", 1.5, 2)
    assert w.static_text() == "step 'load': done in 1.5 s (2 attempts)"

    values = sent_html(w)[1:]
    assert [("running" in v, "done in 1.5 s" in v) for v in values] == [
        (True, False), (True, False), (False, True),
    ]


def test_cache_hit_shows_time_saved():
    w = StepStatusWidget("train")
    w.handle_event(finished("train", "cached", cached=True, time_saved=3.2, duration=0.01))
    assert w.state == "cached" and w.time_saved == 3.2
    assert "cached (saved 3.2 s)" in w.static_html()
    assert "cached (saved 3.2 s)" in sent_html(w)[-1]


def test_failure_shows_the_error():
    w = StepStatusWidget("train")
    w.handle_event(finished("train", "failed", duration=0.2, attempts=1,
                            error="ZeroDivisionError: division by zero"))
    assert w.error == "ZeroDivisionError: division by zero"
    assert "ZeroDivisionError: division by zero" in sent_html(w)[-1]


def test_new_state_clears_old_details():
    w = StepStatusWidget("train")
    w.set_state("failed", error="boom", duration=1.0)
    w.set_state("stale", reason="code changed")
    assert (w.error, w.duration, w.reason) == (None, None, "code changed")
    assert "boom" not in w.static_html() and "stale: code changed" in w.static_text()


def test_events_of_other_steps_are_ignored():
    w = StepStatusWidget("load")
    before = len(sent_html(w))
    w.handle_event(started("train"))
    w.handle_event(finished("train", "failed", error="x"))
    w.handle_event(RunFinished(run_id="r1", pipeline="p", success=False, duration=1.0))
    assert w.state == "pending" and len(sent_html(w)) == before


def test_set_state_sends_one_message_per_widget():
    w = StepStatusWidget("load")
    html_comm, box_comm = w._html.comm, w.comm
    n_html, n_box = len(html_comm.messages), len(box_comm.messages)
    w.set_state("done", duration=2.0, attempts=1, reason=None, time_saved=None)
    assert len(html_comm.messages) == n_html + 1
    assert len(box_comm.messages) <= n_box + 1


@pytest.mark.parametrize("state", ALL_STATES)
def test_every_state_is_shown_in_its_colours(state):
    w = StepStatusWidget("s")
    w.set_state(state, duration=1.0, attempts=1, error="E: x", time_saved=1.0, reason="why")
    style = render.STATE_COLORS[state]
    assert f"background:{style.fill}" in w.static_html()
    assert f"color:{style.font}" in w.static_html()


def test_unknown_state_is_refused_and_changes_nothing():
    w = StepStatusWidget("load")
    with pytest.raises(traitlets.TraitError, match="valid states are pending, running"):
        w.set_state("finished")
    assert w.state == "pending"


def test_state_traits_are_documented():
    for name in ("state", "duration", "attempts", "error", "time_saved", "reason"):
        assert StepStatusWidget.class_traits()[name].help, name


def test_setting_a_trait_directly_redraws():
    w = StepStatusWidget("load")
    w.state = "skipped"
    assert 'data-state="skipped"' in sent_html(w)[-1]


def test_hostile_step_name_is_escaped():
    w = StepStatusWidget("<img src=x onerror=alert(1)>")
    w.set_state("failed", error="<script>alert(2)</script>")
    assert "<img" not in w.static_html() and "<script>" not in w.static_html()


# ---------------------------------------------------------------------------------------
# static representation
# ---------------------------------------------------------------------------------------


def test_status_bundle_keeps_widget_view_and_adds_static_html():
    w = StepStatusWidget("load")
    w.set_state("cached", time_saved=3.2)
    bundle = w._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == w.model_id
    assert bundle[WIDGET_VIEW]["version_major"] == 2
    assert bundle["text/html"] == w._html.value and "cached (saved 3.2 s)" in bundle["text/html"]
    assert bundle["text/plain"] == "step 'load': cached (saved 3.2 s)"


def test_dag_bundle_has_static_html_and_text():
    d = DagWidget()
    d.update(diamond(), {"load": "done"})
    bundle = d._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == d.model_id
    assert bundle["text/html"] == d._html.value and "flowyml-dag" in bundle["text/html"]
    assert bundle["text/plain"].splitlines()[:2] == ["flowyml DAG: 4 steps", "  load: done"]


@pytest.fixture
def shell_in_kernel(monkeypatch):
    """A real InteractiveShell whose displays are captured, posing as a kernel."""
    InteractiveShell.instance()
    monkeypatch.setattr(widgets, "in_kernel", lambda: True)


def test_settled_state_updates_the_saved_display(shell_in_kernel):
    w = StepStatusWidget("load")
    with capture_output() as captured:
        w._ipython_display_()
        w.set_state("running", attempts=1)
        w.set_state("done", duration=1.0, attempts=1)
    first, *updates = captured.outputs
    assert WIDGET_VIEW in first.data and "pending" in first.data["text/html"]
    # running is transient; the final state replaces the saved static HTML in place
    assert len(updates) == 1
    assert updates[0].update and "done in 1.0 s" in updates[0].data["text/html"]
    assert updates[0].transient["display_id"] == first.transient["display_id"]


def test_closed_widget_still_displays_its_last_picture(shell_in_kernel):
    w = StepStatusWidget("load")
    w.set_state("done", duration=1.0)
    w.close()
    with capture_output() as captured:
        w._ipython_display_()
    (out,) = captured.outputs
    assert WIDGET_VIEW not in out.data and "done in 1.0 s" in out.data["text/html"]


# ---------------------------------------------------------------------------------------
# thread safety
# ---------------------------------------------------------------------------------------


def in_worker(fn, *args):
    thread = threading.Thread(target=fn, args=args, name="worker")
    thread.start()
    thread.join()


def test_events_from_worker_threads_wait_for_the_main_thread():
    w = StepStatusWidget("load")
    in_worker(w.handle_event, started("load"))
    in_worker(w.handle_event, finished("load", "done", duration=1.0))
    assert w.state == "pending" and w.pending_events == 2
    w.flush()
    assert w.state == "done" and w.pending_events == 0
    threads = w._html.comm.threads + w.comm.threads
    assert threads and set(threads) == {"MainThread"}


def test_queued_events_apply_before_the_next_main_thread_event():
    w = StepStatusWidget("load")
    in_worker(w.handle_event, started("load"))
    w.handle_event(finished("load", "failed", error="E: x"))
    assert w.state == "failed" and w.pending_events == 0
    assert ["running" in v for v in sent_html(w)[-2:]] == [True, False]


def test_dag_updates_from_worker_threads_are_queued():
    d = DagWidget()
    in_worker(d.update, diamond(), {"load": "done"})
    in_worker(d.handle_event, finished("clean", "failed"))
    assert d.graph.number_of_nodes() == 0
    d.flush()
    assert d.states["load"] == "done" and d.states["clean"] == "failed"
    assert set(d._html.comm.threads) == {"MainThread"}


# ---------------------------------------------------------------------------------------
# DagWidget
# ---------------------------------------------------------------------------------------


@needs_dot
def test_dag_is_drawn_as_svg_with_nodes_coloured_by_state():
    d = DagWidget()
    d.update(diamond(), {"load": "cached", "clean": "failed", "plot": "done"})
    assert d.renderer == "svg"
    value = sent_html(d)[-1]
    assert "<svg" in value and "flowyml-dag-legend" in value
    for state in ("cached", "failed", "done", "pending"):
        assert f'fill="{render.STATE_COLORS[state].fill}"' in value, state
    assert "X, y" in value  # edge labelled with its artifacts


def test_dag_falls_back_to_plain_rendering_without_dot(monkeypatch):
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    d = DagWidget()
    d.update(diamond(), {"load": "done"})
    assert d.renderer == "plain"
    value = sent_html(d)[-1]
    assert "<svg" not in value and "Install Graphviz" in value
    assert value.index("<b>load</b>") < value.index("<b>clean</b>") < value.index("<b>train</b>")


def test_dag_events_update_node_states():
    d = DagWidget()
    d.update(diamond(), dict.fromkeys(["load", "clean", "plot", "train"], "done"))
    d.handle_event(RunStarted(run_id="r1", pipeline="p", steps=("clean", "train", "ghost")))
    assert d.states == {"load": "done", "clean": "pending", "plot": "done", "train": "pending"}
    d.handle_event(started("clean"))
    assert d.states["clean"] == "running"
    d.handle_event(finished("clean", "failed"))
    d.handle_event(finished("train", "upstream_failed"))
    d.handle_event(finished("ghost", "done"))  # not in the graph: ignored
    assert d.states == {"load": "done", "clean": "failed", "plot": "done",
                        "train": "upstream_failed"}
    assert "upstream failed" in d.static_html()


@pytest.fixture
def frozen_clock(monkeypatch):
    """Every event arrives at the same instant and every draw takes no time."""
    monkeypatch.setattr(widgets.time, "monotonic", lambda: 1000.0)
    monkeypatch.setattr(widgets.time, "perf_counter", lambda: 1000.0)


def test_live_redraws_are_throttled_but_the_final_state_is_drawn(frozen_clock):
    names = [f"s{i}" for i in range(30)]
    graph = nx.DiGraph()
    graph.add_nodes_from(names)
    d = DagWidget(live_starts=False)
    d.update(graph, {})
    drawn = d.render_count
    for name in names:
        d.handle_event(started(name))
        d.handle_event(finished(name, "done"))
    # 60 events, one re-draw: the one that left nothing pending or running
    assert d.render_count == drawn + 1
    assert 'data-state' not in d.static_html()  # sanity: it is the DAG, not a status line
    assert d.static_text().count(": done") == len(names)
    assert render.STATE_COLORS["pending"].fill not in d.static_html()


def test_run_finished_and_flush_draw_what_the_throttle_held_back(frozen_clock):
    d = DagWidget(live_starts=False)
    d.update(diamond(), {})
    drawn = d.render_count
    d.handle_event(finished("load", "done"))
    assert d.render_count == drawn  # held back: three steps still pending
    d.flush()
    assert d.render_count == drawn + 1 and "load: done" in d.static_text()
    d.handle_event(finished("clean", "failed"))
    d.handle_event(RunFinished(run_id="r1", pipeline="p", success=False, duration=1.0))
    assert d.render_count == drawn + 2
    assert "clean" in d.static_text() and d.states["clean"] == "failed"


def test_a_starting_step_is_drawn_at_once_while_drawing_is_cheap(frozen_clock):
    d = DagWidget()
    d.update(diamond(), {})
    drawn = d.render_count
    d.handle_event(started("load"))
    d.handle_event(finished("load", "done"))  # throttled
    d.handle_event(started("clean"))  # the kernel may now sit in 'clean' for an hour
    assert d.render_count == drawn + 2
    assert d.static_text().splitlines()[1:3] == [
        "  load: done", "  clean: running  (reads raw ← load)",
    ]


def test_expensive_drawings_throttle_starts_too(monkeypatch):
    monkeypatch.setattr(widgets.time, "monotonic", lambda: 1000.0)
    ticks = iter(range(0, 10_000, 5))  # every draw seems to take 5 s
    monkeypatch.setattr(widgets.time, "perf_counter", lambda: float(next(ticks)))
    d = DagWidget()
    d.update(diamond(), {})
    drawn = d.render_count
    d.handle_event(started("load"))
    d.handle_event(started("plot"))
    assert d.render_count == drawn


def test_redraws_resume_once_the_interval_has_passed(monkeypatch):
    clock = iter(range(0, 10_000, 1))  # one second per reading: always past 1 / max_fps
    monkeypatch.setattr(widgets.time, "monotonic", lambda: float(next(clock)))
    d = DagWidget()
    d.update(diamond(), {})
    drawn = d.render_count
    d.handle_event(started("load"))
    d.handle_event(started("plot"))
    assert d.render_count == drawn + 2


def test_dag_with_hostile_names_is_escaped():
    d = DagWidget()
    graph = nx.DiGraph()
    graph.add_edge("<script>alert(1)</script>", 'a"b', artifacts=["<img src=x>"])
    d.update(graph, {})
    assert "<script>" not in d.static_html() and "<img" not in d.static_html()


def test_empty_dag_widget_explains_itself():
    d = DagWidget()
    assert d.renderer == "none" and "No steps yet" in d.static_html()


# ---------------------------------------------------------------------------------------
# in a real kernel
# ---------------------------------------------------------------------------------------


def test_saved_notebook_keeps_the_final_static_state(tmp_path):
    """Through a real ipykernel: the outputs a saved notebook keeps hold the widget view and
    the static HTML/text of the *last* state, even when it was reached in later cells and
    from a worker thread."""
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    cells = [
        "import threading, networkx as nx\n"
        "from flowyml.events import RunFinished, StepFinished, StepStarted\n"
        "from flowyml_jupyter.widgets import DagWidget, StepStatusWidget\n"
        "w = StepStatusWidget('load')\n"
        "w",
        "g = nx.DiGraph(); g.add_edge('load', 'train', artifacts=['df'])\n"
        "d = DagWidget(); d.update(g, {})\n"
        "display(d)",
        "w.handle_event(StepStarted(run_id='r', step='load'))\n"
        "t = threading.Thread(target=lambda: [x.handle_event(StepFinished(run_id='r',\n"
        "    step='load', state='cached', time_saved=2.5)) for x in (w, d)])\n"
        "t.start(); t.join()\n"
        "print(w.state, w.pending_events)\n"
        "d.handle_event(StepFinished(run_id='r', step='train', state='failed', error='E: x'))\n"
        "w.flush()\n"
        "print(w.state, d.states)",
    ]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    client = nbclient.NotebookClient(
        nb, timeout=60, kernel_name="python3", kernel_manager_class=LocalKernelManager,
        resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    status, dag = nb.cells[0].outputs[0], nb.cells[1].outputs[0]
    assert WIDGET_VIEW in status.data and WIDGET_VIEW in dag.data
    assert "cached (saved 2.5 s)" in status.data["text/html"]
    assert status.data["text/plain"] == "step 'load': cached (saved 2.5 s)"
    assert "  train: failed" in dag.data["text/plain"]
    assert "flowyml-dag" in dag.data["text/html"]
    printed = "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert printed.splitlines() == [
        "running 1",
        "cached {'load': 'cached', 'train': 'failed'}",
    ]
