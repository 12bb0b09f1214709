"""Display cells of one variable, in a notebook without cell ids (nbformat 4.4), run headless.

The kernel gets no cell ids from nbclient or papermill, so it tells cells apart by the order
they run in; ``flowyml export`` names the same cells ``x2``, ``x2_2``, ``x2_3``... Both must
use one rule, or the exported module recomputes what the notebook already stored.
"""

from __future__ import annotations

import os
import sys

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from flowyml.export import export_notebook
from flowyml_jupyter.kernels import LocalKernelManager

from .conftest import run, step_states

pytest.importorskip("flowyml_jupyter.magics", reason="the %%step magic is not available")
nbclient = pytest.importorskip("nbclient")

CELLS = [
    "%load_ext flowyml",
    "%%step\nx2 = [[i * 10 + j for j in range(3)] for i in range(3)]",
    "%%step\nx2",
    "%%step\nx2[0][0]",
    "%%step\nx2[2][0]",
    "%%step\nx2[2][-1]",
    "%%step\nfig = sum(x2[0])\nfig",
    "%%step\nfig = sum(x2[1])\nfig",
]
STEPS = ["x2", "x2_2", "x2_3", "x2_4", "x2_5", "fig", "fig_2"]


def _notebook_44(path):
    """An nbformat 4.4 file: no cell ids, as older tools and many public notebooks write."""
    nb = new_notebook(cells=[new_code_cell(s) for s in CELLS])
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    assert '"id"' not in path.read_text()
    return path


@pytest.mark.slow
def test_display_cells_have_the_same_names_in_the_kernel_and_the_export(tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(cache))
    monkeypatch.setenv("PATH", os.pathsep.join([os.path.dirname(sys.executable),
                                                os.environ.get("PATH", "")]))
    nb_path = _notebook_44(tmp_path / "shows.ipynb")
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.append(new_code_cell(
        "import flowyml_jupyter\n"
        "print('STEPS', *flowyml_jupyter._LOADED[id(get_ipython())].session.steps)"))
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            kernel_manager_class=LocalKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs
                      if o.output_type == "stream")
    assert printed.split() == ["STEPS", *STEPS], "the kernel named the steps differently"
    shown = [o["data"]["text/plain"] for c in nb.cells[2:6] for o in c.outputs
             if o.output_type == "execute_result"]
    assert shown[1:] == ["0", "20", "22"]

    module = export_notebook(nb_path, tmp_path / "shows.py")
    text = module.read_text()
    assert all(f"def {name}(" in text for name in STEPS), text
    proc = run([sys.executable, str(module)], tmp_path, cache)
    assert proc.returncode == 0, proc.stderr
    assert step_states(proc.stdout) == dict.fromkeys(STEPS, "cached"), proc.stdout
