"""The corpus EDIT test (``python -m benchmarks.bench_corpus --edit [--ids]``): the cache
must never show another result than plain Python after an edit.

Per notebook, in a scratch copy of the corpus folder:

1. **warm**: the stepped notebook (``%%step`` on every cell, see :func:`bench_corpus.stepped`),
   unedited, on a fresh cache;
2. **edit**: one literal of an early cell changed (:func:`edit`: the first number >= 2 in a
   stepped cell, +1 for an int, x1.5 for a float), then
   - the stepped edited notebook in a *fresh kernel* on the warm cache,
   - the plain edited notebook, twice (cells whose two plain runs differ -- unseeded random
     numbers, clocks -- are not deterministic and not compared); up to twice more while a
     cell whose plain runs agree shows otherwise in flowyml's run (an unseeded draw with few
     outcomes agrees in two runs half the time: numpy-100's ``True``/``False`` cells).

Every deterministic cell's outputs (normalised as :func:`bench_corpus.shown`) must be equal
in the stepped and the plain edited runs. Without ``--ids`` the kernel gets no cell ids (as
nbclient, nbconvert and papermill run notebooks); with ``--ids`` each execute request carries
the cell's id, as JupyterLab sends it.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import tokenize
from pathlib import Path
from typing import Any

from benchmarks._common import scratch_dir


def edit(nb: Any, is_stepped: Any) -> tuple[int, str, str] | None:
    """Change one number of the first code cell that gets a ``%%step`` and has one >= 2
    (in place); returns (code cell index, old token, new token), ``None`` if none has one."""
    index = -1
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        index += 1
        if not is_stepped(cell.source):
            continue
        try:
            tokens = list(tokenize.generate_tokens(io.StringIO(cell.source).readline))
        except (tokenize.TokenError, IndentationError, SyntaxError):
            continue
        for tok in tokens:
            if tok.type != tokenize.NUMBER or tok.string.lower().startswith(("0x", "0o", "0b")):
                continue
            if re.search(r"\bassert\b|version", tok.line):  # a set-up check, not a parameter
                continue
            text = tok.string.replace("_", "")
            try:
                value = int(text)
                new = str(value + 1) if value >= 2 else None
            except ValueError:
                try:
                    number = float(text)
                except ValueError:
                    continue
                new = repr(number * 1.5) if number >= 2 or 0 < number < 1 else None
            if new is None:
                continue
            lines = cell.source.split("\n")
            row, (start, end) = tok.start[0] - 1, (tok.start[1], tok.end[1])
            lines[row] = lines[row][:start] + new + lines[row][end:]
            cell.source = "\n".join(lines)
            return index, tok.string, new
    return None


def _with_ids(nb: Any) -> None:
    for n, cell in enumerate(nb.cells):
        if not cell.get("id"):
            cell["id"] = f"cell-{n}"
    nb.nbformat, nb.nbformat_minor = 4, max(5, nb.get("nbformat_minor", 5))


def execute(nb: Any, cwd: Path, timeout: float, env: dict[str, str] | None, ids: bool) -> float:
    """:func:`bench_corpus.execute`, with each cell's id sent the way JupyterLab sends it."""
    from benchmarks import bench_corpus

    if not ids:
        return bench_corpus.execute(nb, cwd, timeout, env)
    import nbclient

    _with_ids(nb)
    original = nbclient.NotebookClient
    try:
        nbclient.NotebookClient = _id_client()  # type: ignore[misc]
        return bench_corpus.execute(nb, cwd, timeout, env)
    finally:
        nbclient.NotebookClient = original  # type: ignore[misc]


def _id_client() -> type:
    from nbclient import NotebookClient

    class IdClient(NotebookClient):
        """nbclient sending ``metadata.cellId`` with each execute request."""

        _cell_id: str | None = None

        async def async_execute_cell(self, cell, cell_index, execution_count=None,  # type: ignore[no-untyped-def]
                                     store_history=True):
            self._cell_id = cell.get("id")
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

        async def async_start_new_kernel_client(self):  # type: ignore[no-untyped-def]
            kc = await super().async_start_new_kernel_client()

            def send(code, store_history=True, stop_on_error=True, **_):  # type: ignore[no-untyped-def]
                content = {"code": code, "silent": False, "store_history": store_history,
                           "user_expressions": {}, "allow_stdin": False,
                           "stop_on_error": stop_on_error}
                msg = kc.session.msg("execute_request", content, metadata={"cellId": self._cell_id})
                kc.shell_channel.send(msg)
                return msg["header"]["msg_id"]

            kc.execute = send
            return kc

    return IdClient


_FLOWYML_LINES = re.compile(
    r"^(UsageError: %%step[ :].*|flowyml: .*|.*CacheWarning: flowyml cache.*\n.*store\.store\(.*"
    r"|.*FilesNotKeptWarning: step '.*\n  .*)\n?",
    re.MULTILINE)
_LOOPS = re.compile(r"[\d,]+ loops? each|[\d,]+ runs?")


def _shown(cell: Any) -> list[tuple[str, Any]]:
    """:func:`bench_corpus.shown`, plus: ``%timeit``'s loop counts (chosen by timing), and
    the ``StepRunError`` a failed step cell adds after the error plain Python shows (an
    exception, or IPython's ``UsageError`` line); flowyml's own notices (a file it wrote
    not kept, a value not stored) are left out."""
    from benchmarks import bench_corpus as bc

    items = [(k, _LOOPS.sub("<n>", v) if isinstance(v, str) else v) for k, v in bc.shown(cell)]
    # flowyml's own messages: a cell it ran as an ordinary cell, a value it could not store
    items = [(k, _FLOWYML_LINES.sub("", v)) if k.startswith("stream") else (k, v) for k, v in items]
    items = [(k, v) for k, v in items if not (k.startswith("stream") and not v)]
    if items and items[-1] == ("error", "StepRunError") and any(
            k == "error" or (k == "stream:stderr" and v.startswith("UsageError"))
            for k, v in items[:-1]):
        items.pop()
    return items


def _stepped(nb: Any) -> Any:
    """:func:`bench_corpus.stepped`, leaving cell magics (``%%file``) as they are: a user
    does not put ``%%step`` on them, and flowyml refuses them."""
    from benchmarks import bench_corpus as bc

    out = bc.stepped(nb)
    for cell in out.cells:
        if cell.cell_type == "code" and cell.source.startswith("%%step\n%%"):
            cell.source = cell.source[len("%%step\n"):]
    return out


def _copy(nb: Any) -> Any:
    import nbformat

    return nbformat.from_dict(json.loads(json.dumps(nb)))


#: plain runs made beyond the two when a cell's plain runs agree but flowyml's differs
_MORE_PLAIN_RUNS = 2


def _suspects(plains: list[Any], stepped: Any) -> bool:
    """Whether a cell showed the same in every plain run so far and otherwise in flowyml's:
    a wrong result, or an unseeded draw with few outcomes (numpy-100's ``(~Z.any(axis=0)).any()``
    is ``True`` or ``False``; two plain runs agree half the time), so plain runs again."""
    code = [[c for c in n.cells if c.cell_type == "code"] for n in plains]
    steps = [c for c in stepped.cells if c.cell_type == "code"][1:]
    for index, s in enumerate(steps):
        first = _shown(code[0][index])
        if all(_shown(c[index]) == first for c in code[1:]) and _shown(s) != first:
            return True
    return False


def measure_edit(path: Path, timeout: float = 120.0, ids: bool = False) -> dict[str, Any]:
    """Warm, then stepped-edited vs plain-edited (twice, up to four times while a cell
    differs whose plain runs agree: :func:`_suspects`) of one notebook: per-cell records."""
    import nbformat

    from benchmarks import bench_corpus as bc

    nb = nbformat.read(path, as_version=4)
    edited = _copy(nb)
    where = edit(edited, lambda src: src.strip() and not bc.is_pure_import(src))
    if where is None:
        return {"notebook": path.stem, "edit": None, "cells": []}
    work = scratch_dir("corpus-edit")
    try:
        cwd = bc.prepare(path, work)
        cache = {"FLOWYML_CACHE_DIR": str(work / "cache")}
        execute(_stepped(nb), cwd, timeout, cache, ids)
        stepped = _stepped(edited)
        execute(stepped, cwd, timeout, cache, ids)
        plain_a, plain_b = _copy(edited), _copy(edited)
        execute(plain_a, cwd, timeout, None, ids)
        execute(plain_b, cwd, timeout, None, ids)
        plains = [plain_a, plain_b]
        for _ in range(_MORE_PLAIN_RUNS):  # see _suspects
            if not _suspects(plains, stepped):
                break
            plains.append(_copy(edited))
            execute(plains[-1], cwd, timeout, None, ids)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cells = []
    code = [[c for c in n.cells if c.cell_type == "code"] for n in (*plains, stepped)]
    for index, (a, *others, s) in enumerate(zip(*code[:-1], code[-1][1:], strict=True)):
        shown_a, shown_s = _shown(a), _shown(s)
        cells.append({
            "cell": index, "source": a.source[:160], "stepped": s.source.startswith("%%step"),
            "deterministic": all(shown_a == _shown(b) for b in others), "state": bc.status_of(s),
            "equal": shown_a == shown_s, "edited": index == where[0],
            "plain": None if shown_a == shown_s else shown_a[:3],
            "flowyml": None if shown_a == shown_s else shown_s[:3],
        })
    return {"notebook": path.stem, "edit": list(where), "cells": cells}


def summarise_edit(result: dict[str, Any]) -> dict[str, Any]:
    cells = result["cells"]
    det = [c for c in cells if c["deterministic"]]
    return {"notebook": result["notebook"], "edit": result["edit"], "cells": len(cells),
            "deterministic": len(det), "equal": sum(c["equal"] for c in det),
            "hits": sum(c["state"] == "cached" for c in cells),
            "ran": sum(c["state"] in ("done",) for c in cells),
            "different": [c for c in det if not c["equal"]]}


def report(results: list[dict[str, Any]]) -> str:
    lines = ["| notebook | edit (cell: old -> new) | code cells | deterministic | equal to plain "
             "| hits | ran |", "|---|---|---|---|---|---|---|"]
    sums = [summarise_edit(r) for r in results]
    for s in sums:
        change = "-" if s["edit"] is None else f"{s['edit'][0]}: {s['edit'][1]} -> {s['edit'][2]}"
        lines.append(f"| {s['notebook']} | {change} | {s['cells']} | {s['deterministic']} | "
                     f"{s['equal']} | {s['hits']} | {s['ran']} |")
    det, equal = sum(s["deterministic"] for s in sums), sum(s["equal"] for s in sums)
    lines.append(f"| **all {len(sums)}** | | {sum(s['cells'] for s in sums)} | {det} | {equal} "
                 f"({100 * equal / max(det, 1):.1f} %) | {sum(s['hits'] for s in sums)} | "
                 f"{sum(s['ran'] for s in sums)} |")
    for s in sums:
        for c in s["different"]:
            lines.append(f"\nDIFFERENT {s['notebook']} cell {c['cell']} ({c['state']}): "
                         f"{c['source'][:80]!r}\n  plain:   {str(c['plain'])[:300]}\n"
                         f"  flowyml: {str(c['flowyml'])[:300]}")
    return "\n".join(lines)
