"""Executors side by side: CPU-bound and sleeping steps in parallel, per-step overhead.

Ratios are printed, never asserted. Dask runs on a 2-worker loopback LocalCluster started
before timing (its start-up is not a per-run cost when a cluster is reused). Per-step
overhead is measured on two shapes of trivial steps: independent ones (the processes and
Dask executors batch them, several per worker call) and one chain (fused into one unit).
"""

from __future__ import annotations

import time
from typing import Any


def _independent(n: int, body: Any, name: str) -> Any:
    from flowyml import Pipeline, step

    steps = []
    for i in range(n):
        def work(size, _i=i):
            return body(size)

        steps.append(step(work, name=f"{name}_{i}", outputs=[f"{name}_out_{i}"], cache=False))
    return Pipeline(name, enable_cache=False).add_steps(steps)


def _chain(n: int, name: str) -> Any:
    from flowyml import Pipeline, step

    def first(size):
        return size

    steps = [step(first, name=f"{name}_0", outputs=[f"{name}_out_0"], cache=False)]
    for i in range(1, n):
        def link(x, _i=i):
            return x

        steps.append(step(link, name=f"{name}_{i}", inputs=[f"{name}_out_{i - 1}"],
                          outputs=[f"{name}_out_{i}"], cache=False))
    return Pipeline(name, enable_cache=False).add_steps(steps)


def _spin(size: int) -> int:
    total = 0
    for k in range(size):
        total += k * k % 7
    return total


def _nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def _timed(pipeline: Any, executor: Any, max_workers: int, **ctx: Any) -> float:
    started = time.perf_counter()
    result = pipeline.run(executor=executor, max_workers=max_workers, **ctx)
    elapsed = time.perf_counter() - started
    if not result.success:
        raise RuntimeError(result.summary())
    return elapsed


def _row(name: str, value: float, baseline: float, unit: str, target: str,
         ratio: float | None = None) -> dict[str, Any]:
    # the shape benchmarks/_common.py renders: a label for the baseline, its value apart
    ratio = ratio if ratio is not None else baseline / value
    met = None
    if target.startswith(">="):  # on the ratio
        met = ratio >= float(target.removeprefix(">=").strip().removesuffix("x"))
    elif target.startswith("<="):  # on the value, in its unit
        met = value <= float(target.removeprefix("<=").split()[0])
    return {"benchmark": "executors", "case": name, "name": name, "value": value, "unit": unit,
            "baseline": "sequential", "baseline_value": baseline, "ratio": ratio,
            "target": target, "met": met}


def run(quick: bool = False) -> list[dict[str, Any]]:
    """Rows {name, baseline, value, ratio, unit, target}; ratio > 1 means faster."""
    import dask
    from distributed import Client, LocalCluster

    rows = []
    size = 5_000_000 if quick else 15_000_000
    with dask.config.set({"distributed.worker.daemon": False}):
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
    client = Client(cluster)
    try:
        cpu = _independent(8, _spin, "cpu")
        _timed(cpu, "processes", 2, size=1000)  # warm the loky workers
        _timed(cpu, client, 2, size=1000)
        seq = _timed(cpu, "sequential", 1, size=size)
        for label, exe in (("processes", "processes"), ("dask", client)):
            t = _timed(cpu, exe, 2, size=size)
            rows.append(_row(f"8 CPU-bound steps, {label} x2 vs sequential", t, seq, "s",
                             ">= 1.7x"))

        nap = 0.25 if quick else 0.5
        sleepy = _independent(8, _nap, "sleep")
        seq = _timed(sleepy, "sequential", 1, size=nap)
        t = _timed(sleepy, "threads", 8, size=nap)
        rows.append(_row("8 sleeping steps, threads x8 vs sequential", t, seq, "s", ">= 5x"))

        n = 200 if quick else 1000
        targets = {"processes": "<= 1 ms/step", "dask": "<= 2 ms/step"}  # issue 15
        for case, pipe in ((f"{n} trivial steps", _independent(n, lambda size: size, "trivial")),
                           (f"{n}-step chain", _chain(n, "link"))):
            # best of two each: the machine is shared
            base = min(_timed(pipe, "sequential", 1, size=1) for _ in range(2)) / n
            for label, exe, workers in (("sequential", "sequential", 1),
                                        ("threads", "threads", 4),
                                        ("processes", "processes", 2), ("dask", client, 2)):
                per = base if label == "sequential" else min(
                    _timed(pipe, exe, workers, size=1) for _ in range(2)) / n
                rows.append(_row(f"per-step overhead, {label} ({case})", per * 1e3,
                                 base * 1e3, "ms/step", targets.get(label, "report"),
                                 ratio=per / base))
    finally:
        client.close()
        cluster.close()
    return rows


if __name__ == "__main__":
    import sys

    for r in run(quick="--quick" in sys.argv):
        print(f"{r['name']:<58} {r['value']:9.3f} {r['unit']:<8} baseline {r['baseline']:9.3f}  "
              f"ratio {r['ratio']:6.2f}  target {r['target']}")
