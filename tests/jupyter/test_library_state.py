"""Libraries' settings are process-wide state (SPEC §9): a cached cell that configured
logging (``logging.basicConfig(level=INFO)``, a logger's level, a file handler), numpy's
error handling (``np.seterr``), scikit-learn (``set_config(transform_output="pandas")``) or
the decimal context must leave the kernel as running it does, or every later cell prints
or computes something else after a restart. Real kernels through nbclient: plain,
``%%step`` run 1, ``%%step`` in a fresh kernel (the set-up cells hits).
"""

from __future__ import annotations

import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.slow


def _run(folder: Path, cells: list[str], flowyml: bool) -> tuple[list[str], list[str]]:
    """Each cell's printed text (stdout and stderr) and value, and its status line, from a
    fresh kernel."""
    if not flowyml:
        cells = [c.split("\n", 1)[1] if c.startswith("%%step") else c for c in cells]
    nb = new_notebook(cells=[new_code_cell(s) for s in
                             ["%load_ext flowyml" if flowyml else "pass", *cells]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / f"nb-{uuid.uuid4().hex[:6]}.ipynb")
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()
    shown, states = [], []
    for cell in nb.cells[1:]:
        shown.append("".join(f"{o.name}: {o.text}" if o.output_type == "stream" else
                             f"out: {o.data['text/plain']}\n" for o in cell.outputs
                             if o.output_type in ("stream", "execute_result")))
        status = [o.data["text/plain"] for o in cell.outputs if o.output_type == "display_data"
                  and o.data.get("text/plain", "").startswith("step '")]
        states.append(status[0] if status else "")
    return shown, states


def test_logging_a_cached_cell_configured_prints_as_plain_python_after_a_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\nimport logging\n"
        "logging.basicConfig(level=logging.INFO, format='%(levelname)s %(name)s: %(message)s')\n"
        "log = logging.getLogger('nb')\nlogging.getLogger('noisy').setLevel(logging.ERROR)",
        "%%step\nfile_handler = logging.FileHandler('run.log', mode='w')\n"
        "file_handler.setFormatter(logging.Formatter('%(message)s'))\n"
        "logging.getLogger('nb').addHandler(file_handler)\nready = True",
        "log.info('after the set-up %d', 1)\nlogging.getLogger('noisy').warning('hidden')\n"
        "logging.getLogger('noisy').error('shown')",
        "print(open('run.log').read())",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[2] == "stderr: INFO nb: after the set-up 1\nstderr: ERROR noisy: shown\n", plain
    assert "after the set-up 1" in plain[3]
    first, states = _run(tmp_path, cells, flowyml=True)
    assert first == plain and "done" in states[0] and "done" in states[1], states
    again, states = _run(tmp_path, cells, flowyml=True)
    assert "cached" in states[0] and "cached" in states[1], states
    assert again == plain


def test_a_cell_adding_a_handler_that_cannot_be_made_again_runs_again(tmp_path, monkeypatch):
    """A handler of another kind (a rotating file, a stream into a buffer) cannot be
    stored: the cell that adds it is never a hit, and says why."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\nimport io, logging\nbuf = io.StringIO()\n"
        "logging.getLogger('mem').addHandler(logging.StreamHandler(buf))\nn = 1",
        "logging.getLogger('mem').warning('kept')\nprint(repr(buf.getvalue()))",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[1] == "stdout: 'kept\\n'\n"
    _run(tmp_path, cells, flowyml=True)
    again, states = _run(tmp_path, cells, flowyml=True)
    assert "cached" not in states[0] and "logging" in states[0], states
    assert again == plain


def test_numpy_error_handling_sklearn_config_and_the_decimal_context_are_set_again(
        tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\nimport numpy as np\nold = np.seterr(divide='ignore')",
        "%%step\nimport decimal\ndecimal.getcontext().prec = 6\nD = decimal.Decimal",
        "%%step\nimport sklearn\nfrom sklearn.preprocessing import StandardScaler\n"
        "sklearn.set_config(transform_output='pandas')\nimport pandas as pd\n"
        "X = pd.DataFrame({'a': [1.0, 2.0, 3.0]})",
        "print(np.array([1.0]) / 0)\nprint(D(1) / D(7))\n"
        "print(type(StandardScaler().fit_transform(X)).__name__)",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[3] == "stdout: [inf]\n0.142857\nDataFrame\n", plain
    first, states = _run(tmp_path, cells, flowyml=True)
    assert first == plain
    again, states = _run(tmp_path, cells, flowyml=True)
    assert all("cached" in s for s in states[:3]), states
    assert again == plain


def test_a_cell_run_again_after_a_plain_cell_changed_sklearn_output_type_gives_the_new_type(
        tmp_path, monkeypatch):
    """The configuration is also what a step's results depend on: the same transform cell
    run after ``set_config(transform_output="pandas")`` must not hit the array it made
    before."""
    pytest.importorskip("sklearn")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "import sklearn\nfrom sklearn.preprocessing import StandardScaler\nimport pandas as pd\n"
        "X = pd.DataFrame({'a': [1.0, 2.0, 3.0]})",
        "%%step t\nZ = StandardScaler().fit_transform(X)\nprint(type(Z).__name__)",
        "sklearn.set_config(transform_output='pandas')",
        "%%step t\nZ = StandardScaler().fit_transform(X)\nprint(type(Z).__name__)",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[1] == "stdout: ndarray\n" and plain[3] == "stdout: DataFrame\n"
    shown, states = _run(tmp_path, cells, flowyml=True)
    assert shown == plain, (shown, states)


def test_extensions_autoreload_and_precision_a_cached_cell_set_are_set_again(tmp_path, monkeypatch):
    """``%load_ext autoreload`` / ``%autoreload 2`` and ``%precision 2`` in cached cells:
    after a restart, an edited helper module is still reloaded and floats still show with
    two decimals, as in plain Python."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\n%load_ext autoreload\n%autoreload 2",
        "%%step\n%precision 2\nshown = True",
        "open('helper.py', 'w').write('def f():\\n    return 1\\n')\nimport helper\nprint(helper.f())",
        "import os\nopen('helper.py', 'w').write('def f():\\n    return 2\\n')\n"
        "st = os.stat('helper.py')\nos.utime('helper.py', ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))",
        "print(helper.f())\nprint(3.14159)",
        "3.14159",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[4] == "stdout: 2\n3.14159\n" and plain[5] == "out: 3.14\n", plain
    first, _ = _run(tmp_path, cells, flowyml=True)
    again, states = _run(tmp_path, cells, flowyml=True)
    assert "cached" in states[0] and "cached" in states[1], states
    assert first == plain and again == plain


def test_a_patched_library_class_interactivity_and_xmode_after_a_restart(tmp_path, monkeypatch):
    """``pd.DataFrame.double = double`` changes a class, which a step stores by name: the
    cell runs again after a restart (saying why) so later cells find the method; the shell's
    own settings a cached cell set (``ast_node_interactivity = 'all'``, ``%xmode Minimal``)
    hold in run 1 and again after a restart."""
    pytest.importorskip("pandas")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\n%config InteractiveShell.ast_node_interactivity = 'all'\nimport pandas as pd",
        "%%step\ndef double(self):\n    return self * 2\npd.DataFrame.double = double\nk = 1",
        "%%step\n%xmode Minimal\nq = 2",
        "1\n2",
        "pd.DataFrame({'a': [1]}).double().a.tolist()",
        "print(len(get_ipython().InteractiveTB.structured_traceback(ZeroDivisionError, "
        "ZeroDivisionError('x'), None)))",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[3] == "out: 1\nout: 2\n" and plain[4] == "out: [2]\n", plain
    first, _ = _run(tmp_path, cells, flowyml=True)
    again, states = _run(tmp_path, cells, flowyml=True)
    assert "cached" in states[0] and "cached" in states[2], states
    assert "cached" not in states[1] and "pd.DataFrame (a class)" in states[1], states
    assert first == plain and again == plain


def test_underscore_and_out_hold_a_cached_cells_value_as_in_plain_python(tmp_path, monkeypatch):
    """A hit shows the cell's result again; ``_`` and ``Out[n]`` must hold the value, not
    what stands in for its display (``_ + 1`` after a cached ``41 + 1`` is 43)."""
    pytest.importorskip("pandas")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\n41 + 1",
        "print(_ + 1)",
        "%%step\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\ndf",
        "print(_ is df, type(_).__name__)",
        "%%step\ndf.a.sum() * 10",
        "print(Out[max(Out)] + 1 if Out else None, _ + 1)",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[1] == "stdout: 43\n" and plain[3] == "stdout: True DataFrame\n", plain
    assert plain[5] == "stdout: 31 31\n", plain
    first, _ = _run(tmp_path, cells, flowyml=True)
    again, states = _run(tmp_path, cells, flowyml=True)
    assert all("cached" in s for s in states if s), states
    assert first == plain and again == plain
