"""One ``%%step`` cell as the notebook keeps it: its record, its status row, and the
facts about it that outlive a kernel.

:class:`NotebookStep` is what :class:`flowyml.notebook.session.NotebookSession` knows of a cell (its
definition, its last run, what its outputs were made from). Inputs a cell was seen changing
in place are remembered next to the cache (:func:`read_changed_note`), so the next kernel and
the exported module make them outputs from the start, with the same cache key. Pure logic.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import sys
import tempfile
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xxhash

from flowyml.core.step import Step
from flowyml.notebook import staleness as _staleness
from flowyml.notebook.analysis import infer_io
from flowyml.notebook.cells import CellAnalysis
from flowyml.notebook.cellspec import StepCellSpec
from flowyml.store import local as _cache

#: states after which a step's outputs are in the namespace
PRODUCED = ("done", "cached")


class StepDefinitionError(ValueError):
    """A ``%%step`` cell cannot become a step (bad inputs/outputs, name clash...)."""


class CellNotPythonError(StepDefinitionError):
    """The cell has a Python syntax error: as plain Python it raises ``SyntaxError`` (with
    its line), so the magic runs it as an ordinary cell, which shows just that."""


class IPythonOnlyCellError(StepDefinitionError):
    """The cell holds IPython syntax a step cannot keep (``%%bash``, ``%%writefile``,
    ``x = !cmd``): plain IPython runs it, so the magic runs it as an ordinary cell (not
    cached, as it would be without ``%%step``) and says so in its status line. ``what`` is
    that syntax."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


class UnknownInputsError(StepDefinitionError):
    """The cell reads names nothing defines: as plain Python it would raise ``NameError``
    part-way (after its imports ran), so the magic runs it as an ordinary cell."""


class StepRunError(RuntimeError):
    """A step cell did not produce its outputs; the details were shown above.

    IPython shows only the one-line message (``_render_traceback_``): the body's own
    traceback has already been displayed like a normal cell's.
    """

    def __init__(self, step: str, state: str, message: str) -> None:
        super().__init__(message)
        self.step, self.state = step, state
        #: the exception the cell's body raised, if it raised one (set by the magic)
        self.body_error: BaseException | None = None

    def _render_traceback_(self) -> list[str]:
        # IPython calls this right after it made this error the "last" one; the last one is
        # the body's, as after a plain cell, so that `%debug` / `pdb.pm()` open the user's
        # frame (they opened flowyml's, which raised this one-line report)
        error = self.body_error
        if error is not None and error.__traceback__ is not None:
            sys.last_type, sys.last_value, sys.last_traceback = type(error), error, error.__traceback__
        return [f"flowyml: {self}"]


@dataclass
class NotebookStep:
    """One ``%%step`` cell: its definition, its last run and what its outputs came from."""

    name: str
    body: str
    params: list[str]
    outputs: list[str]
    step: Step
    spec: StepCellSpec
    analysis: CellAnalysis = field(default_factory=CellAnalysis)
    cell: str | None = None      # the front end's cell id, when it sends one
    shape: str = ""              # the code without comments and formatting (code_shape)
    position: int = 0            # where the cell sits (execution order)
    changed_in_place: list[str] = field(default_factory=list)  # found by re-hashing inputs
    state: str = "pending"
    made: _staleness.Provenance | None = None
    duration: float = 0.0
    attempts: int = 0
    error: str | None = None
    time_saved: float = 0.0
    cache_key: str | None = None
    uncacheable_reason: str | None = None
    replay_note: str | None = None  # why this run's outputs will not be replayed
    not_stored: str | None = None  # why this run's outputs could not be stored (a generator)
    notes: list[str] = field(default_factory=list)  # one-line notes for the user
    runs: int = 0  # how many times the body was executed in this session

    @property
    def awaits(self) -> bool:
        """The body awaits at top level: its step function is a coroutine function, and in
        a shell it runs in the shell's event loop."""
        return inspect.iscoroutinefunction(self.step.func)


@dataclass(frozen=True)
class StepStatus:
    """A row of ``%flowyml status``."""

    name: str
    state: str
    why: str
    duration: float = 0.0
    time_saved: float = 0.0
    error: str | None = None
    makes: str = ""  # the versions it produces: "df@2, model"


@dataclass
class RunReport:
    """What ``%flowyml run`` did."""

    ran: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)
    result: Any = None

    def summary(self) -> str:
        if not (self.ran or self.cached or self.failed or self.skipped):
            return "flowyml: nothing to run, every step is up to date"
        parts = [f"ran {', '.join(self.ran)}" if self.ran else "",
                 f"loaded from cache {', '.join(self.cached)}" if self.cached else "",
                 f"skipped {', '.join(self.skipped)}" if self.skipped else "",
                 f"FAILED {', '.join(self.failed)}" if self.failed else "",
                 f"left untouched (fresh) {', '.join(self.fresh)}" if self.fresh else ""]
        return "flowyml: " + "; ".join(p for p in parts if p)


def is_code_dependency(value: Any) -> bool:
    """Modules, functions and classes a cell reads are code, not data: they go into the
    code fingerprint (through the function's globals), not into the parameters."""
    return (inspect.ismodule(value) or inspect.isclass(value) or inspect.isroutine(value)
            or isinstance(value, Step | types.MethodType))


_NOT_STORED_TAIL = "the cell runs again after a restart"


def unstorable_output(outputs: dict[str, Any]) -> str | None:
    """Why ``outputs`` cannot be stored, known without trying: a generator (``G = (x for x
    in xs)``, ``G = gen()``) is consumed as it is read and cannot be pickled, by design. In
    the status line's words; ``None`` when nothing is known to be unstorable."""
    for name, value in outputs.items():
        if isinstance(value, types.GeneratorType | types.AsyncGeneratorType) \
                and not used_up(value):
            return (f"output '{name}' is a generator, which cannot be stored (it is used up as "
                    f"it is read): {_NOT_STORED_TAIL}")
        mapped = _writable_map(value)
        if mapped is not None:
            return (f"output '{name}' is an array mapped onto {os.path.basename(mapped)} "
                    "(np.memmap), which a stored copy would not write to: "
                    f"{_NOT_STORED_TAIL}")
    return None


def used_up(value: Any) -> bool:
    """A generator that yields nothing more (run to its end, or closed): it is stored as
    one, and a hit gives one back."""
    return isinstance(value, types.GeneratorType) and value.gi_frame is None


def _writable_map(value: Any) -> str | None:
    """The file a writable memory-mapped array writes through to (``np.memmap`` in mode
    ``r+``/``w+``, or a view of one, as ``mmap[:5]``), else ``None``. A copy loaded from the
    cache is an ordinary array: what a later cell writes into it would not reach the file,
    which plain Python changes (Python for Data Analysis, appendix A)."""
    np = sys.modules.get("numpy")
    if np is None:
        return None
    seen = 0
    while isinstance(value, np.ndarray) and seen < 32:
        if isinstance(value, np.memmap) and getattr(value, "_mmap", None) is not None \
                and getattr(value, "mode", None) in ("r+", "w+") and value.filename:
            return str(value.filename)
        value, seen = value.base, seen + 1
    return None


def unpicklable_reason(message: str, outputs: dict[str, Any]) -> str | None:
    """The store's warning that an output cannot be pickled, in the status line's words (no
    file path: the user sees it once, in the step's status); ``None`` for other warnings."""
    match = re.search(r"output '([^']+)' cannot be pickled", message)
    if match is None:
        return None
    name = match.group(1)
    kind = type(outputs[name]).__name__ if name in outputs else "value"
    return f"output '{name}' ({kind}) cannot be pickled, so it is not stored: {_NOT_STORED_TAIL}"


def _note_path(root: str | Path, name: str) -> Path:
    from flowyml.store.locations import notes_base

    return notes_base(root) / "notes" / f"{_cache.step_dirname(name)}.json"


def read_changed_note(root: str | Path, name: str, body: str) -> list[str]:
    """Inputs the cell ``body`` of step ``name`` was seen changing in place (any kernel).

    Found by re-hashing a step's inputs after its body ran; kept next to the cache so the
    next kernel, and the exported module, make those names outputs from the start (and so
    compute the same cache key)."""
    try:
        notes = json.loads(_note_path(Path(root), name).read_text())
        names = notes.get(_body_digest(body), [])
        return [n for n in names if isinstance(n, str) and n.isidentifier()]
    except (OSError, ValueError, AttributeError):
        return []


def write_changed_note(root: str | Path, name: str, body: str, names: list[str]) -> None:
    """Remember :func:`read_changed_note`'s answer (atomically; best effort)."""
    path = _note_path(Path(root), name)
    try:
        try:
            notes = json.loads(path.read_text())
            notes = notes if isinstance(notes, dict) else {}
        except (OSError, ValueError):
            notes = {}
        notes[_body_digest(body)] = names
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".note-")
        with os.fdopen(fd, "w") as fh:
            json.dump(notes, fh)
        os.replace(tmp, path)
    except OSError:
        pass  # only a hint for the next kernel: the values themselves are cached


def base_of(name: str) -> str:
    """``df`` for ``df_2`` (a default step name made unique), else the name itself."""
    head, sep, tail = name.rpartition("_")
    return head if sep and tail.isdigit() and head else name


def code_shape(analysis: CellAnalysis) -> str:
    """The cell's code without comments and formatting (an edit of those is the same cell)."""
    try:
        return ast.dump(ast.parse(analysis.python))
    except SyntaxError:
        return analysis.python


def _body_digest(body: str) -> str:
    return xxhash.xxh3_64_hexdigest(body.strip().encode())


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def condition_function(expr: str, namespace: dict[str, Any]) -> types.FunctionType:
    """``def _condition(<names EXPR reads>): return EXPR`` with the notebook as globals, so the
    runner passes it context values and upstream outputs by name, as for ``@step``."""
    reads = [n for n in infer_io(expr).reads if not is_code_dependency(namespace.get(n))]
    source = f"def _condition({', '.join(reads)}):\n    return ({expr})\n"
    code = compile(source, "<flowyml-condition>", "exec")
    fn_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    return types.FunctionType(fn_code, namespace, "_condition")
