"""SPEC §7 / issue 19: hashing or storing a value is invisible to the notebook.

Pickling an object by the default protocol (``object.__reduce_ex__``) caches the names of its
class's slots on the class: ``copyreg._slotnames`` sets ``cls.__slotnames__``. flowyml pickles
the values steps read and make (to hash and to store them), so a class plain Python never
pickled got the attribute, and ``dir(clf)`` of a fitted ``GridSearchCV`` listed
``'__slotnames__'`` where a plain run does not (codebasics' grid-search lesson).
"""

from __future__ import annotations

import pytest

from .conftest import step_cell


def _out(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines()
            if not line.startswith(("step '", "Out["))]


def test_a_value_a_step_reads_keeps_its_class_unchanged(ip, here, capsys):
    ip.run_cell("class Model:\n    pass")
    step_cell(ip, "", "m = Model()\nm.w = 3")
    step_cell(ip, "", "print(m.w, '__slotnames__' in dir(m), '__slotnames__' in vars(Model))")
    assert _out(capsys) == ["3 False False"]


def test_a_library_estimator_read_by_later_steps_shows_the_same_dir(ip, here, capsys):
    pytest.importorskip("sklearn")
    ip.run_cell("from sklearn.linear_model import LinearRegression")
    step_cell(ip, "", "model = LinearRegression()\nmodel.fit([[1], [2], [3]], [1, 2, 3.5])")
    step_cell(ip, "", "print('__slotnames__' in dir(model))")
    ip.restart()
    ip.run_cell("from sklearn.linear_model import LinearRegression")
    step_cell(ip, "", "model = LinearRegression()\nmodel.fit([[1], [2], [3]], [1, 2, 3.5])")
    step_cell(ip, "", "print('__slotnames__' in dir(model))")
    assert _out(capsys) == ["False", "False"]


def test_the_users_own_pickling_still_caches_the_slot_names(ip, here, capsys):
    """As in plain Python: ``pickle.dumps`` in the notebook's own code sets the attribute."""
    ip.run_cell("import pickle\nfrom string import Formatter")
    step_cell(ip, "", "f = Formatter()\ndata = pickle.dumps(f)")
    step_cell(ip, "", "print('__slotnames__' in vars(Formatter))")
    assert _out(capsys) == ["True"]
