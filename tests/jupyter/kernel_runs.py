"""Run a list of cells in a fresh kernel through nbclient, as ``%%step`` cells (after
``%load_ext flowyml``) or as the plain notebook, and read back what each cell showed.

The kernel tests of SPEC §9 compare three runs of the same cells: plain Python, flowyml on a
fresh cache, and flowyml again in a fresh kernel (every cell a hit); these helpers are that
loop's one copy.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

WIDGET = "application/vnd.jupyter.widget-view+json"


def plain_cells(cells: list[str]) -> list[str]:
    """The cells without their ``%%step`` line."""
    return [c.split("\n", 1)[1] if c.startswith("%%step") else c for c in cells]


def run_cells(folder: Path, cells: list[str], flowyml: bool = True,
              allow_errors: bool = True, write: bool = True) -> list[list[Any]]:
    """Each cell's outputs (nbformat nodes), from a fresh kernel working in ``folder``
    (where the notebook is written too, unless ``write`` is false: a cell listing the
    folder then sees the same files in every run)."""
    first = "%load_ext flowyml" if flowyml else "pass"
    nb = new_notebook(cells=[new_code_cell(s) for s in
                             [first, *(cells if flowyml else plain_cells(cells))]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if write:
        nbformat.write(nb, folder / f"nb-{uuid.uuid4().hex[:6]}.ipynb")
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return [cell.outputs for cell in nb.cells[1:]]


def is_status(out: Any) -> bool:
    """flowyml's status line (a widget or its text)."""
    return (out.output_type in ("display_data", "execute_result")
            and out.get("data", {}).get("text/plain", "").startswith("step '"))


def status(outputs: list[Any]) -> str:
    """The cell's status line, ``""`` for none."""
    return next((o.data["text/plain"] for o in outputs if is_status(o)), "")


def statuses(runs: list[list[Any]]) -> list[str]:
    return [status(outputs) for outputs in runs]


def printed(outputs: list[Any], labelled: bool = False, results: bool = False,
            errors: bool = False, streams: tuple[str, ...] = ("stdout", "stderr")) -> str:
    """What the cell printed on ``streams``, in order (``labelled``: each chunk with its
    stream's name), with its values (``results``) and errors (``errors``) if asked."""
    parts = []
    for o in outputs:
        if o.output_type == "stream" and o.name in streams:
            parts.append(f"{o.name}: {o.text}" if labelled else o.text)
        elif results and o.output_type == "execute_result" and not is_status(o):
            parts.append(f"out: {o.data['text/plain']}\n")
        elif errors and o.output_type == "error":
            parts.append(f"ERROR {o.ename}")
    return "".join(parts)


def everything(outputs: list[Any]) -> str:
    """All a cell showed but its status line: its streams (labelled), values and errors."""
    return printed(outputs, labelled=True, results=True, errors=True)


def three_runs(folder: Path, cells: list[str], view: Any = printed,
               allow_errors: bool = True) -> tuple[list[Any], list[Any], list[Any], list[str]]:
    """``view`` of each cell's outputs in plain Python, in flowyml on the cache as it is,
    and in flowyml again in a fresh kernel; and the status lines of that last run."""
    plain = [view(o) for o in run_cells(folder, cells, False, allow_errors)]
    first = [view(o) for o in run_cells(folder, cells, True, allow_errors)]
    runs = run_cells(folder, cells, True, allow_errors)
    return plain, first, [view(o) for o in runs], statuses(runs)


def as_plain(folder: Path, cells: list[str], view: Any = everything,
             allow_errors: bool = True) -> tuple[list[Any], list[str]]:
    """:func:`three_runs`, asserting that flowyml showed what plain Python showed in both of
    its runs (on the cache as it is, and again in a fresh kernel): plain's ``view`` of each
    cell and the status lines of the last run."""
    plain, first, again, states = three_runs(folder, cells, view, allow_errors)
    assert first == plain, (first, plain)
    assert again == plain, (again, plain, states)
    return plain, states
