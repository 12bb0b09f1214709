"""Notebook -> intermediate form: every code cell classified (imports / code / step / dropped), each
``%%step`` cell's inputs and outputs worked out exactly as the ``%%step`` magic does, and the
versions of each name wired. Never imports IPython.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowyml.notebook import versions as _versions
from flowyml.notebook.analysis import assigned_names, infer_io
from flowyml.notebook.cells import CellAnalysis, analyze
from flowyml.notebook.cellspec import StepCellSpec, StepLineError, parse_step_line
from flowyml.notebook.ipysyntax import CellSyntaxError
from flowyml.notebook.naming import default_step_name

#: names IPython puts in every cell's namespace; not inputs of a step
IPYTHON_NAMES = frozenset({"display", "get_ipython", "In", "Out", "_", "__", "___"})
RESERVED = frozenset({"Pipeline", "step", "pipeline", "sys", "result"})
LINE_LENGTH = 88  # ruff's and black's default
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
        return f"cell {self.index} ({comment_text(self.first_line)!r})"


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
    cell.defines += [bound_name(alias) for stmt in cell.imports for alias in stmt.names
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


def bound_name(alias: ast.alias) -> str:
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
            imported = [bound_name(a) for s in cell.imports for a in s.names]
            cell.lost = [*cell.binds, *(n for n in cell.defines if n not in imported)]
            tainted.update(cell.lost)
            cell.left_out = [LeftOut(
                cell.first_line, f"reads step output {', '.join(sorted(used))}; "
                "make it a %%step cell to keep it")]
            cell.code, cell.binds = "", []
            cell.defines = imported
            cell.kind = "imports" if cell.imports else "dropped"


def comment_text(text: str) -> str:
    """``text`` made safe for a ``#`` comment: printable, one line (else escaped)."""
    return text if text.isprintable() else repr(text)[1:-1]
