"""Careless or hostile input gives a clear message, a correct result, and no damage.

* A value that cannot be hashed (a generator, a lock, an open file, a value nested deeper
  than the recursion limit) and that no step made (a context value) makes the step run
  without cache, with one ``UncacheableWarning`` naming the parameter -- never a constant
  key. Made by a step, it is keyed by that step's key (provenance).
* An output that cannot be pickled (a lambda, a lock) is returned, with a ``CacheWarning``
  naming the output, and nothing is stored (not even a temporary directory).
* Outputs not returned / of the wrong arity fail the step with an error naming it; nothing
  is stored, and steps downstream are ``upstream_failed`` rather than crashed.
* Step names need not be identifiers in the Python API, but the cache path is sanitised:
  ``"../../etc"`` and friends stay inside the cache directory, and ``clear(name)`` only
  removes that step's entries.
* Recursive helpers (self-, mutual, through a class) do not stop the code fingerprint from
  terminating, and editing one still changes it; a value that contains itself hashes.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
import warnings

import pytest

from flowyml import Pipeline, Step, step
from flowyml.codehash import code_fingerprint
from flowyml.executors.runner import UncacheableWarning
from flowyml.hashing import UnhashableValueError, hash_value
from flowyml.store.entry import CacheWarning
from flowyml.store.local import CacheStore

from .conftest import entries, leftovers


def _files(root):
    return sorted(p for p in root.rglob("*"))


@step(register=False)
def consume(items) -> int:
    return sum(1 for _ in items) if not hasattr(items, "acquire") else 1


@pytest.mark.parametrize(
    "make_value",
    [lambda: (i for i in range(4)), threading.Lock, lambda: [[[]]] * 1 and _deep(5000)],
    ids=["generator", "lock", "deeply-nested"],
)
def test_unhashable_input_runs_uncached_with_a_warning(tmp_path, make_value):
    cache_dir = tmp_path / "cache"
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = Pipeline("p", cache_dir=cache_dir).add_step(consume).run(items=make_value())
        assert res.success and res.step_results["consume"].state == "done"
        [warning] = [w for w in caught if issubclass(w.category, UncacheableWarning)]
        assert "step 'consume'" in str(warning.message)
        assert "parameter 'items'" in str(warning.message)
        assert "parameter 'items'" in res.step_results["consume"].uncacheable_reason
    assert entries(cache_dir, "consume") == []


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def test_self_containing_value_hashes_by_content():
    a: list = [1, 2]
    a.append(a)
    b: list = [1, 2]
    b.append(b)
    c: list = [1, 3]
    c.append(c)
    assert hash_value(a) == hash_value(b) != hash_value(c)
    with pytest.raises(UnhashableValueError, match="nested too deeply"):
        hash_value(_deep(100_000))


@pytest.mark.parametrize(
    ("value", "what"), [(lambda x: x, "function"), (threading.Lock(), "lock")], ids=["lambda", "lock"]
)
def test_unpicklable_output_is_returned_not_stored(tmp_path, value, what):
    @step(outputs=["thing"], register=False)
    def make():
        return value

    cache_dir = tmp_path / "cache"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = Pipeline("p", cache_dir=cache_dir).add_step(make).run()
    assert res.success and res["thing"] is value
    reports = [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]
    assert len(reports) == 1 and "output 'thing' cannot be pickled" in reports[0], reports
    assert "step 'make'" in reports[0]
    assert entries(cache_dir, "make") == [] and leftovers(cache_dir, "make") == []


@pytest.mark.parametrize(
    ("returned", "message"),
    [(None, "returned a NoneType"), ((1, 2, 3), "tuple of length 3"), ({"a": 1, "c": 2}, "dict")],
    ids=["nothing-returned", "wrong-arity", "wrong-keys"],
)
def test_bad_outputs_fail_the_step_by_name(tmp_path, returned, message):
    @step(outputs=["a", "b"], register=False, retry=2, retry_delay=0)
    def pair():
        return returned

    @step(inputs=["a"], outputs=["c"], register=False)
    def after(a):
        return a

    cache_dir = tmp_path / "cache"
    res = Pipeline("p", cache_dir=cache_dir).add_steps([pair, after]).run()
    r = res.step_results["pair"]
    assert not res.success and r.state == "failed"
    assert "step 'pair'" in r.error and "['a', 'b']" in r.error and message in r.error
    assert r.attempts == 1  # a wiring mistake is not retried
    assert res.step_results["after"].state == "upstream_failed"
    assert entries(cache_dir, "pair") == [] and leftovers(cache_dir, "pair") == []


def test_non_serialisable_context_only_matters_to_steps_that_receive_it(tmp_path):
    @step(outputs=["x"], register=False)
    def uses_handle(handle) -> int:
        return int(handle.locked())

    @step(outputs=["y"], register=False)
    def plain(k: int) -> int:
        return k + 1

    cache_dir = tmp_path / "cache"
    handle = threading.Lock()  # (a file open for writing is stored now: flushed, opened again)
    pipe = Pipeline("p", cache_dir=cache_dir, context={"handle": handle, "k": 1})
    pipe.add_steps([uses_handle, plain])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = pipe.run()
        second = pipe.run()
    assert first.success and second.success
    assert second.step_results["plain"].state == "cached"
    assert second.step_results["uses_handle"].state == "done"
    named = [str(w.message) for w in caught if issubclass(w.category, UncacheableWarning)]
    assert len(named) == 2 and all("parameter 'handle'" in m for m in named)


@pytest.mark.parametrize("name", ["../../etc", "..", ".", "a/b", "/abs", "x:y", "semi;rm -rf ~", "é"])
def test_non_identifier_step_names_stay_inside_the_cache(tmp_path, name):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    cache_dir = tmp_path / "outside" / "cache"
    s = Step(lambda: 41 + 1, name=name)
    first = Pipeline("p", cache_dir=cache_dir).add_step(s).run()
    second = Pipeline("p", cache_dir=cache_dir).add_step(s).run()
    assert first.success and second.step_results[name].state == "cached" and second[name] == 42
    entries_dir = CacheStore(cache_dir).entries_dir.resolve()
    written = [p for p in _files(tmp_path) if p.is_file() and p.name not in ("keep.txt", ".gitignore")]
    assert written and all(p.resolve().is_relative_to(entries_dir) for p in written)
    [step_dir] = [d for d in entries_dir.iterdir()]
    assert step_dir.parent == entries_dir and step_dir.name not in (".", "..")

    other = Step(lambda: 7, name="other")
    Pipeline("p", cache_dir=cache_dir).add_step(other).run()
    assert CacheStore(cache_dir).clear(name) == 1
    assert (outside / "keep.txt").read_text() == "keep"
    assert CacheStore(cache_dir).info()["other"]["entries"] == 1


RECURSIVE = '''
LIMIT = {limit}

def count_down(n):
    return 0 if n <= 0 else 1 + count_down(n - 1)

def is_even(n):
    return True if n == 0 else is_odd(n - 1)

def is_odd(n):
    return False if n == 0 else is_even(n - 1)

class Tree:
    def __init__(self, kids=()):
        self.kids = list(kids)

    def size(self):
        return 1 + sum(k.size() for k in self.kids) + helper(self)

def helper(tree):
    return 0 if not tree.kids else Tree().size() * 0

def the_step(n):
    return count_down(n) + is_even(n) + Tree([Tree()]).size() + LIMIT
'''


def _load(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def test_code_fingerprint_terminates_on_recursive_helpers(tmp_path):
    try:
        one = _load(tmp_path, "rel_recursive_one", RECURSIVE.format(limit=1))
        same = _load(tmp_path, "rel_recursive_same", RECURSIVE.format(limit=1))
        edited = _load(tmp_path, "rel_recursive_edited",
                       RECURSIVE.format(limit=1).replace("is_even(n - 1)", "is_even(n - 2)"))
        fp = code_fingerprint(one.the_step)
        assert fp == code_fingerprint(same.the_step)
        assert fp != code_fingerprint(edited.the_step)  # the edit is deep in the cycle
        res = Pipeline("p", cache_dir=tmp_path / "cache").add_step(Step(one.the_step)).run(n=4)
        assert res.success and res["the_step"] == 4 + 1 + 2 + 1
    finally:
        for name in ("rel_recursive_one", "rel_recursive_same", "rel_recursive_edited"):
            sys.modules.pop(name, None)


@step(outputs=["lock"], register=False)
def make_lock():
    return threading.Lock()


@step(inputs=["lock"], outputs=["guarded"], register=False)
def use_lock(lock) -> int:
    with lock:
        return 42


def test_unhashable_value_a_step_made_is_keyed_by_its_producer(tmp_path):
    """Provenance: the lock cannot be hashed (nor pickled, so ``make_lock`` is not stored and
    runs again), but a step made it, so ``use_lock`` gets a key from ``make_lock``'s key and
    is a cache hit the second time -- the README's caching model, SPEC §3."""
    cache_dir = tmp_path / "cache"
    states = []
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = Pipeline("p", cache_dir=cache_dir).add_steps([make_lock, use_lock]).run()
        assert res.success and res["guarded"] == 42
        assert not [w for w in caught if issubclass(w.category, UncacheableWarning)]
        assert res.step_results["use_lock"].uncacheable_reason is None
        states.append({n: r.state for n, r in res.step_results.items()})
    assert states == [{"make_lock": "done", "use_lock": "done"},
                      {"make_lock": "done", "use_lock": "cached"}]
    # a cache=False producer gives no key: its reader is visibly uncacheable, never hits
    nocache = Step(make_lock.func, name="make_lock", outputs=["lock"], cache=False)
    for _ in range(2):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = Pipeline("p", cache_dir=cache_dir).add_steps([nocache, use_lock]).run()
        assert res.step_results["use_lock"].state == "done"
        assert "parameter 'lock' cannot be hashed" in res.step_results["use_lock"].uncacheable_reason
        assert [w for w in caught if issubclass(w.category, UncacheableWarning)]
