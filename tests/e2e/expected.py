"""What the quickstart notebook should show, worked out from its saved source alone.

The same inference rules as SPEC §6 (``%%step`` options, else names read / assigned),
applied without a kernel, so the browser tests know the DAG before the page shows it.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from flowyml.notebook.analysis import infer_io
from flowyml.notebook.cellspec import parse_step_line

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
QUICKSTART = NOTEBOOKS / "quickstart.ipynb"

#: the step whose cell the test edits, and the top-level line it types at the cell's end
#: (it must change the step's output value, so that the descendants become stale)
EDITED_STEP = "features"
EDIT_LINE = "features = features.iloc[:-1]"


def notebook_steps(path: Path) -> dict[str, set[str]]:
    """``{step: steps that read its outputs}`` from the notebook's ``%%step`` cells."""
    nb = nbformat.read(path, as_version=4)
    steps: list[tuple[str, list[str], list[str]]] = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.startswith("%%step"):
            continue
        first, _, body = cell.source.partition("\n")
        spec = parse_step_line(first[len("%%step") :])
        io = infer_io(body)
        outputs = spec.outputs if spec.outputs is not None else list(io.writes)
        inputs = spec.inputs if spec.inputs is not None else list(io.reads)
        steps.append((spec.name or outputs[0], inputs, outputs))
    producer = {out: name for name, _, outputs in steps for out in outputs}
    children: dict[str, set[str]] = {name: set() for name, _, _ in steps}
    for name, inputs, _ in steps:
        for needed in inputs:
            if needed in producer and producer[needed] != name:
                children[producer[needed]].add(name)
    return children


def descendants(children: dict[str, set[str]], step: str) -> set[str]:
    """Every step downstream of ``step``."""
    seen: set[str] = set()
    todo = list(children[step])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(children[node])
    return seen
