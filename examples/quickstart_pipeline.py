"""A tiny flowyml pipeline: generate data, fit a line, report."""

import random

from flowyml import Pipeline, step


@step(outputs=["points"])
def make_points(n: int = 200, seed: int = 0):
    rng = random.Random(seed)
    return [(x, 3 * x + 1 + rng.gauss(0, 0.5)) for x in (i / n for i in range(n))]


@step(inputs=["points"], outputs=["slope", "intercept"])
def fit(points):
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxy = sum((x - mx) * (y - my) for x, y in points)
    sxx = sum((x - mx) ** 2 for x, _ in points)
    slope = sxy / sxx
    return slope, my - slope * mx


@step(inputs=["slope", "intercept"], outputs=["report"])
def report(slope, intercept):
    return f"y = {slope:.3f} x + {intercept:.3f}"


pipeline = Pipeline("quickstart", context={"n": 200, "seed": 0}).add_steps([make_points, fit, report])

if __name__ == "__main__":
    result = pipeline.run()
    print(result.summary())
    print(result["report"])
    print(f"cache: {pipeline.cache.root}")
