"""SPEC §9 / issue 19 (found by the widened corpus, benchmarks/corpus/SOURCES.md): after a
restart, a notebook whose cells are all cache hits must leave the kernel as plain Python
would, and a hit must never show what an earlier run of a resource left behind.

Real kernels through nbclient: what a library holds at import (which matplotlib backend,
numpy's print options) only exists in a fresh process, and the notebooks found it there.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .kernel_runs import printed, run_cells, statuses, three_runs


def _run(folder: Path, cells: list[str], flowyml: bool = True) -> tuple[list[str], list[str]]:
    """Each cell's printed text and its status line, from a fresh kernel in ``folder``."""
    runs = run_cells(folder, cells, flowyml)
    return [printed(o, errors=True, streams=("stdout",)) for o in runs], statuses(runs)


def _three(folder: Path, cells: list[str]) -> tuple[list[str], list[str], list[str], list[str]]:
    """Plain, flowyml, flowyml in a fresh kernel (as :func:`_run` sees them), and the
    status lines of the last."""
    return three_runs(folder, cells, lambda o: printed(o, errors=True, streams=("stdout",)), allow_errors=True)


@pytest.mark.slow
def test_a_backend_chosen_by_the_cell_that_imports_matplotlib_is_chosen_again_on_a_hit(
        tmp_path, monkeypatch):
    """``import matplotlib; matplotlib.use('svg')`` in the notebook's first step (as
    AnatomyOfMatplotlib's ``matplotlib.use('nbagg')``): matplotlib was not loaded before the
    step, so the backend it chose must be compared with the one matplotlib starts with --
    else the hit after a restart leaves the kernel's backend, and every plotting cell after
    it misses ("matplotlib's backend is not what it was")."""
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    cells = ["%%step\nimport sys\nprint('matplotlib' in sys.modules)\nimport matplotlib\n"
             "matplotlib.use('svg')\nimport matplotlib.pyplot as plt",
             "%%step\nfig = plt.figure()\nprint(matplotlib.get_backend())\nplt.close(fig)"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == ["False\n", "svg\n"]
    assert all(": cached" in s for s in states), states


@pytest.mark.slow
def test_print_options_set_by_the_cell_that_imports_numpy_are_set_again_on_a_hit(
        tmp_path, monkeypatch):
    """``import numpy as np; np.set_printoptions(precision=2)`` in a first step (Python for
    Data Analysis opens every chapter so): the options must come back with the hit."""
    pytest.importorskip("numpy")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%step\nimport numpy as np\nnp.set_printoptions(precision=2, suppress=True)",
             "print(np.array([1 / 3]))"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == ["", "[0.33]\n"]
    assert ": cached" in states[0], states


@pytest.mark.slow
def test_rows_a_cell_inserts_through_a_connection_an_earlier_cell_opened_are_there_after_a_restart(
        tmp_path, monkeypatch):
    """Python for Data Analysis, chapter 6: one cell connects to an SQLite file (the
    connection cannot be stored, so it runs again after a restart), the next inserts rows
    through it, a third selects them; the file is removed at the end. The insert writes the
    file in C, through a handle it did not open: a hit on it inserted nothing, and the select
    showed an empty table."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%step\nimport sqlite3\ncon = sqlite3.connect('my.sqlite')\n"
             "con.execute('CREATE TABLE t (a INTEGER, b TEXT)')\ncon.commit()",
             "%%step\ndata = [(1, 'x'), (2, 'y')]\n"
             "con.executemany('INSERT INTO t VALUES (?, ?)', data)\ncon.commit()",
             "%%step\ncursor = con.execute('SELECT * FROM t')\nprint(cursor.fetchall())",
             "con.close()\nimport os\nos.remove('my.sqlite')"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == ["", "", "[(1, 'x'), (2, 'y')]\n", ""]
    assert "my.sqlite, which it writes, changed" in states[1], states


@pytest.mark.slow
def test_a_cell_keeping_a_connection_to_a_database_file_is_a_hit_and_reads_it_again_when_edited(
        tmp_path, monkeypatch):
    """The pandas cookbook, chapter 9: ``con = sqlite3.connect('weather.sqlite')`` and
    ``pd.read_sql(..., con)`` in one cell, more queries through ``con`` in later ones. The
    connection could not be stored, so those cells ran after every restart. It is stored as
    its file and connected again on load; the file is what the cells using it read, so an
    edited database re-runs them and they show its new rows, as plain Python does."""
    import sqlite3

    pytest.importorskip("pandas")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    db = sqlite3.connect(tmp_path / "w.sqlite")
    db.execute("CREATE TABLE t (a INTEGER)")
    db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
    db.commit()
    cells = ["%%step\nimport sqlite3\nimport pandas as pd\ncon = sqlite3.connect('w.sqlite')\n"
             "df = pd.read_sql('SELECT * FROM t', con)\nprint(df.a.sum())",
             "%%step\nn = con.execute('SELECT count(*) FROM t').fetchone()[0]\nprint(n)"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == ["3\n", "2\n"]
    assert all(": cached" in s for s in states), states
    db.execute("INSERT INTO t VALUES (5)")
    db.commit()
    db.close()
    assert [printed(o) for o in run_cells(tmp_path, cells, False)] == ["8\n", "3\n"]
    runs = run_cells(tmp_path, cells)
    assert [printed(o) for o in runs] == ["8\n", "3\n"]
    assert all("w.sqlite changed" in s for s in statuses(runs)), statuses(runs)


@pytest.mark.slow
def test_a_file_kept_open_for_later_cells_is_a_hit_where_it_stood_and_reads_it_again_when_edited(
        tmp_path, monkeypatch):
    """The Python bootcamp's Files lesson: ``f = open('test.txt')`` in one cell, then
    ``f.readline()``, ``f.read()``, ``f.seek(0)`` in later ones, and ``g = open(...)`` read
    and closed in one cell. A file object could not be stored, so all of them ran after
    every restart. It is stored as its path, mode, encoding and position and opened again
    there on load; the file is what the cells using it read, so an edited file re-runs
    them and they show its new text, as plain Python does."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "t.txt").write_text("a\nb\nc\n")
    (tmp_path / "t.bin").write_bytes(bytes(range(6)))
    cells = ["%%step\nf = open('t.txt')\nb = open('t.bin', 'rb')",
             "%%step\nprint(repr(f.readline()), b.read(2))",
             "%%step\nprint(repr(f.read()), f.tell(), b.read(), b.tell())",
             "%%step\nf.seek(0)\nprint(f.readlines(), f.name, f.mode, f.encoding)",
             "%%step\ng = open('t.txt')\nhead = g.read(1)\ng.close()",
             "%%step\nprint(head, g.closed, g.name, g.mode)"]
    expected = ["'a\\n' b'\\x00\\x01'\n", "'b\\nc\\n' 6 b'\\x02\\x03\\x04\\x05' 6\n",
                "['a\\n', 'b\\n', 'c\\n'] t.txt r UTF-8\n", "", "a True t.txt r\n"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == ["", *expected]
    assert all(": cached" in s for s in states), states
    (tmp_path / "t.txt").write_text("x\ny\n")
    edited = ["'x\\n' b'\\x00\\x01'\n", "'y\\n' 4 b'\\x02\\x03\\x04\\x05' 6\n",
              "['x\\n', 'y\\n'] t.txt r UTF-8\n", "", "x True t.txt r\n"]
    assert [printed(o) for o in run_cells(tmp_path, cells, False)] == ["", *edited]
    runs = run_cells(tmp_path, cells)
    assert [printed(o) for o in runs] == ["", *edited]
    states = statuses(runs)
    assert not any(": cached" in s for s in states), states
    assert "t.txt changed" in states[0] and "t.txt changed" in states[4], states


@pytest.mark.slow
def test_a_file_kept_open_for_writing_is_a_hit_and_its_file_is_what_it_wrote(
        tmp_path, monkeypatch):
    """The Python bootcamp's Files lesson, second half: ``my_file = open('test.txt', 'w+')``
    in one cell, ``my_file.write(...)`` in the next, ``seek(0)`` and ``read()`` in a third,
    ``close()`` in a fourth, then the same with ``'a+'``. A file object open for writing
    could not be stored, so these cells ran after every restart. It is stored as its path,
    mode and position (flushed first) and opened again there without emptying the file, and
    the file it writes is kept with the entry of each cell writing through it, so a hit
    leaves the file and the object as the run did; an edit re-runs the cells after it."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))

    def cells(line: str) -> list[str]:
        return ["%%step\nmy_file = open('test.txt', 'w+')",
                f"%%step\nn = my_file.write({line!r})",
                "%%step\nmy_file.seek(0)\nprint(my_file.read(), n, my_file.mode)",
                "%%step\nmy_file.close()",
                "%%step\ng = open('test.txt', 'a+')\ng.write('\\nappended')",
                "%%step\ng.seek(0)\nprint(g.read())",
                "%%step\nb = open('raw.bin', 'wb')\nb.write(bytes(3))",
                "%%step\nb.write(b'xy')\nb.close()\n"
                "print(open('raw.bin', 'rb').read(), open('test.txt').read())"]

    plain, first, second, states = _three(tmp_path, cells("This is a new line"))
    assert plain == first == second == [
        "", "", "This is a new line 18 w+\n", "", "", "This is a new line\nappended\n", "",
        "b'\\x00\\x00\\x00xy' This is a new line\nappended\n"], (plain, first, second)
    assert all(": cached" in s for s in states), states
    (tmp_path / "test.txt").unlink()
    (tmp_path / "raw.bin").unlink()
    edited = cells("Another line")
    expected = [printed(o) for o in run_cells(tmp_path, edited, False)]
    assert expected[2] == "Another line 12 w+\n", expected
    runs = run_cells(tmp_path, edited)
    assert [printed(o) for o in runs] == expected
    states = statuses(runs)
    assert ": cached" in states[0] and ": cached" in states[6], states
    assert not any(": cached" in s for s in states[1:6]), states


@pytest.mark.slow
def test_a_cell_changing_a_file_another_cell_wrote_re_runs_when_that_cell_is_edited(
        tmp_path, monkeypatch):
    """A file opened to be changed (``'r+'``, ``'a+'``), not replaced: what the cell leaves
    in it depends on what was there. It counted as written only, and its hit put back the
    file as the first run left it: after an edit upstream, the notebook read the old text
    where plain Python reads the new one. Its content before is now one of its reads."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))

    def cells(first: str) -> list[str]:
        return [f"%%step\nwith open('notes.txt', 'w') as f:\n    f.write({first!r})",
                "%%step\nwith open('notes.txt', 'a+') as f:\n    f.write('second\\n')",
                "%%step\nwith open('notes.txt', 'r+') as f:\n    f.write('#')",
                "%%step\nprint(open('notes.txt').read())"]

    plain, first, second, states = _three(tmp_path, cells("first\n"))
    assert plain == first == second == ["", "", "", "#irst\nsecond\n\n"]
    assert all(": cached" in s for s in states), states
    edited = cells("FIRST\n")
    expected = [printed(o) for o in run_cells(tmp_path, edited, False)]
    assert expected[3] == "#IRST\nsecond\n\n"
    (tmp_path / "notes.txt").write_text("#irst\nsecond\n")  # as the earlier Run All left it
    runs = run_cells(tmp_path, edited)
    assert [printed(o) for o in runs] == expected
    states = statuses(runs)
    assert "notes.txt changed" in states[1] and "notes.txt changed" in states[2], states


@pytest.mark.slow
def test_a_functions_container_default_its_calls_fill_is_filled_again_by_a_hit(
        tmp_path, monkeypatch):
    """``def add(x, acc=[])``: the default list is shared by every call (Python's mutable
    default). The cells calling ``add`` were hits that filled nothing, so after a restart a
    later call returned ``[3]`` where plain Python returns ``[1, 2, 3]``. What its calls
    left in the default is set again by their hits; so is a ``memo={}`` cache's content."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = ["%%step\ndef add(x, acc=[]):\n    acc.append(x)\n    return acc",
             "%%step\nprint(add(1))", "%%step\nprint(add(2))",
             "%%step\ndef fib(n, memo={}):\n    if n not in memo:\n"
             "        memo[n] = n if n < 2 else fib(n - 1) + fib(n - 2)\n    return memo[n]",
             "%%step\nprint(fib(20))",
             "print(add(3), len(fib.__defaults__[0]))"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == ["", "[1]\n", "[1, 2]\n", "", "6765\n", "[1, 2, 3] 21\n"]
    assert all(": cached" in s for s in states[:5]), states


@pytest.mark.slow
def test_an_object_held_by_a_value_another_cell_made_stays_one_object_after_a_restart(
        tmp_path, monkeypatch):
    """Each step's outputs are stored apart: ``models = {'lr': lr}`` came back after a
    restart holding a copy of ``lr``, so when an edit upstream re-ran ``lr.fit(K)`` the
    dictionary still held the unfitted copy (``None`` where plain Python shows the
    coefficient); the same with ``parts = [A]`` then ``A += 2``, and with a closure ``f =
    make(m)`` whose ``m`` a later cell changed. An input an output holds is stored as a
    reference to it, and a closure over a value a cell changes is stored with it."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))

    def cells(k: int) -> list[str]:
        return ["%%step\nclass Est:\n    def __init__(self):\n        self.coef = None\n"
                "    def fit(self, k):\n        self.coef = k\n        return self",
                f"%%step\nK = {k}\nimport numpy as np\nA = np.zeros(2)",
                "%%step\nlr = Est()\nparts = [A]",
                "%%step\nmodels = {'lr': lr}\ndef make(est):\n    return lambda: est.coef\n"
                "coef = make(lr)",
                "%%step\nlr.fit(K)\nA += K",
                "%%step\nprint(models['lr'].coef, models['lr'] is lr, parts[0], coef())",
                "lr.coef = 7\nprint(coef(), models['lr'].coef)"]

    plain, first, second, states = _three(tmp_path, cells(2))
    assert plain == first == second, (plain, first, second)
    assert plain[5:] == ["2 True [2. 2.] 2\n", "7 7\n"], plain
    assert all(": cached" in s for s in states[:6]), states
    edited = cells(3)
    expected = [printed(o) for o in run_cells(tmp_path, edited, False)]
    assert expected[5:] == ["3 True [3. 3.] 3\n", "7 7\n"], expected
    assert [printed(o) for o in run_cells(tmp_path, edited)] == expected


@pytest.mark.slow
def test_a_numpy_view_another_cell_made_still_views_its_array_after_a_restart(
        tmp_path, monkeypatch):
    """``X, y = data[:, :2], data[:, 2]`` in one cell, ``X -= X.mean(axis=0)`` in another:
    plain Python changes ``data`` through the view. Stored apart, ``X`` came back from a
    hit as a copy, so after an edit downstream ``data`` kept its old numbers. A view into
    an input's memory is stored as its place in it and rebuilt into the input on a hit."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))

    def cells(k: int) -> list[str]:
        return ["%%step\nimport numpy as np\ndata = np.arange(12.0).reshape(4, 3)",
                "%%step\nX, y = data[:, :2], data[:, 2]\nrow = data[1]",
                f"%%step\nX -= X.mean(axis=0) * {k}\nrow[2] = {k}",
                "%%step\nprint(data.sum(), data[1].tolist(), y.tolist())"]

    plain, first, second, _ = _three(tmp_path, cells(1))
    assert plain == first == second, (plain, first, second)
    edited = cells(2)
    expected = [printed(o) for o in run_cells(tmp_path, edited, False)]
    got = run_cells(tmp_path, edited)
    assert [printed(o) for o in got] == expected
    assert ": cached" in statuses(got)[1], statuses(got)  # the view came from the cache


@pytest.mark.slow
def test_an_object_a_cell_took_from_another_value_is_still_in_it_after_a_restart(
        tmp_path, monkeypatch):
    """``ax = axes[0]``, ``m = models['lr']``, ``its = box.items`` in a cell of their own,
    then a change through it in another: plain Python changes the figure, the dictionary's
    model, the object's list. Stored apart, each came back from a hit as a copy, so after an
    edit downstream the figure kept its old title (a hit showing it) and ``models['lr']``
    stayed unfitted. An output found in an input (by key, index or attribute) is stored as
    its path there and found again on a hit; a figure holding the changed axes is a changed
    output too (it cannot be hashed by content)."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def cells(k: int) -> list[str]:
        return ["%%step\nimport matplotlib.pyplot as plt\nfig, axes = plt.subplots(1, 2)\n"
                "class Box:\n    def __init__(self):\n        self.items = [1]\n"
                "class Est:\n    coef = None\n    def fit(self, k):\n        self.coef = k\n"
                "box, models = Box(), {'lr': Est()}",
                "%%step\nax = axes[0]\nm = models['lr']\nits = box.items",
                f"%%step\nax.set_title('t{k}')\nm.fit({k})\nits.append({k})",
                "%%step\nprint([a.get_title() for a in fig.axes], models['lr'].coef, box.items)"]

    plain, first, second, states = _three(tmp_path, cells(1))
    assert plain == first == second, (plain, first, second)
    assert plain[3] == "['t1', ''] 1 [1, 1]\n", plain
    assert all(": cached" in s for s in states), states
    edited = cells(2)
    expected = [printed(o) for o in run_cells(tmp_path, edited, False)]
    assert expected[3] == "['t2', ''] 2 [1, 2]\n", expected
    got = run_cells(tmp_path, edited)
    assert [printed(o) for o in got] == expected
    assert ": cached" in statuses(got)[1], statuses(got)  # taken from the cache, not re-run


@pytest.mark.slow
def test_values_a_cell_writes_into_a_memory_map_are_in_the_file_after_a_restart(
        tmp_path, monkeypatch):
    """Python for Data Analysis, appendix A: ``mmap = np.memmap(..., mode='w+')``, ``section =
    mmap[:5]``, ``section[:] = ...; mmap.flush()``, then the file opened again. A hit on the
    slicing cell gave back a copy that writes nowhere, a hit on the writing cell wrote nothing:
    the file read back held zeros. (The book's file is 800 MB, over the bound of the files
    kept with an entry: so is this one.)"""
    pytest.importorskip("numpy")
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("FLOWYML_FILES_MAX", "64")
    cells = ["%%step\nimport numpy as np\n"
             "mm = np.memmap('mm.dat', dtype='float64', mode='w+', shape=(4, 3))",
             "%%step\nsection = mm[:2]",
             "%%step\nsection[:] = 7.0\nmm.flush()\ndel mm",
             "%%step\nmm = np.memmap('mm.dat', dtype='float64', shape=(4, 3))\nprint(mm.sum())",
             "del mm, section\nimport os\nos.remove('mm.dat')"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == ["", "", "", "42.0\n", ""]
    assert "mapped onto mm.dat" in states[1], states


def test_a_step_cell_with_a_syntax_error_shows_the_syntax_error_plain_python_shows(ip, capsys):
    """AnatomyOfMatplotlib leaves blanks for the reader to fill (``plt.plot(t, t, , t)``): as
    plain Python, the cell fails with ``SyntaxError`` naming its line, and nothing of it runs."""
    from .conftest import step_cell

    ip.run_cell("x = 0")
    result = step_cell(ip, "", "x = 1\nplt.plot(t, t, , t)")
    out = capsys.readouterr()
    text = out.out + out.err
    assert "SyntaxError" in text and "line 2" in text  # the body's line, as plain says
    assert "magics.py" not in text  # the user's error, not chained to flowyml's
    assert not result.success and ip.user_ns["x"] == 0


def test_cells_aggregating_a_groupby_are_hits_after_a_restart(ip, session, capsys):
    """Python for Data Analysis, chapter 10: ``grouped = tips.groupby([...])`` in one cell,
    aggregations of it in the next ones. Its first aggregation fills the GroupBy's caches,
    which moved its digest: that cell "changed grouped in place", and after a restart the
    cells aggregating it ran again."""
    pytest.importorskip("pandas")
    from .conftest import before_and_after_a_restart

    cells = ["import numpy as np\nimport pandas as pd\n"
             "df = pd.DataFrame({'k': list('abab'), 'j': list('xxyy'), 'v': [1.0, 2, 3, 4]})",
             "grouped = df.groupby(['k', 'j'])",
             "gv = grouped['v']\nprint(gv.agg('mean').to_dict())",  # shares grouped's grouper
             "print(gv.agg([('average', 'mean'), ('stdev', np.std)]).shape)",  # fills more
             "r = grouped[['v']].agg(['count', 'max'])\nprint(r.shape)",
             "print(grouped[['v']].agg([('Average', 'mean')]).shape)"]
    rounds = before_and_after_a_restart(ip, capsys, cells)
    for _, out, _ in rounds:
        assert out == ["{('a', 'x'): 1.0, ('a', 'y'): 3.0, ('b', 'x'): 2.0, ('b', 'y'): 4.0}",
                       "(4, 2)", "(4, 2)", "(4, 1)"]
    states = rounds[1][2]
    assert set(states.values()) == {"cached"}, states  # the second time: a fresh kernel


def test_a_hit_on_a_cell_deleting_names_an_earlier_cell_bound_deletes_them(ip, session):
    """NumPy's tutorial "Save and load arrays": ``x = ...; y = ...`` in one cell, ``del x, y``
    in the next, then ``%whos`` to show they are gone. The hit on the ``del`` cell after a
    restart left them in the namespace (the cell binds nothing and defines nothing, and the
    names it deletes were only dropped along with the definitions a hit runs again), so the
    cells after it saw the values plain Python had deleted."""
    import flowyml_jupyter

    from .conftest import step_cell

    for again in (False, True):
        assert step_cell(ip, "", "x = [1, 2]\ny = [3, 4]").success
        assert step_cell(ip, "", "del x, y").success
        assert "x" not in ip.user_ns and "y" not in ip.user_ns, again
        assert not ip.run_cell("x").success  # NameError, as in plain Python
        states = {n: r.state for n, r in flowyml_jupyter._LOADED[id(ip)].session.steps.items()}
        assert states == ({"x": "cached", "x_y": "cached"} if again else
                          {"x": "done", "x_y": "done"}), states
        ip.restart()


def test_a_cell_after_one_deleting_a_name_does_not_get_the_deleted_value(ip, session, capsys):
    """After ``del x`` in a step, a later cell reading ``x`` (catching the ``NameError``, or
    asking ``'x' in globals()``) got the value the step before the ``del`` made, loaded back
    from the cache: plain Python has no ``x`` there."""
    from .conftest import before_and_after_a_restart

    cells = ["x = [1, 2]", "del x",
             "try:\n    print(x)\nexcept NameError:\n    print('gone')"]
    rounds = before_and_after_a_restart(ip, capsys, cells)
    for errors, out, _ in rounds:
        assert not errors and out == ["gone"], (errors, out)
    assert set(rounds[1][2].values()) == {"cached"}, rounds[1][2]
    note = next(r.notes for n, r in session.steps.items() if n not in ("x", "x_2"))
    assert "ran without 'x', which is not defined (never made, or deleted)" in note, note


@pytest.mark.slow
def test_a_cell_that_queries_then_closes_its_connection_is_a_hit_and_reads_the_file_again_when_edited(
        tmp_path, monkeypatch):
    """Data Carpentry's SQL lesson (and most sqlite3 tutorials): ``con = sqlite3.connect(...)``,
    ``cur = con.cursor()``, queries, ``con.close()`` in one cell. A closed connection and a
    cursor of one could not be stored (nor the cursor hashed), so every such cell ran after
    each restart. A closed connection is stored as a closed one, a cursor of a closed
    connection as what it still shows (its columns, row count, last row id): later cells
    see them as plain Python does, and an edited database still re-runs the cell."""
    import sqlite3

    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    db = sqlite3.connect(tmp_path / "s.sqlite")
    db.execute("CREATE TABLE species (id TEXT, genus TEXT)")
    db.executemany("INSERT INTO species VALUES (?, ?)", [("AB", "Amphispiza"), ("DM", "Dipodomys")])
    db.commit()
    cells = ["%%step\nimport sqlite3\ncon = sqlite3.connect('s.sqlite')\ncur = con.cursor()\n"
             "for row in cur.execute('SELECT * FROM species'):\n    print(row)\ncon.close()",
             "%%step\nprint(cur.description, cur.rowcount, cur.lastrowid, cur.arraysize)\n"
             "for use in (cur.fetchone, lambda: con.execute('SELECT 1'), con.cursor):\n"
             "    try:\n        use()\n    except sqlite3.ProgrammingError as e:\n"
             "        print(e)",
             "%%step\nc2 = sqlite3.connect('s.sqlite')\nk = c2.cursor()\n"
             "k.execute(\"UPDATE species SET genus = genus WHERE id = 'DM'\")\n"
             "n = k.rowcount\nc2.commit()\nk.close()\nc2.close()\nprint(n)",
             "%%step\nprint(k.rowcount, k.description, k.lastrowid)\ntry:\n    k.fetchall()\n"
             "except sqlite3.ProgrammingError as e:\n    print(e)"]
    closed = "Cannot operate on a closed database.\n"
    expected = ["('AB', 'Amphispiza')\n('DM', 'Dipodomys')\n",
                "(('id', None, None, None, None, None, None), ('genus', None, None, None, None, "
                f"None, None)) -1 0 1\n{closed * 3}",
                "1\n", "1 None 0\nCannot operate on a closed cursor.\n"]
    plain, first, second, states = _three(tmp_path, cells)
    assert plain == first == second == expected
    assert all(": cached" in s for s in states[:2] + states[3:]), states
    db.execute("INSERT INTO species VALUES ('PE', 'Peromyscus')")
    db.commit()
    db.close()
    runs = run_cells(tmp_path, cells)
    assert printed(runs[0]) == expected[0] + "('PE', 'Peromyscus')\n"
    assert "s.sqlite changed" in statuses(runs)[0], statuses(runs)
