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
import io
import json
import os
import pickle
import time
import types
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


class Recording:
    """Outputs of one run of a cell, in order.

    Printed text is kept as the kernel sent it: ipykernel sends what a stream buffered
    ``flush_interval`` (0.2 s) after its first unsent write, or at an explicit flush, so a
    long cell's warning shows between the prints that came before and after it, while a
    quick cell's stdout comes in one piece before its stderr. When ``flush_interval`` is
    set (the streams are a kernel's), the recording notes where those sends fell
    (``{"type": "flush", "names": [...]}`` items) and replay flushes there, so a hit shows
    the streams in plain Python's order. Displays and tracebacks flush both streams, as the
    kernel does before sending them.
    """

    def __init__(self, items: list[dict[str, Any]] | None = None, size: int = 0,
                 flush_interval: float | None = None) -> None:
        self._items: list[dict[str, Any]] = list(items or [])
        self.size = size
        #: the kernel's stream flush interval (``None``: not a kernel's streams)
        self.flush_interval = flush_interval
        #: stream name -> when the kernel sends what it holds unsent
        self._pending: dict[str, float] = {}
        #: the cell showed a live widget (a slider, ``interact``, a button): its view cannot
        #: be replayed, only running the cell again shows it live (set by the recorder)
        self.live_widgets = False
        #: the last item's text, in pieces while it grows (joined once: a cell printing
        #: 200,000 lines took minutes when each write copied the text so far)
        self._parts: list[str] | None = None

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items so far (the growing stream item's text joined)."""
        self._join()
        return self._items

    @items.setter
    def items(self, value: list[dict[str, Any]]) -> None:
        self._join()
        self._items = value

    def _join(self) -> None:
        if self._parts is not None:
            self._items[-1]["text"] = "".join(self._parts)
            self._parts = None

    def _sent(self, now: float) -> None:
        """Note the sends the kernel's timers made before ``now``, in their order."""
        if not self._pending:
            return
        due = sorted((at, name) for name, at in self._pending.items() if at <= now)
        if due:
            for _, name in due:
                del self._pending[name]
            self._mark([name for _, name in due])

    def _mark(self, names: list[str]) -> None:
        self._join()
        last = self._items[-1] if self._items else None
        if last is not None and last["type"] == "flush":
            last["names"] = [n for n in last["names"] if n not in names] + names
        else:
            self._items.append({"type": "flush", "names": names})

    def stream(self, name: str, text: str) -> None:
        if not text:
            return
        if self.flush_interval is not None:
            now = time.monotonic()
            self._sent(now)
            self._pending.setdefault(name, now + self.flush_interval)
        last = self._items[-1] if self._items else None
        if last is not None and last["type"] == "stream" and last["name"] == name:
            if self._parts is None:
                self._parts = [last["text"]]
            self._parts.append(text)
        else:
            self._join()
            self._items.append({"type": "stream", "name": name, "text": text})
        self.size += len(text)

    def flushed(self, name: str) -> None:
        """The cell flushed a stream itself (``print(..., flush=True)``, a progress bar)."""
        if self.flush_interval is not None:
            self._sent(time.monotonic())
            if self._pending.pop(name, None) is not None:
                self._mark([name])

    def _both_sent(self) -> None:
        """A display or a traceback: the kernel sends both streams first (replay does too)."""
        if self.flush_interval is not None:
            self._sent(time.monotonic())
            self._pending.clear()

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
        self._both_sent()
        self._join()
        self._items.append(item)

    def error(self, item: dict[str, Any]) -> None:
        """A traceback shown while the cell ran (``{"type": "error", ...}``)."""
        self._both_sent()
        self._join()
        self._items.append(item)

    def clear(self) -> None:
        """The cell cleared its output (``clear_output``)."""
        self._parts = None
        self._items.clear()
        self._pending.clear()

    def finish(self) -> None:
        """The cell ended: the sends its timers made before the end."""
        last = self._items[-1] if self._items else None
        if last is None or last["type"] != "result":  # the result stays last (it is the value)
            self._sent(time.monotonic())
        self._pending.clear()
        self._join()
        if len({i["name"] for i in self._items if i["type"] == "stream"}) < 2:
            # one stream only: where it was sent changes nothing that is shown
            items: list[dict[str, Any]] = []
            texts: list[str] = []
            for item in [*self._items, {"type": "end"}]:
                if item["type"] == "flush":
                    continue
                if item["type"] == "stream":
                    if not texts:
                        items.append(item)
                    texts.append(item["text"])
                    continue
                if len(texts) > 1:
                    items[-1] = {**items[-1], "text": "".join(texts)}
                texts = []
                items.append(item)
            self._items = items[:-1]

    def to_json(self) -> list[dict[str, Any]]:
        return json.loads(json.dumps(self.items, default=str))


# -- the cell's result as a value --------------------------------------------------------------

#: the last expression's value is kept with a cached cell's outputs when its pickle is at
#: most this big (a number, a short list, ``df.describe()``); a bigger one that no name holds
#: is shown again but not kept, and ``_`` then holds what was shown
RESULT_VALUE_MAX = 256 * 1024
_SCALARS = (int, float, complex, bool, type(None))
_SKIPPED_NAMES = frozenset(("In", "Out", "exit", "quit", "get_ipython"))


def result_ref(value: Any, ns: dict[str, Any]) -> dict[str, str] | None:
    """How a hit gets back the value a cell showed as its result, so that ``_`` and
    ``Out[n]`` hold it as in plain Python: ``{"name": ...}`` when a name of the namespace
    holds that very object (``df`` as a cell's last line), else ``{"pickle": ...}`` for a
    small value, else ``None``."""
    if value is None:
        return None
    for name, bound in ns.items():
        if bound is value and not name.startswith("_") and name not in _SKIPPED_NAMES:
            return {"name": name}
    if not _small(value):
        return None
    data = _bounded_pickle(value)
    if data is None:
        return None
    return {"pickle": base64.b64encode(data).decode("ascii")}


def result_value(ref: dict[str, str] | None, ns: dict[str, Any]) -> Any:
    """The value :func:`result_ref` points at (raises ``LookupError`` when it is gone)."""
    if not ref:
        raise LookupError("no value")
    if "name" in ref:
        return ns[ref["name"]]
    try:
        return pickle.loads(base64.b64decode(ref["pickle"]))
    except Exception as exc:
        raise LookupError(f"the value does not load: {exc}") from None


class _TooBig(Exception):
    pass


class _BoundedFile(io.BytesIO):
    """Takes a pickle's bytes until they pass :data:`RESULT_VALUE_MAX`, then stops the pickler."""

    def write(self, data: Any) -> int:
        if self.tell() + len(memoryview(data)) > RESULT_VALUE_MAX:
            raise _TooBig
        return super().write(data)


def _bounded_pickle(value: Any) -> bytes | None:
    """``value``'s pickle when it is at most :data:`RESULT_VALUE_MAX` bytes, else ``None``
    (also when it cannot be pickled). Its size is measured first without copying its big
    buffers (protocol 5 leaves an array's data out of band: only counted), and the pickling
    stops as soon as it passes the bound, so a big value costs little to turn down."""
    total = 0

    def count(buffer: pickle.PickleBuffer) -> bool:
        nonlocal total
        total += buffer.raw().nbytes
        if total > RESULT_VALUE_MAX:
            raise _TooBig
        return True  # out of band: counted, not copied

    try:
        measure = _BoundedFile()
        pickle.Pickler(measure, protocol=5, buffer_callback=count).dump(value)
        if measure.tell() + total > RESULT_VALUE_MAX:
            return None
        data = pickle.dumps(value, protocol=4)
    except Exception:  # too big, or it cannot be pickled
        return None
    return data if len(data) <= RESULT_VALUE_MAX else None


#: libraries whose values are drawing or live state, never kept as a result: a matplotlib
#: artist (``[<Line2D>]``, ``<Axes: >``, a cell's usual last line) pickles its whole figure
_LIVE_MODULES = ("matplotlib", "ipywidgets", "IPython", "ipykernel")


def _small(value: Any, depth: int = 0) -> bool:
    """A value cheap to pickle and safe to keep: numbers, short strings, short containers of
    them, small numpy arrays and pandas objects, and any other library's or notebook's value
    (a sympy expression, a ``Fraction``, a namedtuple) whose pickle turns out small
    (:func:`_bounded_pickle` decides), but no drawing or live state."""
    if isinstance(value, _SCALARS):
        return True
    if isinstance(value, str | bytes):
        return len(value) <= RESULT_VALUE_MAX
    kind = type(value)
    module = kind.__module__ or ""
    if module == "numpy" or module.startswith("numpy."):
        dtype = getattr(value, "dtype", None)
        return (dtype is not None and not dtype.hasobject
                and getattr(value, "nbytes", RESULT_VALUE_MAX + 1) <= RESULT_VALUE_MAX)
    if module.startswith("pandas.") and kind.__name__ in ("DataFrame", "Series", "Index"):
        return int(getattr(value, "size", 10**9)) <= 10_000
    if depth >= 3:
        return False
    if isinstance(value, tuple | list | set | frozenset):
        return len(value) <= 100 and all(_small(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return len(value) <= 100 and all(_small(k, depth + 1) and _small(v, depth + 1)
                                         for k, v in value.items())
    return not module.startswith(_LIVE_MODULES) and not isinstance(
        value, types.FunctionType | types.ModuleType | types.GeneratorType | type)
