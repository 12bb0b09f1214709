"""Notebook functions stored by value (``flowyml.store.byvalue``): rebuilt bound to the live
namespace, refused when stored by another Python version."""

from __future__ import annotations

import pickle
from collections import defaultdict

import pytest

from flowyml.store import byvalue


@pytest.fixture
def notebook(monkeypatch):
    ns: dict = {"__name__": "__main__", "k": 1}
    monkeypatch.setattr(byvalue, "_namespace", lambda: ns)
    return ns


def test_a_lambda_and_a_closure_are_rebuilt_bound_to_the_live_namespace(notebook):
    exec("def make(n):\n    return lambda x: x * n + k\n"
         "counts = __import__('collections').defaultdict(lambda: k)\n", notebook)
    with pytest.raises(Exception):  # noqa: B017 -- what plain pickle says varies by version
        pickle.dumps(notebook["make"](3))
    times3, counts = pickle.loads(byvalue.dumps((notebook["make"](3), notebook["counts"])))
    assert times3(2) == 7 and isinstance(counts, defaultdict) and counts["a"] == 1
    notebook["k"] = 10  # a later cell rebinds a global the function reads
    assert times3(2) == 16 and counts["b"] == 10
    # a def is stored by name, as pickle stores it (a hit re-runs the cell's definitions)
    assert byvalue._by_name(notebook["make"]) and not byvalue._by_name(times3)


def test_a_function_stored_by_another_python_is_not_rebuilt(notebook):
    exec("f = lambda x: x + k\n", notebook)
    data = byvalue.dumps([notebook["f"]])
    assert pickle.loads(data)[0](1) == 2
    other = data.replace(byvalue._MAGIC, b"\x00\x00\r\n")
    with pytest.raises(pickle.UnpicklingError, match="another Python version"):
        pickle.loads(other)


def test_a_lambda_of_a_module_is_still_refused():
    with pytest.raises(Exception):  # noqa: B017
        byvalue.dumps(lambda x: x)


def test_closures_sharing_a_cell_share_it_after_loading(notebook):
    exec("def counter():\n    n = 0\n    def inc():\n        nonlocal n\n        n += 1\n"
         "    def get():\n        return n\n    return inc, get\n", notebook)
    inc, get = pickle.loads(byvalue.dumps(notebook["counter"]()))
    inc()
    inc()
    assert get() == 2
