"""Shared helpers: timing, rows, memory, the table, and throw-away pipelines."""

from __future__ import annotations

import gc
import importlib
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

#: the columns of the table, in order
COLUMNS = ("benchmark", "case", "flowyml", "baseline", "ratio", "target", "met")


def row(
    benchmark: str,
    case: str,
    value: float | None,
    unit: str,
    *,
    baseline: str = "",
    baseline_value: float | None = None,
    ratio: float | None = None,
    ratio_label: str = "",
    target: str = "",
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    """One table row: flowyml's figure, the baseline's, their ratio and the target.

    ``ratio`` defaults to ``value / baseline_value``; ``ratio_label`` says what it means
    (e.g. "x faster"), ``met`` whether the issue's target holds (``None``: no target).
    """
    if ratio is None and value is not None and baseline_value:
        ratio = value / baseline_value
    return {
        "benchmark": benchmark,
        "case": case,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": baseline_value,
        "ratio": ratio,
        "ratio_label": ratio_label,
        "target": target,
        "met": met,
        "note": note,
    }


def skipped(benchmark: str, reason: str) -> dict[str, Any]:
    """A row saying a benchmark did not run, and why."""
    return row(benchmark, "skipped", None, "", note=reason)


def best_time(fn: Callable[[], Any], repeat: int = 3, setup: Callable[[], Any] | None = None) -> float:
    """The fastest of ``repeat`` wall-clock timings of ``fn()`` (seconds); gc off while timing.

    The minimum is the least noisy estimate on a machine shared with other work.
    """
    best = math.inf
    for _ in range(max(repeat, 1)):
        if setup is not None:
            setup()
        gc.collect()
        enabled = gc.isenabled()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
        finally:
            if enabled:
                gc.enable()
    return best


def rss_bytes() -> int:
    """The current resident set size of this process."""
    import psutil

    return psutil.Process().memory_info().rss


def peak_rss_bytes() -> int:
    """The peak resident set size of this process so far, in bytes.

    On Linux this is ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` survives
    ``exec``, so a child spawned by a big parent would report the parent's RSS as its own
    peak (that is what made one full-suite run show 12 % over the array instead of 1.5 %).
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def run_child(module: str, args: list[str], work: Path) -> tuple[dict[str, Any], float]:
    """Run benchmark ``module`` in a fresh interpreter in ``work`` (its cache there, matplotlib
    headless, this checkout first on the path); its last stdout line (JSON) and the wall
    time. ``work`` is removed afterwards."""
    import json
    import shutil
    import subprocess

    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "FLOWYML_CACHE_DIR": str(work / "cache"), "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    try:
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", module, *args], capture_output=True,
                             text=True, check=False, env=env, cwd=work)
        wall = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if out.returncode != 0:
        raise RuntimeError(f"{module} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), wall


def scratch_dir(prefix: str) -> Path:
    """A fresh temporary directory (the caller removes it)."""
    return Path(tempfile.mkdtemp(prefix=f"flowyml-bench-{prefix}-"))


_module_counter = 0


def chain_module(directory: Path, n: int, *, fan_in: bool = False) -> Any:
    """Write and import a module of ``n`` trivial ``@step`` functions ``s0 .. s{n-1}``.

    Step ``i`` reads ``v{i-1}`` (and, with ``fan_in``, also ``v{(i-1)//2}``, so the DAG is a
    chain plus a binary tree: every step descends from ``s0``) and returns ``v{i}``. Each call
    gives a module of its own, so nothing is memoised between repeats. The plain functions
    are in ``module.FUNCS`` (for direct calls and ``joblib.Memory``), the steps in
    ``module.STEPS``.
    """
    global _module_counter
    _module_counter += 1
    name = f"_flowyml_bench_chain_{os.getpid()}_{_module_counter}"
    lines = ["from flowyml import step", "", "", "def s0():", "    return 0", ""]
    for i in range(1, n):
        if fan_in and i > 1:
            lines += [f"def s{i}(x, y):", "    return (x + y) % 1000003", ""]
        else:
            lines += [f"def s{i}(x):", "    return x + 1", ""]
    lines += ["", "FUNCS = [" + ", ".join(f"s{i}" for i in range(n)) + "]", "STEPS = []"]
    lines += [
        "for _i, _f in enumerate(FUNCS):",
        "    _ins = [] if _i == 0 else [f'v{_i - 1}']",
        "    if " + ("True" if fan_in else "False") + " and _i > 1:",
        "        _ins.append(f'v{(_i - 1) // 2}')",
        "    STEPS.append(step(_f, inputs=_ins, outputs=[f'v{_i}'], register=False))",
        "",
    ]
    (directory / f"{name}.py").write_text("\n".join(lines))
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    importlib.invalidate_caches()
    return importlib.import_module(name)


def fmt_value(value: float | None, unit: str) -> str:
    """A figure with its unit, in a readable magnitude."""
    if value is None:
        return ""
    if unit == "s":
        if value < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1e3:.1f} ms"
        return f"{value:.2f} s"
    if unit == "ms/step":
        return f"{value * 1e3:.2f} µs/step" if value < 0.01 else f"{value:.3f} ms/step"
    if unit in ("MB/s", "GB/s"):
        return f"{value:,.0f} {unit}" if value >= 100 else f"{value:.2f} {unit}"
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "bytes":
        return f"{value / 2**20:,.1f} MiB"
    return f"{value:.3g} {unit}".strip()


def fmt_ratio(r: dict[str, Any]) -> str:
    ratio = r.get("ratio")
    if ratio is None:
        return ""
    label = r.get("ratio_label") or "x"
    text = f"{ratio:.3g}" if ratio < 100 else f"{ratio:,.0f}"
    return f"{text} {label}" if label != "x" else f"{text}x"


def cells(r: dict[str, Any]) -> list[str]:
    """A row as table cells (tolerant of rows missing optional keys)."""
    flowyml = fmt_value(r.get("value"), r.get("unit", ""))
    base_value = fmt_value(r.get("baseline_value"), r.get("unit", ""))
    baseline = r.get("baseline") or ""
    if baseline and base_value:
        baseline = f"{baseline}: {base_value}"
    met = r.get("met")
    status = "" if met is None else ("yes" if met else "NO")
    note = r.get("note") or ""
    if note and r.get("case") == "skipped":
        flowyml = note
    elif note:
        status = f"{status} ({note})" if status else f"({note})"
    return [str(r.get("benchmark", "")), str(r.get("case", "")), flowyml, baseline,
            fmt_ratio(r), str(r.get("target") or ""), status]


def render_table(rows: Iterable[dict[str, Any]], markdown: bool = False) -> str:
    """The rows as an aligned text table, or a Markdown table."""
    body = [cells(r) for r in rows]
    header = list(COLUMNS)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(line[i]) for line in body)) if body else len(h)
              for i, h in enumerate(header)]
    def fmt(line: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(header), sep, *(fmt(line) for line in body)])
