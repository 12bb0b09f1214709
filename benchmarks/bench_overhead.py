"""Per-step overhead: a chain of trivial steps, sequential executor.

Side by side on the same functions: calling them directly, ``joblib.Memory.cache``
(cold and cached), and a flowyml pipeline without cache, cold with cache, and fully cached.
Issue targets (per step): no cache <= 0.1 ms, cold <= 2 ms, fully cached <= 0.5 ms.
"""

from __future__ import annotations

import shutil
from typing import Any

from benchmarks._common import best_time, chain_module, row, scratch_dir

NAME = "overhead"


def _direct(funcs: list[Any]) -> None:
    value = funcs[0]()
    for f in funcs[1:]:
        value = f(value)


def run(quick: bool = False) -> list[dict[str, Any]]:
    import joblib

    import flowyml

    n = 200 if quick else 1000
    repeat = 2 if quick else 5
    work = scratch_dir("overhead")
    try:
        mod = chain_module(work, n)
        direct = best_time(lambda: _direct(mod.FUNCS), repeat=repeat * 3) / n

        # joblib.Memory.cache on the same plain functions (a fresh module per cold repeat)
        def joblib_cold() -> tuple[float, list[Any]]:
            best = float("inf")
            for r in range(repeat):
                m = chain_module(work, n)
                mem = joblib.Memory(work / f"joblib-{r}", verbose=0)
                cached = [mem.cache(f) for f in m.FUNCS]
                best = min(best, best_time(lambda c=cached: _direct(c), repeat=1))
            return best, cached
        jl_cold, jl_funcs = joblib_cold()
        jl_warm = best_time(lambda: _direct(jl_funcs), repeat=repeat)

        nocache = flowyml.Pipeline("bench-nocache", enable_cache=False).add_steps(mod.STEPS)
        nocache.run()  # warm-up: imports, fingerprint memo
        t_nocache = best_time(lambda: _check(nocache.run(), n, 0), repeat=repeat)

        cold_best = float("inf")
        for r in range(repeat):
            m = chain_module(work, n)  # fresh functions: fingerprints computed from scratch
            p = flowyml.Pipeline("bench-cold", cache_dir=work / f"flowyml-{r}").add_steps(m.STEPS)
            cold_best = min(cold_best, best_time(lambda p=p: _check(p.run(), n, 0), repeat=1))
        t_warm = best_time(lambda: _check(p.run(), n, n), repeat=repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ms = 1e3
    label = f"{n}-step chain"
    return [
        row(NAME, f"{label}: direct calls", direct * ms, "ms/step"),
        row(NAME, f"{label}: no cache", t_nocache / n * ms, "ms/step",
            baseline="direct", baseline_value=direct * ms, ratio_label="x direct calls",
            target="<= 0.1 ms/step", met=t_nocache / n * ms <= 0.1),
        row(NAME, f"{label}: cold, cache on", cold_best / n * ms, "ms/step",
            baseline="joblib.Memory cold", baseline_value=jl_cold / n * ms,
            ratio_label="x joblib's time", target="<= 2 ms/step", met=cold_best / n * ms <= 2),
        row(NAME, f"{label}: fully cached", t_warm / n * ms, "ms/step",
            baseline="joblib.Memory cached", baseline_value=jl_warm / n * ms,
            ratio_label="x joblib's time", target="<= 0.5 ms/step", met=t_warm / n * ms <= 0.5),
    ]


def _check(result: Any, n: int, cached: int) -> None:
    if not result.success or len(result.step_results) != n or len(result.cached_steps) != cached:
        raise RuntimeError(f"benchmark pipeline misbehaved: {result!r}")
