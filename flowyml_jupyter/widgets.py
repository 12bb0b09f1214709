"""Live widgets fed by flowyml events: one step's status line, and the pipeline's DAG.

Both are one stock ipywidgets ``HTML`` model each, so they need no
JavaScript of their own and render wherever ipywidgets 8 does. What they show comes from
:mod:`flowyml.render`, and the same HTML is their static representation: the display
bundle carries the widget view *and* ``text/html`` + ``text/plain``, so a saved notebook
opened without a kernel (nbconvert, GitHub) shows the state. When a widget shown in a
kernel settles (a step finished, a run ended), its display is updated in place so the
saved static HTML is the final state rather than the first.

Widgets must only be touched from the kernel's main thread. ``handle_event`` may be
called from worker threads: there it only queues the event; queued events are applied on
the next call from the main thread, or by :meth:`flush`.
"""

from __future__ import annotations

import contextlib
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
import traitlets

from flowyml import render
from flowyml.events import RunFinished, RunStarted, StepFinished, StepRetrying, StepStarted

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["DagWidget", "RunningLine", "StepStatusWidget"]

#: the display type of a widget view (ipywidgets 8's ``_repr_mimebundle_``)
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
#: states a widget accepts (those the runner and the notebook extension use)
STATES = tuple(render.STATE_COLORS)


def _on_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def in_kernel() -> bool:
    """Whether we run inside a Jupyter kernel (so display updates reach a front end)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return getattr(shell, "kernel", None) is not None


#: ipykernel versions this was tested with, whose ``ZMQDisplayPublisher`` flushes the
#: streams before each display in a method ``_flush_streams`` (private: there is no public
#: way to publish without the flush). Outside them displays keep the flush: correct, slower.
FLUSH_SKIP_TESTED = ((6, 25), (8, 0))


def _version(text: str) -> tuple[int, ...]:
    """``(7, 4)`` for ``"7.4.0"``, ``(8, 0)`` for ``"8"``: major and minor."""
    return (*(int(p) for p in re.findall(r"\d+", text)[:2]), 0, 0)[:2]


def can_skip_flush(pub: Any) -> bool:
    """Whether ``pub`` is an ipykernel display publisher whose flush :func:`unflushed` may
    skip: its class has ``_flush_streams``, no one replaced it on the instance already (a
    nested use), and ipykernel is a version it was tested with."""
    if pub is None or not callable(getattr(type(pub), "_flush_streams", None)):
        return False
    if "_flush_streams" in getattr(pub, "__dict__", {}):
        return False
    kernel = sys.modules.get("ipykernel")
    version = _version(getattr(kernel, "__version__", "") or "")
    return FLUSH_SKIP_TESTED[0] <= version < FLUSH_SKIP_TESTED[1]


@contextlib.contextmanager
def unflushed() -> Iterator[None]:
    """Publish flowyml's own displays, without ipykernel's stream flush before each one.

    ipykernel flushes ``sys.stdout`` and ``sys.stderr`` before every display message, and
    each flush waits for a round trip through its IO thread (two per message, a few ms per
    step cell on a busy machine). The flush only keeps printed text *before* a new output;
    an update in place (``update_display_data``) has no position, and a step cell's first
    line is published before its body printed anything, so neither needs it.

    The flush is ipykernel's private ``display_pub._flush_streams``: it is shadowed on the
    instance only for the ipykernel versions in :data:`FLUSH_SKIP_TESTED`; anywhere else
    (another ipykernel, a terminal, a publisher without it) displays are published as
    usual, flush included.
    """
    try:
        from IPython import get_ipython

        pub = getattr(get_ipython(), "display_pub", None)
    except ImportError:
        pub = None
    _own[0] += 1
    try:
        if not can_skip_flush(pub):
            yield
            return
        pub._flush_streams = _no_flush
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError):
                del pub._flush_streams  # the class's method again
    finally:
        _own[0] -= 1


#: how deep flowyml is in publishing its own displays (status lines, output areas): a step's
#: recording leaves them out (they are not the cell's outputs)
_own = [0]


def publishing_own() -> bool:
    """Whether the display being published now is flowyml's own (see :func:`unflushed`)."""
    return _own[0] > 0


def _no_flush() -> None:
    return None


_SHARED: dict[str, Any] = {}


def shared_models() -> dict[str, Any]:
    """One default ``Layout`` and ``HTMLStyle`` for every status line and DAG: each widget
    model is a comm message to the front end, and a notebook shows one line per step cell.
    (A widget never changes these; they are re-made if the kernel's comms were closed.)"""
    layout = _SHARED.get("layout")
    if layout is None or layout.comm is None:
        _SHARED["layout"] = widgets.Layout()
        from ipywidgets.widgets.widget_string import HTMLStyle

        _SHARED["style"] = HTMLStyle()
    return _SHARED


def release_shared_models() -> None:
    """Close the shared ``Layout`` and ``HTMLStyle`` (the extension is unloaded): no model
    made for one shell outlives it, to be closed later through a comm manager that never
    knew it (ipywidgets' ``Widget.close_all`` in another test, a new kernel's manager)."""
    for key in ("layout", "style"):
        model = _SHARED.pop(key, None)
        if model is not None:
            close_quietly(model)


def close_quietly(widget: Any) -> None:
    """``widget.close()``; a comm its manager no longer knows (closed from the front end,
    or the manager was replaced) counts as closed."""
    with contextlib.suppress(KeyError):
        widget.close()


class _EventWidget(widgets.HTML):
    """Shared machinery: a main-thread event queue and a self-updating static display.

    One stock ``HTML`` model (with the shared layout and style): each model is a comm and
    its opening message to the front end, and a notebook shows one line per step cell."""

    def __init__(self, html: str = "", **kwargs: Any) -> None:
        shared = shared_models()
        kwargs.setdefault("layout", shared["layout"])
        # made with its first picture: each later change is one more message
        super().__init__(value=html, style=shared["style"], **kwargs)
        self._html = self  # the model whose ``value`` is the picture
        self._queue: deque[Any] = deque()
        self._handles: list[Any] = []

    # -- events ------------------------------------------------------------------------
    def handle_event(self, event: Any) -> None:
        """Apply one flowyml event; from a non-main thread it is queued for the main one."""
        if not _on_main_thread():
            self._queue.append(event)
            return
        self._drain()
        self._apply(event)

    def flush(self) -> None:
        """Apply events queued by other threads (call from the main thread)."""
        if _on_main_thread():
            self._drain()

    @property
    def pending_events(self) -> int:
        """How many events from other threads wait for the main thread."""
        return len(self._queue)

    def _drain(self) -> None:
        while self._queue:
            self._apply(self._queue.popleft())

    def _apply(self, event: Any) -> None:
        raise TypeError(f"{type(self).__name__} must define _apply")

    # -- static representation ---------------------------------------------------------
    def static_html(self) -> str:
        """The HTML currently shown, for viewers without a kernel."""
        return self._html.value

    def static_text(self) -> str:
        """A plain-text summary of what is shown."""
        raise TypeError(f"{type(self).__name__} must define static_text")

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        """The widget view (as ipywidgets gives it) plus ``text/html`` and ``text/plain``;
        not ipywidgets' own bundle, whose ``text/plain`` is a ``repr`` of every trait
        (~0.2 ms), replaced here anyway."""
        return {WIDGET_MIME: {"version_major": 2, "version_minor": 0, "model_id": self._model_id},
                "text/html": self.static_html(), "text/plain": self.static_text()}

    def _ipython_display_(self) -> None:
        """Display with a display id, so settled states can refresh the saved output."""
        from IPython.display import display

        if self.comm is None:  # closed: ipywidgets has dropped the view; show the picture
            display({"text/html": self.static_html(), "text/plain": self.static_text()},
                    raw=True)
            return
        bundle = self._repr_mimebundle_()
        if not in_kernel():
            display(bundle, raw=True)
            return
        self._handles.append(display(bundle, raw=True, display_id=True))

    def adopt(self, handle: Any) -> None:
        """Take over an existing display (``handle``: a ``DisplayHandle``) and show this
        widget in it, in place (one ``update_display_data`` message)."""
        self._handles.append(handle)
        self._refresh_displays()

    def _refresh_displays(self) -> None:
        """Re-publish the bundle to every display of this widget (kernel only)."""
        if not self._handles or self.comm is None:
            return
        bundle = self._repr_mimebundle_()
        shown = (bundle.get("text/html"), bundle.get("text/plain"))
        if shown == getattr(self, "_shown", None):
            return  # each update is a message (and a stream flush) in the kernel
        self._shown = shown
        with unflushed():
            for handle in self._handles:
                handle.update(bundle, raw=True)


class StepStatusWidget(_EventWidget):
    """The status line under a step cell: state, duration, attempts, time saved, error.

    >>> w = StepStatusWidget("load")
    >>> w.set_state("cached", time_saved=3.2)
    >>> w.static_text()
    "step 'load': cached (saved 3.2 s)"
    """

    step_name = traitlets.Unicode(help="name of the step this line reports on")
    state = traitlets.Unicode(
        "pending", help="pending, running, done, cached, stale, failed, skipped, timed_out, "
        "interrupted or upstream_failed"
    )
    duration = traitlets.Float(None, allow_none=True, help="seconds the last run took")
    attempts = traitlets.Int(None, allow_none=True, help="attempts made (1 + retries)")
    error = traitlets.Unicode(None, allow_none=True, help="the error of a failed step")
    time_saved = traitlets.Float(None, allow_none=True, help="seconds a cache hit saved")
    reason = traitlets.Unicode(
        None, allow_none=True, help="why the step is stale or skipped, or is being retried"
    )

    def __init__(self, step_name: str, **kwargs: Any) -> None:
        """A status line for ``step_name``; give ``state`` and its details (``duration``,
        ``attempts``, ...) to make it in that state at once: the front end then receives
        the finished picture in the widget's opening messages and no update after them."""
        self._batching = True  # draw once, below, not on every trait set up here
        details = {k: kwargs.get(k) for k in ("duration", "attempts", "error", "time_saved",
                                              "reason")}
        state = kwargs.get("state", "pending")  # an unknown one is refused just below
        first = render.status_to_html(step_name, state if state in STATES else "pending",
                                      **details)
        kwargs.setdefault("_dom_classes", ("flowyml-step-status",))
        super().__init__(html=first, step_name=step_name, **kwargs)
        self._batching = False
        self._render()

    @traitlets.validate("state")
    def _check_state(self, proposal: Any) -> str:
        if proposal["value"] not in STATES:
            raise traitlets.TraitError(
                f"step '{self.step_name}': unknown state {proposal['value']!r}; "
                f"valid states are {', '.join(STATES)}"
            )
        return proposal["value"]

    @traitlets.observe("step_name", "state", "duration", "attempts", "error", "time_saved",
                       "reason")
    def _state_changed(self, change: Any) -> None:
        if not self._batching:
            self._render()

    def set_state(
        self,
        state: str,
        *,
        duration: float | None = None,
        attempts: int | None = None,
        error: str | None = None,
        time_saved: float | None = None,
        reason: str | None = None,
    ) -> None:
        """Show ``state`` with its details (details not given are cleared), in one update.

        Raises ``traitlets.TraitError`` for an unknown state, naming the valid ones.
        """
        self._batching = True
        try:
            with self.hold_sync(), self._html.hold_sync():
                self.state = state
                self.duration = None if duration is None else float(duration)
                self.attempts = attempts
                self.error = error
                self.time_saved = None if time_saved is None else float(time_saved)
                self.reason = reason
                self._render()
        finally:
            self._batching = False
        if state in render.SETTLED_STATES:
            self._refresh_displays()

    def _apply(self, event: Any) -> None:
        if getattr(event, "step", None) != self.step_name:
            return
        if isinstance(event, StepStarted):
            self.set_state("running", attempts=event.attempt)
        elif isinstance(event, StepRetrying):
            self.set_state("running", attempts=event.attempt + 1,
                           reason=f"retrying after {event.error}")
        elif isinstance(event, StepFinished):
            self.set_state(
                event.state,
                duration=event.duration,
                attempts=event.attempts or None,
                error=event.error,
                time_saved=event.time_saved or None,
            )

    def _details(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "attempts": self.attempts,
            "error": self.error,
            "time_saved": self.time_saved,
            "reason": self.reason,
        }

    def _render(self) -> None:
        self._html.value = render.status_to_html(self.step_name, self.state, **self._details())

    def static_text(self) -> str:
        return render.status_to_text(self.step_name, self.state, **self._details())


class DagWidget(_EventWidget):
    """The pipeline's DAG drawn by Graphviz, nodes coloured by state, updated live.

    Re-drawing runs ``dot``, so live updates are throttled to ``max_fps`` renders a second;
    the final picture is always drawn (when no step is pending or running, on
    ``RunFinished``, on :meth:`update` and on :meth:`flush`). A step *starting* is drawn at
    once while drawing is cheap (``live_starts``): the kernel may then be busy in that step
    for a long time, and a held-back picture would show it pending until it ends. "Cheap" is
    an absolute budget (``live_start_budget``), not a fraction of the throttle interval: the
    cost of ``dot`` varies with machine load, and a step's start is the last chance to draw
    before the kernel may sit in it for an hour.
    """

    states = traitlets.Dict(help="state of every step, by step name")
    renderer = traitlets.Unicode(
        "none", help="what is shown: 'svg' (drawn by Graphviz), 'plain' (no dot) or 'none'"
    )
    render_count = traitlets.Int(0, help="how many times the picture was drawn")
    max_fps = traitlets.Float(10.0, help="at most this many re-draws per second while running")
    live_starts = traitlets.Bool(
        True, help="draw a step's start at once when the last draw took at most "
        "live_start_budget seconds, so a long step shows as running"
    )
    live_start_budget = traitlets.Float(
        0.25, help="seconds a draw may take for starts to still be drawn at once"
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import networkx as nx

        self.graph: nx.DiGraph = nx.DiGraph()
        self._dirty = False
        self._last_render = float("-inf")
        self._last_cost = 0.0
        self._last_source: str | None = None
        self._last_svg: str | None = None
        self.add_class("flowyml-dag-widget")
        self._render()

    def update(self, graph: nx.DiGraph, states: Mapping[str, str]) -> None:
        """Show ``graph`` (nodes are step names; edges may carry ``artifacts``) in ``states``.

        From a non-main thread the update is queued like an event.
        """
        if not _on_main_thread():
            self._queue.append(("update", graph, dict(states)))
            return
        self._drain()
        self._set_graph(graph, states)

    def _set_graph(self, graph: nx.DiGraph, states: Mapping[str, str]) -> None:
        self.graph = graph
        self.states = {str(node): states.get(node, "pending") for node in graph.nodes}
        self._render()
        self._refresh_displays()

    def flush(self) -> None:
        """Apply queued events and draw the latest state if a throttled draw is owed."""
        if not _on_main_thread():
            return
        self._drain()
        if self._dirty:
            self._render()
            if self._settled():
                self._refresh_displays()

    def _apply(self, event: Any) -> None:
        if isinstance(event, tuple) and event and event[0] == "update":
            self._set_graph(event[1], event[2])
            return
        final = False
        if isinstance(event, RunStarted):
            changes = {s: "pending" for s in event.steps if s in self.states}
        elif isinstance(event, (StepStarted, StepRetrying)):
            changes = {event.step: "running"} if event.step in self.states else {}
        elif isinstance(event, StepFinished):
            changes = {event.step: event.state} if event.step in self.states else {}
        elif isinstance(event, RunFinished):
            changes, final = {}, True
        else:
            return
        if changes:
            self.states = {**self.states, **changes}
            self._dirty = True
        final = final or self._settled()
        if not self._dirty:
            return
        interval = 1.0 / self.max_fps if self.max_fps > 0 else 0.0
        cheap_start = (self.live_starts and isinstance(event, StepStarted)
                       and self._last_cost <= self.live_start_budget)
        if final or cheap_start or time.monotonic() - self._last_render >= interval:
            self._render()
            if final:
                self._refresh_displays()

    def _settled(self) -> bool:
        return not any(state in ("pending", "running") for state in self.states.values())

    def _render(self) -> None:
        started = time.perf_counter()
        svg = None
        if self.graph.number_of_nodes() and render.dot_available():
            source = render.dag_to_dot(self.graph, self.states)
            if source != self._last_source:  # same picture: no need to run dot again
                self._last_source, self._last_svg = source, render.dot_to_svg(source)
            svg = self._last_svg
        with self.hold_sync(), self._html.hold_sync():
            if self.graph.number_of_nodes() == 0:
                self.renderer = "none"
            else:
                self.renderer = "plain" if svg is None else "svg"
            self._html.value = render.dag_html(self.graph, self.states, svg)
            self.render_count += 1
        self._dirty = False
        self._last_render = time.monotonic()
        self._last_cost = time.perf_counter() - started

    def static_text(self) -> str:
        return render.dag_to_text(self.graph, self.states)


class RunningLine:
    """A step cell's status while its body runs, before its :class:`StepStatusWidget` exists.

    A widget costs a front end several messages (a comm per model, then one per change),
    and most step cells end within milliseconds; so while a cell runs its status is a plain
    display with a display id (one message), kept current for long cells (a retry shows
    its attempt and reason), and when the cell ends the widget, made in its final state,
    takes over that display in place (:meth:`StepStatusWidget.adopt`). Main thread only:
    events from other threads are dropped (the widget shows the final state).
    """

    def __init__(self, step_name: str) -> None:
        self.step_name = step_name
        self.state = "running"
        self._details: dict[str, Any] = {}
        self.handle: Any = None

    def show(self) -> None:
        """Display the line (``running``) with a display id."""
        from IPython.display import display

        with unflushed():  # the cell's body has not printed anything yet
            self.handle = display(self._bundle(), raw=True, display_id=True)

    def _bundle(self) -> dict[str, str]:
        return {"text/html": render.status_to_html(self.step_name, self.state, **self._details),
                "text/plain": render.status_to_text(self.step_name, self.state, **self._details)}

    def handle_event(self, event: Any) -> None:
        """Show a retry (attempt and reason) in place; other events change nothing shown."""
        if not _on_main_thread() or getattr(event, "step", None) != self.step_name:
            return
        if isinstance(event, StepStarted) and event.attempt > 1:
            self._details = {"attempts": event.attempt}
        elif isinstance(event, StepRetrying):
            self._details = {"attempts": event.attempt + 1,
                             "reason": f"retrying after {event.error}"}
        else:
            return
        if self.handle is not None:
            with unflushed():
                self.handle.update(self._bundle(), raw=True)

    def flush(self) -> None:
        """Nothing is queued (see the class docstring)."""
