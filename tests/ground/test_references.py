"""The bounded walk of references shared by the store (outputs holding inputs) and the
notebook (names holding what a step changed in place)."""

from __future__ import annotations

import numpy as np

from flowyml.references import Walker


class Model:
    def __init__(self) -> None:
        self.w = np.zeros(2)


def make(m: Model):
    def predict(x: float) -> float:
        return float(m.w.sum()) + x
    return predict


def test_finds_an_object_held_through_containers_and_attributes() -> None:
    m = Model()
    holder = {"models": [("lr", m)]}
    assert Walker().reach(holder, {id(m)}) is True
    assert Walker().reach({"other": [Model()]}, {id(m)}) is False


def test_functions_are_followed_into_closures_and_defaults_only_when_asked() -> None:
    m = Model()
    f = make(m)

    def g(x, acc=[m]):  # noqa: B006 - a container default holding the model
        return x

    assert Walker().reach(f, {id(m)}, into_functions=True) is True
    assert Walker().reach(g, {id(m)}, into_functions=True) is True
    # not asked: a function held in a container is not walked into (its globals are the
    # whole namespace)
    assert Walker().reach([f], {id(m)}) is False
    assert Walker().reach([f], {id(m)}, into_functions=True) is True


def test_reachable_ids_include_the_root_and_what_it_holds() -> None:
    inner = [1, 2]
    outer = {"a": inner}
    ids = Walker().reach(outer)
    assert isinstance(ids, set)
    assert {id(outer), id(inner)} <= ids


def test_depth_and_budget_bound_the_walk() -> None:
    m = Model()
    deep: object = m
    for _ in range(20):
        deep = [deep]
    assert Walker().reach(deep, {id(m)}) is True
    assert Walker(depth=5).reach(deep, {id(m)}) is False
    # one budget for all the walks of a walker: a huge value spends it
    walker = Walker(limit=1_000)
    assert walker.reach([[i] for i in range(5_000)], {id(m)}) is False
    assert walker.left <= 0
    assert walker.reach([m], {id(m)}) is False  # nothing left to walk with
    assert Walker(limit=1_000).reach([m], {id(m)}) is True


def test_object_arrays_are_walked_and_a_huge_level_is_looked_at_from_both_ends() -> None:
    m = Model()
    axes = np.empty(2, dtype=object)
    axes[0], axes[1] = Model(), m  # plt.subplots' axes: items hidden from gc
    assert Walker().reach({"axes": axes}, {id(m)}) is True
    assert id(m) in Walker().reach(axes)
    big = [[i] for i in range(10_000)]
    assert Walker(limit=1_000).reach(big, {id(big[0])}) is True
    assert Walker(limit=1_000).reach(big, {id(big[-1])}) is True
    assert Walker(limit=1_000).reach(big, {id(big[5_000])}) is False
