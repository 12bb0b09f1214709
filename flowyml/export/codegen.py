"""Intermediate form -> module text: the steps wired, the graph checked, each step function
written with :func:`flowyml.notebook.analysis.step_function_source` (the very function the magic
compiles, so the exported steps have the notebook's cache keys), the imports and the header.

Everything the notebook provides that is not cell code (step names, tags, descriptions, the
pipeline name, condition text) is emitted as a ``repr`` literal or re-generated from its AST,
so no notebook text can break or inject code into the module.
"""

from __future__ import annotations

import ast
import difflib
import os
import re
import sys
from collections.abc import Iterable
from typing import Any

from flowyml.export.ir import (
    IPYTHON_NAMES,
    LINE_LENGTH,
    RESERVED,
    CellIR,
    LeftOut,
    NotebookExportError,
    bound_name,
    comment_text,
)
from flowyml.notebook.analysis import infer_io, step_function_source
from flowyml.notebook.cells import CellAnalysis
from flowyml.store.urls import is_remote

# ---------------------------------------------------------------------------------------------
# IR -> module text
# ---------------------------------------------------------------------------------------------


def ir_to_module(ir: list[CellIR], name: str, notebook_dir: str | None = None,
                 cache_location: str | None = None) -> str:
    """The text of a module that runs the notebook's pipeline; ``name`` names the pipeline.

    ``notebook_dir`` is the notebook's folder relative to the module's; when the module is
    written elsewhere, its default cache is the notebook's (``.flowyml/cache`` next to the
    notebook), so the steps the notebook ran are cache hits from the module too.
    ``cache_location`` (a URL, an absolute path, or a path relative to the module's folder)
    replaces that default: the cache the notebook was told to use with ``%flowyml cache dir``.

    Raises :class:`NotebookExportError` for two steps with one name, two steps producing one
    output, a step reading a variable no cell defines, and a cycle between steps.
    """
    steps = [c for c in ir if c.kind == "step"]
    makers = {a: c for c in steps for a in c.step.artifacts}  # type: ignore[union-attr]
    code_cells = [c for c in ir if c.kind == "code"]
    ordinary = {n: c for c in code_cells for n in c.binds}
    module_names = {n for c in ir for n in c.defines} | set(ordinary)
    wiring: dict[str, tuple[list[str], list[str]]] = {}  # step -> (inputs, context params)
    context: dict[str, str] = {}  # context key -> the module variable that provides it
    for cell in steps:
        st = cell.step
        assert st is not None
        inputs, ctx = [], []
        renamed = any(art != param for param, art in zip(st.params, st.inputs, strict=True))
        for param, art in zip(st.params, st.inputs, strict=True):
            if art in makers and makers[art] is not cell:
                inputs.append(art)
            elif param in ordinary or param in module_names:
                ctx.append(param)
                if param in ordinary:
                    context.setdefault(art, param)
                if renamed:  # bound by position: every parameter is declared, in order
                    inputs.append(art)
            else:
                raise _missing_variable(cell, param, ir, set(makers))
        wiring[st.name] = (inputs, ctx)
        if st.spec.condition is not None:  # the condition asks for context values too
            code = ast.unparse(ast.parse(st.spec.condition.strip(), mode="eval"))
            for n in infer_io(code).reads:
                if n in ordinary and n not in makers:
                    context.setdefault(n, n)
    _check_cycles(steps, makers, wiring)
    func_names = _function_names(steps, module_names | set(context.values()))
    imports = _collect_imports(ir)
    parts: list[str] = []
    for cell in ir:
        text = _emit_cell(cell, wiring, func_names, {n for c in ir for n in c.defines})
        if text:
            parts.append(text)
    parts.append(_emit_pipeline(name, context, [func_names[c.step.name] for c in steps
                                                 if c.step], notebook_dir, cache_location))
    parts.append(_MAIN)
    body_text = "\n\n\n".join(parts)
    header = _emit_header(name, imports, body_text)
    gap = "\n\n\n" if body_text.startswith(("@", "def ", "class ", "async def ")) else "\n\n"
    return header + gap + body_text


def _missing_variable(cell: CellIR, param: str, ir: list[CellIR],
                      producers: set[str]) -> NotebookExportError:
    dropped = next((c for c in ir if param in c.lost), None)
    if dropped is not None:
        return NotebookExportError(
            f"{cell.where}: step {cell.step.name!r} reads {param!r}, which only "  # type: ignore[union-attr]
            f"{dropped.where} defines, and that cell is left out of the module "
            f"({dropped.left_out[0].reason}). Make {dropped.where} a %%step cell."
        )
    known = sorted({n for c in ir for n in (*c.binds, *c.defines)} | set(producers))
    close = difflib.get_close_matches(param, known, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return NotebookExportError(
        f"{cell.where}: step {cell.step.name!r} reads {param!r}, but no cell defines it.{hint} "  # type: ignore[union-attr]
        f"Define {param} in an ordinary cell or a step above, or declare the step's inputs "
        "with -i/--inputs."
    )


def _check_cycles(steps: list[CellIR], producers: dict[str, CellIR],
                  wiring: dict[str, tuple[list[str], list[str]]]) -> None:
    """Versions make a notebook's steps acyclic; declared ``--inputs`` can still close a loop."""
    import networkx as nx

    graph = nx.DiGraph()
    for cell in steps:
        assert cell.step is not None
        graph.add_node(cell.step.name)
        for inp in wiring[cell.step.name][0]:
            if inp in producers:
                graph.add_edge(producers[inp].step.name, cell.step.name)  # type: ignore[union-attr]
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    by_name = {c.step.name: c for c in steps if c.step}
    path = " -> ".join([*(a for a, _ in cycle), cycle[0][0]])
    cells = ", ".join(by_name[a].where for a, _ in cycle)
    raise NotebookExportError(
        f"steps depend on each other in a cycle: {path} ({cells}). A step cannot read the "
        "output of a step that reads its own output; rename the variable that closes the "
        "loop or split the step."
    )


def _function_names(steps: list[CellIR], taken: set[str]) -> dict[str, str]:
    """Step name -> name of its ``def``: the step name unless a module name is taken."""
    out: dict[str, str] = {}
    used = set(taken) | RESERVED
    for cell in steps:
        assert cell.step is not None
        candidate = cell.step.name
        while candidate in used:
            candidate += "_step"
        used.add(candidate)
        out[cell.step.name] = candidate
    return out


def _emit_cell(cell: CellIR, wiring: dict[str, tuple[list[str], list[str]]],
               func_names: dict[str, str], code_names: set[str]) -> str:
    notes = [_left_out_note(cell.index, item) for item in cell.left_out]
    text = "\n".join(notes)
    if cell.kind == "code":
        text = (text + "\n" if text else "") + cell.code
    elif cell.kind == "step":
        text = (text + "\n" if text else "") + _emit_step(cell, wiring, func_names, code_names)
    return text


def _left_out_note(index: int, item: LeftOut) -> str:
    one = _comment(f"cell {index}, left out ({item.reason}): {item.text}", width=10**6)
    if len(one) <= LINE_LENGTH:
        return one
    return _comment(f"cell {index}, left out: {item.text}") + "\n" + _comment(f"  ({item.reason})")


def _emit_step(cell: CellIR, wiring: dict[str, tuple[list[str], list[str]]],
               func_names: dict[str, str], code_names: set[str]) -> str:
    st = cell.step
    assert st is not None
    spec = st.spec
    inputs, _ = wiring[st.name]
    kwargs: list[tuple[str, str]] = [("name", _str_literal(st.name))]
    if inputs:
        kwargs.append(("inputs", _list_literal(inputs)))
    if st.outputs:
        kwargs.append(("outputs", _list_literal(st.artifacts or st.outputs)))
    if spec.cache is False:
        kwargs.append(("cache", "False"))
    elif spec.cache != "code_hash":
        kwargs.append(("cache", _str_literal(spec.cache)))
    if spec.retries:
        kwargs.append(("retry", repr(int(spec.retries))))
    if spec.timeout is not None:
        kwargs.append(("timeout", repr(float(spec.timeout))))
    if spec.resources:
        kwargs.append(("resources", _dict_literal(spec.resources)))
    if spec.tags:
        kwargs.append(("tags", _dict_literal(spec.tags)))
    if spec.condition is not None:
        kwargs.append(("condition", _condition_lambda(spec.condition, code_names)))
    if spec.group is not None:
        kwargs.append(("execution_group", _str_literal(spec.group)))
    if spec.pipeline is not None:
        kwargs.append(("pipeline", _str_literal(spec.pipeline)))
    if spec.description is not None:
        kwargs.append(("description", _str_literal(spec.description)))
    if spec.files:
        kwargs.append(("files", _list_literal(spec.files)))
    if not spec.track_files:
        kwargs.append(("track_files", "False"))
    decorator = _call("@step", kwargs)
    optional = [o for o in st.outputs if o in st.analysis.maybe]
    function = step_function_source(func_names[st.name], st.params, st.outputs,
                                    st.analysis.python, optional).rstrip("\n")
    hoisted = _hoisted_definitions(st.analysis)
    return (hoisted + "\n\n\n" if hoisted else "") + decorator + "\n" + function


def _hoisted_definitions(analysis: CellAnalysis) -> str:
    """A step cell's functions and classes, also at module level: later steps call them
    (its imports go to the module's header)."""
    if not analysis.definitions.strip():
        return ""
    tree = ast.parse(analysis.definitions)
    kept = [stmt for stmt in tree.body if not isinstance(stmt, ast.Import | ast.ImportFrom)]
    return "\n\n\n".join(ast.unparse(stmt) for stmt in kept)


def _condition_lambda(expr: str, code_names: set[str]) -> str:
    """``lambda a, b: EXPR`` re-generated from the expression's AST (no comments, one line)."""
    tree = ast.parse(expr.strip(), mode="eval")
    code = ast.unparse(tree)
    reads = [n for n in infer_io(code).reads if n not in code_names and n not in IPYTHON_NAMES]
    return f"lambda {', '.join(reads)}: {code}" if reads else f"lambda: {code}"


def _call(func: str, kwargs: list[tuple[str, str]]) -> str:
    one_line = f"{func}({', '.join(f'{k}={v}' for k, v in kwargs)})"
    if len(one_line) <= LINE_LENGTH:
        return one_line
    inner = "".join(f"    {k}={v},\n" for k, v in kwargs)
    return f"{func}(\n{inner})"


def _list_literal(names: Iterable[str]) -> str:
    return "[" + ", ".join(_str_literal(n) for n in names) + "]"


def _dict_literal(mapping: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{_str_literal(k)}: {_str_literal(v)}" for k, v in mapping.items()) + "}"


def _str_literal(value: Any) -> str:
    """A double-quoted literal where ``repr`` would use single quotes for no reason."""
    text = repr(value)
    if isinstance(value, str) and text.startswith("'") and '"' not in value:
        text = '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


def _comment(text: str, width: int = 88) -> str:
    """One ``#`` comment line holding ``text`` (escaped, shortened to ``width``)."""
    line = "# " + comment_text(text)
    return line if len(line) <= width else line[: width - 3] + "..."


def _emit_pipeline(name: str, context: dict[str, str], funcs: list[str],
                   notebook_dir: str | None = None, cache_location: str | None = None) -> str:
    ctx = "{" + ", ".join(f"{_str_literal(k)}: {v}" for k, v in context.items()) + "}"
    args = f"{_str_literal(name)}, context={ctx}" if context else _str_literal(name)
    cache = ""
    if cache_location is not None:
        if is_remote(cache_location) or os.path.isabs(cache_location):
            where = _str_literal(cache_location)
        else:
            where = f"str(Path(__file__).resolve().parent / {_str_literal(cache_location)})"
        cache = (
            "# the cache the notebook used (%flowyml cache dir) unless FLOWYML_CACHE_DIR says\n"
            "# otherwise: the steps the notebook ran are cache hits here\n"
            f'CACHE_DIR = os.environ.get("FLOWYML_CACHE_DIR") or {where}\n'
        )
        args += ", cache_dir=CACHE_DIR"
    elif notebook_dir not in (None, "", "."):
        where = _str_literal(f"{notebook_dir}/.flowyml/cache")
        cache = (
            "# the notebook's cache (.flowyml/cache next to it) unless FLOWYML_CACHE_DIR says\n"
            "# otherwise: the steps the notebook ran are cache hits here\n"
            'CACHE_DIR = os.environ.get("FLOWYML_CACHE_DIR") or (\n'
            f"    Path(__file__).resolve().parent / {where}\n)\n"
        )
        args += ", cache_dir=CACHE_DIR"
    create = f"{cache}pipeline = Pipeline({args})"
    if len(create) - len(cache) > LINE_LENGTH:
        entries = "".join(f"        {_str_literal(k)}: {v},\n" for k, v in context.items())
        extra = "    cache_dir=CACHE_DIR,\n" if cache else ""
        create = (f"{cache}pipeline = Pipeline(\n    {_str_literal(name)},\n"
                  f"    context={{\n{entries}    }},\n{extra})")
    add = f"pipeline.add_steps([{', '.join(funcs)}])"
    if len(add) > LINE_LENGTH:
        add = "pipeline.add_steps(\n    [\n" + "".join(f"        {f},\n" for f in funcs) + "    ]\n)"
    return f"{create}\n{add}"


_MAIN = '''if __name__ == "__main__":
    result = pipeline.run()
    print(result.summary())
    for res in result.step_results.values():
        if res.traceback:
            print(f"\\nstep {res.name!r} failed:\\n{res.traceback}", file=sys.stderr)
    sys.exit(0 if result.success else 1)
'''


# ---------------------------------------------------------------------------------------------
# Imports and the module header
# ---------------------------------------------------------------------------------------------


def _collect_imports(ir: list[CellIR]) -> list[ast.stmt]:
    seen: set[str] = set()
    out: list[ast.stmt] = []
    for cell in ir:
        for stmt in cell.imports:
            text = ast.unparse(stmt)
            if text not in seen:
                seen.add(text)
                out.append(stmt)
    return out


def _emit_header(name: str, imports: list[ast.stmt], body: str) -> str:
    used = _used_names(body)
    future: list[str] = []
    sections: dict[int, dict[str, list[str]]] = {0: {}, 1: {}}
    left_out: list[str] = []
    ours = "import os\nimport sys\nfrom pathlib import Path\nfrom flowyml import Pipeline, step"
    if "display" in used:  # IPython's display() is a builtin in the notebook only
        ours += "\nfrom IPython.display import display"
    own = ast.parse(ours).body
    for stmt in [*imports, *own]:
        module = stmt.module if isinstance(stmt, ast.ImportFrom) else None
        if isinstance(stmt, ast.ImportFrom) and stmt.level:
            left_out.append(ast.unparse(stmt))  # relative imports mean nothing in a script
            continue
        if module == "__future__":
            future.extend(a.name for a in stmt.names)
            continue
        kept = [a for a in stmt.names if a.name == "*" or bound_name(a) in used]
        for alias in stmt.names:
            if alias not in kept and stmt not in own:  # our own unused imports just go
                left_out.append(ast.unparse(type(stmt)(**{**_fields(stmt), "names": [alias]})))
        if not kept:
            continue
        top = (module or kept[0].name).split(".")[0]
        section = 0 if top in sys.stdlib_module_names else 1
        if isinstance(stmt, ast.ImportFrom):
            bucket = sections[section].setdefault(f"from {module}", [])
            bucket.extend(_alias_text(a) for a in kept if _alias_text(a) not in bucket)
        else:
            for alias in kept:
                sections[section].setdefault(f"import {_alias_text(alias)}", [])
    lines = [_docstring(name)]
    if future:
        lines.append("from __future__ import " + ", ".join(sorted(set(future))))
    for section in (0, 1):
        group = sections[section]
        if not group:
            continue
        straight = sorted((k for k in group if k.startswith("import ")), key=_sort_key)
        froms = sorted((k for k in group if k.startswith("from ")), key=_sort_key)
        block = list(straight)
        for key in froms:
            names = sorted(group[key], key=_member_key)
            block.append(_from_line(key, names))
        lines.append("\n".join(block))
    if left_out:
        lines.append("\n".join(_comment(f"left out (unused): {t}") for t in left_out))
    return "\n\n".join(lines)


def _fields(node: ast.AST) -> dict[str, Any]:
    return {f: getattr(node, f) for f in node._fields}


def _alias_text(alias: ast.alias) -> str:
    return f"{alias.name} as {alias.asname}" if alias.asname else alias.name


def _sort_key(text: str) -> tuple[str, str]:
    module = text.split()[1]
    return (module.lower(), text)


def _member_key(text: str) -> tuple[int, str]:
    name = text.split()[0]
    kind = 0 if name.isupper() and len(name) > 1 else (1 if name[:1].isupper() else 2)
    return (kind, name.lower())


def _from_line(key: str, names: list[str]) -> str:
    line = f"{key} import {', '.join(names)}"
    if len(line) <= LINE_LENGTH:
        return line
    inner = "".join(f"    {n},\n" for n in names)
    return f"{key} import (\n{inner})"


def _used_names(code: str) -> set[str]:
    return {node.id for node in ast.walk(ast.parse(code)) if isinstance(node, ast.Name)}


def _docstring(name: str) -> str:
    # the name goes in only when it is plain text; it is in the Pipeline(...) literal anyway
    label = f"Pipeline {name!r}" if re.fullmatch(r"[\w .+-]{1,80}", name) else "A pipeline"
    return (f'"""{label}, exported from a notebook by flowyml.\n\n'
            "Run it with `python THIS_FILE.py` or `flowyml run THIS_FILE.py`. Its steps have\n"
            "the notebook's cache keys: a step that ran in the notebook is not recomputed.\n"
            '"""')


