"""Pipeline 'options', exported from a notebook by flowyml.

Run it with `python THIS_FILE.py` or `flowyml run THIS_FILE.py`. Its steps have
the notebook's cache keys: a step that ran in the notebook is not recomputed.
"""

import sys
import time

from flowyml import Pipeline, step

THRESHOLD = 0.5
enabled = True


@step(
    name="load",
    outputs=["values"],
    retry=2,
    timeout=30.0,
    resources={"cpu": "2", "memory": "1Gi"},
    tags={"owner": "data", "team": "ml"},
)
def load():
    values = [0.1, 0.7, 0.9]
    return values


@step(
    name="filter_values",
    inputs=["values"],
    outputs=["kept"],
    cache="input_hash",
    execution_group="prep",
    pipeline="demo",
    description="Keep values above the threshold.",
)
def filter_values(values, THRESHOLD):
    kept = [v for v in values if v > THRESHOLD]
    return kept


@step(
    name="stamp",
    inputs=["kept"],
    outputs=["stamped"],
    cache=False,
    condition=lambda enabled, kept: enabled and len(kept) > 1,
)
def stamp(kept):
    stamped = (time.time(), len(kept))
    return stamped


pipeline = Pipeline("options", context={"THRESHOLD": THRESHOLD, "enabled": enabled})
pipeline.add_steps([load, filter_values, stamp])


if __name__ == "__main__":
    result = pipeline.run()
    print(result.summary())
    for res in result.step_results.values():
        if res.traceback:
            print(f"\nstep {res.name!r} failed:\n{res.traceback}", file=sys.stderr)
    sys.exit(0 if result.success else 1)
