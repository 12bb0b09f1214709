"""``map_task`` at scale: 100,000 items (5,000 in quick mode), each cached on its own.

A pipeline ``items(n) -> square (map_task) -> total``, sequential executor. Measured per
item, after a cold run that computes and stores every item:

* fully cached, same list: what re-running a finished notebook or module costs;
* one item changed: the other items are found one by one in the cache (the path taken
  whenever the list differs from the last run's), plus one call;

beside ``joblib.Memory``-cached calls of the same function over the same items (measured on
a slice: a cold joblib call costs ~1 ms, so 100,000 of them would dominate the suite) and a
plain loop. Issue 15 target: fully cached <= 20 us per item.
"""

from __future__ import annotations

import shutil
from typing import Any

from benchmarks._common import best_time, row, scratch_dir

NAME = "map"
#: items in full and quick mode
ITEMS, ITEMS_QUICK = 100_000, 5_000


def _items(n: int) -> list[int]:
    return list(range(n))


def _square(item: int) -> int:
    return item * item


def _total(squares: list[int]) -> int:
    return sum(squares)


def run(quick: bool = False) -> list[dict[str, Any]]:
    import joblib

    from flowyml import Pipeline, map_task, step

    n = ITEMS_QUICK if quick else ITEMS
    n_joblib = 500 if quick else 2_000
    repeat = 2 if quick else 3
    work = scratch_dir("map")
    try:
        items = step(_items, name="items", outputs=["items"], register=False)
        square = map_task(_square, name="square", inputs=["items"], outputs=["squares"],
                          register=False)
        total = step(_total, name="total", inputs=["squares"], outputs=["total"], register=False)
        pipeline = Pipeline("bench-map", cache_dir=work / "cache").add_steps([items, square, total])
        expected = sum(i * i for i in range(n))

        t_cold = best_time(lambda: _check(pipeline.run(n=n), expected), repeat=1)
        t_same = best_time(lambda: _check(pipeline.run(n=n), expected, hits=n), repeat=repeat)

        # one item changed: each repetition changes a different one, so each finds n - 1
        # items one by one and runs one call
        changed = iter(range(1, 100))
        inputs = step(lambda n, k: [*range(n - 1), -k], name="items", outputs=["items"],
                      register=False)
        edited = Pipeline("bench-map-edit", cache_dir=work / "cache").add_steps([inputs, square])

        def one_changed() -> None:
            result = edited.run(n=n, k=next(changed))
            if not result.success or result.step_results["square"].map_result.cached != n - 1:
                raise RuntimeError(f"expected {n - 1} item hits: {result.summary()}")

        t_edit = best_time(one_changed, repeat=repeat)

        memory = joblib.Memory(work / "joblib", verbose=0)
        cached_square = memory.cache(_square)
        some = list(range(n_joblib))
        for i in some:
            cached_square(i)
        t_joblib = best_time(lambda: [cached_square(i) for i in some], repeat=repeat) / n_joblib
        everything = list(range(n))
        t_loop = best_time(lambda: [_square(i) for i in everything], repeat=repeat * 3) / n
    finally:
        shutil.rmtree(work, ignore_errors=True)

    us = 1e6
    label = f"{n:,} items"
    joblib_label = f"joblib.Memory cached ({n_joblib:,} calls)"
    return [
        row(NAME, f"{label}: fully cached run, same list", t_same / n * us, "µs/item",
            baseline=joblib_label, baseline_value=t_joblib * us, ratio_label="x joblib's time",
            target="<= 20 µs/item", met=t_same / n * us <= 20 if not quick else None,
            note=f"run {t_same * 1e3:.0f} ms"),
        row(NAME, f"{label}: one item changed ({n - 1:,} item hits + 1 call)", t_edit / n * us,
            "µs/item", baseline=joblib_label, baseline_value=t_joblib * us,
            ratio_label="x joblib's time", note=f"run {t_edit * 1e3:.0f} ms"),
        row(NAME, f"{label}: cold run (compute + store each item)", t_cold, "s",
            note=f"{t_cold / n * us:,.0f} µs/item"),
        row(NAME, f"{label}: plain loop, no cache", t_loop * us, "µs/item"),
    ]


def _check(result: Any, expected: int, hits: int | None = None) -> None:
    if not result.success or result["total"] != expected:
        raise RuntimeError(f"benchmark pipeline misbehaved: {result.summary()}")
    if hits is not None and result.step_results["square"].map_result.cached != hits:
        raise RuntimeError(f"expected {hits} cached items: {result.summary()}")
