"""DAG scale: a 10,000-step pipeline (1,000 in quick mode), every step downstream of ``s0``.

Measured: building the pipeline (add steps + validate the graph), a fully-cached run (a cache
key and a lookup for every step: what "is everything fresh?" costs), and marking the root
stale (``flowyml.graph.descendants``). Issue targets: build + check + fully-cached run
<= 1 s; the root's descendants <= 50 ms.
"""

from __future__ import annotations

import shutil
from typing import Any

from benchmarks._common import best_time, chain_module, row, scratch_dir

NAME = "dag"


def run(quick: bool = False) -> list[dict[str, Any]]:
    import networkx as nx

    import flowyml
    from flowyml import graph as fgraph

    n = 1000 if quick else 10_000
    repeat = 2 if quick else 3
    work = scratch_dir("dag")
    try:
        mod = chain_module(work, n, fan_in=True)
        cache_dir = work / "cache"

        def build() -> Any:
            return flowyml.Pipeline("bench-dag", cache_dir=cache_dir).add_steps(mod.STEPS).build()

        pipeline = build()
        first = pipeline.run()  # cold: fills the cache
        if not first.success:
            raise RuntimeError(first.summary())
        t_build = best_time(build, repeat)
        t_fresh = best_time(lambda: _check(pipeline.run(), n), repeat)
        graph = pipeline.dag.graph
        t_desc = best_time(lambda: fgraph.descendants(graph, ["s0"]), repeat * 3)
        t_nx = best_time(lambda: nx.descendants(graph, "s0"), repeat * 3)
        n_desc = len(fgraph.descendants(graph, ["s0"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total = t_build + t_fresh
    label = f"{n:,} steps"
    return [
        row(NAME, f"{label}: build (add + validate)", t_build, "s"),
        row(NAME, f"{label}: fully-cached run (keys + lookups)", t_fresh, "s",
            note=f"{t_fresh / n * 1e3:.3f} ms/step"),
        row(NAME, f"{label}: build + fully-cached run", total, "s",
            target="<= 1 s (10k steps)", met=total <= 1.0 if not quick else None),
        row(NAME, f"{label}: mark root stale ({n_desc:,} descendants)", t_desc, "s",
            baseline="nx.descendants", baseline_value=t_nx, ratio_label="x networkx",
            target="<= 50 ms", met=t_desc <= 0.050),
    ]


def _check(result: Any, n: int) -> None:
    if len(result.cached_steps) != n:
        raise RuntimeError(f"expected {n} cached steps: {result!r}")
