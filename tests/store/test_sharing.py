"""Objects an output shares with a step's inputs stay shared across entries
(``flowyml.store.sharing``): references to inputs, numpy views into them."""

from __future__ import annotations

import numpy as np

from flowyml.store import byvalue, sharing


def _store(outputs, inputs, dumps=byvalue.dumps):
    with sharing.sharing(inputs):
        return dumps(outputs)


class Model:
    coef = None


def test_an_input_held_by_an_output_is_bound_to_the_given_input_on_load():
    lr = Model()
    data = _store({"models": {"lr": lr}}, {"lr": lr})
    again = Model()
    with sharing.shared({"lr": again}):
        assert sharing.loads(data)["models"]["lr"] is again
    assert isinstance(sharing.loads(data)["models"]["lr"], Model)  # no inputs: a copy


def test_a_view_into_an_input_array_is_rebuilt_into_the_given_array():
    base = np.arange(12.0).reshape(4, 3)
    outputs = {"X": base[:, :2], "y": base[:, 2], "row": base[1], "own": np.ones(2)}
    for dumps in (byvalue.dumps, byvalue.dumps_plain):
        data = _store(outputs, {"data": base}, dumps)
        loaded = base.copy()  # the input as a hit gives it: another array, same numbers
        with sharing.shared({"data": loaded}):
            got = sharing.loads(data)
        for name in ("X", "y", "row"):
            np.testing.assert_array_equal(got[name], outputs[name])
            assert np.shares_memory(got[name], loaded), name
        assert not np.shares_memory(got["own"], loaded)
        got["X"] -= 100  # plain Python: a change through the view is a change of data
        assert loaded[0, 0] == -100 and loaded[0, 2] == 2
        # without the inputs, or with an array too small under the name: copies
        alone = sharing.loads(data)
        np.testing.assert_array_equal(alone["X"], outputs["X"])
        with sharing.shared({"data": np.zeros(2)}):
            small = sharing.loads(data)
        np.testing.assert_array_equal(small["y"], outputs["y"])


def test_a_view_of_an_array_laid_out_otherwise_is_stored_as_a_copy():
    base = np.arange(12.0).reshape(3, 4).T  # not C-ordered: no room to rebuild a view in
    data = _store({"v": base[:2]}, {"base": base})
    with sharing.shared({"base": base.copy()}):
        got = sharing.loads(data)["v"]
    np.testing.assert_array_equal(got, base[:2])
    assert got.base is None or not np.shares_memory(got, base)
