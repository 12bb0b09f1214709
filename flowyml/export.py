"""Notebook -> intermediate form -> plain pipeline module.

:func:`notebook_to_ir` classifies every code cell (imports / code / step / dropped) and works
out each ``%%step`` cell's inputs and outputs exactly as the ``%%step`` magic does;
:func:`ir_to_module` wires the steps, checks the graph and writes the module text. Each step
function is written with :func:`flowyml.notebook.analysis.step_function_source`, the very function the
magic compiles, so the exported steps have the notebook's cache keys.

Everything the notebook provides that is not cell code (step names, tags, descriptions, the
pipeline name, condition text) is emitted as a ``repr`` literal or re-generated from its AST,
so no notebook text can break or inject code into the module. Never imports IPython.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import difflib
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowyml.notebook import versions as _versions
from flowyml.notebook.analysis import assigned_names, infer_io, step_function_source
from flowyml.notebook.cells import CellAnalysis, CellSyntaxError, analyze, default_step_name
from flowyml.notebook.cellspec import StepCellSpec, StepLineError, parse_step_line
from flowyml.store.urls import is_remote

#: names IPython puts in every cell's namespace; not inputs of a step
IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "_", "__", "___"})
_RESERVED = frozenset({"Pipeline", "step", "pipeline", "sys", "result"})
_LINE_LENGTH = 88  # ruff's and black's default
_DISPLAY_METHODS = frozenset({"head", "tail", "describe", "sample", "info", "to_frame"})
_MAGIC_ASSIGN = re.compile(r"^[\w.,\s()\[\]*]+=\s*[!%]")


#: magics and aliases IPython runs without `%` on a one-line cell (automagic)
_AUTOMAGIC = frozenset({
    "alias", "cat", "cd", "clear", "conda", "cp", "dhist", "echo", "env", "history", "less",
    "ll", "load_ext", "ls", "lsmagic", "man", "matplotlib", "mkdir", "more", "mv", "page",
    "pdef", "pdoc", "pinfo", "pip", "precision", "prun", "psource", "pwd", "pycat", "reset",
    "rm", "rmdir", "run", "store", "sx", "system", "time", "timeit", "who", "whos", "xmode",
})


class NotebookExportError(ValueError):
    """The notebook cannot be exported; the message names the cell and the fix."""


@dataclass(frozen=True)
class LeftOut:
    """A piece of a cell that the module leaves out, and why."""

    text: str
    reason: str


@dataclass
class StepIR:
    """One ``%%step`` cell: its options, parameters (in order) and outputs."""

    name: str
    params: list[str]
    outputs: list[str]
    body: str
    spec: StepCellSpec
    analysis: CellAnalysis = field(default_factory=CellAnalysis)
    inputs: list[str] = field(default_factory=list)     # the version of each param read
    artifacts: list[str] = field(default_factory=list)  # the version each output makes


@dataclass
class CellIR:
    """One code cell, classified.

    ``kind`` is ``"imports"`` (only import statements), ``"code"`` (ordinary module-level
    code: helpers, parameters), ``"step"`` or ``"dropped"``. ``index`` is the position in
    ``nb.cells`` (0-based, as nbformat and nbclient count).
    """

    index: int
    kind: str
    first_line: str
    imports: list[ast.stmt] = field(default_factory=list)
    code: str = ""
    left_out: list[LeftOut] = field(default_factory=list)
    step: StepIR | None = None
    binds: list[str] = field(default_factory=list)  # names the kept code assigns
    defines: list[str] = field(default_factory=list)  # names it binds by def/class/import
    reads: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # names only left-out code binds

    @property
    def where(self) -> str:
        """``cell 3 ('%%step clean')``: how error messages name this cell."""
        return f"cell {self.index} ({_comment_text(self.first_line)!r})"


# ---------------------------------------------------------------------------------------------
# Notebook -> IR
# ---------------------------------------------------------------------------------------------


def read_notebook(path: str | Path) -> Any:
    """Read ``path`` with nbformat (v4), or raise :class:`NotebookExportError` saying why."""
    import nbformat

    path = Path(path)
    if not path.is_file():
        raise NotebookExportError(f"no notebook at {path}; pass the path of an .ipynb file")
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        raise NotebookExportError(
            f"{path} is not a Jupyter notebook ({type(exc).__name__}: {exc}). Export reads "
            "the .ipynb JSON file that Jupyter saves; pass that file."
        ) from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookExportError(f"{path} is not a Jupyter notebook: it has no 'cells' list")
    return nb


def notebook_to_ir(nb: Any, notes_root: str | Path | None = None) -> list[CellIR]:
    """Classify each code cell of ``nb`` and infer each step's parameters and outputs.

    A step's parameters are the names its body reads that are not builtins and not names
    the cells bind by ``def``/``class``/``import`` (those stay module globals, and their code
    is part of the step's fingerprint); declared ``--inputs``/``--outputs`` win. The rules
    are the ``%%step`` magic's (:mod:`flowyml.notebook.cells`), with cell order for versions.
    ``notes_root`` is the notebook's cache: inputs a cell was seen changing in place there
    are its outputs here too, as in the notebook.
    """
    cells: list[CellIR] = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        if not source.strip():
            continue
        cells.append(_classify(index, source))
    module_globals: set[str] = set()
    for cell in cells:
        if cell.kind in ("imports", "code") or cell.kind == "step":
            module_globals.update(cell.defines)
    taken: dict[str, CellIR] = {}
    bound: set[str] = set()  # names cells above bind (what the notebook's namespace holds)
    for cell in cells:
        if cell.kind == "step":
            _infer_step(cell, module_globals, bound, taken, notes_root)
            bound.update(cell.step.outputs)  # type: ignore[union-attr]
        bound.update(cell.binds)
    _wire_versions(cells)
    _drop_cells_reading_outputs(cells)
    return cells


def _classify(index: int, source: str) -> CellIR:
    lines = _lines(source)
    first = next(line for line in lines if line.strip())
    if first.startswith("%%step") and first[6:7] in ("", " ", "\t"):
        return _step_cell(index, first, source)
    if first.lstrip().startswith("%%"):
        magic = first.split()[0]
        cell = CellIR(index, "dropped", first, left_out=[
            LeftOut(first, f"cell magic {magic}, IPython only")])
        rest = "\n".join(lines[lines.index(first) + 1:])
        with contextlib.suppress(SyntaxError):
            cell.lost = sorted(assigned_names(rest))
        return cell
    return _code_cell(index, first, lines)


def _step_cell(index: int, first: str, source: str) -> CellIR:
    lines = _lines(source)
    at = next(i for i, line in enumerate(lines) if line.strip())
    body = "\n".join(lines[at + 1:])
    cell = CellIR(index, "step", first)
    try:
        spec = parse_step_line(first[len("%%step"):])
    except StepLineError as exc:
        raise NotebookExportError(
            f"{cell.where}: {exc}. Fix the %%step line (see `%%step?` for its options)."
        ) from None
    try:
        analysis = analyze(body)
    except CellSyntaxError as exc:
        lines = [line for line in body.split("\n") if line.strip()]
        word = re.match(r"\s*([A-Za-z_]\w*)", lines[0]) if len(lines) == 1 else None
        if word is not None and word.group(1) in _AUTOMAGIC:
            # a one-line cell IPython runs as a magic without `%` (automagic: `ls *.csv`)
            cell.kind = "dropped"
            cell.left_out.append(LeftOut(body.strip(), "IPython automagic, IPython only"))
            return cell
        raise NotebookExportError(
            f"{cell.where}: the step body is not valid Python ({exc}); fix the cell") from None
    cell.step = StepIR(name="", params=[], outputs=[], body=body, spec=spec, analysis=analysis)
    cell.defines = list(analysis.defines)
    tree = ast.parse(analysis.python)
    cell.imports = [stmt for stmt in tree.body if isinstance(stmt, ast.Import | ast.ImportFrom)]
    return cell


def _lines(source: str) -> list[str]:
    """Split on newlines only, as IPython does for the magic line (not on form feeds etc.)."""
    return source.replace("\r\n", "\n").split("\n")


def _code_cell(index: int, first: str, lines: list[str]) -> CellIR:
    cell = CellIR(index, "code", first)
    kept: list[str] = []
    for line in lines:
        stripped = line.strip()
        reason = None
        if line[:1] == "%" or (stripped.startswith("%") and line[:1].isspace()):
            reason = "IPython magic"
        elif stripped.startswith("!"):
            reason = "shell escape"
        elif _MAGIC_ASSIGN.match(line):
            reason = "IPython-only assignment"
        elif (stripped.endswith("?") and not stripped.startswith("#")
              and stripped.rstrip("?").replace(".", "").isidentifier()):
            reason = "IPython help"
        if reason is None:
            kept.append(line)
        else:
            cell.left_out.append(LeftOut(stripped, reason))
            kept.append("")
    code = "\n".join(kept)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        raise NotebookExportError(
            f"{cell.where}: not valid Python once IPython syntax is left out (line "
            f"{exc.lineno}: {exc.msg}); move magics and shell escapes out of indented blocks"
        ) from None
    remove: set[int] = set()  # 1-based line numbers
    last = tree.body[-1] if tree.body else None
    for stmt in tree.body:
        end = stmt.end_lineno or stmt.lineno
        if any(o is not stmt and o.lineno <= end and (o.end_lineno or o.lineno) >= stmt.lineno
               for o in tree.body):
            continue  # shares a line with another statement (`import x; y = 1`): keep in place
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            cell.imports.append(stmt)
        elif _is_display(stmt, last=stmt is last):
            cell.left_out.append(LeftOut(kept[stmt.lineno - 1].strip(),
                                         "display only"))
        else:
            continue
        remove.update(range(stmt.lineno, end + 1))
    body = [line for number, line in enumerate(kept, 1) if number not in remove]
    cell.code = _strip_blank_edges("\n".join(line.rstrip() for line in body))
    io = infer_io(cell.code) if cell.code else None
    cell.binds = list(io.writes) if io else []
    cell.defines = list(io.defines) if io else []
    cell.defines += [_bound_name(alias) for stmt in cell.imports for alias in stmt.names
                     if alias.name != "*"]
    cell.reads = list(io.reads) if io else []
    lambdas = _lambda_names(cell.code) if cell.code else set()
    cell.binds = [n for n in cell.binds if n not in lambdas]
    cell.defines += sorted(lambdas)
    if not cell.code:
        cell.kind = "imports" if cell.imports else "dropped"
    return cell


def _lambda_names(code: str) -> set[str]:
    """Names an ordinary cell binds to a lambda: code (like a ``def``), not data."""
    return {target.id for stmt in ast.parse(code).body if isinstance(stmt, ast.Assign)
            and isinstance(stmt.value, ast.Lambda) for target in stmt.targets
            if isinstance(target, ast.Name)}


def _is_display(stmt: ast.stmt, last: bool) -> bool:
    """A statement whose only effect is showing a value in the notebook."""
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return False  # a docstring or a string used as a comment
    if isinstance(value, ast.Await | ast.Yield | ast.YieldFrom):
        return False
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Name) and func.id == "display":
            return True
        return last and isinstance(func, ast.Attribute) and func.attr in _DISPLAY_METHODS
    return True


def _bound_name(alias: ast.alias) -> str:
    return alias.asname or alias.name.split(".")[0]


def _strip_blank_edges(text: str) -> str:
    return "\n".join(text.splitlines()).strip("\n")


def _infer_step(cell: CellIR, module_globals: set[str], bound: set[str], taken: dict[str, CellIR],
                notes_root: str | Path | None) -> None:
    """A step cell's name, parameters and outputs, by the magic's rules (see
    :meth:`flowyml.notebook.session.NotebookSession.define`)."""
    assert cell.step is not None
    spec, analysis = cell.step.spec, cell.step.analysis
    code = [m for m in analysis.mutated if m in module_globals and m not in bound]
    if code:  # `np.sort(x)` looks like `items.sort()`; a module is not data
        analysis = cell.step.analysis = dataclasses.replace(
            analysis, mutated=[m for m in analysis.mutated if m not in code])
    if spec.outputs is not None:
        every = {*analysis.outputs, *analysis.mutated, *analysis.defines, *analysis.incidental,
                 *_all_assigned(analysis.python)}
        missing = [n for n in spec.outputs if n not in every]
        if missing:
            raise NotebookExportError(
                f"{cell.where}: declared output(s) {missing} are never assigned in the step "
                "body; assign them or remove them from --outputs"
            )
        outputs = list(spec.outputs)
    else:
        outputs = list(analysis.produces)
    name = spec.name or default_step_name(analysis, taken, declared=spec.outputs)
    if spec.name is not None and spec.name in taken:
        raise NotebookExportError(
            f"{taken[spec.name].where} and {cell.where} both define a step named "
            f"{spec.name!r}; rename one of them (%%step NEW_NAME)"
        )
    taken[name] = cell
    if spec.outputs is None and notes_root is not None:
        from flowyml.notebook.session import read_changed_note

        outputs += [n for n in read_changed_note(notes_root, name, cell.step.body) if n not in outputs]
    if spec.inputs is not None:
        params = list(spec.inputs)
    else:
        here = {*analysis.outputs, *analysis.incidental, *analysis.defines}
        params = []
        for n in analysis.reads:
            if n in IPYTHON_NAMES:
                continue
            if n in bound:  # a value a cell above makes (a step, or an ordinary cell)
                params.append(n)
            elif n in module_globals or n in here or analysis.star_import:
                continue  # code (a module global), or a name this cell binds itself
            elif n in analysis.deferred:
                continue  # read only in a function body, when it is called (as in the kernel)
            else:
                params.append(n)  # nobody makes it: reported when the module is wired
        params += [n for n in analysis.builtin_reads if n in bound]  # `sum = ...` above
        # a name the notebook saw the cell change through an alias: an input too
        params += [n for n in outputs if n not in params and n not in analysis.produces
                   and n not in here and n in bound]
    cell.step.name, cell.step.params, cell.step.outputs = name, params, outputs
    cell.reads = list(analysis.reads)


def _wire_versions(cells: list[CellIR]) -> None:
    """Which version of each name every step reads and makes, in cell order."""
    steps = [c for c in cells if c.kind == "step" and c.step is not None]
    wiring = _versions.wire([_versions.StepNames(c.step.name, c.index, c.step.params,  # type: ignore[union-attr]
                                                 c.step.outputs) for c in steps])  # type: ignore[union-attr]
    for cell in steps:
        st = cell.step
        assert st is not None
        st.inputs, st.artifacts = wiring.inputs[st.name], wiring.outputs[st.name]


def _all_assigned(body: str) -> set[str]:
    """Every name stored anywhere at top level of ``body`` (including private names)."""
    names: set[str] = set()
    for stmt in ast.parse(body).body:
        for node in ast.walk(stmt):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return names


def _drop_cells_reading_outputs(cells: list[CellIR]) -> None:
    """Ordinary cells that read step outputs only make sense in the notebook: leave them out."""
    outputs = {o for c in cells if c.step for o in c.step.outputs}
    tainted: set[str] = set()
    for cell in cells:
        if cell.kind != "code":
            continue
        used = [n for n in cell.reads if n in outputs or n in tainted]
        if used:
            imported = [_bound_name(a) for s in cell.imports for a in s.names]
            cell.lost = [*cell.binds, *(n for n in cell.defines if n not in imported)]
            tainted.update(cell.lost)
            cell.left_out = [LeftOut(
                cell.first_line, f"reads step output {', '.join(sorted(used))}; "
                "make it a %%step cell to keep it")]
            cell.code, cell.binds = "", []
            cell.defines = imported
            cell.kind = "imports" if cell.imports else "dropped"


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
    used = set(taken) | _RESERVED
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
    if len(one) <= _LINE_LENGTH:
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
    if len(one_line) <= _LINE_LENGTH:
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
    line = "# " + _comment_text(text)
    return line if len(line) <= width else line[: width - 3] + "..."


def _comment_text(text: str) -> str:
    """``text`` made safe for a ``#`` comment: printable, one line (else escaped)."""
    return text if text.isprintable() else repr(text)[1:-1]


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
    if len(create) - len(cache) > _LINE_LENGTH:
        entries = "".join(f"        {_str_literal(k)}: {v},\n" for k, v in context.items())
        extra = "    cache_dir=CACHE_DIR,\n" if cache else ""
        create = (f"{cache}pipeline = Pipeline(\n    {_str_literal(name)},\n"
                  f"    context={{\n{entries}    }},\n{extra})")
    add = f"pipeline.add_steps([{', '.join(funcs)}])"
    if len(add) > _LINE_LENGTH:
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
        kept = [a for a in stmt.names if a.name == "*" or _bound_name(a) in used]
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
    if len(line) <= _LINE_LENGTH:
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


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------


_CACHE_DIR_LINE = re.compile(r"^[ \t]*%flowyml[ \t]+cache[ \t]+dir[ \t]+(\S+)[ \t]*$", re.MULTILINE)


def notebook_cache_location(nb: Any) -> str | None:
    """The location the notebook's last ``%flowyml cache dir LOCATION`` line sets, if any."""
    found = None
    for cell in nb.cells:
        if cell.cell_type == "code":
            for match in _CACHE_DIR_LINE.finditer(cell.source):
                found = match.group(1)
    return found


def export_notebook(notebook_path: str | Path, out_path: str | Path,
                    cache_location: str | os.PathLike[str] | None = None) -> Path:
    """Write ``notebook_path``'s pipeline as a plain module at ``out_path``; return that path.

    The pipeline is named after the notebook's file stem. Its cache is ``cache_location``
    (the ``%flowyml export`` magic passes the one its kernel uses), else the one the
    notebook's last ``%flowyml cache dir`` line names (a relative path there is relative to
    the notebook's folder, where its kernel starts), else ``.flowyml/cache`` next to the
    notebook; ``FLOWYML_CACHE_DIR`` overrides it when the module runs.
    """
    notebook_path, out_path = Path(notebook_path), Path(out_path)
    if out_path.resolve() == notebook_path.resolve():
        raise NotebookExportError(f"refusing to overwrite the notebook {notebook_path} with the "
                                  "module; pass a .py path as the output")
    nb = read_notebook(notebook_path)
    home = notebook_path.resolve().parent
    notebook_dir = Path(os.path.relpath(home, out_path.resolve().parent))
    location = cache_location if cache_location is not None else notebook_cache_location(nb)
    notes_root: Any = home / ".flowyml" / "cache"
    if location is not None:
        location = str(location)
        if not is_remote(location):
            target = home / Path(location).expanduser()  # an absolute location stays itself
            notes_root = target
            if not Path(location).expanduser().is_absolute():
                location = os.path.relpath(target, out_path.resolve().parent)
        else:
            notes_root = location
    notes_root = os.environ.get("FLOWYML_CACHE_DIR") or notes_root
    text = ir_to_module(notebook_to_ir(nb, notes_root), notebook_path.stem,
                        notebook_dir.as_posix(), location)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out_path)
    return out_path
