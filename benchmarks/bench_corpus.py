"""Real notebooks with a bare ``%%step`` on every cell (issue: "Real notebook code", SPEC §7).

For each notebook of ``benchmarks/corpus/`` (public teaching notebooks, see SOURCES.md),
in a scratch copy of the corpus folder, through nbclient and a real ipykernel:

1. **plain**: the notebook as it is (errors allowed, as some cells fail offline);
2. **step run 1**: ``%load_ext flowyml`` first, then every code cell except pure-import
   cells prefixed with a bare ``%%step`` and nothing else changed, on a fresh cache;
3. **step run 2**: the same notebook in a *fresh kernel* on the same cache.

Per step cell whose plain run succeeded: did it run unmodified in run 1 (no error), was it a
cache hit in run 2 (its status line says ``cached``), and are its outputs (streams, text,
HTML, images) equal in run 2 and run 1, and in run 2 and the plain run (outputs compared
after normalising memory addresses, kernel file names and timing figures). Wall times are
the notebooks' executions (kernel start included) side by side.

``python -m benchmarks.bench_corpus [--only SUBSTRING] [--json PATH] [--timeout S]`` prints
a per-notebook Markdown table and the totals against the issue's targets; ``python -m
benchmarks --only corpus`` gives the total rows in the suite's table.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import struct
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import row, scratch_dir, skipped

NAME = "corpus"
#: the notebooks, ``data/`` and ``helpers/`` (``FLOWYML_CORPUS``, else ``benchmarks/corpus``).
#: Public notebooks are not committed (fetched material stays out of the repository):
#: SOURCES.md says where each comes from, at which commit, and where its files go
CORPUS = Path(os.environ.get("FLOWYML_CORPUS") or Path(__file__).resolve().parent / "corpus")
WIDGET = "application/vnd.jupyter.widget-view+json"
#: notebooks of the quick run (small and fast)
QUICK = ("jakevdp-02.02", "jakevdp-03.02", "handson-ml2-06")

#: an object's address, whole (``0x7f3a...``) or cut short in scikit-learn's HTML table of an
#: estimator's parameters (``<sklearn.tree...x7fe74a0e1d10>``): another in every process
_ADDR = re.compile(r"(?:0|\.\.\.)x[0-9a-fA-F]+")
_KERNEL_FILE = re.compile(r"/tmp/ipykernel_\d+/\d+\.py|<ipython-input-\d+-[0-9a-f]+>")
#: a timing figure: ``%timeit``'s ``1.2 ms``, a notebook's own timer decorator's ``1.0012 sec``
_TIMING = re.compile(r"\d+(\.\d+)?\s*(ns|µs|μs|us|ms|s|secs?|seconds?)\b")
#: the clock in statsmodels' ``summary()`` tables (``Date: Mon, 07 Dec 2026``, ``Time: 11:32:26``):
#: when the summary was printed, as a timing figure is
_SUMMARY_CLOCK = re.compile(r"^((?:Date|Time):\s+)(?:\w{3}, \d\d \w{3} \d{4}|\d\d:\d\d:\d\d)", re.M)
_STATUS = re.compile(r"^step '([^']*)': (\w+)")
#: the id pandas gives a ``Styler``'s table (``<table id="T_4f2a1">``, ``#T_4f2a1_row0_col1``):
#: five random hex digits of a ``uuid4`` (another in every run of the plain notebook too)
_STYLER_ID = re.compile(r"\bT_[0-9a-f]{5}(?![0-9a-f])")
#: ``%timeit``'s notice when its runs' times spread (timing, as its figures)
_SLOWEST = re.compile(r"The slowest run took [\d.]+ times longer than the fastest\. This could "
                      r"mean that an intermediate result is being cached\.\n")


def is_pure_import(source: str) -> bool:
    """A cell of import statements only (the issue leaves those as they are)."""
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return bool(lines) and all(ln.startswith(("import ", "from ")) for ln in lines)


def stepped(nb: Any) -> Any:
    """A copy of ``nb`` with ``%load_ext flowyml`` first and a bare ``%%step`` on each cell."""
    import nbformat
    from nbformat.v4 import new_code_cell

    out = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in out.cells:
        if cell.cell_type == "code" and cell.source.strip() and not is_pure_import(cell.source):
            cell.source = "%%step\n" + cell.source
    out.cells.insert(0, new_code_cell("%load_ext flowyml"))
    return out


def execute(nb: Any, cwd: Path, timeout: float, env: dict[str, str] | None = None) -> float:
    """Run ``nb`` in a fresh kernel (errors allowed); wall seconds, kernel start included."""
    from nbclient import NotebookClient

    from flowyml_jupyter.kernels import LocalKernelManager

    saved = dict(os.environ)
    # seaborn's ``load_dataset(name)`` reads ``$SEABORN_DATA/<name>.csv`` before it tries to
    # download (offline here): the csv files the seaborn tutorials load are in data/seaborn/
    os.environ["SEABORN_DATA"] = str(cwd / "data" / "seaborn")
    # one hash seed for every kernel: a set of strings iterates (prints, breaks ties in
    # `max`) in an order each process draws anew, so plain Python differs from itself there
    os.environ["PYTHONHASHSEED"] = "0"
    os.environ.update(env or {})
    try:
        t0 = time.perf_counter()
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                kernel_manager_class=LocalKernelManager,
                                resources={"metadata": {"path": str(cwd)}})
        try:
            client.execute()
        except Exception as exc:  # a cell over the timeout: the rest counts as not run
            nb.metadata["flowyml_bench_error"] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return time.perf_counter() - t0
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _png_size(data: str) -> tuple[int, int] | None:
    raw = base64.b64decode(data)
    if raw[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return struct.unpack(">II", raw[16:24])


#: a progress bar's timing (tqdm: ``[00:01<00:00, 9.87it/s]``)
_RATE = re.compile(r"\[(\d+:)?\d\d:\d\d(<[^,\]]*)?(, *[^\]]*)?\]")
#: what a carriage return hides: the text before it on its line (a progress bar redrawn)
_OVERDRAWN = re.compile(r"[^\n]*\r(?!\n)")


#: ``%%writefile``'s notice: "Writing f" where ``f`` is new, "Overwriting f" where it is not. The
#: three runs share one folder, so the plain run wrote every file before the step runs do
_WRITEFILE = re.compile(r"(?m)^(?:Over)?[Ww]riting (\S[^\n]*)$")


#: flowyml's own magics in ``%lsmagic``'s list: the step runs load the extension, the plain
#: run does not (the IPython Cookbook lists the magics)
_OWN_MAGICS = re.compile(r"  %%?(?:flowyml|step)(?=\s|\\n|')")


def _norm(text: str) -> str:
    if "Available line magics" in text:
        text = _OWN_MAGICS.sub("", text)
    text = _SLOWEST.sub("", _KERNEL_FILE.sub("<cell>", _ADDR.sub("0x", text)))
    text = _STYLER_ID.sub("T_<id>", text)
    return _TIMING.sub("<t>", _SUMMARY_CLOCK.sub(r"\1<clock>", text))


def _norm_stream(text: str) -> str:
    """A stream as a notebook shows it: a line redrawn through carriage returns is its last
    drawing (how many a progress bar made depends on timing), its timing figures blanked."""
    return _norm(_WRITEFILE.sub(r"<writefile> \1", _RATE.sub("[<t>]", _OVERDRAWN.sub("", text))))


def shown(cell: Any) -> list[tuple[str, Any]]:
    """What a cell showed, normalised, without flowyml's status line and widget views."""
    items: list[tuple[str, Any]] = []
    for out in cell.get("outputs", []):
        kind = out.get("output_type")
        if kind == "stream":  # merged, then normalised (a redrawn line spans chunks)
            if items and items[-1][0] == f"stream:{out.name}":
                items[-1] = (items[-1][0], items[-1][1] + out.text)
            else:
                items.append((f"stream:{out.name}", out.text))
        elif kind == "error":
            items.append(("error", out.ename))
        elif kind in ("display_data", "execute_result"):
            data = out.get("data", {})
            if _STATUS.match(data.get("text/plain", "")):
                continue  # flowyml's status line
            if "image/png" in data:
                items.append(("image/png", _png_size(data["image/png"])))
            elif "text/html" in data:
                items.append(("text/html", _norm(data["text/html"])))
            elif "text/plain" in data:
                items.append(("text/plain", _norm(data["text/plain"])))
    return [(kind, _norm_stream(value)) if kind.startswith("stream:") else (kind, value)
            for kind, value in items]


def status_of(cell: Any) -> str | None:
    for out in cell.get("outputs", []):
        match = _STATUS.match(out.get("data", {}).get("text/plain", ""))
        if match:
            return match.group(2)
    return None


def error_line(cell: Any) -> str | None:
    """The cell's error, one line: an exception, or IPython's ``UsageError`` (which the
    kernel prints to stderr instead of sending an error), e.g. a refused ``%%step`` cell."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{out.ename}: {out.evalue}".splitlines()[0][:160]
        if out.get("output_type") == "stream" and out.get("text", "").startswith("UsageError"):
            return out.text.splitlines()[0][:160]
    return None


def helpers(path: Path) -> list[Path]:
    """The local modules and data folders a notebook uses from its own folder
    (``helpers/PREFIX/*.py``, data files such as ``helpers/PREFIX/2002FemPreg.dat.gz`` and
    ``helpers/PREFIX/FOLDER/`` for a notebook whose name starts with ``PREFIX-``, as
    ``thinkplot.py`` sits beside the book's notebooks, ``examples/`` beside Python for Data
    Analysis's and the NSFG files beside Think Stats'): copied next to it in the scratch
    folder, as in the repository it comes from."""
    root = CORPUS / "helpers"
    if not root.is_dir():
        return []
    return sorted(f for d in root.iterdir() if d.is_dir() and path.stem.startswith(f"{d.name}-")
                  for f in d.iterdir() if not f.name.startswith((".", "__pycache__")))


def prepare(path: Path, work: Path) -> Path:
    """Lay out a scratch folder for ``path`` and return the folder it runs in:
    ``work/notebooks/nb`` with the notebook's helper modules beside it, and the corpus data in
    ``work/data`` and (links) in ``work/notebooks/data`` and ``work/notebooks/nb/data``, so a
    notebook reading ``data/x.csv`` (the Handbook), one reading ``../data/x.csv`` (notebooks
    kept in a folder beside the data) and one reading ``../../data/x.csv`` (notebooks two
    folders below the data, homemade-machine-learning's ``notebooks/k_means/``) all find it."""
    if (CORPUS / "data").is_dir():
        shutil.copytree(CORPUS / "data", work / "data")
    else:  # a corpus whose notebooks read no shared data (their files are in helpers/)
        (work / "data").mkdir(parents=True)
    cwd = work / "notebooks" / "nb"
    cwd.mkdir(parents=True)
    (cwd.parent / "data").symlink_to(work / "data", target_is_directory=True)
    (cwd / "data").symlink_to(work / "data", target_is_directory=True)
    for helper in helpers(path):
        if helper.is_dir():
            shutil.copytree(helper, cwd / helper.name)
        else:
            shutil.copy(helper, cwd / helper.name)
    return cwd


def measure(path: Path, timeout: float = 120.0) -> dict[str, Any]:
    """Plain, step run 1, step run 2 of one notebook: per-cell records and times."""
    import nbformat

    work = scratch_dir("corpus")
    try:
        cwd = prepare(path, work)
        nb = nbformat.read(path, as_version=4)
        plain = nbformat.from_dict(json.loads(json.dumps(nb)))
        t_plain = execute(plain, cwd, timeout)
        cache = {"FLOWYML_CACHE_DIR": str(work / "cache")}
        first = stepped(nb)
        t_first = execute(first, cwd, timeout, cache)
        second = stepped(nb)
        t_second = execute(second, cwd, timeout, cache)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cells = []
    pairs = zip([c for c in plain.cells if c.cell_type == "code"],
                [c for c in first.cells if c.cell_type == "code"][1:],
                [c for c in second.cells if c.cell_type == "code"][1:], strict=True)
    for index, (p, a, b) in enumerate(pairs):
        if not a.source.startswith("%%step"):
            continue
        cells.append({
            "cell": index, "source": p.source[:200], "plain_ok": error_line(p) is None,
            "run1_error": error_line(a), "run1_state": status_of(a),
            "run2_state": status_of(b), "run2_error": error_line(b),
            "same_as_run1": shown(a) == shown(b), "same_as_plain": shown(p) == shown(b),
        })
    return {"notebook": path.stem, "time_plain": t_plain, "time_run1": t_first,
            "time_run2": t_second, "cells": cells,
            "code_cells": sum(c.cell_type == "code" for c in nb.cells)}


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    cells = result["cells"]
    ok_plain = [c for c in cells if c["plain_ok"]]
    ran = [c for c in ok_plain if c["run1_error"] is None]
    hits = [c for c in ran if c["run2_state"] == "cached"]
    same = [c for c in ran if c["run2_state"] == "cached" and c["same_as_run1"]]
    same_plain = [c for c in ran if c["same_as_plain"]]
    return {"notebook": result["notebook"], "code_cells": result["code_cells"],
            "step_cells": len(cells), "ok_plain": len(ok_plain), "ran": len(ran),
            "hits": len(hits), "same": len(same), "same_plain": len(same_plain),
            "time_plain": result["time_plain"], "time_run1": result["time_run1"],
            "time_run2": result["time_run2"]}


def _pct(n: int, d: int) -> str:
    return f"{100 * n / d:.1f} %" if d else "-"


def table(summaries: list[dict[str, Any]]) -> str:
    head = ("| notebook | step cells | ok plain | ran in run 1 | hits in run 2 | same outputs "
            "(run 2 = run 1) | same as plain | run 1 / plain | run 2 / plain |\n"
            "|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for s in [*summaries, totals(summaries)]:
        lines.append(
            f"| {s['notebook']} | {s['step_cells']} | {s['ok_plain']} | "
            f"{s['ran']} ({_pct(s['ran'], s['ok_plain'])}) | "
            f"{s['hits']} ({_pct(s['hits'], s['ran'])}) | {s['same']} ({_pct(s['same'], s['ran'])}) | "
            f"{s['same_plain']} ({_pct(s['same_plain'], s['ran'])}) | "
            f"{s['time_run1'] / s['time_plain']:.2f}x | {s['time_run2'] / s['time_plain']:.2f}x |")
    return "\n".join(lines)


def totals(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("code_cells", "step_cells", "ok_plain", "ran", "hits", "same", "same_plain",
            "time_plain", "time_run1", "time_run2")
    out: dict[str, Any] = {k: sum(s[k] for s in summaries) for k in keys}
    out["notebook"] = f"**all {len(summaries)}**"
    return out


def failures(results: list[dict[str, Any]]) -> dict[str, int]:
    """Run-1 errors of cells that ran in the plain run, grouped by their first line."""
    groups: dict[str, int] = {}
    for result in results:
        for c in result["cells"]:
            if c["plain_ok"] and c["run1_error"]:
                key = re.sub(r"'[^']*'", "'…'", c["run1_error"])[:100]
                groups[key] = groups.get(key, 0) + 1
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]))


def compiled() -> None:
    """Write flowyml's bytecode before any kernel starts, as an installed package has it
    (pip compiles a wheel at install). With ``PYTHONDONTWRITEBYTECODE`` set (as on this
    machine) an editable checkout is otherwise compiled from source in every kernel:
    ~0.1 s a notebook on run 1 and on run 2, which is no cost a user pays twice.
    ``compileall`` writes only what is missing or stale."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for package in ("flowyml", "flowyml_jupyter"):
        if (root / package).is_dir():
            compileall.compile_dir(str(root / package), quiet=1)


def notebooks(only: str | None = None, quick: bool = False) -> list[Path]:
    paths = sorted(CORPUS.glob("*.ipynb"))
    if quick:
        paths = [p for p in paths if p.stem.startswith(QUICK)]
    if only:
        paths = [p for p in paths if only in p.stem]
    return paths


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows for ``python -m benchmarks``: the corpus totals against the issue's targets."""
    try:
        import nbclient  # noqa: F401
        import nbformat  # noqa: F401
    except ImportError as exc:
        return [skipped(NAME, f"nbclient/nbformat missing ({exc})")]
    paths = notebooks(quick=quick)
    if not paths:
        return [skipped(NAME, f"no notebooks in {CORPUS}")]
    compiled()
    t = totals([summarise(measure(p)) for p in paths])
    what = f"{len(paths)} notebooks, {t['ok_plain']} step cells that run plain"
    return [
        row(NAME, f"cells run unmodified ({what})", 100 * t["ran"] / t["ok_plain"], "%",
            target=">= 95 %", met=t["ran"] >= 0.95 * t["ok_plain"]),
        row(NAME, "hits in a fresh kernel, outputs equal", 100 * t["same"] / max(t["ran"], 1), "%",
            note=f"hits {t['hits']}/{t['ran']}", target="100 %", met=t["same"] == t["ran"]),
        row(NAME, "run 1 wall time", t["time_run1"], "s", baseline="plain run",
            baseline_value=t["time_plain"], ratio_label="x plain", target="<= 1.15x",
            met=t["time_run1"] <= 1.15 * t["time_plain"]),
        row(NAME, "run 2 (fresh kernel, all hits) wall time", t["time_run2"], "s",
            baseline="plain run", baseline_value=t["time_plain"], ratio_label="x plain"),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_corpus", description=__doc__)
    parser.add_argument("--only", default=None, help="notebooks whose name contains this")
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    parser.add_argument("--json", default=None, help="write the per-cell records here")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per cell")
    parser.add_argument("--edit", action="store_true",
                        help="the edit test: one literal changed, outputs equal to plain")
    parser.add_argument("--ids", action="store_true", help="with --edit: send cell ids")
    parser.add_argument("--edit-data", action="store_true",
                        help="the data-edit test: a data file edited, its readers re-run, no other")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    compiled()
    if args.edit_data:
        from benchmarks import _corpus_data

        done = []
        for path in notebooks(args.only, args.quick):
            print(f"editing the data of {path.stem} ...", file=sys.stderr, flush=True)
            result = _corpus_data.measure_data_edit(path, args.timeout)
            if result is not None:
                done.append(result)
        print(_corpus_data.report(done))
        print(f"\n{time.perf_counter() - started:.0f} s")
        if args.json:
            Path(args.json).write_text(json.dumps(done, indent=1, default=str))
        return 0
    if args.edit:
        from benchmarks import _corpus_edit

        edits = []
        for path in notebooks(args.only, args.quick):
            print(f"editing {path.stem} ...", file=sys.stderr, flush=True)
            edits.append(_corpus_edit.measure_edit(path, args.timeout, ids=args.ids))
        print(_corpus_edit.report(edits))
        print(f"\n{time.perf_counter() - started:.0f} s")
        if args.json:
            Path(args.json).write_text(json.dumps(edits, indent=1, default=str))
        return 0
    results = []
    for path in notebooks(args.only, args.quick):
        print(f"running {path.stem} ...", file=sys.stderr, flush=True)
        results.append(measure(path, args.timeout))
    summaries = [summarise(r) for r in results]
    t = totals(summaries)
    print(table(summaries))
    print()
    ran, ok = t["ran"], t["ok_plain"]
    print(f"cells run unmodified: {_pct(ran, ok)} (target >= 95 %: "
          f"{'met' if ran >= 0.95 * ok else 'NOT met'})")
    print(f"hits in a fresh kernel with equal outputs: {_pct(t['same'], ran)} (hits "
          f"{_pct(t['hits'], ran)}; target 100 %: {'met' if t['same'] == ran else 'NOT met'})")
    ratio = t["time_run1"] / t["time_plain"]
    print(f"run 1 / plain: {ratio:.2f}x (target <= 1.15x: {'met' if ratio <= 1.15 else 'NOT met'});"
          f" run 2 / plain: {t['time_run2'] / t['time_plain']:.2f}x")
    groups = failures(results)
    if groups:
        print("\nrun-1 errors of cells that run plain:")
        for key, count in groups.items():
            print(f"  {count:3d}  {key}")
    print(f"\n{time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
