"""The local store alone: writing and reading back small entries (issues 15 and 14).

Side by side with ``joblib.Memory`` on the same values: a cold call of a memoised identity
function (joblib hashes the argument, writes the output and its metadata) against
``CacheStore.store`` of an entry, and a cached call against ``CacheStore.lookup`` +
``load``. Both sides work on one step (one function) with ``n`` different small values, so
directory creation is paid once. flowyml's figures include no key computation (that is
above the store); joblib's include its argument hashing (~10-20 us for a small int), so the
ratio flatters joblib a little. Targets: a store and a hit well under the per-step budgets
(cold step <= 0.5 ms, cached map item <= 20 us).
"""

from __future__ import annotations

import shutil
from typing import Any

from benchmarks._common import best_time, row, scratch_dir

NAME = "store"


def _identity(x: int) -> dict[str, Any]:
    return {"y": [x, x + 1, x + 2], "name": f"item {x}"}


def run(quick: bool = False) -> list[dict[str, Any]]:
    import joblib

    from flowyml.keys import make_key
    from flowyml.store.local import CacheStore

    n = 500 if quick else 5000
    repeat = 2 if quick else 3
    work = scratch_dir("store")
    try:
        values = [_identity(i) for i in range(n)]
        keys = [make_key("bench_store", "code", {"x": f"{i:032x}"}) for i in range(n)]

        def fresh_store(r: list[int] = [0]) -> CacheStore:  # noqa: B006 - a counter
            r[0] += 1
            store = CacheStore(work / f"flowyml-{r[0]}")
            store.check_safety()
            return store

        stores: list[CacheStore] = []

        def store_all() -> None:
            store = stores[-1]
            for key, value in zip(keys, values, strict=True):
                store.store(key, value, output_hashes={"y": "-", "name": "-"})

        t_store = best_time(store_all, repeat=repeat, setup=lambda: stores.append(fresh_store()))
        store = stores[-1]

        def hit_all() -> None:
            for key in keys:
                store.load(store.lookup(key))

        t_hit = best_time(hit_all, repeat=repeat)

        mems: list[Any] = []

        def joblib_setup() -> None:
            mem = joblib.Memory(work / f"joblib-{len(mems)}", verbose=0)
            mems.append(mem.cache(_identity))

        def joblib_all() -> None:
            f = mems[-1]
            for i in range(n):
                f(i)

        t_jl_cold = best_time(joblib_all, repeat=repeat, setup=joblib_setup)
        t_jl_hit = best_time(joblib_all, repeat=repeat)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    us = 1e6
    store_us, hit_us = t_store / n * us, t_hit / n * us
    return [
        row(NAME, f"store a small entry ({n:,} in one step)", store_us, "us/entry",
            baseline="joblib.Memory cold call", baseline_value=t_jl_cold / n * us,
            ratio_label="x joblib's time", target="<= 0.5 ms/step (whole cold step)",
            met=store_us <= 500),
        row(NAME, f"lookup + load a small entry ({n:,})", hit_us, "us/entry",
            baseline="joblib.Memory cached call", baseline_value=t_jl_hit / n * us,
            ratio_label="x joblib's time", target="<= 20 us/item (whole cached map item)",
            met=hit_us <= 20),
    ]
