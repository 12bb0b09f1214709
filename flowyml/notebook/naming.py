"""Names for steps: a readable, unique name for a ``%%step`` cell that does not give one.

The name comes from what the cell makes (its first declared output, else the first value, input
changed in place or definition), else from what it shows (its first line of code as an
identifier: ``df.head()`` -> ``df_head``). The notebook and the exporter both name steps here, so
an exported step has the notebook's name and the notebook's cache keys.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Iterable, Sequence

from flowyml.notebook.cells import CellAnalysis
from flowyml.notebook.ipysyntax import is_left_out


def default_step_name(analysis: CellAnalysis, taken: Iterable[str] = (),
                      declared: Sequence[str] | None = None) -> str:
    """A readable, unique step name: the first declared output (``-o``), else the first value
    the cell makes, else what it shows. A scratch variable assigned before the declared
    output never names the step (the notebook and the export both name steps here)."""
    taken = set(taken)
    made = [*(declared or ()), *analysis.outputs, *analysis.mutated, *analysis.defines]
    base = next(iter(made), None)
    if base is None:
        magic = " ".join(line.text.lstrip("%!") for line in analysis.ipython[:1])
        base = (display_name(analysis.python) or display_name(magic)
                or next(iter(analysis.incidental), None) or "cell")
    return unique_name(base, taken)


def unique_name(base: str, taken: set[str]) -> str:
    """``base``, else ``base_2``, ``base_3``... (the first one not in ``taken``)."""
    if base not in taken:
        return base
    n = 2
    while f"{base}_{n}" in taken:
        n += 1
    return f"{base}_{n}"


def display_name(python: str) -> str | None:
    """``df_head`` for ``df.head()``, ``plt_plot_x_y`` for ``plt.plot(x, y)``: the first
    line of code, as an identifier."""
    for line in python.split("\n"):
        code = line.split("#", 1)[0].strip()
        if not code or code == "pass" or is_left_out(line):
            continue
        words = [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code)
                 if not keyword.iskeyword(w) and not keyword.issoftkeyword(w)]
        if not words:
            continue
        ident = ""
        for word in words:
            if len(ident) + len(word) > 30:
                break
            ident = f"{ident}_{word}" if ident else word
        return ident or None
    return None
