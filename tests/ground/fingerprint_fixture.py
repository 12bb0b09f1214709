"""Steps whose code fingerprints are pinned in test_hashing.py: edit nothing here.

Each one uses a different kind of dependency that the code fingerprint follows (or, for
library code, deliberately does not): helpers, classes, dataclasses, constants, the
standard library and site-packages.
"""

import collections
import dataclasses
import json
import math
import os.path

SCALE = 3
NAMES = ("a", "b")


def helper(x):
    return x * SCALE


def outer(x):
    return helper(x) + 1


class Scaler:
    factor = 2

    def __init__(self, offset):
        self.offset = offset

    def apply(self, x):
        return helper(x) * self.factor + self.offset

    @property
    def doubled(self):
        return self.offset * 2

    @staticmethod
    def make():
        return Scaler(0)


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

    def norm(self):
        return math.hypot(self.x, self.y)


def uses_helpers(data):
    return [outer(v) for v in data]


def uses_class(data):
    s = Scaler.make()
    return [s.apply(v) for v in data] + [Scaler(1).doubled]


def uses_dataclass(data):
    return Point(len(data), SCALE).norm()


def uses_library(data):
    path = os.path.join("a", "b")
    counts = collections.Counter(data)
    return json.dumps({"p": path, "n": len(counts), "pi": math.pi, "names": NAMES})


def uses_a_lambda(data):
    return sorted(data, key=lambda v: -v)
