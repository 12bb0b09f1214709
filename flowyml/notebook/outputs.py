"""A step cell's shown outputs (a :mod:`flowyml.notebook.replay` recording) in the forms a notebook
front end takes: nbformat outputs (for a live output area), and one static HTML and one
plain-text picture (for viewers without a kernel or widgets: nbconvert, GitHub).

Reactive mode puts each step's outputs under its own cell in one display that it updates
in place; a display holds one bundle, so the static forms merge the items, in order.
Pure: no IPython.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["strip_ansi", "to_html", "to_outputs", "to_text", "updated"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
_PRE = "white-space:pre-wrap;margin:0 0 4px 0;font-family:var(--jp-code-font-family,monospace)"


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (tracebacks carry them)."""
    return _ANSI.sub("", text)


def updated(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` with each ``update`` item applied to the displays above it with its
    ``display_id`` (their data becomes its data), and dropped: what the front end shows
    after the updates (an update of a display another cell made changes nothing here)."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item.get("type") != "update":
            out.append(item)
            continue
        for i, shown in enumerate(out):
            if shown.get("display_id") is not None and shown.get("display_id") == item.get("display_id"):
                out[i] = {**shown, "data": item.get("data") or {}, "metadata": item.get("metadata") or {}}
    return out


def to_outputs(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """nbformat v4 outputs (``stream``, ``display_data``, ``error``) for recorded items;
    the last value (``result``) becomes a ``display_data`` (it has no prompt of its own)."""
    out: list[dict[str, Any]] = []
    for item in updated(items):
        kind = item.get("type")
        if kind == "stream":
            out.append({"output_type": "stream", "name": item.get("name", "stdout"),
                        "text": item.get("text", "")})
        elif kind in ("display", "result"):
            out.append({"output_type": "display_data", "data": dict(item.get("data") or {}),
                        "metadata": dict(item.get("metadata") or {})})
        elif kind == "error":
            out.append({"output_type": "error", "ename": item.get("ename", "Error"),
                        "evalue": item.get("evalue", ""),
                        "traceback": list(item.get("traceback") or [])})
    return out


def to_text(items: list[dict[str, Any]]) -> str:
    """Everything shown, as plain text, in order."""
    parts = []
    for item in updated(items):
        kind = item.get("type")
        if kind == "stream":
            parts.append(item.get("text", ""))
        elif kind in ("display", "result"):
            text = (item.get("data") or {}).get("text/plain", "")
            parts.append(text if text.endswith("\n") or not text else text + "\n")
        elif kind == "error":
            parts.append(strip_ansi("\n".join(item.get("traceback") or [])) + "\n")
    return "".join(parts).rstrip("\n")


def to_html(items: list[dict[str, Any]], step: str = "") -> str:
    """Everything shown as one self-contained HTML block: printed text and tracebacks in
    ``<pre>``, HTML displays as they are, images inline (``data:`` URIs), SVG inline."""
    parts = []
    for item in updated(items):
        kind = item.get("type")
        if kind == "stream":
            style = _PRE + (";background:#fdecea" if item.get("name") == "stderr" else "")
            parts.append(f'<pre style="{style}">{html.escape(item.get("text", ""))}</pre>')
        elif kind in ("display", "result"):
            parts.append(_display_html(item.get("data") or {}))
        elif kind == "error":
            text = strip_ansi("\n".join(item.get("traceback") or []))
            parts.append(f'<pre style="{_PRE};background:#fdecea">{html.escape(text)}</pre>')
    name = html.escape(step)
    return f'<div class="flowyml-area" data-step="{name}">{"".join(parts)}</div>'


def _display_html(data: dict[str, Any]) -> str:
    if "text/html" in data:
        return f"<div>{_joined(data['text/html'])}</div>"
    for mime in ("image/png", "image/jpeg", "image/gif"):
        if mime in data:
            return f'<div><img src="data:{mime};base64,{_joined(data[mime]).strip()}"/></div>'
    if "image/svg+xml" in data:
        return f"<div>{_joined(data['image/svg+xml'])}</div>"
    text = data.get("text/markdown") or data.get("text/latex") or data.get("text/plain") or ""
    return f'<pre style="{_PRE}">{html.escape(_joined(text))}</pre>'


def _joined(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)
