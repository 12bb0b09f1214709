"""Draw the house from the code: the layers of ``pyproject.toml``'s import-linter contract and
the imports grimp finds between packages, as a mermaid diagram and a table of modules, written
into ``docs/architecture.md`` between its GENERATED markers.

    python docs/make_architecture.py            # rewrite the generated part
    python docs/make_architecture.py --check    # exit 1 when it no longer matches the code

``tests/test_architecture.py`` runs the check, so the picture cannot drift from the code.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import grimp

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- BEGIN GENERATED: python docs/make_architecture.py -->", "<!-- END GENERATED -->"


def layers() -> list[list[str]]:
    """The layers contract, top to bottom, each a list of its (independent) modules."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    contract = next(c for c in config["contracts"] if c["type"] == "layers")
    return [[m.strip() for m in layer.replace(":", "|").split("|")] for layer in contract["layers"]]


def unit_of(module: str, units: list[str]) -> str | None:
    """The layer member a module belongs to (itself or its closest listed ancestor)."""
    best = None
    for unit in units:
        if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best)):
            best = unit
    return best


def dependencies(graph: grimp.ImportGraph, units: list[str]) -> set[tuple[str, str]]:
    """(importer, imported) pairs between layer members, from every import in the code
    (function-level ones included), less the contract's ignored ones."""
    pairs = set()
    for module in graph.modules:
        src = unit_of(module, units)
        if src is None:
            continue
        for imported in graph.find_modules_directly_imported_by(module):
            dst = unit_of(imported, units)
            if dst is not None and dst != src:
                pairs.add((src, dst))
    return pairs


def node_id(unit: str) -> str:
    return unit.replace(".", "_")


def short(unit: str) -> str:
    return unit.removeprefix("flowyml.") if unit != "flowyml_jupyter" else unit


def mermaid(stack: list[list[str]], pairs: set[tuple[str, str]]) -> str:
    lines = ["```mermaid", "flowchart TD"]
    for depth, layer in enumerate(stack):
        lines.append(f'  subgraph L{depth}["layer {depth + 1}"]')
        lines.append("    direction LR")
        lines += [f'    {node_id(u)}["{short(u)}"]' for u in layer]
        lines.append("  end")
    lines += [f"  {node_id(a)} --> {node_id(b)}" for a, b in sorted(pairs)]
    lines.append("```")
    return "\n".join(lines)


def first_line(path: Path) -> str:
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return " ".join(doc.split("\n\n")[0].split()) if doc else ""


def module_table(units: list[str]) -> str:
    rows = ["| module | what it is |", "|---|---|"]
    for package in ("flowyml", "flowyml_jupyter"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__" and len(parts) > 1 and (path.stat().st_size < 400 and len(parts) > 1):
                continue  # a package's docstring only; its idea is in the paragraph above
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            rows.append(f"| `{name}` | {first_line(path).replace('|', '/')} |")
    return "\n".join(rows)


def generated() -> str:
    stack = layers()
    units = [u for layer in stack for u in layer]
    graph = grimp.build_graph("flowyml", "flowyml_jupyter")
    pairs = dependencies(graph, units)
    return "\n\n".join([
        BEGIN,
        "Layers top to bottom, and every import between their members (an arrow points at what "
        "is imported; function-level imports count). A lower layer never imports a higher one and "
        "no two modules import each other (`lint-imports`).",
        mermaid(stack, pairs),
        module_table(units),
        END,
    ])


def render(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return head + generated() + tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/architecture.md is stale")
    args = parser.parse_args(argv)
    text = DOC.read_text()
    new = render(text)
    if args.check:
        if new != text:
            print("docs/architecture.md is out of date: run python docs/make_architecture.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
