"""Libraries' settings are process-wide state (SPEC §9): a cached cell that configured
logging (``logging.basicConfig(level=INFO)``, a logger's level, a file handler), numpy's
error handling (``np.seterr``), scikit-learn (``set_config(transform_output="pandas")``) or
the decimal context must leave the kernel as running it does, or every later cell prints
or computes something else after a restart. Real kernels through nbclient: plain,
``%%step`` run 1, ``%%step`` in a fresh kernel (the set-up cells hits).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .kernel_runs import printed, run_cells, statuses, three_runs

pytestmark = pytest.mark.slow


def _run(folder: Path, cells: list[str], flowyml: bool) -> tuple[list[str], list[str]]:
    """Each cell's printed text (stdout and stderr, labelled) and value, and its status
    line, from a fresh kernel."""
    runs = run_cells(folder, cells, flowyml, allow_errors=False)
    return [printed(o, labelled=True, results=True) for o in runs], statuses(runs)


def _three(folder: Path, cells: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """Plain, flowyml, flowyml in a fresh kernel (as :func:`_run` sees them), and the
    status lines of the last."""
    return three_runs(folder, cells, lambda o: printed(o, labelled=True, results=True), allow_errors=False)


def test_logging_a_cached_cell_configured_prints_as_plain_python_after_a_restart(tmp_path):
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
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[2] == "stderr: INFO nb: after the set-up 1\nstderr: ERROR noisy: shown\n", plain
    assert "after the set-up 1" in plain[3]
    assert "cached" in states[0] and "cached" in states[1], states
    assert first == plain
    assert again == plain


def test_a_cell_adding_a_handler_that_cannot_be_made_again_runs_again(tmp_path):
    """A handler of another kind (a rotating file, a stream into a buffer) cannot be
    stored: the cell that adds it is never a hit, and says why."""
    cells = [
        "%%step\nimport io, logging\nbuf = io.StringIO()\n"
        "logging.getLogger('mem').addHandler(logging.StreamHandler(buf))\nn = 1",
        "logging.getLogger('mem').warning('kept')\nprint(repr(buf.getvalue()))",
    ]
    plain, _, again, states = _three(tmp_path, cells)
    assert plain[1] == "stdout: 'kept\\n'\n"
    assert "cached" not in states[0] and "logging" in states[0], states
    assert again == plain


def test_numpy_error_handling_sklearn_config_and_the_decimal_context_are_set_again(
        tmp_path):
    pytest.importorskip("sklearn")
    cells = [
        "%%step\nimport numpy as np\nold = np.seterr(divide='ignore')",
        "%%step\nimport decimal\ndecimal.getcontext().prec = 6\nD = decimal.Decimal",
        "%%step\nimport sklearn\nfrom sklearn.preprocessing import StandardScaler\n"
        "sklearn.set_config(transform_output='pandas')\nimport pandas as pd\n"
        "X = pd.DataFrame({'a': [1.0, 2.0, 3.0]})",
        "print(np.array([1.0]) / 0)\nprint(D(1) / D(7))\n"
        "print(type(StandardScaler().fit_transform(X)).__name__)",
    ]
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[3] == "stdout: [inf]\n0.142857\nDataFrame\n", plain
    assert first == plain
    assert all("cached" in s for s in states[:3]), states
    assert again == plain


def test_a_cell_run_again_after_a_plain_cell_changed_sklearn_output_type_gives_the_new_type(
        tmp_path):
    """The configuration is also what a step's results depend on: the same transform cell
    run after ``set_config(transform_output="pandas")`` must not hit the array it made
    before."""
    pytest.importorskip("sklearn")
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


def test_extensions_autoreload_and_precision_a_cached_cell_set_are_set_again(tmp_path):
    """``%load_ext autoreload`` / ``%autoreload 2`` and ``%precision 2`` in cached cells:
    after a restart, an edited helper module is still reloaded and floats still show with
    two decimals, as in plain Python."""
    cells = [
        "%%step\n%load_ext autoreload\n%autoreload 2",
        "%%step\n%precision 2\nshown = True",
        "open('helper.py', 'w').write('def f():\\n    return 1\\n')\nimport helper\nprint(helper.f())",
        "import os\nopen('helper.py', 'w').write('def f():\\n    return 2\\n')\n"
        "st = os.stat('helper.py')\nos.utime('helper.py', ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))",
        "print(helper.f())\nprint(3.14159)",
        "3.14159",
    ]
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[4] == "stdout: 2\n3.14159\n" and plain[5] == "out: 3.14\n", plain
    assert "cached" in states[0] and "cached" in states[1], states
    assert first == plain and again == plain


def test_a_patched_library_class_interactivity_and_xmode_after_a_restart(tmp_path):
    """``pd.DataFrame.double = double`` changes a class, which a step stores by name: the
    cell runs again after a restart (saying why) so later cells find the method; the shell's
    own settings a cached cell set (``ast_node_interactivity = 'all'``, ``%xmode Minimal``)
    hold in run 1 and again after a restart."""
    pytest.importorskip("pandas")
    cells = [
        "%%step\n%config InteractiveShell.ast_node_interactivity = 'all'\nimport pandas as pd",
        "%%step\ndef double(self):\n    return self * 2\npd.DataFrame.double = double\nk = 1",
        "%%step\n%xmode Minimal\nq = 2",
        "1\n2",
        "pd.DataFrame({'a': [1]}).double().a.tolist()",
        "print(len(get_ipython().InteractiveTB.structured_traceback(ZeroDivisionError, "
        "ZeroDivisionError('x'), None)))",
    ]
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[3] == "out: 1\nout: 2\n" and plain[4] == "out: [2]\n", plain
    assert "cached" in states[0] and "cached" in states[2], states
    assert "cached" not in states[1] and "pd.DataFrame (a class)" in states[1], states
    assert first == plain and again == plain


def test_underscore_and_out_hold_a_cached_cells_value_as_in_plain_python(tmp_path):
    """A hit shows the cell's result again; ``_`` and ``Out[n]`` must hold the value, not
    what stands in for its display (``_ + 1`` after a cached ``41 + 1`` is 43)."""
    pytest.importorskip("pandas")
    cells = [
        "%%step\n41 + 1",
        "print(_ + 1)",
        "%%step\nimport pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})\ndf",
        "print(_ is df, type(_).__name__)",
        "%%step\ndf.a.sum() * 10",
        "print(Out[max(Out)] + 1 if Out else None, _ + 1)",
    ]
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[1] == "stdout: 43\n" and plain[3] == "stdout: True DataFrame\n", plain
    assert plain[5] == "stdout: 31 31\n", plain
    assert all("cached" in s for s in states if s), states
    assert first == plain and again == plain
