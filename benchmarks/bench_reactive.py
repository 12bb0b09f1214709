"""Reactive mode: one upstream edit in a 50-step notebook with ``%flowyml auto on``.

Driven like a user's kernel: an ``InteractiveShell`` with ``%load_ext flowyml`` in a
subprocess of its own (a fresh shell, a scratch cache). Step 0 is ``v0 = K``; step i
(1..49) reads ``v{i-1}`` and does a fixed amount of work (``WORK`` seconds of a busy loop),
so every step is downstream of step 0. Editing step 0's cell to a new ``K`` re-runs the 49
others in one wave.

- *wave over the steps' own time*: the edited cell's wall time (its own step + the wave)
  over the sum of the 49 bodies run as plain cells (issue target <= 1.1x);
- *a wave of all hits*: editing step 0 back to a value seen before makes all 49 cache hits
  (their outputs loaded, what they printed replayed); its wall time per step (target <= 2 ms).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from benchmarks._common import best_time, row, run_child, scratch_dir, skipped

NAME = "reactive"
WORK = 0.02  # seconds of work in each downstream step


def _body(i: int, work: float) -> str:
    return (f"t = time.perf_counter()\nwhile time.perf_counter() - t < {work}:\n    pass\n"
            f"v{i} = v{i - 1} + 1\nprint('step {i}', v{i})")


def _child(n_steps: int, repeat: int, work: float) -> dict[str, Any]:
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.utils.capture import capture_output

        import flowyml_jupyter.magics  # noqa: F401
    except ImportError as exc:
        return {"skip": f"the notebook extension is not importable ({exc})"}
    ip = InteractiveShell.instance()

    def cell(source: str) -> str:
        with capture_output() as out:
            result = ip.run_cell(source)
        if not result.success:
            raise RuntimeError(f"cell failed: {source!r}: {result.error_in_exec!r}\n{out.stdout}")
        return out.stdout + "\n".join(str(o.data.get("text/plain", "")) for o in out.outputs)

    cell("import time")
    # the baseline: the same bodies as plain cells, one after the other
    cell("v0 = 0")
    plain = best_time(lambda: [cell(_body(i, work)) for i in range(1, n_steps)], repeat)

    cell("%load_ext flowyml")
    cell("%flowyml auto on")
    cell("%%step s0\nv0 = 0")
    for i in range(1, n_steps):
        cell(f"%%step s{i}\n" + _body(i, work))
    downstream = n_steps - 1
    values = iter(range(1, 10_000))

    def edit() -> None:  # a new value each time: the whole wave computes
        out = cell(f"%%step s0\nv0 = {next(values)}")
        if f"{downstream} stale step(s): {downstream} done" not in out:
            raise RuntimeError(f"the wave did not re-run every step: {out[-600:]!r}")

    wave = best_time(edit, repeat)

    def back() -> None:  # a value seen before: the whole wave is cache hits
        out = cell("%%step s0\nv0 = 1")
        if f"{downstream} stale step(s): {downstream} cached" not in out:
            raise RuntimeError(f"the wave was not all cache hits: {out[-600:]!r}")

    def away() -> None:
        cell("%%step s0\nv0 = 2")

    hits = best_time(back, repeat, setup=away)
    return {"plain": plain, "wave": wave, "hits": hits, "downstream": downstream, "work": work}


def run(quick: bool = False) -> list[dict[str, Any]]:
    n_steps = 50
    repeat = 2 if quick else 5
    work = scratch_dir("reactive")
    data, wall = run_child("benchmarks.bench_reactive", [str(n_steps), str(repeat), str(WORK)], work)
    if "skip" in data:
        return [skipped(NAME, data["skip"])]
    n = data["downstream"]
    per_hit = data["hits"] / n
    return [
        row(NAME, f"one upstream edit, wave of {n} steps ({data['work'] * 1e3:.0f} ms work each)",
            data["wave"], "s", baseline="the bodies as plain cells", baseline_value=data["plain"],
            ratio_label="x the steps' own time", target="<= 1.1x",
            met=data["wave"] / data["plain"] <= 1.1),
        row(NAME, f"a wave of {n} cache hits, per step", per_hit, "s",
            target="<= 2 ms per step", met=per_hit <= 0.002,
            note=f"whole wave {data['hits'] * 1e3:.0f} ms; benchmark {wall:.0f} s"),
    ]


if __name__ == "__main__":
    print(json.dumps(_child(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))))
