"""Record what a step cell shows while it runs, and show it again on a cache hit.

The outputs still go to the front end as usual: printed text (``sys.stdout``/``stderr``),
rich displays (``shell.display_pub``, which is where matplotlib's inline figures go) and
the last expression's value (``shell.displayhook``) are *teed* into a
:class:`flowyml.notebook.replay.Recording`. Replay prints the streams and publishes the rest as
ordinary ``display_data``, so a saved notebook holds them as ordinary outputs.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
import uuid
from typing import Any

from flowyml.notebook.replay import Recording

_WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
#: widgets that only show (a progress bar: tqdm's is an HBox of HTML and FloatProgress): their
#: text stands in for them well enough on a hit; any other widget is live
#: (by the model a widget's class declares: tqdm's bar is ``TqdmHBox``, an ``HBoxModel``)
_DECORATIVE = frozenset(("FloatProgressModel", "IntProgressModel", "HTMLModel", "HTMLMathModel",
                         "LabelModel"))
_BOXES = frozenset(("BoxModel", "HBoxModel", "VBoxModel", "GridBoxModel"))


def _decorative_widget(model_id: Any, depth: int = 0) -> bool:
    """Whether the widget ``model_id`` (or a widget) only shows, made of progress bars and
    text in boxes; unknown widgets are live."""
    module = sys.modules.get("ipywidgets.widgets.widget")
    registry = getattr(module, "_instances", None)
    widget = registry.get(model_id) if isinstance(registry, dict) and isinstance(model_id, str) \
        else model_id
    if widget is None or isinstance(widget, str):
        return False
    kind = getattr(widget, "_model_name", None)
    if type(getattr(widget, "_view_name", None)) is not str or getattr(widget, "_view_module", None) \
            != "@jupyter-widgets/controls":
        return False  # a custom front-end view (an anywidget, a plot): live
    if kind in _DECORATIVE:
        return True
    if kind in _BOXES and depth < 5:
        return all(_decorative_widget(child, depth + 1) for child in getattr(widget, "children", ()))
    return False


class _Tee:
    """A text stream that writes through and records (unless paused).

    Code may keep the stream it finds in ``sys.stdout``/``sys.stderr`` while a step runs
    (``logging.basicConfig()`` makes a handler on it). Once the step is over, the tee writes
    to whatever ``sys.stdout``/``sys.stderr`` is then, as the kernel's own stream would be
    written to: shown, and recorded by the step running at that time (a later step logging
    through that handler showed its lines but did not record them, so its hit left them
    out; in reactive mode they were not shown at all)."""

    def __init__(self, target: Any, name: str, recorder: OutputRecorder) -> None:
        self._target, self._name, self._recorder = target, name, recorder

    def write(self, text: str) -> int:
        recorder = self._recorder
        if recorder.finished:  # held past the step (a log handler made in it)
            now = getattr(sys, self._name)
            return (now if now is not self else self._target).write(text)
        if not recorder.paused:
            with recorder.lock:
                recorder.recording.stream(self._name, str(text))
            recorder.changed()
        if not recorder.passthrough:
            return len(text)
        return self._target.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> Any:
        recorder = self._recorder
        if not recorder.paused and not recorder.finished and recorder.passthrough:
            recorder.recording.flushed(self._name)
        return self._target.flush()

    def __getattr__(self, attr: str) -> Any:  # flush, isatty, encoding, fileno...
        return getattr(self._target, attr)


class OutputRecorder:
    """``with OutputRecorder(shell) as rec: ...`` -> ``rec.recording``.

    ``passthrough=False`` (reactive mode): outputs are recorded only, not sent to the front
    end -- tracebacks too -- and ``on_change(recording)`` is called after each new item, so
    the caller shows them where it wants (under the step's own cell).
    """

    def __init__(self, shell: Any, passthrough: bool = True,
                 on_change: Any = None) -> None:
        self.shell = shell
        self.recording = Recording()
        self.paused = 0
        #: the step ended: a stream it handed out (``logging.basicConfig`` in the step keeps
        #: ``sys.stderr``) writes to the streams of the moment from then on
        self.finished = False
        self.passthrough = passthrough
        self.on_change = on_change
        #: the last value the cell showed as its result (``None``: none)
        self.result: Any = None
        self._saved: list[tuple[Any, str, Any, bool]] = []
        #: the recording is written from the cell's thread and from the kernel's threads that
        #: forward what is written to the process's file descriptors 1 and 2
        self.lock = threading.Lock()
        self._descriptors: list[_Descriptor] = []

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.recording)

    def _note_widget(self, data: Any) -> None:
        view = data.get(_WIDGET_VIEW) if isinstance(data, dict) else None
        if view is not None and not self.recording.live_widgets:
            model = view.get("model_id") if isinstance(view, dict) else None
            self.recording.live_widgets = not _decorative_widget(model)

    def _patch(self, obj: Any, attr: str, value: Any) -> None:
        had = attr in vars(obj)
        self._saved.append((obj, attr, vars(obj).get(attr), had))
        setattr(obj, attr, value)

    def __enter__(self) -> OutputRecorder:
        self.finished = False
        self._streams = sys.stdout, sys.stderr
        # a kernel's streams send what they hold this long after a write (ipykernel's
        # OutStream); the recording notes where, so replay shows the streams in that order
        interval = getattr(sys.stdout, "flush_interval", None)
        if isinstance(interval, int | float) and self.passthrough:  # (else: into an area)
            self.recording.flush_interval = float(interval)
        for stream, name in ((sys.stdout, "stdout"), (sys.stderr, "stderr")):
            self._watch_descriptor(stream, name)
        sys.stdout = _Tee(sys.stdout, "stdout", self)  # type: ignore[assignment]
        sys.stderr = _Tee(sys.stderr, "stderr", self)  # type: ignore[assignment]
        pub = getattr(self.shell, "display_pub", None)
        if pub is not None:
            publish = pub.publish

            def recording_publish(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
                own = sys.modules.get("flowyml_jupyter.widgets")
                if own is not None and own.publishing_own():  # a status line, an area
                    return publish(data, metadata, *args, **kwargs)
                # a display_id (`display(x, display_id=...)`) is kept, and an update of one
                # (`handle.update(...)`, `update_display`) recorded, so that a replay updates
                # the displays it updated when it ran, in this cell or above
                display_id = (kwargs.get("transient") or {}).get("display_id")
                if not kwargs.get("update"):
                    self._note_widget(data)
                    self.recording.display(data, metadata, display_id=display_id)
                    self.changed()
                elif display_id is not None:
                    self.recording.display(data, metadata, kind="update", display_id=display_id)
                    self.changed()
                if not self.passthrough:
                    return None
                self.paused += 1
                try:
                    return publish(data, metadata, *args, **kwargs)
                finally:
                    self.paused -= 1

            self._patch(pub, "publish", recording_publish)
            if not self.passthrough:  # the body's clear_output clears what it showed, only
                def recording_clear(wait: bool = False) -> None:
                    self.recording.clear()
                    self.changed()

                self._patch(pub, "clear_output", recording_clear)
        hook = getattr(self.shell, "displayhook", None)
        if hook is not None:
            write, start, finish = hook.write_format_data, hook.start_displayhook, hook.finish_displayhook

            def recording_write(format_dict: Any, md_dict: Any = None) -> Any:
                self._note_widget(format_dict)
                self.recording.display(format_dict, md_dict, kind="result")
                self.changed()
                return write(format_dict, md_dict) if self.passthrough else None

            def paused_start() -> Any:
                self.paused += 1
                return start()

            def paused_finish() -> Any:
                try:
                    return finish()
                finally:
                    self.paused = max(0, self.paused - 1)

            update = hook.update_user_ns

            def recording_update(result: Any) -> Any:
                self.result = result  # the value shown: kept for `_` after a hit
                return update(result)

            self._patch(hook, "update_user_ns", recording_update)
            self._patch(hook, "write_format_data", recording_write)
            self._patch(hook, "start_displayhook", paused_start)
            self._patch(hook, "finish_displayhook", paused_finish)
        show = getattr(self.shell, "_showtraceback", None)
        if show is not None:
            # the cell's own error (then nothing is stored), or one shown while it goes on
            # (a display formatter raising): replayed on a hit, as plain Python shows it
            def recording_traceback(etype: Any, evalue: Any, stb: Any) -> Any:
                self.recording.error({
                    "type": "error", "ename": getattr(etype, "__name__", str(etype)),
                    "evalue": str(evalue), "traceback": list(stb)})
                self.changed()
                return show(etype, evalue, stb) if self.passthrough else None

            self._patch(self.shell, "_showtraceback", recording_traceback)
        return self

    def _watch_descriptor(self, stream: Any, name: str) -> None:
        """Record what reaches the cell's output through the process's file descriptor
        (``stream``'s: 1 or 2) rather than through ``sys.stdout``/``sys.stderr``: ipykernel
        forwards it from a thread of its own (``watch_fd_thread``) by calling the stream's
        ``write``. Worker processes print there (scikit-learn's ``GridSearchCV(n_jobs=-1)``:
        each fit's warnings), and so do C libraries; the hit left all of it out."""
        watcher = getattr(stream, "watch_fd_thread", None)
        fd = getattr(stream, "_original_stdstream_fd", None)
        if not isinstance(watcher, threading.Thread) or not watcher.is_alive() \
                or not isinstance(fd, int):
            return
        pipe = getattr(stream, "_fid", None)
        descriptor = _Descriptor(self, name, watcher, fd, stream.write,
                                 pipe if isinstance(pipe, int) else None)
        self._patch(stream, "write", descriptor.write)
        self._descriptors.append(descriptor)

    def _drain(self, limit: float = 2.0) -> None:
        """Wait (up to ``limit`` seconds) until the kernel's watcher threads have handed on
        all the cell wrote to the file descriptors, so that it is recorded as the cell's: a
        marker written after it comes through last. (Waiting for the pipe to be empty was
        not enough: under load a watcher holding a chunk it had read lost a child's line.)"""
        for descriptor in self._descriptors:
            descriptor.send_marker()
        deadline = time.monotonic() + limit
        for descriptor in self._descriptors:
            if not descriptor.seen.wait(max(0.0, deadline - time.monotonic())):
                descriptor.give_up()

    def __exit__(self, *exc: Any) -> None:
        self._drain()
        self._descriptors.clear()
        sys.stdout, sys.stderr = self._streams
        self.finished = True
        self.recording.finish()
        for obj, attr, value, had in reversed(self._saved):
            if had:
                setattr(obj, attr, value)
            else:
                delattr(obj, attr)
        self._saved.clear()


#: C0 control characters a terminal neither shows nor acts on (not the bell, backspace, tab,
#: line and page controls, shift in/out, XON/XOFF, ENQ or escape)
_SILENT = "\x01\x02\x03\x04\x06\x10\x12\x14\x15\x16\x17\x19\x1c\x1d\x1e\x1f"


def _switches(thread: threading.Thread) -> tuple[int, int] | None:
    """How many times ``thread`` has given up the CPU (Linux: ``/proc``): it changes when
    a thread blocked in ``read`` wakes up. ``None`` where it cannot be told."""
    tid = getattr(thread, "native_id", None)
    if tid is None:
        return None
    try:
        with open(f"/proc/self/task/{tid}/status", "rb") as fh:
            text = fh.read()
    except OSError:
        return None
    counts = [int(line.split()[1]) for line in text.splitlines()
              if line.startswith((b"voluntary_ctxt_switches", b"nonvoluntary_ctxt_switches"))]
    return (counts[0], counts[1]) if len(counts) == 2 else None


class _Descriptor:
    """One of the process's file descriptors 1 and 2 while a step runs, as ipykernel's
    watcher thread hands on what reaches it: recorded up to the end marker
    :meth:`send_marker` writes after the cell, which is not shown; what comes after it is
    passed on unrecorded."""

    def __init__(self, recorder: OutputRecorder, name: str, watcher: threading.Thread,
                 fd: int, write: Any, pipe: int | None = None) -> None:
        self.recorder, self.name, self.watcher, self.fd = recorder, name, watcher, fd
        self.pipe = pipe  # the end the watcher reads
        self.switches = _switches(watcher)
        self.forward = write  # (IPython's own tee of the stream's write, in IPython 9)
        # the watcher echoes what it reads to the kernel's terminal too: control characters
        # that terminals show nothing for and do nothing with
        self.marker = "\x00" + "".join(_SILENT[int(c, 16)] for c in uuid.uuid4().hex[:16]) + "\x00"
        self.seen = threading.Event()
        self.held = ""  # a chunk's tail that may be the start of the marker

    def send_marker(self) -> None:
        """Write the end marker, unless nothing can be in flight: the pipe is empty and the
        watcher has not woken since the step began (most cells; the marker, echoed, would
        add bytes to a log the kernel's output goes to)."""
        if self.switches is not None and self.pipe is not None \
                and _switches(self.watcher) == self.switches:
            try:
                ready, _, _ = select.select([self.pipe], [], [], 0)
            except (OSError, ValueError):
                ready = [True]
            if not ready:
                self.seen.set()
                return
        try:
            os.write(self.fd, self.marker.encode())
        except OSError:
            self.seen.set()

    def give_up(self) -> None:
        """The watcher did not come to the marker in time: pass on what it held back."""
        self.seen.set()
        held, self.held = self.held, ""
        if held:
            self.forward(held)

    def write(self, text: Any) -> Any:
        if threading.current_thread() is not self.watcher or not text or self.seen.is_set():
            return self.forward(text)
        text, self.held = self.held + str(text), ""
        before, found, after = text.partition(self.marker)
        if not found:
            keep = next((n for n in range(min(len(text), len(self.marker) - 1), 0, -1)
                         if self.marker.startswith(text[-n:])), 0)
            before, self.held = (text[:-keep], text[-keep:]) if keep else (text, "")
        if before:
            with self.recorder.lock:
                self.recorder.recording.stream(self.name, before)
            self.recorder.changed()
        if found:
            self.seen.set()
        shown = before + after
        return self.forward(shown) if shown else 0


def replay(items: list[dict[str, Any]]) -> None:
    """Show recorded outputs again, in order (streams as text, the rest as display data)."""
    from IPython.display import publish_display_data

    for item in items:
        kind = item.get("type")
        if kind == "stream":
            # not flushed after each: the kernel groups a cell's streams as it did for the
            # run (all of stdout, then stderr, in a quick cell); where the run's streams
            # were sent, a "flush" item says so; a display flushes them first, as then
            stream = sys.stderr if item.get("name") == "stderr" else sys.stdout
            stream.write(item.get("text", ""))
        elif kind == "flush":
            for name in item.get("names") or ():
                (sys.stderr if name == "stderr" else sys.stdout).flush()
        elif kind == "result" and item.get("data") and _show_as_result(item):
            pass
        elif kind in ("display", "result", "update"):
            data = item.get("data") or {}
            display_id = item.get("display_id")
            if data and (kind != "update" or display_id):
                sys.stdout.flush()
                extra: dict[str, Any] = {}
                if display_id:
                    extra = {"transient": {"display_id": display_id}, "update": kind == "update"}
                publish_display_data(data, metadata=item.get("metadata") or {}, **extra)
        elif kind == "error":  # shown while the cell went on (a display formatter raising)
            _show_error(item)


def _show_as_result(item: dict[str, Any]) -> bool:
    """Show an expression's value that is not the cell's last (``ast_node_interactivity =
    'all'`` shows each) as the shell showed it: an ``Out[n]`` result, not a display. The
    namespace's ``_`` is left to the cell's last value, as it ends in plain Python."""
    from IPython import get_ipython

    shell = get_ipython()
    hook = getattr(shell, "displayhook", None)
    if hook is None or not hasattr(hook, "write_format_data"):
        return False
    sys.stdout.flush()
    hook.start_displayhook()
    hook.write_output_prompt()
    hook.write_format_data(dict(item.get("data") or {}), dict(item.get("metadata") or {}))
    hook.finish_displayhook()
    return True


def _show_error(item: dict[str, Any]) -> None:
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    sys.stdout.flush()
    etype = type(str(item.get("ename") or "Error"), (Exception,), {})
    shell._showtraceback(etype, item.get("evalue", ""), list(item.get("traceback") or []))


class ReplayedResult:
    """The last expression's value of a cached cell, as it was shown: returned by the magic,
    so IPython shows it as the cell's result (with its ``Out[n]`` prompt), as on a miss.
    ``value``: how to get the value itself back (see :func:`hold_result`)."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.data = dict(item.get("data") or {})
        self.metadata = dict(item.get("metadata") or {})
        self.value = item.get("value")

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        return self.data, self.metadata

    def __repr__(self) -> str:
        return str(self.data.get("text/plain", ""))


def split_result(items: list[dict[str, Any]]
                 ) -> tuple[list[dict[str, Any]], ReplayedResult | None, list[dict[str, Any]]]:
    """A recording as (what came before the cell's result, the result, what came after it).
    After it come only displays made once the cell's code was done: the figures the inline
    backend shows at the end of a cell (``sns.heatmap(corr)``: ``<Axes: >`` as ``Out[n]``,
    then the figure)."""
    last = next((i for i in range(len(items) - 1, -1, -1) if items[i].get("type") == "result"), None)
    if last is None or not items[last].get("data") or any(
            item.get("type") not in ("display", "flush") for item in items[last + 1:]):
        return items, None, []
    return items[:last], ReplayedResult(items[last]), items[last + 1:]


def replay_after_result(shell: Any, items: list[dict[str, Any]]) -> None:
    """Show ``items`` once the cell's result is shown, where the kernel showed them when
    the cell ran: at the end of the cell (``post_execute``, where the inline backend shows
    its figures)."""
    def show(*_: Any) -> None:
        shell.events.unregister("post_execute", show)
        replay(items)

    if items:
        shell.events.register("post_execute", show)


def open_figures() -> set[int]:
    """Numbers of the open matplotlib figures (empty when pyplot was never imported)."""
    plt = sys.modules.get("matplotlib.pyplot")
    return set(plt.get_fignums()) if plt is not None else set()


def close_new_figures(before: set[int]) -> None:
    """Close figures that loading a cached output re-created (its replayed image stands in
    for them); otherwise the inline backend would show them a second time."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    for num in set(plt.get_fignums()) - before:
        plt.close(num)


def keep_result(recorder: OutputRecorder, ns: dict[str, Any]) -> None:
    """After a run: note, in the recording's last result item, how a hit gets the value
    back (a name that holds it, or a small value's pickle)."""
    from flowyml.notebook.replay import result_ref

    items = recorder.recording.items
    if recorder.result is None or not items or items[-1].get("type") != "result":
        return
    ref = result_ref(recorder.result, ns)
    if ref is not None:
        items[-1]["value"] = ref


def hold_result(shell: Any, replayed: ReplayedResult) -> None:
    """After the cell that showed ``replayed`` (a hit's result), put the value itself where
    IPython put what was shown (``_``, ``__``, ``___``, ``Out[n]``, ``_n``), as plain
    Python has it: ``_ + 1`` after a cached ``41 + 1`` is 43."""
    from flowyml.notebook.replay import result_value

    def swap(*_: Any) -> None:
        shell.events.unregister("post_run_cell", swap)
        try:
            value = result_value(replayed.value, shell.user_ns)
        except LookupError:
            return
        ns, hook = shell.user_ns, shell.displayhook
        names = {name: value for name in ("_", "__", "___") if ns.get(name) is replayed}
        for name in ("_", "__", "___"):
            if getattr(hook, name, None) is replayed:
                setattr(hook, name, value)
        out = ns.get("Out")
        for count, shown in list(out.items()) if isinstance(out, dict) else ():
            if shown is replayed:
                out[count] = value
                if ns.get(f"_{count}") is replayed:
                    names[f"_{count}"] = value
        # as the display hook puts them: hidden from %who, and not taken for the user's own
        shell.push(names, interactive=False)

    if replayed.value:
        shell.events.register("post_run_cell", swap)
