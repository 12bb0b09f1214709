"""Value and code fingerprints: content-based, stable across processes, pinned."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict, namedtuple

import pytest

from flowyml.codehash import code_fingerprint
from flowyml.hashing import UnhashableValueError, hash_value

# Changing any of these silently invalidates every user's cache: bump FINGERPRINT_VERSION.
GOLDEN = {
    "none": (None, None),
    "int": (42, None),
    "float": (1.5, None),
    "str": ("flowyml", None),
    "bytes": (b"\x00\x01", None),
    "list": ([1, "a", 2.0], None),
    "dict": ({"a": [1, 2], "b": 2}, None),
    # another insertion order is another value (iterating, printing it); a dict in sorted
    # order kept the digest it had when order was ignored, so its entries still hit
    "dict_order": ({"b": 2, "a": [1, 2]}, None),
    "set": ({3, 1, 2}, None),
    "nested": ({"k": (1, {"x": None})}, None),
}


def _golden_digests():
    return {name: hash_value(value) for name, (value, _) in GOLDEN.items()}


PINNED = {
    "none": "626d368fe0e74b4f1a038927df1311d6",
    "int": "d8cfcaa9005f39be4d7639346882e126",
    "float": "770487274eba5d21f254a1028442cd27",
    "str": "b19e5c3f72fc98b2502f477b362c3fc2",
    "bytes": "3be03a110718d00b89ae86595fada308",
    "list": "b59b3d834683efaa1e4ce274bd7b6627",
    "dict": "e4716a3eb74714f8266468816cceacf5",
    "dict_order": "0cefbd7c685a55c0d7559fbae4dc3387",
    "set": "af118afc0729baa20711a241ccbb1869",
    "nested": "6af158652f58faa04bb04a8768534554",
}


def test_golden_digests_are_pinned():
    assert _golden_digests() == PINNED


def test_equal_values_equal_hashes_sets_ignore_order_dicts_keep_it():
    assert hash_value({"a": 1, "b": 2}) == hash_value(dict([("a", 1), ("b", 2)]))
    assert hash_value({1, 2, 3}) == hash_value({3, 2, 1})
    # a dict's order is what a loop over it sees: a reordered dict is another value
    assert hash_value({"a": 1, "b": 2}) != hash_value({"b": 2, "a": 1})
    assert hash_value({1: "x", "k": None}) != hash_value({"k": None, 1: "x"})  # mixed keys
    assert hash_value(OrderedDict(a=1, b=2)) != hash_value(OrderedDict(b=2, a=1))
    assert hash_value([1, 2]) != hash_value((1, 2))
    assert hash_value(1) != hash_value(1.0) != hash_value("1")
    assert hash_value(OrderedDict(a=1)) != hash_value({"a": 1})
    Point = namedtuple("Point", "x y")
    assert hash_value(Point(1, 2)) != hash_value((1, 2))
    assert hash_value(float("nan")) == hash_value(float("nan"))


def test_a_defaultdicts_factory_is_part_of_its_value():
    """What a missing key gives is part of a defaultdict (an empty ``defaultdict(object)``
    and ``defaultdict(lambda: 0)`` had one digest); a plain dict keeps its digest (pinned above)."""
    from collections import defaultdict

    digests = {hash_value(defaultdict(f)) for f in (object, int, list, None, lambda: 0, lambda: 1)}
    assert len(digests) == 6
    assert hash_value(defaultdict(int, a=1)) == hash_value(defaultdict(int, a=1))
    assert hash_value(defaultdict(int, a=1)) != hash_value(defaultdict(float, a=1))
    assert hash_value(defaultdict(int, a=1)) != hash_value({"a": 1})
    assert hash_value({1: "x", "k": None}) != hash_value(defaultdict(str, {1: "x", "k": None}))


def test_no_ambiguity_between_nested_shapes():
    assert hash_value(["ab", "c"]) != hash_value(["a", "bc"])
    assert hash_value([[1], 2]) != hash_value([1, [2]])


def test_stable_across_processes_with_different_hash_seeds():
    code = ("from flowyml.hashing import hash_value;"
            "print(hash_value({'s': {'x', 'y', 'z'}, 'f': frozenset({'a', 'b'}), 't': ('q', 1)}))")
    outs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1


def test_numpy_by_content_dtype_and_shape():
    np = pytest.importorskip("numpy")
    a = np.arange(12, dtype="float64")
    assert hash_value(a) == hash_value(a.copy())
    assert hash_value(a) != hash_value(a.astype("float32"))
    assert hash_value(a) != hash_value(a.reshape(3, 4))
    assert hash_value(a.reshape(3, 4).T) == hash_value(np.ascontiguousarray(a.reshape(3, 4).T))
    assert hash_value(np.array(["a", None], dtype=object)) != hash_value(np.array(["a", "b"], dtype=object))


def test_pandas_by_values_index_columns_dtypes():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": pd.Categorical(["u", "v", "u"])})
    assert hash_value(df) == hash_value(df.copy())
    changed = df.copy()
    changed.loc[1, "b"] = "Y"
    assert hash_value(df) != hash_value(changed)
    assert hash_value(df) != hash_value(df.set_axis([10, 11, 12]))
    assert hash_value(df) != hash_value(df.rename(columns={"a": "A"}))
    assert hash_value(df) != hash_value(df.astype({"a": "float64"}))
    assert hash_value(df["a"]) != hash_value(df["a"].rename("z"))


def test_unhashable_value_is_an_error_not_a_constant():
    with pytest.raises(UnhashableValueError, match="generator"):
        hash_value(i for i in range(3))


def test_code_fingerprint_ignores_comments_docstrings_and_decorators():
    def f(x):
        """doc"""
        # comment
        return x + 1

    def g(x):
        return x+1

    def h(x):
        return x + 2

    assert code_fingerprint(f) == code_fingerprint(g) != code_fingerprint(h)


def test_recursive_helpers_terminate():
    ns = {"__name__": "__main__"}
    from tests.conftest import run_cell

    run_cell(ns, "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n"
                 "def even(n):\n    return n == 0 or odd(n - 1)\ndef odd(n):\n    return n != 0 and even(n - 1)\n")
    assert code_fingerprint(ns["fact"]) and code_fingerprint(ns["even"])


def test_an_attribute_named_like_a_global_is_not_a_dependency(notebook_ns):
    from flowyml.codehash import code_fingerprint
    from tests.conftest import run_cell

    run_cell(notebook_ns, "x = 1.0\ndef f(p):\n    class Point:\n        def __init__(self, v):\n"
                          "            self.x = v\n    return Point(p).x\n")
    before = code_fingerprint(notebook_ns["f"])
    notebook_ns["x"] = 2.0  # a global that only shares the attribute's name
    assert code_fingerprint(notebook_ns["f"]) == before
    run_cell(notebook_ns, "LIMIT = 3\ndef g(v):\n    return min(v, LIMIT)\n")
    before = code_fingerprint(notebook_ns["g"])
    notebook_ns["LIMIT"] = 4  # a real global constant still counts
    assert code_fingerprint(notebook_ns["g"]) != before


# Code fingerprints of tests/ground/fingerprint_fixture.py and of a notebook cell, pinned like
# the value digests above: the AST dump and bytecode differ between Python versions, so they
# are pinned for the version the project runs on.
PINNED_CODE = {
    "helper": "82b06337c008e5531b096cbd25df719e",
    "outer": "b18d5cad6de7bbdb04dd4607b7597c6e",
    "uses_helpers": "7fc838c9a1f3576c1244481da647f4c7",
    "uses_class": "ef6168e4981546bd3a720ea3aea22342",
    "uses_dataclass": "bb0f1678d59f99928a4280d8141cc2a7",
    "uses_library": "bc594b9a1a2f3e8f7cbecae0e89cd304",
    "uses_a_lambda": "ae877f1f6ee894fbf1c8d18f00710bcc",
    "cell_step": "42ff14cce99b79a05c667d245d9dfd9f",
}
GOLDEN_CELL = '''LIMIT = 10

def clip(v):
    return min(v, LIMIT)

class Box:
    def __init__(self, v):
        self.v = clip(v)

def cell_step(data):
    return [Box(v).v for v in data]
'''


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="code digests are pinned on Python 3.11")
def test_golden_code_fingerprints_are_pinned():
    import importlib.util
    from pathlib import Path

    from tests.conftest import run_cell

    path = Path(__file__).with_name("fingerprint_fixture.py")
    spec = importlib.util.spec_from_file_location("fingerprint_fixture", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        ns = {"__name__": "__main__"}
        run_cell(ns, GOLDEN_CELL)
        digests = {name: code_fingerprint(getattr(module, name, None) or ns[name]) for name in PINNED_CODE}
    finally:
        del sys.modules[spec.name]
    assert digests == PINNED_CODE


STATEFUL_HELPER = '''
LEGEND = True
WIDTH = {width}
_count = 0


def config(legend=True):
    global LEGEND
    LEGEND = legend


def plot(xs):
    global _count
    _count += 1
    return (len(xs) * WIDTH, LEGEND, _count)
'''


def test_state_a_helper_module_or_a_class_keeps_is_not_code(tmp_path, notebook_ns, monkeypatch):
    """A helper module's names rebound with ``global`` and a class attribute its methods
    change (a counter) move as cells run: after a restart, the cells that moved them are cache
    hits that do not run, so they must not be part of a key. A real constant still is."""
    import importlib

    from tests.conftest import run_cell

    (tmp_path / "stateful_helper.py").write_text(STATEFUL_HELPER.format(width=2))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "stateful_helper", raising=False)
    helper = importlib.import_module("stateful_helper")
    run_cell(notebook_ns, "import stateful_helper\ndef cell(xs):\n    return stateful_helper.plot(xs)\n")
    before = code_fingerprint(notebook_ns["cell"])
    helper.config(legend=False)
    helper.plot([1])
    assert code_fingerprint(notebook_ns["cell"]) == before
    helper.WIDTH = 3  # not rebound by the module's own code: a constant, part of the code
    assert code_fingerprint(notebook_ns["cell"]) != before

    agent = ("class Agent:\n    count = {count}\n    kind = {kind!r}\n    def __init__(self):\n"
             "        type(self).count += 1\n"
             "def make(n):\n    return [Agent() for _ in range(n)]\n")
    run_cell(notebook_ns, agent.format(count=0, kind="a"))
    before = code_fingerprint(notebook_ns["make"])
    notebook_ns["make"](3)
    assert notebook_ns["Agent"].count == 3
    run_cell(notebook_ns, agent.format(count=3, kind="a"))  # a kernel where the counter is at 3
    assert code_fingerprint(notebook_ns["make"]) == before
    run_cell(notebook_ns, agent.format(count=0, kind="b"))  # an attribute no method changes
    assert code_fingerprint(notebook_ns["make"]) != before


def test_a_builtin_shadowed_later_changes_the_code_fingerprint_of_the_same_function():
    """Pipeline steps keep their function object: the memoised fingerprint must notice a
    library function bound to a builtin's name after it was computed."""
    np = pytest.importorskip("numpy")
    ns: dict = {"__name__": "__main__"}
    exec("def total(xs):\n    return sum(xs, -1)\n", ns)
    before = code_fingerprint(ns["total"])
    ns["sum"] = np.sum  # what `from numpy import *` does
    assert code_fingerprint(ns["total"]) != before
    del ns["sum"]
    assert code_fingerprint(ns["total"]) == before


SIGNAL_HELPER = '''
SCALE = 2


def scaled(x):
    return x * SCALE


class Signal:
    def evaluate(self, x):
        return scaled(x)


class Wave(Signal):
    def make(self, x):
        return Spectrum().of(self.evaluate(x))


class Spectrum:
    def of(self, ys):
        return Wave() if ys is None else ys
'''


def test_the_part_of_a_helper_class_follows_what_it_was_made_from(tmp_path, notebook_ns, monkeypatch):
    """``code_parts`` (kept for ``why``) gives each helper class a digest of the code it
    reaches, remembered between stores (a helper module's classes reach one another: walking
    them at every store cost ~0.2 s a step). The remembered part must change with a constant
    the code reads, a method set on a class it reaches, and a class defined again."""
    import importlib

    from flowyml.codehash import code_parts
    from tests.conftest import run_cell

    (tmp_path / "signal_helper.py").write_text(SIGNAL_HELPER)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "signal_helper", raising=False)
    helper = importlib.import_module("signal_helper")
    run_cell(notebook_ns, "from signal_helper import Wave\ndef cell(x):\n    return Wave().make(x)\n")
    first = code_parts(notebook_ns["cell"])["Wave"]
    assert code_parts(notebook_ns["cell"])["Wave"] == first  # remembered: the same
    helper.SCALE = 3  # a constant a method of a base class reads, through a helper function
    second = code_parts(notebook_ns["cell"])["Wave"]
    assert second != first
    helper.Spectrum.of = lambda self, ys: ys  # a method of a class the walk reached
    third = code_parts(notebook_ns["cell"])["Wave"]
    assert third not in (first, second)
    run_cell(notebook_ns, "class Wave:\n    def make(self, x):\n        return x\n")
    assert code_parts(notebook_ns["cell"])["Wave"] not in (first, second, third)


def test_a_matplotlib_figure_is_not_hashed_by_content():
    """Figures, axes and lines are drawing state: the canonical pickle hash took 10-100 ms a
    value and then failed on their self-references (a bare figure passed, 44 ms). They are
    refused at once, so a notebook keys them by the step that made them."""
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    try:
        for value in (plt.figure(), fig, axes, axes[0].plot([1, 2])[0]):
            with pytest.raises(UnhashableValueError, match=r"matplotlib \w+ is not hashed by content"):
                hash_value(value)
        assert hash_value([1.5, "x"]) == hash_value([1.5, "x"])  # other values: as before
    finally:
        plt.close("all")


def test_a_default_computed_when_the_def_ran_is_part_of_the_code_fingerprint():
    """``def f(x, k=thr)``: the value ``thr`` had is the function's own and its source does
    not show it; a literal default (in the source already) adds nothing."""
    from tests.conftest import run_cell

    prints = {}
    for thr in (1, 5):
        ns = {"__name__": "__main__", "thr": thr}
        run_cell(ns, "def f(x, k=thr):\n    return x * k\ng = lambda x, *, k=thr: x + k\n"
                     "def h(x, k=2):\n    return x * k\n")
        prints[thr] = [code_fingerprint(ns[n]) for n in ("f", "g", "h")]
    assert prints[1][0] != prints[5][0] and prints[1][1] != prints[5][1]
    assert prints[1][2] == prints[5][2]
