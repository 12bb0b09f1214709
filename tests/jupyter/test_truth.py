"""SPEC §9 / issue 19: the cache never gives another result than plain Python.

In a real IPython shell: builtins shadowed by a library (``from numpy import *``), a cell
that consumes an iterator run three times, a generator. In real kernels through nbclient
(without cell ids, as nbclient sends none, and with the ids a front end sends): a notebook
that seeds the random generators, sets a matplotlib style, pandas options, ``sys.path``,
an environment variable and the working directory in step cells, then draws numbers and
consumes an iterator, is run once, edited (one literal), run again in a fresh kernel with
the warm cache, and must show exactly what a plain run of the edited notebook shows.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from .conftest import step_cell

WIDGET = "application/vnd.jupyter.widget-view+json"


# -- in a shell ----------------------------------------------------------------------------------

def _out(capsys) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if not line.startswith("step '")]


def test_a_builtin_shadowed_by_a_library_import_reruns_the_cell(ip, session, capsys):
    pytest.importorskip("numpy")
    step_cell(ip, "", "r = sum(range(5), -1)\nprint(r)")
    ip.run_cell("from numpy import *")
    step_cell(ip, "", "r = sum(range(5), -1)\nprint(r)")
    assert _out(capsys) == ["9", "10"]  # numpy.sum's second argument is the axis
    assert ip.user_ns["r"] == 10
    assert session.steps["r"].state == "done"
    ip.run_cell("from builtins import sum")  # back to the builtin: the first entry again
    step_cell(ip, "", "r = sum(range(5), -1)\nprint(r)")
    assert _out(capsys) == ["9"] and session.steps["r"].state == "cached"


def test_a_reordered_dict_reruns_the_cell_that_loops_over_it(ip, session, capsys):
    """Equal under ``==``, not to a loop: the reader of a reordered dict is no hit."""
    step_cell(ip, "", "models = {'lr': 1, 'rf': 2}")
    step_cell(ip, "", "for name in models:\n    print(name)")
    ip.restart()
    step_cell(ip, "", "models = {'rf': 2, 'lr': 1}")  # the user moved rf first
    step_cell(ip, "", "for name in models:\n    print(name)")
    assert _out(capsys) == ["lr", "rf", "rf", "lr"]  # before: lr, rf again, from the cache


def test_a_builtin_name_bound_to_a_value_is_an_input(ip, session, capsys):
    ip.run_cell("max = 3")
    step_cell(ip, "", "print(max)")
    ip.run_cell("max = 4")
    step_cell(ip, "", "print(max)")
    assert _out(capsys) == ["3", "4"]


@pytest.mark.parametrize("ids", [False, True], ids=["no cell ids", "cell ids"])
def test_a_cell_consuming_an_iterator_run_three_times(ip, session, capsys, ids):
    ip.run_cell("I = iter([2, 4, 6])")
    for n in range(3):
        step_cell(ip, "", "print(next(I))", cell_id=f"c{n}" if ids else None)
    assert _out(capsys) == ["2", "4", "6"]


def test_a_value_a_repeated_cell_changed_in_place_is_what_later_cells_read(ip, tmp_path, monkeypatch,
                                                                           capsys):
    """Without cell ids a repeated cell (the same code, other comments) is the same step run
    again. Its second run changed nothing, so it no longer made the name, and the next cell
    got an older version back from the cache: the bootcamp's ``my_file.seek(0)`` moved a
    copy, and the ``my_file.read()`` after it read nothing where plain Python reads the file
    again. The value a later step reads is what the name holds."""
    (tmp_path / "test.txt").write_text("Hello\n")
    monkeypatch.chdir(tmp_path)
    step_cell(ip, "", "my_file = open('test.txt')")
    step_cell(ip, "", "# We can now read the file\nprint(repr(my_file.read()))")
    step_cell(ip, "", "# But what happens if we try to read it again?\nprint(repr(my_file.read()))")
    step_cell(ip, "", "my_file.seek(0)")
    step_cell(ip, "", "# Now read again\nprint(repr(my_file.read()))")
    assert _out(capsys) == ["'Hello\\n'", "''", "Out[0]: 0", "'Hello\\n'"]


@pytest.mark.parametrize("ids", [False, True], ids=["no cell ids", "cell ids"])
def test_a_cell_run_again_after_its_functions_changed_notebook_data(ip, capsys, ids):
    """A cell whose functions advance a counter or append to a list, run again unchanged:
    plain Python counts on. It was a hit, keyed by the data as the cell first took it, and
    showed its first output again (``print(nid())`` twice printed 0, 0)."""
    for _ in range(2):  # the second time after a restart: hits but the last
        step_cell(ip, "", "import itertools\nc = itertools.count()\n"
                          "def nid():\n    return next(c)")
        for _ in range(3):
            step_cell(ip, "", "print(nid())", cell_id="same" if ids else None)
        ip.run_cell("print(nid())")
        assert _out(capsys) == ["0", "1", "2", "3"]
        ip.restart()


def test_a_cell_that_only_deletes_a_name_deletes_it_on_a_hit(ip, capsys):
    """``del x`` alone in a step cell: its hit after a restart left ``x`` as the cell above
    made it, where plain Python has no ``x`` (a cell with definitions deleted them)."""
    for _ in range(2):  # the second time after a restart: hits
        step_cell(ip, "", "x = 1\ny = 2")
        step_cell(ip, "", "del x")
        assert "x" not in ip.user_ns and ip.user_ns["y"] == 2
        ip.restart()


def test_an_iterator_made_by_a_step_and_consumed_by_another_after_a_restart(ip, session, capsys):
    for _ in range(2):  # the second time: a fresh kernel, everything cached
        step_cell(ip, "", "I = iter([2, 4, 6])")
        for _ in range(3):
            step_cell(ip, "", "print(next(I))")
        assert _out(capsys) == ["2", "4", "6"]
        ip.restart()


def test_a_generator_is_never_a_stale_hit(ip, session, capsys):
    step_cell(ip, "", "G = (x * 2 for x in range(1, 4))")
    for _ in range(3):
        step_cell(ip, "", "print(next(G))")
    assert _out(capsys) == ["2", "4", "6"]
    rec = session.steps["print_next_G"]
    assert "cannot be hashed" in (rec.uncacheable_reason or "")  # visibly uncacheable


def test_a_cell_run_again_after_a_plain_cell_changed_the_style_draws_again(ip, session, capsys):
    pytest.importorskip("matplotlib")
    ip.run_cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt")
    plot = "fig = plt.figure()\nprint(plt.rcParams['font.size'])\nplt.close(fig)"
    count = "n = len([1, 2, 3])\nprint(n)"  # neither plots nor depends on the style
    step_cell(ip, "", plot)
    step_cell(ip, "", count)
    ip.run_cell("plt.rcParams.update({'font.size': 18})")  # a plain cell: not a step
    step_cell(ip, "", plot)
    step_cell(ip, "", count)
    assert _out(capsys) == ["10.0", "3", "18.0", "3"]
    assert session.steps["fig"].state == "done"
    assert any("matplotlib's rcParams are not what they were" in n
               for n in session.steps["fig"].notes)
    assert session.steps["n"].state == "cached"
    step_cell(ip, "", plot)  # nothing changed since: a hit
    assert session.steps["fig"].state == "cached" and _out(capsys) == ["18.0"]
    ip.run_cell("plt.rcParams.update({'font.size': 10})")  # back as it was
    step_cell(ip, "", plot)
    assert _out(capsys) == ["10.0"]


def test_the_same_plotting_cell_under_two_styles_keeps_an_entry_for_each(ip, session, capsys):
    pytest.importorskip("matplotlib")
    ip.run_cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt")
    plot = "fig = plt.figure()\nprint(plt.rcParams['font.size'])\nplt.close(fig)"
    for again in (False, True):  # the second time: both are hits, none replaced the other
        for size in (10, 18):
            ip.run_cell(f"plt.rcParams.update({{'font.size': {size}}})")
            step_cell(ip, "", plot)
            assert _out(capsys) == [f"{size}.0"]
            assert session.steps["fig"].state == ("cached" if again else "done")
    ip.run_line_magic("flowyml", "why fig")  # under font size 18: its own entry
    assert "step 'fig' will be a cache hit" in capsys.readouterr().out
    ip.run_cell("plt.rcParams.update({'font.size': 12})")  # a third style, never run
    ip.run_line_magic("flowyml", "why fig")
    assert "matplotlib's rcParams are not what they were" in capsys.readouterr().out
    ip.run_cell("plt.rcParams.update({'font.size': 10})")


def test_a_backend_a_cached_cell_switched_to_is_switched_to_again(ip, capsys):
    matplotlib = pytest.importorskip("matplotlib")
    import flowyml_jupyter

    def steps():
        return flowyml_jupyter._LOADED[id(ip)].session.steps

    ip.run_cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt")
    try:
        for again in (False, True):  # the second time: a fresh kernel, everything cached
            step_cell(ip, "", "import matplotlib\nmatplotlib.use('svg')\nswitched = True")
            step_cell(ip, "", "fig = plt.figure()\nprint(matplotlib.get_backend())\nplt.close(fig)")
            assert _out(capsys) == ["svg"]
            assert steps()["fig"].state == ("cached" if again else "done")
            assert matplotlib.get_backend() == "svg"
            ip.restart()
            ip.run_cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt")
        step_cell(ip, "", "fig = plt.figure()\nprint(matplotlib.get_backend())\nplt.close(fig)")
        assert [o.lower() for o in _out(capsys)] == ["agg"]  # another backend: it runs
        assert any("matplotlib's backend is not what it was" in n for n in steps()["fig"].notes)
    finally:
        matplotlib.use("Agg")


def test_a_style_cell_run_twice_is_a_hit_the_second_time(ip, session, capsys):
    pytest.importorskip("matplotlib")
    ip.run_cell("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt")
    style = "plt.rcParams.update({'font.size': 14})\nfig = plt.figure()\nplt.close(fig)"
    for _ in range(2):
        step_cell(ip, "", style)
    assert session.steps["fig"].state == "cached"  # it started from the setting it makes itself


def test_a_display_option_set_by_a_plain_cell_shows_again(ip, session, capsys):
    pytest.importorskip("pandas")
    ip.run_cell("import pandas as pd")
    show = "print(pd.DataFrame({'v': [1.23456789]}))"
    quiet = "m = pd.Series([1.5, 2.5]).mean()"  # shows nothing: display options do not matter
    step_cell(ip, "", show)
    step_cell(ip, "", quiet)
    ip.run_cell("pd.set_option('display.precision', 2)")
    step_cell(ip, "", show)
    step_cell(ip, "", quiet)
    out = _out(capsys)
    assert "1.234568" in out[1] and out[3].endswith("1.23")
    assert session.steps["m"].state == "cached"
    # not a display option: it matters to any step
    ip.run_cell("pd.set_option('compute.use_numexpr', not pd.get_option('compute.use_numexpr'))")
    step_cell(ip, "", quiet)
    assert session.steps["m"].state == "done"
    assert any("pandas' options are not what they were" in n for n in session.steps["m"].notes)
    ip.run_cell("pd.reset_option('display.precision'); pd.reset_option('compute.use_numexpr')")


# -- real kernels --------------------------------------------------------------------------------

def _cells(edit: int) -> list[str]:
    """The notebook; ``edit`` is the literal changed between the runs."""
    return [
        "%%step\nimport random\nimport numpy as np\nrandom.seed(1)\nnp.random.seed(2)",
        "%%step\na = random.random()\nna = float(np.random.rand())",
        f"%%step\nb = random.random() * {edit}\nnb = float(np.random.rand())",
        "print(a, b, na, nb)",
        "%%step\nimport sys, os\nsys.path.insert(0, os.path.abspath('lib'))\n"
        "os.environ['TRUTH_FLAG'] = 'on'",
        "%%step\nimport pandas as pd\npd.set_option('display.max_rows', 7)\n"
        "import matplotlib\nimport matplotlib.pyplot as plt\nplt.style.use('ggplot')",
        "%%step\nos.chdir('data')",
        "import mylib_truth\nprint(mylib_truth.VALUE, os.environ['TRUTH_FLAG'], "
        "pd.get_option('display.max_rows'), plt.rcParams['axes.facecolor'], "
        "os.path.basename(os.getcwd()), open('x.txt').read())",
        "%%step\nc = random.random()\nprint(round(c, 6))",
        "I = iter([2, 4, 6])",
        "%%step\nprint(next(I))",
        "%%step\nprint(next(I))",
        "%%step\nprint(next(I))",
        "%%step\nr = sum(range(5), -1)\nprint(r)",
        "from numpy import *",
        "%%step\nr = sum(range(5), -1)\nprint(r)",
        # the same plotting cell twice, a plain cell changing the style between them
        "%%step\nfig = plt.figure()\nprint(plt.rcParams['font.size'])\nplt.close(fig)",
        "plt.rcParams.update({'font.size': 18})",
        "%%step\nfig = plt.figure()\nprint(plt.rcParams['font.size'])\nplt.close(fig)",
        # the same display cell twice, a plain cell changing a display option between them
        "%%step\nprint(pd.DataFrame({'v': [1.23456789]}))",
        "pd.set_option('display.precision', 2)",
        "%%step\nprint(pd.DataFrame({'v': [1.23456789]}))",
    ]


def _notebook(folder: Path, edit: int, flowyml: bool, ids: bool) -> Path:
    cells = _cells(edit)
    if not flowyml:
        cells = [c.split("\n", 1)[1] if c.startswith("%%step") else c for c in cells]
    nb = new_notebook(cells=[new_code_cell(s) for s in [
        "%load_ext flowyml" if flowyml else "pass", *cells]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if ids:
        for n, cell in enumerate(nb.cells):
            cell["id"] = f"cell-{n}"
    else:  # nbformat 4.4: no ids (what older files and many tools produce)
        nb.nbformat_minor = 4
        for cell in nb.cells:
            cell.pop("id", None)
    path = folder / f"nb-{uuid.uuid4().hex[:6]}.ipynb"
    nbformat.write(nb, path)
    return path


class _IdClient(NotebookClient):
    """nbclient, sending each cell's id the way JupyterLab does (``metadata.cellId``)."""

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._cell_id = cell.get("id")
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()

        def execute(code, store_history=True, stop_on_error=True, **_):
            content = {"code": code, "silent": False, "store_history": store_history,
                       "user_expressions": {}, "allow_stdin": False, "stop_on_error": stop_on_error}
            msg = kc.session.msg("execute_request", content, metadata={"cellId": self._cell_id})
            kc.shell_channel.send(msg)
            return msg["header"]["msg_id"]

        kc.execute = execute
        return kc


def _run(path: Path, ids: bool) -> list[str]:
    """Each cell's printed text (status lines left out), from a fresh kernel."""
    nb = nbformat.read(path, as_version=4)
    client = (_IdClient if ids else NotebookClient)(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    shown = []
    for cell in nb.cells[1:]:
        text = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
        errors = [o.evalue for o in cell.outputs if o.output_type == "error"]
        shown.append(text + "".join(f"ERROR {e}" for e in errors))
    return shown


@pytest.mark.slow
@pytest.mark.parametrize("ids", [False, True], ids=["nbformat 4.4, no cell ids", "cell ids"])
def test_an_edited_notebook_in_a_fresh_kernel_shows_what_plain_python_shows(tmp_path, monkeypatch, ids):
    pytest.importorskip("numpy")
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mylib_truth.py").write_text("VALUE = 42\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.txt").write_text("in data")

    first = _run(_notebook(tmp_path, 1, flowyml=True, ids=ids), ids)
    assert first == _run(_notebook(tmp_path, 1, flowyml=False, ids=ids), ids)
    plain = _run(_notebook(tmp_path, 2, flowyml=False, ids=ids), ids)
    edited = _run(_notebook(tmp_path, 2, flowyml=True, ids=ids), ids)
    assert edited == plain
    # what it shows, spelled out: the numbers of a seeded run, the state the cached cells set
    numbers = [float(x) for x in plain[3].split()]
    assert numbers[1] == pytest.approx(0.8474337369372327 * 2)
    assert plain[7].split() == ["42", "on", "7", "#E5E5E5", "data", "in", "data"]
    assert plain[10:13] == ["2\n", "4\n", "6\n"] and plain[13] == "9\n" and plain[15] == "10\n"
    assert (plain[16], plain[18]) == ("10.0\n", "18.0\n")
    assert "1.234568" in plain[19] and "1.23\n" in plain[21]


def test_a_cached_cell_that_extends_sys_path_and_imports_from_it(ip, session, tmp_path, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "pkgdir").mkdir()
    (tmp_path / "pkgdir" / "mylib_truth_path.py").write_text("VALUE = 7\n")
    body = f"import sys\nsys.path.insert(0, {str(tmp_path / 'pkgdir')!r})\nimport mylib_truth_path\nv = 1"
    step_cell(ip, "", body)
    ip.restart()  # as in a new process: the path and the module are gone
    sys.path.remove(str(tmp_path / "pkgdir"))
    del sys.modules["mylib_truth_path"]
    step_cell(ip, "", body)
    import flowyml_jupyter

    rec = flowyml_jupyter._LOADED[id(ip)].session.steps["v"]
    assert rec.state == "cached", rec.error
    assert ip.run_cell("print(mylib_truth_path.VALUE)").success
    assert sys.path[0] == str(tmp_path / "pkgdir")


def test_names_read_through_strings_that_code_evaluates(ip, session, capsys):
    """``display('df1')`` (a helper that evals its arguments, as in the Python Data Science
    Handbook), ``df.query('a > @k')`` and ``eval('k * 10')`` read names from strings."""
    pytest.importorskip("pandas")
    ip.run_cell("class show:\n    def __init__(self, *args):\n        self.args = args\n"
                "    def __repr__(self):\n        return ' '.join(repr(eval(a)) for a in self.args)")
    ip.run_cell("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2, 3]})")
    capsys.readouterr()
    for k in (1, 2):
        ip.run_cell(f"k = {k}")
        step_cell(ip, "", "print(show('k', 'k + 1'))")
        step_cell(ip, "", "print(len(df.query('a > @k')))")
        step_cell(ip, "", "print(eval('k * 10'))")
    assert _out(capsys) == ["1 2", "2", "10", "2 3", "1", "20"]


def test_a_function_restored_by_a_hit_warns_from_the_line_it_has_in_the_cell(ip, capsys):
    import linecache
    import warnings

    body = "import warnings\n\n\ndef careful():\n    warnings.warn('careful')\n    return 1\n\n" \
           "x = 1"
    seen = []
    for _ in range(2):  # ran, then (a fresh kernel) a hit that restores the def
        step_cell(ip, "", body)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ip.run_cell("careful()")
        seen.append((caught[0].filename, caught[0].lineno))
        ip.restart()
    (ran_file, ran_line), (hit_file, hit_line) = seen
    assert ran_file.split("-")[0] == hit_file.split("-")[0]  # the same kind of name
    assert hit_line == ran_line == 5  # the line in the cell's body, as when the cell ran
    assert "flowyml-definitions" not in hit_file
    assert linecache.getline(hit_file, hit_line).strip() == "warnings.warn('careful')"


def _cells_notebook(folder: Path, cells: list[str], flowyml: bool) -> Path:
    """A notebook of ``cells`` (``%%step`` ones as plain cells when not ``flowyml``), written
    to ``folder`` under a new name."""
    source = cells if flowyml else [c.split("\n", 1)[1] if c.startswith("%%step") else c
                                    for c in cells]
    nb = new_notebook(cells=[new_code_cell(s) for s in
                             ["%load_ext flowyml" if flowyml else "pass", *source]])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / f"nb-{uuid.uuid4().hex[:6]}.ipynb"
    nbformat.write(nb, path)
    return path


def _displays(path: Path, allow_errors: bool = False) -> tuple[list[list[tuple[str, ...]]], list[str]]:
    """From a fresh kernel: per cell after the first, (mime types, text/plain) of each thing
    it displayed (the status widget left out); and each step cell's status line."""
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    shown, status = [], []
    for cell in nb.cells[1:]:
        items = []
        for out in cell.outputs:
            if out.output_type == "error":
                items.append(("error", out.evalue))
            elif out.output_type in ("display_data", "execute_result"):
                if WIDGET in out.data:
                    status.append(out.data.get("text/plain", ""))
                    continue
                items.append((*sorted(out.data), out.data.get("text/plain", "")))
        shown.append(items)
    return shown, status


@pytest.mark.slow
def test_display_formatters_a_cached_cell_set_are_set_again(tmp_path, monkeypatch):
    """sympy's ``init_printing()`` registers IPython display printers (and sets ``_repr_png_``
    on its classes); ``set_matplotlib_formats('svg')`` swaps the figure printers. After a
    restart, with both cells cached, later cells must show what plain Python shows: the
    sympy cell runs again (printers cannot be stored), the figure-format cell is a hit whose
    printers are registered again."""
    pytest.importorskip("sympy")
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%step\nimport sympy\nsympy.init_printing()\nx = sympy.symbols('x')",
             "x**2 + 1",
             "%%step\nfrom matplotlib_inline.backend_inline import set_matplotlib_formats\n"
             "set_matplotlib_formats('svg')\nsvg = True",
             "import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"]

    plain, _ = _displays(_cells_notebook(tmp_path, cells, flowyml=False))
    assert "image/png" in plain[1][0] and "image/svg+xml" in plain[3][0]
    path = _cells_notebook(tmp_path, cells, flowyml=True)
    first, _ = _displays(path)
    again, status = _displays(path)  # a fresh kernel, the cache warm
    assert first == plain and again == plain
    assert "cached" not in status[0]  # the printers it registers cannot be stored: it runs
    assert "cached" in status[1]  # figure formats are data: a hit registers them again


@pytest.mark.slow
def test_the_inline_backends_figure_format_a_cached_cell_set_holds_after_a_restart(tmp_path, monkeypatch):
    """``%config InlineBackend.figure_format = 'svg'`` (most often 'retina') in a notebook's
    first cell is kept in the shell's configuration; the backend registers its figure
    printers from there when the first figure is drawn. After a restart that cell is a hit:
    a new plot cell must still show SVG as plain Python does, and editing the setting back
    to PNG must re-run the plot cell that showed SVG (what it showed was drawn under it).
    The same for ``set_matplotlib_formats('svg')`` in the cell that first loads
    matplotlib."""
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    config = "%%step\nimport matplotlib.pyplot as plt\n%config InlineBackend.figure_format = 'svg'"
    plot = "%%step\nplt.plot([1, 2])\nplt.show()"
    _displays(_cells_notebook(tmp_path, [config, plot], flowyml=True))

    def mimes(shown: list[list[tuple[str, ...]]]) -> list[list[tuple[str, ...]]]:
        return [[item[:-1] for item in cell] for cell in shown]

    # a restart, and a new plot cell
    edited = [config, "%%step\nplt.plot([2, 1])\nplt.show()"]
    plain, _ = _displays(_cells_notebook(tmp_path, edited, flowyml=False))
    assert mimes(plain)[1] == [("image/svg+xml", "text/plain")]
    again, status = _displays(_cells_notebook(tmp_path, edited, flowyml=True))
    assert "cached" in status[0]
    assert mimes(again) == mimes(plain)
    # the setting edited back: the unchanged plot cell is drawn again, as PNG
    edited = [config.replace("'svg'", "'png'"), plot]
    plain, _ = _displays(_cells_notebook(tmp_path, edited, flowyml=False))
    again, status = _displays(_cells_notebook(tmp_path, edited, flowyml=True))
    assert mimes(plain)[1] == [("image/png", "text/plain")]
    assert mimes(again) == mimes(plain)
    assert "cached" not in status[1] and "figure settings" in status[1]

    formats = ("%%step\nimport matplotlib.pyplot as plt\n"
               "from matplotlib_inline.backend_inline import set_matplotlib_formats\n"
               "set_matplotlib_formats('svg')")
    _displays(_cells_notebook(tmp_path, [formats, plot], flowyml=True))
    edited = [formats, "%%step\nplt.plot([3, 1])\nplt.show()"]
    plain, _ = _displays(_cells_notebook(tmp_path, edited, flowyml=False))
    again, status = _displays(_cells_notebook(tmp_path, edited, flowyml=True))
    assert "cached" in status[0]
    assert mimes(plain)[1] == [("image/svg+xml", "text/plain")] and mimes(again) == mimes(plain)


def test_a_cell_registering_a_display_printer_runs_every_time(ip, session, capsys):
    ip.run_cell("class Money:\n    def __init__(self, v):\n        self.v = v")
    body = ("get_ipython().display_formatter.formatters['text/plain'].for_type(\n"
            "    Money, lambda m, p, cycle: p.text(f'${m.v:.2f}'))\nprinter_set = True")
    try:
        for _ in range(2):
            step_cell(ip, "", body)
            assert session.steps["printer_set"].state == "done"
        assert any("IPython.display_formatters" in n and "cannot be stored" in n
                   for n in session.steps["printer_set"].notes)
        step_cell(ip, "", "m = Money(3)\nm")
        assert "$3.00" in capsys.readouterr().out
    finally:
        ip.display_formatter.formatters["text/plain"].pop(ip.user_ns["Money"], None)


@pytest.mark.slow
def test_lambdas_and_closures_a_cell_made_are_stored_and_read_the_live_notebook(tmp_path, monkeypatch):
    """An output holding a function made in the notebook (a closure a notebook function
    returned, ``defaultdict(lambda: 0)``) could not be pickled, so its cell ran again after
    every restart. It is stored now, and after a restart the function reads the notebook's
    globals as they are, as plain Python's would: ``scale`` changed by a later cell counts."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["scale = 2",
             "%%step\ndef make(n):\n    return lambda x: x * n * scale\ntimes3 = make(3)",
             "%%step\nfrom collections import defaultdict\ncounts = defaultdict(lambda: 0)\n"
             "for word in 'a b a'.split():\n    counts[word] += 1",
             "%%step\nprint(times3(1), dict(counts))",
             "scale = 10\ncounts['c'] += 1\nprint(times3(1), sorted(counts.items()))"]

    plain = _run(_cells_notebook(tmp_path, cells, flowyml=False), ids=False)
    path = _cells_notebook(tmp_path, cells, flowyml=True)
    first = _run(path, ids=False)
    _, status = _displays(path)  # a fresh kernel, the cache warm
    again = _run(path, ids=False)
    assert plain == first == again
    assert plain[3:] == ["6 {'a': 2, 'b': 1}\n", "30 [('a', 2), ('b', 1), ('c', 1)]\n"]
    assert all("cached" in line for line in status), status  # the reader too: not "changed"


@pytest.mark.slow
def test_a_display_formatter_raising_is_shown_again_on_a_hit(tmp_path, monkeypatch):
    """A cell that succeeds although a display formatter raised (the Handbook's ``display``
    class evaluating ``df1.append(df2)``, gone from pandas 2): plain Python shows the
    formatter's traceback, and so must the hit after a restart (it showed nothing)."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["class Shown:\n    def _repr_html_(self):\n        return {}.missing\n"
             "    def __repr__(self):\n        return 'Shown()'",
             "%%step\nvalue = 41\nShown()"]

    plain, _ = _displays(_cells_notebook(tmp_path, cells, flowyml=False), allow_errors=True)
    path = _cells_notebook(tmp_path, cells, flowyml=True)
    first, _ = _displays(path, allow_errors=True)
    again, status = _displays(path, allow_errors=True)
    assert ("error", "'dict' object has no attribute 'missing'") in plain[1]
    assert first == plain and again == plain, (plain, again)
    assert "cached" in status[0]
