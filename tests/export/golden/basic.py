"""Pipeline 'basic', exported from a notebook by flowyml.

Run it with `python THIS_FILE.py` or `flowyml run THIS_FILE.py`. Its steps have
the notebook's cache keys: a step that ran in the notebook is not recomputed.
"""

import json
import math
import sys

from flowyml import Pipeline, step

# cell 1, left out (IPython magic): %load_ext flowyml


N = 12
FACTOR = 3


def scale(x):
    # a helper: its code is part of the users' keys
    return x * FACTOR


@step(name="raw", outputs=["raw"])
def raw(N):
    raw = [scale(i) for i in range(N)]
    return raw


@step(name="clean", inputs=["raw"], outputs=["clean", "total"])
def clean(raw):
    clean = [math.sqrt(v) for v in raw if v > 0]
    total = sum(clean)
    return clean, total


@step(name="report", inputs=["total", "clean"], outputs=["summary"])
def report(total, clean):
    summary = json.dumps({"total": round(total, 6), "n": len(clean)})
    print(summary)
    return summary


# cell 7, left out: print(summary)
#   (reads step output summary; make it a %%step cell to keep it)


pipeline = Pipeline("basic", context={"N": N})
pipeline.add_steps([raw, clean, report])


if __name__ == "__main__":
    result = pipeline.run()
    print(result.summary())
    for res in result.step_results.values():
        if res.traceback:
            print(f"\nstep {res.name!r} failed:\n{res.traceback}", file=sys.stderr)
    sys.exit(0 if result.success else 1)
