"""Step names a user sees: the kernel (status, DAG) and ``flowyml export`` agree on them.

SPEC §6: a ``%%step`` cell is named NAME, else its first declared (``-o``) or inferred
output -- never a scratch variable the cell assigns on the way.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

from .conftest import step_cell

REPO = Path(__file__).resolve().parents[2]


def _states(summary: str) -> dict[str, str]:
    return {p[1]: p[0] for p in (ln.split() for ln in summary.splitlines())
            if len(p) >= 3 and p[0] in {"cached", "done", "failed", "skipped"}}


def test_declared_output_names_the_step_in_status_and_export(ip, session, capsys, tmp_path):
    body = "scratch = 1\nonly_this = scratch + 1"
    step_cell(ip, "-o only_this", body)
    assert list(session.steps) == ["only_this"], "the scratch variable named the step"
    assert session.steps["only_this"].outputs == ["only_this"]
    capsys.readouterr()
    ip.run_line_magic("flowyml", "status")
    shown = capsys.readouterr().out
    assert "only_this" in shown and "scratch" not in shown, shown

    nb = new_notebook(cells=[new_code_cell("%load_ext flowyml"),
                             new_code_cell(f"%%step -o only_this\n{body}")])
    nbformat.write(nb, tmp_path / "names.ipynb")
    ip.run_line_magic("flowyml", f"export {tmp_path / 'names.py'} --notebook "
                                 f"{tmp_path / 'names.ipynb'}")
    module = (tmp_path / "names.py").read_text()
    assert "def only_this(" in module and "def scratch(" not in module, module
    # the exported step has the notebook's name, hence its key: running it is a cache hit
    proc = subprocess.run(
        [sys.executable, "-c", "import names; print(names.pipeline.run().summary())"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{REPO}",
             "FLOWYML_CACHE_DIR": str(session.store.root)})
    assert proc.returncode == 0, proc.stderr
    assert _states(proc.stdout) == {"only_this": "cached"}, proc.stdout
