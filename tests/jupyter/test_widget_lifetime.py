"""Unloading the extension closes every widget model it made (none is left to be closed
later through another comm manager: the teardown error of issue 21, point 9)."""

from __future__ import annotations

import pytest
from ipywidgets.widgets.widget import _instances

import flowyml_jupyter
from flowyml_jupyter import widgets

from .conftest import step_cell


def _ours(before):
    return [w for k, w in _instances.items() if k not in before]


def test_unload_closes_every_model_the_extension_made(ip):
    before = set(_instances)
    step_cell(ip, "", "a = 1")
    step_cell(ip, "", "b = a + 1")
    step_cell(ip, "", "b = a + 1")  # re-run: a new line (the old one is closed at unload)
    lines = [w for w in _ours(before) if isinstance(w, widgets.StepStatusWidget)]
    assert len(lines) == 3
    ip.run_line_magic("flowyml", "dag")
    assert any(isinstance(w, widgets.DagWidget) for w in _ours(before))

    flowyml_jupyter.unload_ipython_extension(ip)
    assert _ours(before) == [], "widget models outlived the extension"
    assert all(w.comm is None and w._html.comm is None for w in lines)
    flowyml_jupyter.load_ipython_extension(ip)  # the fixture's teardown unloads it again


def test_models_closed_after_their_comm_manager_went_away_do_not_raise(ip, monkeypatch):
    """A comm its manager no longer knows (the front end closed it, or the manager was
    replaced) counts as closed: unloading does not fail."""
    import comm as comm_module

    step_cell(ip, "", "a = 1")
    fresh = comm_module.base_comm.CommManager()  # knows none of the comms made so far
    monkeypatch.setattr(comm_module, "get_comm_manager", lambda: fresh)
    flowyml_jupyter.unload_ipython_extension(ip)
    monkeypatch.undo()
    flowyml_jupyter.load_ipython_extension(ip)


@pytest.fixture(autouse=True)
def _no_leftovers():
    before = set(_instances)
    yield
    assert _ours(before) == []
