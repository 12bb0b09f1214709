"""Names a cell binds out of the analysis' sight (SPEC §9: a restarted notebook gives plain
Python's results): ``globals()[name] = ...``, ``exec(...)``, ``vars()[...]``, ``%run
script.py``, ``%pylab``. A hit could not bind them again, so such a cell runs again every
time and says why; a ``from pylab import *`` cell, whose import a hit runs again, stays a
hit. Real kernels through nbclient.
"""

from __future__ import annotations

import pytest

from .test_library_state import _run

pytestmark = pytest.mark.slow


def test_names_bound_through_globals_exec_and_run_exist_after_a_restart(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "script.py").write_text("def helper(x):\n    return x + 100\nFROM_SCRIPT = 1\n")
    cells = [
        "%%step\n%pylab inline",
        "%%step\nglobals()['dyn'] = 5\nw = 1",
        "%%step\nexec('ex = 7')\nv = 2",
        "%%step\nfor name in ['p', 'q']:\n    globals()[name] = len(name)\nu = 3",
        "%%step\n%run script.py",
        "%%step\n%matplotlib inline\nfrom pylab import *",
        "print(dyn, ex, p, q, helper(1), FROM_SCRIPT, sqrt(4.0), linspace(0, 1, 3))",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[6].startswith("stdout: 5 7 1 1 101 1 2.0 [0.  0.5 1. ]"), plain
    first, _ = _run(tmp_path, cells, flowyml=True)
    again, states = _run(tmp_path, cells, flowyml=True)
    assert first == plain and again == plain
    for i in (0, 1, 2, 3, 4):
        assert "re-ran" in states[i] and "out of flowyml's sight" in states[i], states[i]
    assert "cached" in states[5], states
