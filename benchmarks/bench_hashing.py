"""Hashing throughput of ``flowyml.hash_value`` against raw xxh3 and ``joblib.hash``.

Values: a float64 array (1 GiB; 64 MiB in quick mode), a DataFrame with int, float, str,
category and datetime columns (10M rows; 200k), and a list of small dicts (1M; 50k).
Issue targets for the array: >= 80 % of raw ``xxhash.xxh3_128`` over the same buffer and
>= 10x ``joblib.hash``.
"""

from __future__ import annotations

from typing import Any

from benchmarks._common import best_time, row

NAME = "hashing"


def _frame(n: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    words = np.array([f"word-{i:05d}" for i in range(5000)], dtype=object)
    return pd.DataFrame({
        "i": rng.integers(0, 1 << 40, n),
        "f": rng.random(n),
        "s": words[rng.integers(0, len(words), n)],
        "c": pd.Categorical.from_codes(rng.integers(0, 4, n), ["a", "b", "c", "d"]),
        "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**9, n), unit="s"),
    })


def run(quick: bool = False) -> list[dict[str, Any]]:
    import joblib
    import numpy as np
    import xxhash

    import flowyml

    rows = []
    repeat = 2 if quick else 3

    # -- a large float64 array ---------------------------------------------------------
    n_bytes = (64 if quick else 1024) * 2**20
    arr = np.random.default_rng(0).random(n_bytes // 8)
    mib = arr.nbytes / 2**20
    t_flowyml = best_time(lambda: flowyml.hash_value(arr), repeat)
    t_raw = best_time(lambda: xxhash.xxh3_128(arr.view(np.uint8)).hexdigest(), repeat)
    t_joblib = best_time(lambda: joblib.hash(arr), 1)
    case = f"float64 array, {mib:,.0f} MiB"
    share = t_raw / t_flowyml
    rows.append(row(NAME, f"{case}: vs raw xxh3_128", mib / t_flowyml, "MB/s",
                    baseline="raw xxh3_128", baseline_value=mib / t_raw, ratio=share * 100,
                    ratio_label="% of raw", target=">= 80 % of raw (1 GiB)", met=None if quick else share >= 0.8))
    rows.append(row(NAME, f"{case}: vs joblib.hash", mib / t_flowyml, "MB/s",
                    baseline="joblib.hash", baseline_value=mib / t_joblib,
                    ratio=t_joblib / t_flowyml, ratio_label="x faster",
                    target=">= 10x joblib.hash (1 GiB)",
                    met=None if quick else t_joblib / t_flowyml >= 10))
    arr = None  # free it before the next case

    # -- a mixed-dtype DataFrame ----------------------------------------------------------
    n_rows = 200_000 if quick else 10_000_000
    df = _frame(n_rows)
    t_flowyml = best_time(lambda: flowyml.hash_value(df), repeat)
    t_joblib = best_time(lambda: joblib.hash(df), 1)
    rows.append(row(NAME, f"DataFrame, {n_rows:,} rows x 5 mixed dtypes", t_flowyml, "s",
                    baseline="joblib.hash", baseline_value=t_joblib,
                    ratio=t_joblib / t_flowyml, ratio_label="x faster"))
    df = None

    # -- many small dicts -----------------------------------------------------------------
    n_dicts = 50_000 if quick else 1_000_000
    records = [{"id": i, "name": f"item-{i}", "score": i * 0.5, "ok": i % 2 == 0}
               for i in range(n_dicts)]
    t_flowyml = best_time(lambda: flowyml.hash_value(records), repeat)
    t_joblib = best_time(lambda: joblib.hash(records), 1)
    rows.append(row(NAME, f"list of {n_dicts:,} small dicts", t_flowyml, "s",
                    baseline="joblib.hash", baseline_value=t_joblib,
                    ratio=t_joblib / t_flowyml, ratio_label="x faster"))
    return rows
