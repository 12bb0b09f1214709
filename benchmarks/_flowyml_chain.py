"""FlowyML's side of ``bench_overhead``: a chain of trivial steps written with FlowyML's API.

Runs with FlowyML's own interpreter (see ``_flowyml_ref.py``), never with ours: it imports
nothing from this repository. ``python _flowyml_chain.py N REPEAT`` writes modules of ``N``
``@step(inputs=[...], outputs=[...])`` functions into the current directory, as a user
would, and times FlowyML's ``Pipeline.run(auto_start_ui=False)`` with its defaults otherwise
(its checkpoints, run records and metadata database are part of a FlowyML run): no cache,
cold cache (fresh functions and a fresh ``cache_dir`` each repeat) and fully cached. Prints
one line ``FLOWYML_BENCH_JSON {...}`` with the best time of each (seconds per run).
"""

from __future__ import annotations

import gc
import importlib
import json
import math
import sys
import time
from pathlib import Path

JSON_MARK = "FLOWYML_BENCH_JSON "


def chain_source(n: int) -> str:
    """Step ``i`` reads ``v{i-1}`` and returns ``v{i}``, like ``_common.chain_module``."""
    lines = ["from flowyml import step", "", "", "@step(outputs=['v0'], register=False)",
             "def s0():", "    return 0", ""]
    for i in range(1, n):
        lines += ["", f"@step(inputs=['v{i - 1}'], outputs=['v{i}'], register=False)",
                  f"def s{i}(v{i - 1}):", f"    return v{i - 1} + 1", ""]
    lines += ["", "STEPS = [" + ", ".join(f"s{i}" for i in range(n)) + "]", ""]
    return "\n".join(lines)


def fresh_steps(n: int, tag: str) -> list:
    name = f"_flowyml_ref_chain_{tag}"
    Path(f"{name}.py").write_text(chain_source(n))
    importlib.invalidate_caches()
    return importlib.import_module(name).STEPS


def timed(fn) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        gc.enable()


def checked(pipeline, n: int, cached: int) -> None:
    result = pipeline.run(auto_start_ui=False)
    hits = sum(1 for r in result.step_results.values() if r.cached)
    if not result.success or len(result.step_results) != n or hits != cached:
        raise RuntimeError(f"FlowyML pipeline misbehaved: success={result.success}, "
                           f"{len(result.step_results)} step results, {hits} cached")


def main() -> None:
    n, repeat = int(sys.argv[1]), int(sys.argv[2])
    sys.path.insert(0, str(Path.cwd()))
    import flowyml
    from flowyml import Pipeline

    nocache = Pipeline("bench-nocache", enable_cache=False)
    for s in fresh_steps(n, "nocache"):
        nocache.add_step(s)
    checked(nocache, n, 0)  # warm-up, as for flowyml
    t_nocache = min(timed(lambda: checked(nocache, n, 0)) for _ in range(repeat))

    t_cold = math.inf
    for r in range(repeat):
        cold = Pipeline("bench-cold", cache_dir=str(Path.cwd() / f"cache-{r}"))
        for s in fresh_steps(n, f"cold{r}"):
            cold.add_step(s)
        t_cold = min(t_cold, timed(lambda p=cold: checked(p, n, 0)))
    t_warm = min(timed(lambda: checked(cold, n, n)) for _ in range(repeat))

    print(JSON_MARK + json.dumps({"version": flowyml.__version__, "n": n, "repeat": repeat,
                                  "nocache": t_nocache, "cold": t_cold, "warm": t_warm}))


if __name__ == "__main__":
    main()
