"""Pipeline 'leftovers', exported from a notebook by flowyml.

Run it with `python THIS_FILE.py` or `flowyml run THIS_FILE.py`. Its steps have
the notebook's cache keys: a step that ran in the notebook is not recomputed.
"""

from __future__ import annotations

import sys
from collections import Counter

from flowyml import Pipeline, step
from IPython.display import display

# left out (unused): import os
# left out (unused): import matplotlib.pyplot as plt

# cell 1, left out (IPython magic): %matplotlib inline
# cell 1, left out (shell escape): !pip install nothing
# cell 1, left out (IPython-only assignment): files = !ls
# cell 1, left out (IPython help): os.getcwd?


# cell 2, left out (cell magic %%time, IPython only): %%time


# cell 3, left out (display only): words
words = ['a', 'b', 'a']


@step(name="counts", outputs=["counts"])
def counts(words):
    counts = Counter(words)
    display(counts)
    return counts


# cell 5, left out: top = counts.most_common(1)
#   (reads step output counts; make it a %%step cell to keep it)


# cell 6, left out (display only): counts.head()


@step(name="n_keys", inputs=["counts"], outputs=["n_keys"])
def n_keys(counts):
    n_keys = len(counts)
    print(sys.version_info[0])
    return n_keys


pipeline = Pipeline("leftovers", context={"words": words})
pipeline.add_steps([counts, n_keys])


if __name__ == "__main__":
    result = pipeline.run()
    print(result.summary())
    for res in result.step_results.values():
        if res.traceback:
            print(f"\nstep {res.name!r} failed:\n{res.traceback}", file=sys.stderr)
    sys.exit(0 if result.success else 1)
