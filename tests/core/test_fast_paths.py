"""The fast paths of a fully cached run keep its meaning (issue 15).

Keys built from a per-step frame equal the serialised key parts; the plain-dict DAG orders and
refuses graphs as networkx did; the in-thread run behaves as the scheduler; cached values
load only when read; a map task's whole list is one entry, never trusted over its items.
"""

from __future__ import annotations

import random
import warnings

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowyml import Pipeline, map_task, step
from flowyml import graph as _graph
from flowyml import keys as _keys
from flowyml.store.entry import CacheWarning

# -- keys --------------------------------------------------------------------------------------

names = st.text(min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(name=names, code=st.one_of(st.none(), st.text(max_size=40)),
       params=st.dictionaries(st.text(max_size=10), st.text(max_size=40), max_size=5))
def test_make_key_is_the_serialised_parts_byte_for_byte(name, code, params):
    assert _keys.make_key(name, code, params) == _canonical_key(name, code, params)


def _canonical_key(name, code, params):
    return _keys.key_from_parts(name, _keys.key_parts(name, code, params))


def test_the_framed_key_path_is_the_one_in_use():
    assert _keys._framed_keys_agree()  # else every key would serialise its parts (slow, right)
    params = {"b": "2", "a": "1"}
    assert _keys._framed_key("s", "c", params) == _canonical_key("s", "c", params)


def test_keys_of_non_string_digests_fall_back_to_the_serialised_parts():
    assert _keys.make_key("s", "c", {"x": 1}) == _canonical_key("s", "c", {"x": 1})


def test_keys_of_a_run_are_the_keys_make_key_gives(cache_dir):
    @step(outputs=["a"])
    def first(n):
        return n + 1

    @step(inputs=["a"], outputs=["b"])
    def second(a):
        return a * 2

    result = Pipeline("keys", cache_dir=cache_dir).add_steps([first, second]).run(n=1)
    a_digest = result.step_results["first"].artifacts["a"].hash
    from flowyml.hashing import hash_value

    assert result.step_results["first"].cache_key == first.get_cache_key(context_params={"n": 1})
    assert result.step_results["second"].cache_key == _canonical_key(
        "second", second.get_code_hash(), {"a": a_digest})
    assert a_digest == hash_value(2)


# -- the DAG without networkx --------------------------------------------------------------------


class _S:
    """The part of a Step the graph reads."""

    def __init__(self, name, inputs, outputs):
        self.name, self.inputs, self.outputs = name, inputs, outputs
        self.condition_params, self.execution_group, self.unbound_inputs = [], None, []


def _random_steps(rng, n):
    steps = [_S(f"s{i}", [f"v{j}" for j in rng.sample(range(i), min(i, rng.randint(0, 3)))],
                [f"v{i}"]) for i in range(n)]
    rng.shuffle(steps)  # added in any order, not only after what they read
    return steps


def _networkx_order(steps):
    graph = nx.DiGraph()
    for index, s in enumerate(steps):
        graph.add_node(s.name, index=index)
    producer = {s.outputs[0]: s.name for s in steps}
    for s in steps:
        for need in s.inputs:
            graph.add_edge(producer[need], s.name)
    return list(nx.lexicographical_topological_sort(graph, key=lambda n: graph.nodes[n]["index"]))


@pytest.mark.parametrize("seed", range(25))
def test_dag_order_is_networkx_lexicographic_order(seed):
    rng = random.Random(seed)
    steps = _random_steps(rng, rng.randint(1, 60))
    plan = _graph.plan_dag(steps)
    assert plan.order == _networkx_order(steps)
    graph = plan.to_networkx()
    assert _graph.topological_order(graph) == plan.order
    assert set(graph.edges) == set(plan.edges)


def test_a_cycle_added_in_any_order_is_named():
    steps = [_S("c", ["b_out"], ["c_out"]), _S("a", ["c_out"], ["a_out"]),
             _S("b", ["a_out"], ["b_out"])]
    with pytest.raises(_graph.CycleError, match=r"the steps form a cycle: .*Break it"):
        _graph.plan_dag(steps)


def test_the_networkx_graph_is_made_only_when_asked_for(cache_dir):
    @step(outputs=["a"])
    def first():
        return 1

    @step(inputs=["a"], outputs=["b"])
    def second(a):
        return a + 1

    pipeline = Pipeline("lazy-graph", cache_dir=cache_dir).add_steps([first, second])
    assert pipeline.run()["b"] == 2
    assert "graph" not in vars(pipeline.dag)  # the run needed no networkx graph
    assert list(pipeline.dag.graph.edges(data=True)) == [("first", "second", {"artifacts": ["a"]})]
    assert pipeline.dag.downstream("first") == {"second"}


# -- the in-thread run -------------------------------------------------------------------------


class _BrokenLookup:
    """A store whose lookup of one step's key raises something unexpected."""

    def __init__(self, store, step_name):
        self._store, self._step = store, step_name
        self.enabled = True

    def __getattr__(self, name):
        return getattr(self._store, name)

    def lookup(self, key):
        if _keys.step_of_key(key) == self._step:
            raise RuntimeError("disk on fire")
        return self._store.lookup(key)


@pytest.mark.parametrize("executor", ["sequential", "threads"])
def test_a_unit_that_raises_fails_its_steps_as_the_scheduler_does(executor, cache_dir):
    @step(outputs=["a"])
    def source():
        return 1

    @step(inputs=["a"], outputs=["b"])
    def broken(a):
        return a + 1

    @step(inputs=["b"], outputs=["c"])
    def after(b):
        return b + 1

    @step(inputs=["a"], outputs=["d"])
    def aside(a):
        return a + 10

    pipeline = Pipeline("raises", cache_dir=cache_dir).add_steps([source, broken, after, aside])
    pipeline._store = _BrokenLookup(pipeline.cache, "broken")
    result = pipeline.run(executor=executor)
    states = {n: r.state for n, r in result.step_results.items()}
    assert states == {"source": "done", "broken": "failed", "after": "upstream_failed",
                      "aside": "done"}
    assert "RuntimeError: disk on fire" in result.step_results["broken"].error
    assert result["d"] == 11 and not result.success


# -- lazy loading ------------------------------------------------------------------------------


class _CountingStore:
    """The pipeline's store, counting lookups and loads (by step)."""

    def __init__(self, store):
        self._store = store
        self.enabled = True
        self.lookups: list[str] = []
        self.loads: list[str] = []

    def __getattr__(self, name):
        return getattr(self._store, name)

    def lookup(self, key):
        self.lookups.append(_keys.step_of_key(key))
        return self._store.lookup(key)

    def load(self, entry):
        self.loads.append(_keys.step_of_key(entry.meta["key"]))
        return self._store.load(entry)


def _chain(cache_dir, factor=2):
    @step(outputs=["a"], register=False)
    def first():
        return list(range(5))

    @step(inputs=["a"], outputs=["b"], register=False)
    def middle(a):
        return [x + 1 for x in a]

    code = f"def last(b):\n    return [x * {factor} for x in b]\n"
    namespace: dict = {}
    exec(compile(code, f"<last-{factor}>", "exec"), namespace)
    last = step(namespace["last"], inputs=["b"], outputs=["c"], register=False)
    pipeline = Pipeline("lazy", cache_dir=cache_dir).add_steps([first, middle, last])
    counting = _CountingStore(pipeline.cache)
    pipeline._store = counting
    return pipeline, counting


def test_a_fully_cached_run_loads_nothing_until_an_output_is_read(cache_dir):
    pipeline, _ = _chain(cache_dir)
    assert pipeline.run()["c"] == [2, 4, 6, 8, 10]
    again, counting = _chain(cache_dir)
    result = again.run()
    assert len(result.cached_steps) == 3
    assert counting.lookups == ["first", "middle", "last"] and counting.loads == []
    assert result["c"] == [2, 4, 6, 8, 10]  # the final output loads on request
    assert counting.loads == ["last"]
    assert result.step_results["middle"].output == [1, 2, 3, 4, 5]
    assert counting.loads == ["last", "middle"]


def test_a_step_that_reruns_loads_the_cached_input_it_needs(cache_dir):
    pipeline, _ = _chain(cache_dir)
    pipeline.run()
    edited, counting = _chain(cache_dir, factor=3)  # only the last step changed
    result = edited.run()
    assert result.step_results["middle"].cached and not result.step_results["last"].cached
    assert counting.loads == ["middle"]  # its input, not the first step's output
    assert result["c"] == [3, 6, 9, 12, 15]


def test_a_damaged_upstream_entry_is_recomputed_and_downstream_stays_right(cache_dir):
    pipeline, _ = _chain(cache_dir)
    pipeline.run()
    for path in cache_dir.rglob("*"):
        if path.is_file() and "middle" in str(path) and path.name != "meta.json":
            path.write_bytes(b"garbage" * 10)
    again, _ = _chain(cache_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = again.run()
    assert any(issubclass(w.category, CacheWarning) and "middle" in str(w.message) for w in caught)
    assert not result.step_results["middle"].cached and result["c"] == [2, 4, 6, 8, 10]


# -- map tasks: the whole list as one entry ----------------------------------------------------


def _map_pipeline(cache_dir, calls, fail_on=None):
    @step(outputs=["items"], register=False)
    def items(n):
        return list(range(n))

    @map_task(inputs=["items"], outputs=["squares"], register=False)
    def square(item):
        calls.append(item)
        if item == fail_on:
            raise ValueError(f"bad item {item}")
        return item * item

    pipeline = Pipeline("map", cache_dir=cache_dir).add_steps([items, square])
    counting = _CountingStore(pipeline.cache)
    pipeline._store = counting
    return pipeline, counting


def test_a_map_over_the_same_list_is_one_lookup_and_loads_lazily(cache_dir):
    calls: list[int] = []
    pipeline, _ = _map_pipeline(cache_dir, calls)
    assert pipeline.run(n=50)["squares"] == [i * i for i in range(50)]
    again, counting = _map_pipeline(cache_dir, calls)
    result = again.run(n=50)
    square = result.step_results["square"]
    assert square.state == "cached" and len(calls) == 50
    assert counting.lookups == ["items", "square"] and counting.loads == []
    assert square.map_result.cached == square.map_result.total == 50
    assert square.map_result.results == [i * i for i in range(50)]
    assert result["squares"][-1] == 49 * 49


def test_a_longer_list_finds_its_items_one_by_one(cache_dir):
    calls: list[int] = []
    pipeline, _ = _map_pipeline(cache_dir, calls)
    pipeline.run(n=5)
    result = pipeline.run(n=6)
    assert calls == [0, 1, 2, 3, 4, 5]
    assert result.step_results["square"].map_result.cached == 5
    assert result["squares"] == [0, 1, 4, 9, 16, 25]


def test_a_damaged_whole_list_entry_falls_back_to_the_items(cache_dir):
    calls: list[int] = []
    pipeline, _ = _map_pipeline(cache_dir, calls)
    pipeline.run(n=4)
    whole = pipeline.run(n=4).step_results["square"].cache_key
    entry = pipeline.cache._store.lookup(whole)
    for path in [entry.path, *entry.path.rglob("*")]:
        if path.is_file() and path.name != "meta.json":
            path.write_bytes(b"garbage")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = pipeline.run(n=4)
    assert any(issubclass(w.category, CacheWarning) for w in caught)
    assert result["squares"] == [0, 1, 4, 9] and calls == [0, 1, 2, 3]  # no item ran again
    assert result.step_results["square"].map_result.cached == 4


def test_a_map_with_a_failed_item_stores_no_whole_list(cache_dir):
    calls: list[int] = []
    pipeline, _ = _map_pipeline(cache_dir, calls, fail_on=2)
    first = pipeline.run(n=4)
    assert first.step_results["square"].state == "failed"
    assert first.step_results["square"].map_result.errors == {2: "ValueError: bad item 2"}
    assert first.step_results["square"].cache_key is None
    again = pipeline.run(n=4)
    assert calls == [0, 1, 2, 3, 2]  # only the failed item is tried again
    assert again.step_results["square"].map_result.cached == 3


def test_a_large_or_opaque_output_list_is_not_stored_twice(cache_dir, monkeypatch):
    from flowyml.executors import runner

    assert runner._estimated_size([1, "ab", (2.0, None)], 1000) is not None
    assert runner._estimated_size(["x" * 2000], 1000) is None
    assert runner._estimated_size([object()], 1000) is None  # cannot tell without pickling
    calls: list[int] = []
    pipeline, _ = _map_pipeline(cache_dir, calls)
    monkeypatch.setattr(runner, "MAP_WHOLE_MAX_BYTES", 10)
    result = pipeline.run(n=3)
    assert result.step_results["square"].cache_key is None
    assert pipeline.cache.info()["square"]["entries"] == 3  # one per item, no whole list


def test_function_nodes_from_one_parse_of_the_file_equal_inspect_getsource(tmp_path, monkeypatch):
    """The code fingerprint reads a function's definition from one parse of its file (per
    version of the file in linecache): the same normalised code as ``inspect.getsource``
    gives, for plain, decorated, nested and method definitions; an edited file is parsed
    again."""
    import ast
    import importlib
    import inspect
    import textwrap

    from flowyml import codehash

    source = textwrap.dedent('''
        import functools


        def deco(f):
            return f


        def plain(x):
            """doc"""
            return x + 1  # a comment


        @deco
        @functools.lru_cache(maxsize=None)
        def decorated(x):
            return x * 2


        def outer(y):
            def inner(z):
                return z - y
            return inner


        class Model:
            @staticmethod
            def fit(data):
                return sorted(data)
    ''')
    (tmp_path / "fp_mod.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("fp_mod")
    funcs = [mod.plain, mod.decorated.__wrapped__, mod.outer, mod.outer(1), mod.Model.fit]

    def by_getsource(func):
        tree = ast.parse(textwrap.dedent(inspect.getsource(func)))
        node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)
                    and n.name == func.__name__)
        return codehash._dump(codehash._strip(node))

    defs = codehash._defs_of(mod.__file__, vars(mod))
    for func in funcs:
        assert (func.__name__, func.__code__.co_firstlineno) in defs, func  # the fast path
        assert codehash._dump(codehash._function_node(func)) == by_getsource(func), func

    before = codehash.normalized_source(mod.plain)
    (tmp_path / "fp_mod.py").write_text(source.replace("return x + 1", "return x + 10"))
    assert codehash.normalized_source(mod.plain) != before  # the new file version is read
