"""The corpus DATA-EDIT test (``python -m benchmarks.bench_corpus --edit-data``): after a data
file a notebook reads is edited, every cell that (transitively) reads it re-runs, and no other.

Per notebook of the corpus that names a file of ``corpus/data/`` (a seaborn data set it loads
by name, ``load_dataset("tips")``: ``data/seaborn/tips.csv``; or a data file of
``helpers/PREFIX/``, beside it) in its code, in a scratch copy of the corpus folder:

1. **warm**: the stepped notebook (``%%step`` on every cell) on a fresh cache, then the same
   again in a fresh kernel (**baseline**: the cells that run again even with nothing edited
   -- uncacheable values, cells plain Python rejects -- are not counted as re-runs below);
2. **plain, before**: the plain notebook on the original data;
3. **edit**: one number of the data file changed (:func:`edit_file`: the last numeric field
   of its first data row, +1 for an int, x1.5 for a float; a digit of a fixed-width file,
   also inside a ``.gz``), then
   - the stepped notebook in a *fresh kernel* on the warm cache,
   - the plain notebook, twice (cells whose two plain runs differ are not deterministic).

Per cell: its state after the edit and the reason in its status line. A cell **reads the
file** when its status line names it ("re-ran: data/births.csv changed"); it is
**downstream** when it reads (by name, from an independent ``ast`` pass over the cells, not
flowyml's analysis) a variable bound by a cell that reads the file or by another downstream
cell. Reported: the deterministic cells equal to plain after the edit (must be all), the cells
whose plain output changed with the edit and whether each re-ran (must be all), the re-runs
that are neither readers nor downstream ("other": must be none), and the downstream cells
that stayed hits (allowed: their inputs' values did not change, e.g. ``len(df)`` after an
edited value).
"""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path
from typing import Any

from benchmarks._common import scratch_dir

_REASON = re.compile(r"re-ran: (.*)")
_LOAD_DATASET = re.compile(r"load_dataset\(\s*[\"'](\w+)[\"']")


def data_files(source_text: str, data_dir: Path) -> list[str]:
    """The files of ``data_dir`` whose names appear in the notebook's code (none when the
    corpus has no ``data/``: its notebooks' files are in ``helpers/``)."""
    if not data_dir.is_dir():
        return []
    return sorted(f.name for f in data_dir.iterdir() if f.is_file() and f.name in source_text)


def edit_file(path: Path) -> tuple[str, str]:
    """Change one number of a data file (in place); (old, new). A CSV: :func:`edit_csv`; a
    fixed-width file without commas (the NSFG's ``2002FemPreg.dat``): the last digit of its
    second line, +1 mod 10 (the width stays; a Sudoku grid per line); a word list (``.txt``,
    one word a line): its second word with a letter more; ``.gz``: the same inside the
    compressed file."""
    if path.suffix == ".gz":
        import gzip

        inner = path.parent / f".{path.stem}.edit"
        inner.write_bytes(gzip.decompress(path.read_bytes()))
        try:
            old, new = edit_file(inner)
            path.write_bytes(gzip.compress(inner.read_bytes()))
        finally:
            inner.unlink()
        return old, new
    try:
        return edit_csv(path)
    except ValueError:
        lines = path.read_text().split("\n")
        digits = [i for i, ch in enumerate(lines[1] if len(lines) > 1 else "") if ch.isdigit()]
        words = [i for i, line in enumerate(lines[1:101], start=1) if line.isalpha()]
        if not digits and path.suffix in (".txt", "") and words:
            # a word list (pytudes' enable1.txt, DSIRP's american-english): its first plain
            # word after the first line gets a letter more
            at = words[0]
            old = lines[at]
            lines[at] = old + ("z" if old.islower() else "Z")
            path.write_text("\n".join(lines))
            return old, lines[at]
        if not digits or "," in lines[1]:
            raise
        at, old = digits[-1], lines[1][digits[-1]]
        new = str((int(old) + 1) % 10)
        lines[1] = lines[1][:at] + new + lines[1][at + 1:]
        path.write_text("\n".join(lines))
        return old, new


def edit_csv(path: Path) -> tuple[str, str]:
    """Change the last numeric field of the first data row (in place); (old, new). A file
    in Latin-1 or separated by ``;`` (the pandas cookbook's ``bikes.csv``) is edited so too."""
    raw = path.read_bytes()
    try:
        encoding, text = "utf-8", raw.decode("utf-8")
    except UnicodeDecodeError:
        encoding, text = "latin-1", raw.decode("latin-1")
    lines = text.split("\n")
    sep = ";" if lines[0].count(";") > lines[0].count(",") else ","
    for row, line in enumerate(lines[1:], start=1):
        fields = line.split(sep)
        for col in range(len(fields) - 1, -1, -1):
            text = fields[col].strip()
            try:
                new = str(int(text) + 1)
            except ValueError:
                try:
                    new = repr(float(text) * 1.5) if float(text) else "1.5"
                except ValueError:
                    continue
            old, fields[col] = fields[col], new
            lines[row] = sep.join(fields)
            path.write_bytes("\n".join(lines).encode(encoding))
            return old, new
    raise ValueError(f"{path.name}: no numeric field to edit")


def _editable(path: Path) -> bool:
    """Whether :func:`edit_csv` finds a number to change (tried on a copy)."""
    work = scratch_dir("corpus-data-probe")
    try:
        copy = work / path.name
        shutil.copy(path, copy)
        edit_file(copy)
        return True
    except (ValueError, UnicodeDecodeError, OSError, EOFError):
        return False
    finally:
        shutil.rmtree(work, ignore_errors=True)


#: a ``%time``/``%timeit`` line (options left out): the statement it runs
_TIMED = re.compile(r"^(\s*)%time(?:it)?(?:\s+-\S+(?:\s+\d+)?)*\s+")


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names the cell loads, names it binds), by ``ast`` (IPython syntax lines dropped; the
    statement a ``%time``/``%timeit`` line runs kept: ``%time top_honeycomb2(big)`` reads
    ``big``)."""
    kept = [_TIMED.sub(r"\1", ln) for ln in source.split("\n")]
    kept = [ln for ln in kept if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(kept))
    except SyntaxError:
        return set(), set()
    loads, binds = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else binds).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            binds.add(node.name)
        elif isinstance(node, ast.alias):
            binds.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            root = node.value
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if isinstance(root, ast.Name):
                binds.add(root.id)  # df.col = ... changes df
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Store):
            root = node.value
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if isinstance(root, ast.Name):
                binds.add(root.id)
    return loads, binds


def downstream(sources: list[str], readers: set[int]) -> set[int]:
    """Cells after a reader that load a name bound by a reader or a downstream cell (in
    order: a later rebinding by an unaffected cell clears the name)."""
    tainted: set[str] = set()
    out: set[int] = set()
    for index, source in enumerate(sources):
        loads, binds = _names(source)
        if index in readers or (loads & tainted):
            if index not in readers:
                out.add(index)
            tainted |= binds
        else:
            tainted -= binds
    return out


def _names_file(reason: str, target: str) -> bool:
    """The re-run's reason names the edited file, or the data folder holding it (a shell
    command listing the folder: ``!ls -l data/``)."""
    return target in reason or bool(re.search(r"the (files|listing) (in|of) \S*data\b", reason))


def _reason(cell: Any) -> str | None:
    for out in cell.get("outputs", []):
        text = out.get("data", {}).get("text/plain", "")
        if text.startswith("step '"):
            match = _REASON.search(text)
            return match.group(1) if match else None
    return None


def measure_data_edit(path: Path, timeout: float = 120.0) -> dict[str, Any] | None:
    """The data-edit test of one notebook (``None``: it names no data file)."""
    import nbformat

    from benchmarks import _corpus_edit as ce
    from benchmarks import bench_corpus as bc

    nb = nbformat.read(path, as_version=4)
    code_text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    files = [f for f in data_files(code_text, bc.CORPUS / "data")
             if f.endswith(".csv") and _editable(bc.CORPUS / "data" / f)]
    # data folders beside the notebook (``helpers/PREFIX/examples/``): named by their path
    files += [f"{d.name}/{f}" for d in bc.helpers(path) if d.is_dir()
              for f in data_files(code_text, d) if f.endswith(".csv") and _editable(d / f)]
    # data files beside the notebook (``helpers/thinkstats2/2002FemPreg.dat.gz``, read by its
    # helper modules): named by their name, edited in the notebook's folder
    files += [f"./{f.name}" for f in bc.helpers(path) if f.suffix in (".csv", ".dat", ".gz", ".txt", "")
              and f.is_file() and f.name in code_text and _editable(f)]
    # seaborn's ``load_dataset("tips")`` reads ``$SEABORN_DATA/tips.csv`` (data/seaborn/)
    seaborn = bc.CORPUS / "data" / "seaborn"
    files += sorted({f"data/seaborn/{name}.csv" for name in _LOAD_DATASET.findall(code_text)
                     if (seaborn / f"{name}.csv").is_file() and _editable(seaborn / f"{name}.csv")})
    if not files:
        return None
    target = files[-1]
    work = scratch_dir("corpus-data")
    try:
        cwd = bc.prepare(path, work)
        cache = {"FLOWYML_CACHE_DIR": str(work / "cache")}
        bc.execute(ce._stepped(nb), cwd, timeout, cache)
        baseline = ce._stepped(nb)
        bc.execute(baseline, cwd, timeout, cache)
        before = ce._copy(nb)
        bc.execute(before, cwd, timeout)
        old, new = edit_file((cwd if "/" in target else work / "data") / target)
        after = ce._stepped(nb)
        bc.execute(after, cwd, timeout, cache)
        plain_a, plain_b = ce._copy(nb), ce._copy(nb)
        bc.execute(plain_a, cwd, timeout)
        bc.execute(plain_b, cwd, timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    code = [[c for c in n.cells if c.cell_type == "code"]
            for n in (before, plain_a, plain_b, baseline, after)]
    base_cells, after_cells = code[3][1:], code[4][1:]
    readers = {i for i, c in enumerate(after_cells) if bc.status_of(c) == "done" and _names_file(
        _reason(c) or "", Path(target).name)}
    down = downstream([c.source for c in code[0]], readers)
    cells = []
    for index, (b0, a, b, base, s) in enumerate(zip(code[0], code[1], code[2], base_cells,
                                                    after_cells, strict=True)):
        state = bc.status_of(s)
        cells.append({
            "cell": index, "source": a.source[:160], "state": state, "reason": _reason(s),
            "deterministic": ce._shown(a) == ce._shown(b),
            "equal": ce._shown(a) == ce._shown(s),
            "changed_by_edit": ce._shown(b0) != ce._shown(a),
            "reruns_anyway": bc.status_of(base) not in ("cached", None),
            "reader": index in readers, "downstream": index in down,
        })
    return {"notebook": path.stem, "file": target, "edit": [old, new], "cells": cells}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    cells = result["cells"]
    det = [c for c in cells if c["deterministic"]]
    ran = [c for c in cells if c["state"] == "done" and not c["reruns_anyway"]]
    changed = [c for c in det if c["changed_by_edit"]]
    return {
        "notebook": result["notebook"], "file": result["file"], "edit": result["edit"],
        "deterministic": len(det), "equal": sum(c["equal"] for c in det),
        "changed": len(changed), "changed_reran": sum(c["state"] == "done" for c in changed),
        "readers": sum(c["reader"] for c in ran),
        "downstream_ran": sum(c["downstream"] and not c["reader"] for c in ran),
        "downstream_hit": sum(c["downstream"] and c["state"] == "cached" for c in cells),
        "other": [c for c in ran if not c["reader"] and not c["downstream"]],
        "different": [c for c in det if not c["equal"]],
    }


def report(results: list[dict[str, Any]]) -> str:
    lines = ["| notebook | data file (edit) | deterministic cells | equal to plain | changed by "
             "the edit: re-ran | re-ran: read the file | re-ran: downstream | other re-runs | "
             "downstream, still hits |", "|---|---|---|---|---|---|---|---|---|"]
    sums = [summarise(r) for r in results]
    for s in sums:
        lines.append(f"| {s['notebook']} | {s['file']} ({s['edit'][0]} -> {s['edit'][1]}) | "
                     f"{s['deterministic']} | {s['equal']} | {s['changed_reran']}/{s['changed']} | "
                     f"{s['readers']} | {s['downstream_ran']} | {len(s['other'])} | "
                     f"{s['downstream_hit']} |")
    det, equal = sum(s["deterministic"] for s in sums), sum(s["equal"] for s in sums)
    changed, reran = sum(s["changed"] for s in sums), sum(s["changed_reran"] for s in sums)
    lines.append(f"| **all {len(sums)}** | | {det} | {equal} ({100 * equal / max(det, 1):.1f} %) | "
                 f"{reran}/{changed} | {sum(s['readers'] for s in sums)} | "
                 f"{sum(s['downstream_ran'] for s in sums)} | {sum(len(s['other']) for s in sums)} | "
                 f"{sum(s['downstream_hit'] for s in sums)} |")
    for s in sums:
        for c in s["other"]:
            lines.append(f"\nOTHER RE-RUN {s['notebook']} cell {c['cell']} ({c['reason']}): "
                         f"{c['source'][:100]!r}")
        for c in s["different"]:
            lines.append(f"\nDIFFERENT {s['notebook']} cell {c['cell']} ({c['state']}): "
                         f"{c['source'][:100]!r}")
    return "\n".join(lines)
