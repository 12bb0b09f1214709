"""The notebook layer: ``%%step`` on a cache hit against the same code in a plain cell, and
``%flowyml status`` over many step cells.

Driven like a user's kernel: an ``InteractiveShell`` with ``%load_ext flowyml``, in a
subprocess of its own (a fresh shell, a scratch cache). Skips, saying why, when the
extension cannot be loaded. Issue target: a hit costs <= 10 ms over the plain cell.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks._common import best_time, row, run_child, scratch_dir, skipped

NAME = "notebook"


def _child(n_steps: int, repeat: int) -> dict[str, Any]:
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.utils.capture import capture_output

        import flowyml_jupyter.magics
    except ImportError as exc:
        return {"skip": f"the notebook extension is not importable yet ({exc})"}
    ip = InteractiveShell.instance()
    with capture_output():
        ip.run_line_magic("load_ext", "flowyml")
    if "step" not in ip.magics_manager.magics["cell"]:
        return {"skip": "%load_ext flowyml did not register %%step"}

    def cell(source: str) -> str:
        with capture_output() as out:
            result = ip.run_cell(source)
        if not result.success:
            raise RuntimeError(f"cell failed: {source!r}: {result.error_in_exec!r}\n{out.stdout}")
        shown = [str(o.data.get("text/plain", "")) for o in out.outputs]
        return "\n".join([out.stdout, repr(result.result), *shown])

    cell("x = 41")
    body = "y = x + 1\nprint('computed')"
    plain = best_time(lambda: cell(body), repeat)
    import flowyml_jupyter

    session = flowyml_jupyter._LOADED[id(ip)].session
    first = cell("%%step\n" + body)
    again = cell("%%step\n" + body)
    if "computed" not in first or session.steps["y"].state != "cached" or "computed" not in again:
        raise RuntimeError("re-running an unchanged %%step cell was not a cache hit replaying "
                           "the cell's output")
    hit = best_time(lambda: cell("%%step\n" + body), repeat)

    cell("%%step\nv0 = 0")
    for i in range(1, n_steps):
        cell(f"%%step\nv{i} = v{i - 1} + 1")
    status_out = cell("%flowyml status")
    if f"v{n_steps - 1}" not in status_out:
        raise RuntimeError(f"%flowyml status does not list the steps: {status_out[:300]!r}")
    status = best_time(lambda: cell("%flowyml status"), repeat)
    return {"plain": plain, "hit": hit, "status": status, "steps": n_steps + 1}


def run(quick: bool = False) -> list[dict[str, Any]]:
    n_steps = 100 if quick else 1000
    repeat = 5 if quick else 20
    work = scratch_dir("notebook")
    data, wall = run_child("benchmarks.bench_notebook", [str(n_steps), str(repeat)], work)
    if "skip" in data:
        return [skipped(NAME, data["skip"])]
    over = data["hit"] - data["plain"]
    return [
        row(NAME, "%%step cache hit vs plain cell (overhead)", over, "s",
            baseline="plain cell", baseline_value=data["plain"], ratio=data["hit"] / data["plain"],
            ratio_label="x plain cell", target="<= 10 ms overhead", met=over <= 0.010),
        row(NAME, f"%flowyml status, {data['steps']:,} steps", data["status"], "s",
            note=f"{data['status'] / data['steps'] * 1e3:.3f} ms/step; whole benchmark {wall:.0f} s"),
    ]


if __name__ == "__main__":
    print(json.dumps(_child(int(sys.argv[1]), int(sys.argv[2]))))
