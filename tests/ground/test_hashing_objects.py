"""Object values in pandas data (found by the widened corpus: 100 pandas puzzles' column of
lists): hashed one by one when pandas' vectorised hash would take ``str()`` of them across
kinds, and with pandas' hash -- the digests entries were made under -- otherwise."""

from __future__ import annotations

import datetime as dt

import pytest

from flowyml.hashing import hash_value

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")


def test_strings_dates_and_numbers_keep_the_digests_existing_entries_were_made_under():
    """Pinned on the code before the change (commit 2b21903): these took pandas' hash, and
    still do, so no existing cache entry misses because of it."""
    frame = pd.DataFrame({"a": np.array(["x", "y", None], dtype=object), "b": [1, 2, 3]})
    assert hash_value(frame) == "74fbb3db2cc3b9cb4d95ec402ed55002"
    assert hash_value(pd.Series([1, 2], index=pd.Index(["a", "b"], dtype=object))) == "95bb017a2f3e9b6799d0f4b8ec3f930b"
    levels = pd.MultiIndex.from_tuples([("a", 1), ("b", 2)])
    assert hash_value(pd.DataFrame({"c": [1, 2]}, index=levels)) == "ea25b8458f23c5f49c9a63e717f84a79"
    assert hash_value(pd.Series(pd.Categorical(["u", "v", "u"]))) == "9e7c39555bd15d82d97d5c02ed5c5ce5"
    assert hash_value(pd.Series([dt.date(2020, 1, 1), dt.date(2020, 1, 2)])) == "aa1dc038fd0be315d4dda3e6bfe36bcb"
    assert hash_value(pd.Series([1, 2], dtype=object)) == "5c0b64c2454ecb7bfb80b33e5de80e39"


def test_objects_of_several_kinds_or_containers_are_hashed_by_content():
    def column(*values):
        objects = np.empty(len(values), dtype=object)
        for i, value in enumerate(values):
            objects[i] = value
        return pd.Series(objects)

    assert hash_value(column(1, "a")) != hash_value(column("1", "a"))
    assert hash_value(column([1, 2], [3])) != hash_value(column([1, 2], [4]))
    assert hash_value(column([1, 2], [3])) == hash_value(column([1, 2], [3]))
    long = np.arange(2000)
    other = long.copy()
    other[1500] = -1  # pandas' str() of both is the same summary with "..."
    assert hash_value(column(long, "a")) != hash_value(column(other, "a"))
    assert hash_value(pd.Index([1, "a"])) != hash_value(pd.Index(["1", "a"]))
    assert hash_value(pd.Series(pd.Categorical([1, "a"]))) != hash_value(pd.Series(pd.Categorical(["1", "a"])))
    assert (hash_value(pd.MultiIndex.from_tuples([(1, "x"), ("a", "y")]))
            != hash_value(pd.MultiIndex.from_tuples([("1", "x"), ("a", "y")])))


def test_masked_arrays_are_hashed_by_data_mask_and_fill_value():
    """A masked array's ``view(np.uint8)`` raised ValueError inside the hasher (a step
    reading one failed); its mask and fill value are part of what it holds."""
    import numpy as np

    from flowyml.hashing import hash_value

    a = np.ma.masked_array([1, 2], mask=[0, 1])
    assert hash_value(a) == hash_value(np.ma.masked_array([1, 2], mask=[0, 1]))
    assert hash_value(a) != hash_value(np.ma.masked_array([1, 2], mask=[0, 0]))
    assert hash_value(a) != hash_value(np.ma.masked_array([1, 2], mask=[0, 1], fill_value=7))
    assert hash_value(a) != hash_value(np.array([1, 2]))


def test_a_value_whose_own_methods_fail_while_hashed_is_unhashable_not_a_crash():
    """A handler (a library's object whose own methods raise on the way, as a masked
    array's ``view`` did) failing with another error is said as unhashable, never raised
    into the step as a crash."""
    import pytest

    from flowyml.hashing import UnhashableValueError, fingerprint, hash_value

    class Broken:
        pass

    @fingerprint.register(Broken)
    def _(obj, h):
        raise ValueError("cannot reshape array of size 2 into shape (16,)")

    with pytest.raises(UnhashableValueError, match="Broken could not be hashed by content"):
        hash_value({"x": Broken()})
