"""Versions of a notebook name: which step's ``df`` does each cell read?

Several step cells may bind the same name (``df = load()``, later ``df = df.dropna()``).
Each binding is a *version*; a cell reads the version made by the closest producer above
it. Versions get artifact names for the pipeline graph, the DAG and the exported module:
the first step producing ``df`` makes ``df``, the second ``df@2``, and so on; a value that
comes from outside the steps (an ordinary cell, the context) while steps also produce that
name is ``df@0``. Cache keys never contain these names (they are keyed by parameter name
and value digest), so renumbering never invalidates anything.

Pure: positions in, names out. The notebook passes execution order, export cell order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepNames:
    """One step as far as wiring goes: where it sits, what it reads and what it makes."""

    name: str
    position: float
    params: Sequence[str]
    outputs: Sequence[str]


@dataclass
class Wiring:
    """The resolved versions of every step's parameters and outputs."""

    #: step -> parameter -> the step whose output it reads (absent: from outside)
    producers: dict[str, dict[str, str]] = field(default_factory=dict)
    #: step -> artifact name of each parameter, in parameter order
    inputs: dict[str, list[str]] = field(default_factory=dict)
    #: step -> artifact name of each output, in output order
    outputs: dict[str, list[str]] = field(default_factory=dict)

    def artifact(self, step: str, output: str, outputs: Sequence[str]) -> str:
        """The artifact name of ``step``'s output ``output``."""
        return self.outputs[step][list(outputs).index(output)]


def artifact_name(name: str, version: int) -> str:
    """``df`` for the first version, ``df@2`` for the second, ``df@0`` for outside values."""
    return name if version == 1 else f"{name}@{version}"


def base_name(artifact: str) -> str:
    """``df`` for ``df@2``."""
    return artifact.split("@", 1)[0]


def wire(steps: Sequence[StepNames]) -> Wiring:
    """Resolve each parameter to its closest producer above (by position)."""
    ordered = sorted(steps, key=lambda s: s.position)
    makers: dict[str, list[StepNames]] = {}
    for st in ordered:
        for out in st.outputs:
            makers.setdefault(out, []).append(st)
    wiring = Wiring()
    for st in ordered:
        wiring.outputs[st.name] = [
            artifact_name(out, 1 + next(i for i, m in enumerate(makers[out]) if m.name == st.name))
            for out in st.outputs]
    for st in ordered:
        mine: dict[str, str] = {}
        arts: list[str] = []
        for param in st.params:
            above = [m for m in makers.get(param, ()) if m.position < st.position and m.name != st.name]
            if above:
                producer = above[-1]
                mine[param] = producer.name
                arts.append(artifact_name(param, 1 + makers[param].index(producer)))
            else:
                arts.append(artifact_name(param, 0) if param in makers else param)
        wiring.producers[st.name] = mine
        wiring.inputs[st.name] = arts
    return wiring
