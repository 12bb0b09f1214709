"""The tables ``%flowyml`` shows: the notebook's steps (``status``) and the cache (``cache info``).

Each is one display object with a plain-text form (``text()``, also its ``repr``) and an HTML
form (``_repr_html_``), so a notebook front end shows the table and a terminal or a saved
notebook without HTML still reads it. No kernel is needed to make or render one; the magic
(``%flowyml status``, ``%flowyml cache info``) only passes it to ``display``.
"""

from __future__ import annotations

import html
from typing import Any


class Table:
    """A display with a plain-text (``text()``) and an HTML (``_repr_html_``) form."""

    def text(self) -> str:
        """The table as plain text (what a terminal, or a front end without HTML, shows)."""
        raise TypeError(f"{type(self).__name__} must define text()")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text())

    def __repr__(self) -> str:
        return self.text()


class CacheTable(Table):
    """``%flowyml cache info``: a plain-text and an HTML table in one display."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report

    def text(self) -> str:
        from flowyml.store.lifecycle import info_text

        return info_text(self.report)

    def _repr_html_(self) -> str:
        import time

        from flowyml.store.lifecycle import ago, size_text

        left = "text-align:left;padding:2px 8px"
        right = "text-align:right;padding:2px 8px"
        now = time.time()
        rows = "".join(
            f"<tr><td style='{left}'><code>{html.escape(name)}</code></td>"
            f"<td style='{right}'>{r['entries']}</td><td style='{right}'>{size_text(r['bytes'])}</td>"
            f"<td style='{right}'>{ago(now - r['last_used']) if r.get('last_used') else '-'}</td>"
            f"<td style='{left}'>{_current_text(r)}</td></tr>"
            for name, r in self.report["steps"].items())
        t = self.report["total"]
        head = "".join(f"<th style='{left}'>{h}</th>" for h in
                       ("step", "entries", "size", "last used", "current definition"))
        return (f"<div>cache at <code>{html.escape(self.report['root'])}</code></div>"
                f"<table class='flowyml-cache'><thead><tr>{head}</tr></thead><tbody>{rows}"
                f"<tr><td style='{left}'><b>total</b></td><td style='{right}'>{t['entries']}</td>"
                f"<td style='{right}'>{size_text(t['bytes'])}</td><td></td><td></td></tr>"
                f"</tbody></table>")


def _current_text(row: dict[str, Any]) -> str:
    """Whether a step's current definition is stored (blank when the step is not defined now)."""
    if "current" not in row:
        return ""
    return "stored (a hit)" if row["current_stored"] else "not stored (will run)"


class StatusTable(Table):
    """``%flowyml status`` output: a plain-text and an HTML table in one display."""

    def __init__(self, rows: list[Any]) -> None:
        self.rows = rows

    def text(self) -> str:
        if not self.rows:
            return "flowyml: no steps yet (define one with %%step)"
        width = max(len("step"), *(len(r.name) for r in self.rows))
        makes = max(len("makes"), *(len(r.makes) for r in self.rows))
        lines = [f"{'step':<{width}}  {'state':<15} {'makes':<{makes}}  why"]
        lines += [f"{r.name:<{width}}  {r.state:<15} {r.makes:<{makes}}  {r.why}".rstrip()
                  for r in self.rows]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        from flowyml import render

        left = "text-align:left;padding:2px 8px"
        body = "".join(
            f"<tr><td style='{left}'><code>{html.escape(r.name)}</code></td>"
            f"<td style='{left}'>{render.badge(r.state)}</td>"
            f"<td style='{left}'><code>{html.escape(r.makes)}</code></td>"
            f"<td style='{left}'>{html.escape(r.why)}</td></tr>"
            for r in self.rows
        )
        return (f"<table class='flowyml-status'><thead><tr><th style='{left}'>step</th>"
                f"<th style='{left}'>state</th><th style='{left}'>makes</th>"
                f"<th style='{left}'>why</th></tr></thead>"
                f"<tbody>{body}</tbody></table>")


