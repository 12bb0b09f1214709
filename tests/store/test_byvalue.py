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


def test_regular_expression_matches_are_found_again_on_load():
    import re

    text = "qwret 8sfg12f5 fd09f_df"
    found = [re.search(r"(\d+)f(\d)", text), re.match(r"\w+", text), re.fullmatch(r".*df", text),
             re.compile(r"f(\d)").search(text, 12), *re.finditer(r"\d", text)]
    with pytest.raises(TypeError):
        pickle.dumps(found[0])  # what plain pickle says
    loaded = pickle.loads(byvalue.dumps(found))
    for m, again in zip(found, loaded, strict=True):
        assert (again.regs, again.pos, again.endpos, again.re, again.string) == \
               (m.regs, m.pos, m.endpos, m.re, m.string)


def test_a_match_its_pattern_does_not_find_again_is_refused():
    import re

    m = re.search(r"\d+", "a 12 b")
    many = list(re.finditer(r"\d", "1" * 1500))
    assert pickle.loads(byvalue.dumps(many[10])).span() == (10, 11)
    with pytest.raises(pickle.PicklingError, match="does not find it again"):
        byvalue.dumps(many[1200])  # past the first 1,000 of finditer: not looked for
    assert pickle.loads(byvalue.dumps(m)).group() == "12"
