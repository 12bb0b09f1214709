"""A pandas GroupBy is hashed by what it groups and how, not by the caches its
aggregations fill (found by Python for Data Analysis, chapter 10)."""

from __future__ import annotations

import pickle

import pytest

from flowyml.hashing import hash_value

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


def _frame():
    return pd.DataFrame({"k": list("abab"), "j": list("xxyy"), "v": [1.0, 2, 3, 4]})


def test_aggregating_a_groupby_or_a_column_of_it_does_not_change_its_digest():
    g = _frame().groupby(["k", "j"])
    before = hash_value(g)
    g["v"].agg([("average", "mean"), ("stdev", np.std)])  # fills the grouper they share
    g[["v"]].agg(["count", "max"])
    assert hash_value(g) == before
    assert hash_value(pickle.loads(pickle.dumps(g))) == before


def test_what_a_groupby_groups_and_how_are_in_its_digest():
    df = _frame()
    base = hash_value(df.groupby("k"))
    assert base == hash_value(_frame().groupby("k"))
    others = {hash_value(df.groupby("j")), hash_value(df.groupby("k", sort=False)),
              hash_value(df.groupby("k", as_index=False)), hash_value(df.groupby("k")["v"]),
              hash_value(df.groupby(["k", "j"])), hash_value(df.groupby(np.array([0, 0, 1, 1])))}
    assert base not in others and len(others) == 6
    df.loc[0, "v"] = 9.0  # its frame changed in place
    assert hash_value(df.groupby("k")) != base
