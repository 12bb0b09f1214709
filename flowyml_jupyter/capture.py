"""Record what a step cell shows while it runs, and show it again on a cache hit.

The outputs still go to the front end as usual: printed text (``sys.stdout``/``stderr``),
rich displays (``shell.display_pub``, which is where matplotlib's inline figures go) and
the last expression's value (``shell.displayhook``) are *teed* into a
:class:`flowyml.notebook.replay.Recording`. Replay prints the streams and publishes the rest as
ordinary ``display_data``, so a saved notebook holds them as ordinary outputs.
"""

from __future__ import annotations

import sys
from typing import Any

from flowyml.notebook.replay import Recording, literal_text


class _Tee:
    """A text stream that writes through and records (unless paused)."""

    def __init__(self, target: Any, name: str, recorder: OutputRecorder) -> None:
        self._target, self._name, self._recorder = target, name, recorder

    def write(self, text: str) -> int:
        if not self._recorder.paused:
            self._recorder.recording.stream(self._name, str(text))
            self._recorder.changed()
        if not self._recorder.passthrough:
            return len(text)
        return self._target.write(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

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
        self.passthrough = passthrough
        self.on_change = on_change
        self._saved: list[tuple[Any, str, Any, bool]] = []

    def changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self.recording)

    def _patch(self, obj: Any, attr: str, value: Any) -> None:
        had = attr in vars(obj)
        self._saved.append((obj, attr, vars(obj).get(attr), had))
        setattr(obj, attr, value)

    def __enter__(self) -> OutputRecorder:
        self._streams = sys.stdout, sys.stderr
        sys.stdout = _Tee(sys.stdout, "stdout", self)  # type: ignore[assignment]
        sys.stderr = _Tee(sys.stderr, "stderr", self)  # type: ignore[assignment]
        pub = getattr(self.shell, "display_pub", None)
        if pub is not None:
            publish = pub.publish

            def recording_publish(data: Any, metadata: Any = None, *args: Any, **kwargs: Any) -> Any:
                # a display_id (`display(x, display_id=...)`) is kept, and an update of one
                # (`handle.update(...)`, `update_display`) recorded, so that a replay updates
                # the displays it updated when it ran, in this cell or above
                display_id = (kwargs.get("transient") or {}).get("display_id")
                if not kwargs.get("update"):
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
                    self.recording.items.clear()
                    self.changed()

                self._patch(pub, "clear_output", recording_clear)
        hook = getattr(self.shell, "displayhook", None)
        if hook is not None:
            write, start, finish = hook.write_format_data, hook.start_displayhook, hook.finish_displayhook
            update_ns = hook.update_user_ns
            shown_value: list[Any] = []

            def noting_update(result: Any) -> Any:  # IPython calls it just before the write
                shown_value[:] = [result]
                return update_ns(result)

            def recording_write(format_dict: Any, md_dict: Any = None) -> Any:
                value = literal_text(shown_value[0]) if shown_value else None
                shown_value.clear()
                self.recording.display(format_dict, md_dict, kind="result", value=value)
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

            self._patch(hook, "update_user_ns", noting_update)
            self._patch(hook, "write_format_data", recording_write)
            self._patch(hook, "start_displayhook", paused_start)
            self._patch(hook, "finish_displayhook", paused_finish)
        show = getattr(self.shell, "_showtraceback", None)
        if show is not None:
            # the cell's own error (then nothing is stored), or one shown while it goes on
            # (a display formatter raising): replayed on a hit, as plain Python shows it
            def recording_traceback(etype: Any, evalue: Any, stb: Any) -> Any:
                self.recording.items.append({
                    "type": "error", "ename": getattr(etype, "__name__", str(etype)),
                    "evalue": str(evalue), "traceback": list(stb)})
                self.changed()
                return show(etype, evalue, stb) if self.passthrough else None

            self._patch(self.shell, "_showtraceback", recording_traceback)
        return self

    def __exit__(self, *exc: Any) -> None:
        sys.stdout, sys.stderr = self._streams
        for obj, attr, value, had in reversed(self._saved):
            if had:
                setattr(obj, attr, value)
            else:
                delattr(obj, attr)
        self._saved.clear()


def replay(items: list[dict[str, Any]]) -> None:
    """Show recorded outputs again, in order (streams as text, the rest as display data)."""
    from IPython.display import publish_display_data

    for item in items:
        kind = item.get("type")
        if kind == "stream":
            # not flushed here: the kernel groups a cell's streams as it did for the run
            # (all of stdout, then stderr, in a quick cell: a warning is not moved up among
            # the prints); a display below flushes them first, as it did then
            stream = sys.stderr if item.get("name") == "stderr" else sys.stdout
            stream.write(item.get("text", ""))
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
    so IPython shows it as the cell's result (with its ``Out[n]`` prompt), as on a miss."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.data = dict(item.get("data") or {})
        self.metadata = dict(item.get("metadata") or {})

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict, dict]:
        return self.data, self.metadata

    def __repr__(self) -> str:
        return str(self.data.get("text/plain", ""))


def split_result(items: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Any]:
    """A recording whose last item is the cell's result: (the items before it, the result).
    The result is the value itself when it was a small builtin literal (``12``: IPython
    shows it as it did and sets ``_`` and ``Out[n]`` to it, as after a run), else a
    :class:`ReplayedResult` showing what was shown."""
    if items and items[-1].get("type") == "result" and items[-1].get("data"):
        text = items[-1].get("value")
        if isinstance(text, str):
            import ast

            try:
                return items[:-1], ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                pass
        return items[:-1], ReplayedResult(items[-1])
    return items, None


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
