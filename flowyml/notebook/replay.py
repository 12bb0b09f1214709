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


#: the builtin types whose values a replayed result may be (see :func:`literal_text`)
_LITERAL_TYPES = (int, float, complex, bool, str, bytes, type(None))


def literal_text(value: Any, limit: int = 4096) -> str | None:
    """``repr(value)`` when ``value`` is a small builtin literal (numbers, strings, ``None``,
    and tuples, lists, dicts and sets of them) that :func:`ast.literal_eval` gives back equal
    and of the same types; else ``None``. Kept with a cell's recorded result, so that on a
    hit the cell's value (IPython's ``_``, ``Out[n]``) is the value itself, as after a run:
    ``2 + 10`` then ``_ + 10`` is 22 after a restart too. Exact types only: an object whose
    repr looks like a literal (a sympy ``Integer``) is not one."""
    import ast

    if not _literal_shaped(value, 0):
        return None
    text = repr(value)
    if len(text) > limit:
        return None
    try:
        back = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return text if back == value and _same_types(back, value) else None


def _literal_shaped(value: Any, depth: int) -> bool:
    kind = type(value)
    if kind in _LITERAL_TYPES:
        return True
    if depth > 8 or kind not in (tuple, list, dict, set, frozenset):
        return False
    if kind is dict:
        return all(_literal_shaped(k, depth + 1) and _literal_shaped(v, depth + 1)
                   for k, v in value.items())
    return all(_literal_shaped(v, depth + 1) for v in value)


def _same_types(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return all(_same_types(k, k2) and _same_types(v, v2)
                   for (k, v), (k2, v2) in zip(a.items(), b.items(), strict=False))
    if type(a) in (tuple, list):
        return all(_same_types(x, y) for x, y in zip(a, b, strict=False))
    return True


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
                kind: str = "display", display_id: str | None = None,
                value: str | None = None) -> None:
        """A rich display (``kind`` "display", "result", or "update": an update of the
        displays shown with ``display_id``); ``value``: a result's :func:`literal_text`."""
        data = {k: _wire(v) for k, v in (data or {}).items() if k not in _DROPPED_MIME}
        if not data:
            return
        item = {"type": kind, "data": data, "metadata": dict(metadata or {})}
        if display_id is not None:
            item["display_id"] = str(display_id)
        if value is not None:
            item["value"] = value
        try:
            self.size += len(json.dumps(item, default=str))
        except (TypeError, ValueError):
            return
        self.items.append(item)

    def to_json(self) -> list[dict[str, Any]]:
        return json.loads(json.dumps(self.items, default=str))
