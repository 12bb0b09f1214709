"""Reactive mode's displays: each step cell's output area, and the wave's summary line.

A step cell run with ``%flowyml auto on`` shows its outputs (printed text, displays,
figures, the last value, a traceback) in one *area*: a display with a display id under
the cell, made when the cell runs. When a wave re-runs the step from another cell, the
area is updated in place, two ways at once:

- an ``ipywidgets.Output`` inside it gets the new outputs (comm messages reach the widget
  wherever it is: JupyterLab 4 and Notebook 7 route a cell's ``update_display_data``
  only to that cell's own outputs, but widget updates to any cell);
- the display's static ``text/html`` and ``text/plain`` are re-published with
  ``update_display_data`` (front ends that route display ids across cells -- nbclient,
  the classic Notebook -- and what a saved notebook shows without widgets).

The summary under the cell that started a wave names each step and its state, updated
live; a step whose cell has no area in this kernel (run before auto mode was on) shows
its outputs there, folded.
"""

from __future__ import annotations

import html
import time
from typing import Any

from flowyml import render
from flowyml.notebook import outputs as _outputs
from flowyml.notebook.reactive import Wave
from flowyml.notebook.replay import Recording
from flowyml_jupyter.widgets import in_kernel, shared_models, unflushed

WIDGET = "application/vnd.jupyter.widget-view+json"
#: seconds between live re-publications of an area while its step runs
LIVE_INTERVAL = 0.25


class OutputArea:
    """The outputs of one step cell, shown under it and replaced in place by later runs."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.items: list[dict[str, Any]] = []
        self.widget: Any = None
        self.handle: Any = None
        self._pushed = 0.0

    @property
    def shown(self) -> bool:
        """Whether the area is on the page (else it only collects, for the summary)."""
        return self.handle is not None

    def show(self) -> None:
        """Display the (empty) area under the running cell, with a display id."""
        from IPython.display import display

        if in_kernel():
            import ipywidgets as widgets

            self.widget = widgets.Output(layout=shared_models()["layout"])
            self.widget.add_class("flowyml-area-widget")
        with unflushed():
            self.handle = display(self.bundle(), raw=True, display_id=True,
                                  metadata={"flowyml": {"area": self.step}})

    def bundle(self) -> dict[str, Any]:
        """The display's data: the widget view (in a kernel) and the static pictures."""
        data: dict[str, Any] = {}
        if self.widget is not None:
            data = dict(self.widget._repr_mimebundle_() or {})
        data["text/html"] = _outputs.to_html(self.items, self.step)
        data["text/plain"] = _outputs.to_text(self.items)
        return data

    def live(self, recording: Recording) -> None:
        """A new item while the step runs: shown at most every :data:`LIVE_INTERVAL`."""
        if time.monotonic() - self._pushed >= LIVE_INTERVAL:
            self.set(recording.items)

    def set(self, items: list[dict[str, Any]]) -> None:
        """Show ``items`` (the step's whole output now) in place."""
        self.items = [dict(i) for i in items]
        self._pushed = time.monotonic()
        if self.widget is not None:
            self.widget.outputs = tuple(_outputs.to_outputs(self.items))
        if self.handle is not None:
            with unflushed():
                self.handle.update(self.bundle(), raw=True,
                                   metadata={"flowyml": {"area": self.step}})

    def clear(self) -> None:
        """The step starts again: empty the area (its old outputs no longer hold)."""
        self.set([])

    def close(self) -> None:
        """Its cell ran again (its old outputs are gone): release the widget's comm."""
        if self.widget is not None:
            self.widget.close()
        self.handle = None


class WaveSummary:
    """Under the cell that started a wave: the wave's headline and each step's state, live;
    the outputs of steps without an area of their own, folded under their line."""

    def __init__(self, wave: Wave, detached: dict[str, OutputArea]) -> None:
        self.wave = wave
        self.detached = detached
        self.handle: Any = None

    def show(self) -> None:
        from IPython.display import display

        if in_kernel():
            with unflushed():
                self.handle = display(self.bundle(), raw=True, display_id=True)

    def update(self, *_: Any) -> None:
        if self.handle is not None:
            with unflushed():
                self.handle.update(self.bundle(), raw=True)

    def finish(self) -> None:
        """The wave ended: the final picture (printed where displays are not updated)."""
        if self.handle is not None:
            self.update()
            return
        from IPython.display import display

        display(self.bundle(), raw=True)

    def bundle(self) -> dict[str, str]:
        return {"text/html": self.html(), "text/plain": self.text()}

    def text(self) -> str:
        lines = [self.wave.headline()]
        for item in self.wave.items:
            lines.append(f"  {item.text()}")
            area = self.detached.get(item.step)
            if area is not None and area.items:
                lines += [f"    {line}" for line in _outputs.to_text(area.items).splitlines()]
        return "\n".join(lines)

    def html(self) -> str:
        rows = []
        for item in self.wave.items:
            state = item.state if item.state in render.STATE_COLORS else (
                "pending" if item.state == "unchanged" else "stale")
            label = item.text().split(": ", 1)[1] if ": " in item.text() else item.state
            extra = ""
            area = self.detached.get(item.step)
            if area is not None and area.items:
                extra = ("<details><summary style='cursor:pointer'>outputs (its cell has no "
                         "output area in this kernel)</summary>"
                         f"{_outputs.to_html(area.items, item.step)}</details>")
            rows.append(
                f"<tr data-step='{html.escape(item.step)}' data-state='{html.escape(item.state)}'>"
                f"<td style='text-align:left;padding:1px 8px'><code>{html.escape(item.step)}</code></td>"
                f"<td style='text-align:left;padding:1px 8px'>{render.badge(state, label)}{extra}</td></tr>")
        return (f"<div class='flowyml-wave' style='font-size:13px'>"
                f"<div>{html.escape(self.wave.headline())}</div>"
                f"<table class='flowyml-wave-steps'>{''.join(rows)}</table></div>")
