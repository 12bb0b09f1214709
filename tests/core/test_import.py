"""What ``import flowyml`` loads: nothing heavy, and its public names still all resolve.

Structural, not timed: each check runs a fresh interpreter and looks at ``sys.modules``.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

import flowyml

#: third-party packages a feature may need, never ``import flowyml`` or a step definition
HEAVY = ("IPython", "ipywidgets", "graphviz", "numpy", "pandas", "dask", "distributed",
         "joblib", "networkx", "fsspec", "s3fs", "xxhash")
#: standard-library modules only some features need (executors, signed caches, error hints)
OPTIONAL_STDLIB = ("concurrent.futures", "hmac", "difflib", "uuid")


def _loaded_after(statement: str, names: tuple[str, ...]) -> dict[str, list[str]]:
    """Run ``statement`` in a fresh interpreter: which of ``names`` and which flowyml modules
    are in ``sys.modules`` afterwards."""
    code = (f"import json, sys\n{statement}\n"
            f"names = {names!r}\n"
            "mods = sorted(sys.modules)\n"
            "print(json.dumps({'heavy': [m for m in mods if m in names or m.split('.')[0] in names],"
            " 'flowyml': [m for m in mods if m.startswith('flowyml.')]}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_import_flowyml_runs_no_flowyml_module_and_loads_nothing_heavy():
    loaded = _loaded_after("import flowyml", HEAVY + OPTIONAL_STDLIB)
    assert loaded == {"heavy": [], "flowyml": []}


def test_defining_steps_and_pipelines_loads_nothing_heavy():
    loaded = _loaded_after("from flowyml import step, Pipeline", HEAVY[:-1] + OPTIONAL_STDLIB)
    assert loaded["heavy"] == []
    assert "flowyml.core.pipeline" in loaded["flowyml"]


def test_the_notebook_core_stays_free_of_ipython():
    loaded = _loaded_after("import flowyml, flowyml.notebook.session", ("IPython", "ipywidgets", "graphviz"))
    assert loaded["heavy"] == []


@pytest.mark.parametrize("name", flowyml.__all__)
def test_every_public_name_resolves_to_its_definition(name):
    value = getattr(flowyml, name)
    home = importlib.import_module(flowyml._MODULE_OF[name])
    assert value is getattr(home, name)
    assert name in dir(flowyml)


def test_star_import_binds_the_whole_public_surface():
    namespace: dict = {}
    exec("from flowyml import *", namespace)
    assert set(flowyml.__all__) <= set(namespace)
    assert namespace["Pipeline"] is flowyml.Pipeline


def test_an_unknown_name_is_an_attribute_error_naming_it():
    with pytest.raises(AttributeError, match="'no_such_thing'"):
        _ = flowyml.no_such_thing
    with pytest.raises(ImportError, match="no_such_thing"):
        exec("from flowyml import no_such_thing", {})
    assert callable(flowyml.load_ipython_extension)


def test_submodules_stay_reachable_as_attributes_after_import_flowyml():
    """``@flowyml.hashing.fingerprint.register`` (what an error message tells users to write)
    and ``flowyml.core.step.Step`` worked when the package imported its modules eagerly."""
    code = ("import flowyml\n"
            "assert callable(flowyml.hashing.fingerprint.register)\n"
            "assert flowyml.core.step.Step is flowyml.Step\n"
            "assert flowyml.core.pipeline.Pipeline is flowyml.Pipeline\n"
            "assert flowyml.store.local.CacheStore is flowyml.CacheStore\n"
            "for owner, name in ((flowyml, 'no_such_module'), (flowyml.core, 'no_such_module')):\n"
            "    assert not hasattr(owner, name)\n"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
