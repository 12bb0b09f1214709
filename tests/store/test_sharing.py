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


class Box:
    def __init__(self, items=None):
        self.items = items if items is not None else []
        self.me = self  # a value holding itself: its copy must load on its own


def test_an_object_an_output_took_from_an_input_is_found_there_again():
    frames = {"train": [1, 2], "test": [3]}
    box = Box([Model()])
    grid = np.empty(2, dtype=object)
    grid[0], grid[1] = Model(), Model()
    inputs = {"frames": frames, "box": box, "grid": grid}
    outputs = {"first": frames["train"], "its": box.items, "m": box.items[0], "g": grid[1]}
    data = _store(outputs, inputs)
    again = {"frames": {"train": [1, 2], "test": [3]}, "box": Box([Model()])}
    again["grid"] = np.array([Model(), Model()], dtype=object)
    with sharing.shared(again):
        got = sharing.loads(data)
    assert got["first"] is again["frames"]["train"]
    assert got["its"] is again["box"].items and got["m"] is again["box"].items[0]
    assert got["g"] is again["grid"][1]
    # not there (another value under the name), or of another kind there: the copy
    with sharing.shared({"frames": {"train": (1, 2)}, "box": Box(), "grid": np.zeros(1)}):
        got = sharing.loads(data)
    assert got["first"] == [1, 2] and isinstance(got["m"], Model) and isinstance(got["g"], Model)
    alone = sharing.loads(data)  # no inputs (a command reading the entry): copies
    assert alone["first"] == [1, 2] and isinstance(alone["g"], Model)


def test_a_shared_value_holding_itself_loads_without_the_inputs():
    box = Box([1])
    data = _store({"b": box, "pair": [box, box.items]}, {"box": box})
    alone = sharing.loads(data)
    assert alone["b"].me is alone["b"] and alone["b"].items == [1]
    assert alone["pair"][0] is alone["b"]
    with sharing.shared({"box": box}):
        bound = sharing.loads(data)
    assert bound["b"] is box and bound["pair"][0] is box and bound["pair"][1] is box.items


def test_an_entry_an_earlier_version_wrote_with_references_still_loads():
    import io
    import pickle

    class Earlier(pickle.Pickler):  # the copy pickled inside the first reference
        def __init__(self, *args, obj, **kwargs):
            super().__init__(*args, **kwargs)
            self.obj, self.met = obj, 0

        def persistent_id(self, value):
            if value is not self.obj:
                return None
            self.met += 1
            if self.met == 2:  # the copy inside the first reference
                return None
            return ("flowyml.shared", "lr", value if self.met == 1 else None)

    lr = Model()
    out = io.BytesIO()
    Earlier(out, protocol=5, obj=lr).dump({"models": [lr, lr]})
    again = Model()
    with sharing.shared({"lr": again}):
        got = sharing.loads(out.getvalue())
    assert got["models"][0] is again and got["models"][1] is again
    assert isinstance(sharing.loads(out.getvalue())["models"][0], Model)
