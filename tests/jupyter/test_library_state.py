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


def test_the_interpreters_limits_a_cached_cell_raised_are_raised_again(tmp_path):
    """``sys.setrecursionlimit`` and ``sys.set_int_max_str_digits`` in a first cell: after a
    restart that cell is a hit, and a later cell recursing 3,000 deep or printing a
    5,001-digit number must work as in plain Python (RecursionError / ValueError before)."""
    cells = [
        "%%step\nimport sys\nsys.setrecursionlimit(10_000)\nsys.set_int_max_str_digits(0)",
        "def depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "print(depth(3000))\nprint(len(str(10 ** 5000)))",
    ]
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[1] == "stdout: 3000\n5001\n", plain
    assert "cached" in states[0], states
    assert first == plain and again == plain


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
    """``pd.DataFrame.double = double`` changes a class, which a step stores by name: what
    the cell set on it is stored with its entry and set again on a hit, so later cells find
    the method after a restart; so is ``InteractiveShell.ast_node_interactivity = 'all'``
    set on the class (a first cell of many notebooks). The shell's own settings a cached
    cell set (``%config ... = 'all'``, ``%xmode Minimal``) hold in run 1 and again after a
    restart. A class of the notebook's own (``A.x = 2``) is found by no module: that cell
    runs again after a restart, saying why."""
    pytest.importorskip("pandas")
    cells = [
        "%%step\n%config InteractiveShell.ast_node_interactivity = 'all'\nimport pandas as pd",
        "%%step\ndef double(self):\n    return self * 2\npd.DataFrame.double = double\nk = 1",
        "%%step\n%xmode Minimal\nq = 2",
        "1\n2",
        "pd.DataFrame({'a': [1]}).double().a.tolist()",
        "print(len(get_ipython().InteractiveTB.structured_traceback(ZeroDivisionError, "
        "ZeroDivisionError('x'), None)))",
        "%%step\nclass A:\n    x = 1",
        "%%step\nA.x = 2",
        "print(A.x)",
    ]
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[3] == "out: 1\nout: 2\n" and plain[4] == "out: [2]\n", plain
    assert plain[8] == "stdout: 2\n", plain
    assert all(": cached" in states[i] for i in (0, 1, 2, 6)), states
    assert ": cached" not in states[7] and "A (a class)" in states[7], states
    assert first == plain and again == plain


def test_a_class_attribute_a_first_cell_sets_holds_after_a_restart(tmp_path):
    """``from IPython.core.interactiveshell import InteractiveShell`` then
    ``InteractiveShell.ast_node_interactivity = "all"``, the first cell of many Kaggle
    notebooks: it ran after every restart ("changes InteractiveShell (a class) in a way that
    cannot be stored"). It is a hit now, and every later cell still shows each expression;
    a helper module's setting (``json.MY_LIMIT = 5``) likewise, and an edited value re-runs
    the cells after it."""
    cells = ["%%step\nfrom IPython.core.interactiveshell import InteractiveShell\n"
             "InteractiveShell.ast_node_interactivity = 'all'\nimport json\njson.MY_LIMIT = 5",
             "%%step\nx = json.MY_LIMIT\nx\nx + 1"]
    plain, first, again, states = _three(tmp_path, cells)
    assert plain[1] == "out: 5\nout: 6\n", plain
    assert first == plain and again == plain
    assert all(": cached" in s for s in states), states
    edited = [cells[0].replace("= 5", "= 7"), cells[1]]
    runs = run_cells(tmp_path, edited, True)
    assert [printed(o, labelled=True, results=True) for o in runs][1] == "out: 7\nout: 8\n"
    assert ": cached" not in statuses(runs)[1], statuses(runs)


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


def test_polars_display_settings_a_cached_cell_set_are_set_again_and_matter_to_a_hit(
        tmp_path):
    """polars' configuration is process-wide: ``pl.Config.set_tbl_rows``/``set_thousands_separator``
    (the latter kept inside the library, not in an environment variable) and
    ``os.environ['POLARS_FMT_STR_LEN']`` set by a cached cell are set again after a restart;
    and a cell that showed a frame is not a hit under other display settings (the same cell
    again after them, as the Polars Cookbook's chapter 4 reads the same CSV twice, must show
    the frame as they make it, not the stored picture of the first one)."""
    pytest.importorskip("polars")
    frame = ("%%step\ndf = pl.DataFrame({'name': ['a' * 40, 'b' * 40], 'n': [1234567, 2]})\n"
             "df")
    cells = [
        "import os\nimport polars as pl",
        frame,
        "%%step\nos.environ['POLARS_FMT_STR_LEN'] = '50'\npl.Config.set_tbl_rows(1)\n"
        "pl.Config.set_thousands_separator(',')\nready = True",
        frame,
        "print(pl.DataFrame({'x': [1234567, 2, 3]}))",
    ]
    plain, first, again, states = _three(tmp_path, cells)
    assert "a" * 40 not in plain[1] and "a" * 40 in plain[3] and "1,234,567" in plain[4], plain
    assert "cached" in states[2], states
    assert first == plain, (first, plain)
    assert again == plain, (again, plain)


def test_plotly_renderer_and_template_a_cached_cell_set_are_set_again(tmp_path):
    """``pio.renderers.default = 'notebook'`` and ``pio.templates.default`` in a cached cell:
    after a restart a figure shown by a cell that runs is drawn by that renderer with that
    template, as in plain Python (it was shown as the kernel's default mime bundle, with
    plotly's default template). The renderer's one-time plotly.js (shown by the first
    figure, a hit here) comes once more with the next figure drawn: harmless in a page."""
    pytest.importorskip("plotly")
    cells = [
        "%%step\nimport plotly.io as pio\npio.renderers.default = 'notebook'\n"
        "pio.templates.default = 'plotly_white'\nready = 1",
        "%%step\nimport plotly.express as px\nfig = px.scatter(x=[1, 2], y=[3, 4])\nfig.show()",
        "fig2 = px.scatter(x=[1, 2], y=[3, 5])\nfig2.show()\n"
        "print(pio.renderers.default, fig2.layout.template.layout.paper_bgcolor)",
    ]

    def view(outputs: list) -> list:
        return [(o.output_type, sorted(o.get("data", {})) or o.get("text", ""))
                for o in outputs if o.output_type != "execute_result"
                and "application/vnd.jupyter.widget-view+json" not in o.get("data", {})]

    plain, _, again, states = three_runs(tmp_path, cells, view, allow_errors=False)
    assert plain[2] == [("display_data", ["text/html"]), ("stream", "notebook white\n")], plain
    assert "cached" in states[0] and "cached" in states[1], states
    assert again[2][-2:] == plain[2], again


def test_methods_tqdm_pandas_added_to_pandas_classes_in_a_cached_cell_are_there_again(
        tmp_path):
    """``tqdm.pandas()`` adds ``progress_apply``/``progress_map`` to pandas' classes (from
    inside tqdm: no assignment in the cell to see). After a restart, with that cell a hit,
    ``df.progress_apply`` in a later cell failed (AttributeError) where plain Python works."""
    pytest.importorskip("tqdm")
    cells = [
        "%%step\nfrom tqdm import tqdm\ntqdm.pandas(desc='bar')\nimport pandas as pd\n"
        "df = pd.DataFrame({'a': range(5)})",
        "print(df['a'].progress_apply(lambda x: x * 2).tolist())\n"
        "print(df.groupby(df['a'] % 2)['a'].progress_apply(sum).tolist())",
    ]
    plain, first, again, states = three_runs(
        tmp_path, cells, lambda o: printed(o, errors=True, streams=("stdout",)))
    assert plain[1] == "[0, 2, 4, 6, 8]\n[6, 4]\n", plain
    assert "cached" in states[0], states
    assert first == plain and again == plain, (first, again)
