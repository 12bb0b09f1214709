"""Names a cell binds out of the analysis' sight (SPEC §9: a restarted notebook gives plain
Python's results): ``globals()[name] = ...``, ``exec(...)``, ``vars()[...]``, ``%run
script.py``, ``%pylab``. A hit could not bind them again, so such a cell runs again every
time and says why; a ``from pylab import *`` cell, whose import a hit runs again, stays a
hit. Real kernels through nbclient.
"""

from __future__ import annotations

import pytest

from .kernel_runs import WIDGET, run_cells
from .test_library_state import _run

pytestmark = pytest.mark.slow


def test_names_bound_through_globals_exec_and_run_exist_after_a_restart(tmp_path):
    pytest.importorskip("matplotlib")
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


def test_a_cell_showing_a_live_widget_runs_again_and_a_progress_bar_does_not(tmp_path):
    """A slider or ``interact`` lives in the kernel that made it: a hit could only show its
    text, and what ``interact``'s function printed into it would land under the cell. Such
    a cell runs again every time, so the widget is live after a restart; a progress bar
    (an HBox of HTML and FloatProgress, as tqdm's) only shows, and stays a hit."""
    cells = [
        "%%step\nfrom ipywidgets import interact\ndef f(x):\n    print(x * 2)\ninteract(f, x=10);",
        "%%step\nimport ipywidgets as w\nbar = w.HBox([w.HTML('50%'), w.FloatProgress(value=5, max=10)])\n"
        "display(bar)\ndone = 1",
    ]
    shown = []
    for _ in range(2):
        runs = run_cells(tmp_path, cells, allow_errors=False)
        shown.append([[(o.output_type, WIDGET in o.get("data", {}), o.get("data", {}).get("text/plain", ""))
                       for o in outputs] for outputs in runs])
    interact_again = shown[1][0]
    assert any(live for _, live, text in interact_again if text.startswith("interactive("))
    assert not any(kind == "stream" for kind, _, _ in interact_again)  # 20 stays in the widget
    status = [text for _, _, text in interact_again if text.startswith("step '")]
    assert "re-ran" in status[0] and "widgets it shows" in status[0], status
    bar_status = [text for _, _, text in shown[1][1] if text.startswith("step '")]
    assert "cached" in bar_status[0], bar_status


def test_cells_looping_under_tqdms_notebook_bars_are_hits_after_a_restart(tmp_path):
    """``tqdm.auto`` / ``tqdm.notebook`` in a kernel show a ``TqdmHBox`` (an HBox subclass
    of HTML and FloatProgress): a progress bar, which only shows. Those cells (every
    training loop, every ``progress_apply``) re-ran after every restart, the bar taken for
    a live widget because of its class name; the bar's text is replayed."""
    pytest.importorskip("tqdm")
    cells = [
        "%%step\nfrom tqdm.auto import tqdm\ntotal = 0\nfor i in tqdm(range(100)):\n    total += i",
        "%%step\nfrom tqdm.notebook import trange\ns = sum(x for x in trange(50, desc='work'))",
        "%%step\nprint(total, s)",
    ]
    plain = run_cells(tmp_path, cells, flowyml=False, allow_errors=False)
    assert any(WIDGET in o.get("data", {}) for o in plain[0])  # a widget in this kernel
    run_cells(tmp_path, cells, allow_errors=False)
    again = run_cells(tmp_path, cells, allow_errors=False)
    for before, after in zip(plain, again, strict=True):
        texts = [o.get("data", {}).get("text/plain", o.get("text", "")) for o in before]
        replayed = [o.get("data", {}).get("text/plain", o.get("text", "")) for o in after]
        assert [t for t in replayed if not t.startswith("step '")] == texts
    status = [o.data["text/plain"] for outputs in again for o in outputs
              if o.get("data", {}).get("text/plain", "").startswith("step '")]
    assert all("cached" in s for s in status), status


def test_installs_and_kernel_introspection_run_every_time_config_magics_stay_hits(tmp_path):
    """``%pip install ...`` skipped by a hit on a fresh machine leaves the package missing;
    ``%whos`` replayed shows the namespace of another kernel. What only IPython can do runs
    every time, as plain IPython runs it; magics whose effect flowyml keeps (``%matplotlib
    inline``, ``%precision``) and shell commands keyed by the files they name stay cached."""
    cells = [
        "%%step\n%matplotlib inline\n%precision 3\nk = 1",
        "%%step\n%pip --version\nj = 2",
        "%%step\n%whos",
        "%%step\n!echo from-the-shell",
    ]
    _run(tmp_path, cells, flowyml=True)
    again, states = _run(tmp_path, cells, flowyml=True)
    assert "cached" in states[0] and "cached" in states[3], states
    assert "re-ran" in states[1] and "`%pip --version`" in states[1], states
    assert "re-ran" in states[2] and "`%whos`" in states[2], states
    assert "pip " in again[1]


def test_a_helper_modules_data_a_cached_cell_changed_is_changed_after_a_restart(tmp_path):
    """``cfg.CONFIG['lr'] = 5`` changes data a helper module holds, which no stored value
    holds: the cell runs again after a restart, so the cells after it see 5, as in plain."""
    (tmp_path / "cfg.py").write_text("CONFIG = {'lr': 1}\n")
    cells = ["%%step\nimport cfg\ncfg.CONFIG['lr'] = 5\nk = 1", "print(cfg.CONFIG)"]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[1] == "stdout: {'lr': 5}\n"
    _run(tmp_path, cells, flowyml=True)
    again, states = _run(tmp_path, cells, flowyml=True)
    assert again == plain and "helper module cfg" in states[0], states
