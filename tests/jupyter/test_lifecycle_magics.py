"""%flowyml cache info|gc and %flowyml why in a real IPython shell (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import flowyml_jupyter
from flowyml.store import lifecycle

from .conftest import step_cell

ROOT = Path(__file__).resolve().parents[2]


def test_why_names_the_input_the_helper_and_the_code(ip, session, capsys):
    ip.run_cell("seed = 7\ndef clean(v):\n    return v + 0")
    assert step_cell(ip, "", "value = clean(seed) * 2", cell_id="a").success
    ip.run_line_magic("flowyml", "why value")
    assert "will be a cache hit" in capsys.readouterr().out
    ip.run_cell("seed = 8")
    ip.run_line_magic("flowyml", "why value")
    assert "`seed` changed 7 → 8" in capsys.readouterr().out
    ip.run_cell("seed = 7\ndef clean(v):\n    return v + 100")
    ip.run_line_magic("flowyml", "why value")
    assert "helper `clean` changed" in capsys.readouterr().out


def test_cache_info_and_gc_keep_what_the_notebook_would_hit(ip, session, capsys):
    for n in range(3):
        ip.run_cell(f"n = {n}")
        assert step_cell(ip, "", "big = list(range(n * 1000))", cell_id="c").success
    ip.run_cell("n = 0")  # the current definition would hit the first, oldest entry
    for e in lifecycle.scan(session.store):
        os.utime(e.path, (time.time() - 86400,) * 2)
    capsys.readouterr()
    ip.run_line_magic("flowyml", "cache info")
    text = capsys.readouterr().out
    assert "big" in text and "stored (a hit)" in text
    ip.run_line_magic("flowyml", "cache gc --keep-latest 0 --dry-run")
    assert "would remove 2 entries" in capsys.readouterr().out
    ip.run_line_magic("flowyml", "cache gc --keep-latest 0")
    assert "removed 2 entries" in capsys.readouterr().out
    assert step_cell(ip, "", "big = list(range(n * 1000))", cell_id="c").success
    assert session.steps["big"].state == "cached"


# -- issue 19.5: %%step NAME --accept; issue 21: why down the DAG, gc --grace ------------------

MAKE = "rows = list(range(n_rows))"
COUNT = "open(MARK, 'a').write('x')\ncount = len(rows)"
EDITED = "open(MARK, 'a').write('x')\nprint('debug', len(rows))\ncount = len(rows)"


def _setup(ip, tmp_path):
    mark = tmp_path / "runs.txt"
    ip.run_cell(f"n_rows = 10\nMARK = {str(mark)!r}")
    assert step_cell(ip, "make", MAKE, cell_id="m").success
    assert step_cell(ip, "count", COUNT, cell_id="c").success
    return lambda: mark.read_text().count("x") if mark.exists() else 0


def test_accept_an_edited_cell_then_it_hits_everywhere(ip, session, capsys, tmp_path):
    runs = _setup(ip, tmp_path)
    assert runs() == 1
    capsys.readouterr()
    assert step_cell(ip, "count --accept", EDITED, cell_id="c").success
    out = capsys.readouterr().out
    assert "count' will re-run: against the nearest stored entry" in out, out  # the diff
    assert "its own code changed" in out and "accepted" in out, out
    assert "debug" not in out and runs() == 1  # the body did not run
    assert session.steps["count"].state == "cached" and ip.user_ns["count"] == 10
    assert step_cell(ip, "count", EDITED, cell_id="c").success  # a plain hit from now on
    assert session.steps["count"].state == "cached" and runs() == 1
    ip.run_line_magic("flowyml", "why count")
    assert "will be a cache hit" in capsys.readouterr().out
    ip.restart()  # a fresh kernel: the edited notebook, run top to bottom
    ip.run_cell(f"n_rows = 10\nMARK = {str(tmp_path / 'runs.txt')!r}")
    assert step_cell(ip, "make", MAKE, cell_id="m").success
    assert step_cell(ip, "count", EDITED, cell_id="c").success
    fresh = flowyml_jupyter._LOADED[id(ip)].session
    assert fresh.steps["count"].state == "cached" and runs() == 1
    # the exported module hits too
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = tmp_path / "analysis.ipynb"  # the notebook as saved: --accept still in the cell
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in (
        f"n_rows = 10\nMARK = {str(tmp_path / 'runs.txt')!r}", "%%step make\n" + MAKE,
        "%%step count --accept\n" + EDITED)]), nb)
    module = tmp_path / "exported.py"
    ip.run_line_magic("flowyml", f"export {module} --notebook {nb}")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FLOWYML_CACHE_DIR": str(fresh.store.root)}
    ran = subprocess.run([sys.executable, "-m", "flowyml", "run", str(module)], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0 and "2 cached" in ran.stdout, ran.stdout + ran.stderr
    assert runs() == 1


def test_accept_refuses_when_an_input_differs(ip, session, capsys, tmp_path):
    runs = _setup(ip, tmp_path)
    ip.run_cell("n_rows = 12")
    result = step_cell(ip, "make --accept", "print(n_rows)\n" + MAKE, cell_id="m")
    assert not result.success
    said = str(result.error_in_exec)
    assert "not accepted: an input differs" in said and "`n_rows` changed 10 → 12" in said, said
    result = step_cell(ip, "count --accept", EDITED, cell_id="c")
    said = str(result.error_in_exec)
    assert "input `rows` differs: it comes from `make`" in said, said
    assert "`n_rows` changed 10 → 12" in said and runs() == 1, said


def test_why_says_an_upstream_step_re_runs(ip, session, capsys, tmp_path):
    _setup(ip, tmp_path)
    ip.run_cell("n_rows = 12")
    capsys.readouterr()
    ip.run_line_magic("flowyml", "why count")
    out = capsys.readouterr().out
    assert ("count' will re-run: its own code and inputs match a stored entry, but it reads "
            "`rows` from `make`, which re-runs because `n_rows` changed 10 → 12") in out, out
    assert "will be a cache hit" not in out


def test_magic_gc_grace(ip, session, capsys):
    for n in range(6):
        ip.run_cell(f"n = {n}")
        assert step_cell(ip, "", "big = list(range(n * 100))", cell_id="g").success
    capsys.readouterr()
    ip.run_line_magic("flowyml", "cache gc --keep-latest 1")
    out = capsys.readouterr().out
    assert "removed 0 entries" in out and "5 entries used in the last minute kept" in out, out
    ip.run_line_magic("flowyml", "cache gc --keep-latest 1 --grace 0s")
    out = capsys.readouterr().out
    assert "removed 5 entries" in out, out
    assert step_cell(ip, "", "big = list(range(n * 100))", cell_id="g").success
    assert session.steps["big"].state == "cached"
