"""What a step cell showed, recorded with its cache entry and shown again on a hit.

A recording is a list of plain JSON items, in the order the cell produced them:
``{"type": "stream", "name": "stdout", "text": ...}``, ``{"type": "display", "data": {mime:
content}, "metadata": {...}}`` and ``{"type": "result", ...}`` for the last expression's value.
A display made with a ``display_id`` (``display(x, display_id=...)``, a ``DisplayHandle``)
keeps it (``"display_id": ...``), and ``{"type": "update", "display_id": ..., "data": ...}``
is an ``update_display`` of it or of a display an earlier cell made: replayed as such, the
front end updates those displays as it did when the cell ran (IPython's "Updating
Displays": a later cell updates a progress bar or a value shown above).
Widget views are dropped (their models die with the kernel); their text/HTML fallbacks stay.
A recording over the size bound is not kept, and the step's status says so.

Pure: the IPython side (:mod:`flowyml_jupyter.capture`) feeds and replays it.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from typing import Any

from flowyml.sizes import parse_size

#: the default bound on one step's recorded outputs (``FLOWYML_REPLAY_MAX``: "50M", "0" = off)
DEFAULT_REPLAY_MAX = 16 * 1024 * 1024
_DROPPED_MIME = ("application/vnd.jupyter.widget-view+json",)


def replay_limit() -> int:
    """The bound from ``FLOWYML_REPLAY_MAX`` (default 16 MiB)."""
    text = os.environ.get("FLOWYML_REPLAY_MAX")
    if not text:
        return DEFAULT_REPLAY_MAX
    try:
        return parse_size(text)
    except ValueError:
        return DEFAULT_REPLAY_MAX


def _wire(value: Any) -> Any:
    """A mime value as the kernel sends it: binary data (a ``_repr_png_`` returning raw PNG
    bytes, as sympy's LaTeX images do) base64-encoded, as the Jupyter protocol carries it;
    stored as ``str(bytes)`` it replayed as a broken image."""
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    return value


@dataclass
class Recording:
    """Outputs of one run of a cell, in order."""

    items: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        last = self.items[-1] if self.items else None
        if last is not None and last["type"] == "stream" and last["name"] == name:
            last["text"] += text
        else:
            self.items.append({"type": "stream", "name": name, "text": text})
        self.size += len(text)

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None = None,
                kind: str = "display", display_id: str | None = None) -> None:
        """A rich display (``kind`` "display", "result", or "update": an update of the
        displays shown with ``display_id``)."""
        data = {k: _wire(v) for k, v in (data or {}).items() if k not in _DROPPED_MIME}
        if not data:
            return
        item = {"type": kind, "data": data, "metadata": dict(metadata or {})}
        if display_id is not None:
            item["display_id"] = str(display_id)
        try:
            self.size += len(json.dumps(item, default=str))
        except (TypeError, ValueError):
            return
        self.items.append(item)

    def to_json(self) -> list[dict[str, Any]]:
        return json.loads(json.dumps(self.items, default=str))
