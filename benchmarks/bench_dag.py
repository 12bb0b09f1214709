"""DAG scale: a 10,000-step pipeline (1,000 in quick mode), every step downstream of ``s0``.

Measured: building the pipeline (add steps + validate the graph), a fully-cached run (a cache
key and a lookup for every step: what "is everything fresh?" costs) and how much of it is
spent inside the store's ``lookup``, a fresh pipeline built and run fully cached (what
``flowyml run`` of a finished module costs), and marking the root stale
(``flowyml.graph.descendants``). Issue 15 targets: build + fully-cached run <= 0.4 s for
10k steps; the root's descendants <= 50 ms.
"""

from __future__ import annotations

import shutil
import time
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
        t_total = best_time(lambda: _check(build().run(), n), repeat)
        timed = _TimedStore(pipeline.cache)
        pipeline._store = timed
        t_timed = best_time(lambda: _check(pipeline.run(), n), 1, setup=timed.reset)
        in_store = timed.seconds
        graph = pipeline.dag.graph
        t_desc = best_time(lambda: fgraph.descendants(graph, ["s0"]), repeat * 3)
        t_nx = best_time(lambda: nx.descendants(graph, "s0"), repeat * 3)
        n_desc = len(fgraph.descendants(graph, ["s0"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    label = f"{n:,} steps"
    us = 1e6 / n
    return [
        row(NAME, f"{label}: build (add + validate)", t_build, "s"),
        row(NAME, f"{label}: fully-cached run (keys + lookups)", t_fresh, "s",
            note=f"{t_fresh * us:.1f} µs/step: store lookups {in_store * us:.1f}, flowyml "
                 f"{(t_timed - in_store) * us:.1f}"),
        row(NAME, f"{label}: new pipeline, build + fully-cached run", t_total, "s",
            target="<= 0.4 s (10k steps)", met=t_total <= 0.4 if not quick else None),
        row(NAME, f"{label}: mark root stale ({n_desc:,} descendants)", t_desc, "s",
            baseline="nx.descendants", baseline_value=t_nx, ratio_label="x networkx",
            target="<= 50 ms", met=t_desc <= 0.050),
    ]


class _TimedStore:
    """The pipeline's store, with the time spent inside ``lookup`` and ``load`` added up."""

    def __init__(self, store: Any) -> None:
        self.store, self.seconds = store, 0.0
        self.enabled = store.enabled

    def reset(self) -> None:
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def _timed(self, method: str, arg: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return getattr(self.store, method)(arg)
        finally:
            self.seconds += time.perf_counter() - t0

    def lookup(self, key: str) -> Any:
        return self._timed("lookup", key)

    def load(self, entry: Any) -> Any:
        return self._timed("load", entry)


def _check(result: Any, n: int) -> None:
    if len(result.cached_steps) != n:
        raise RuntimeError(f"expected {n} cached steps: {result!r}")
