"""SPEC §7: the cells people actually write, each with a bare ``%%step`` on top.

Every case runs a list of cells three ways in a real IPython shell: plain (no flowyml), with
``%%step`` on every cell, and again with ``%%step`` after a restart (fresh namespace, same
cache). The namespace values must be the same all three times, and the third run must be
all cache hits.
"""

from __future__ import annotations

import pytest

from flowyml.hashing import hash_value

from .conftest import step_cell

PLAIN = "plain"


def _run(ip, cells, stepped=True):
    for cell in cells:
        if isinstance(cell, tuple):  # (PLAIN, source): an ordinary cell in every run
            res = ip.run_cell(cell[1])
        elif stepped:
            res = step_cell(ip, "", cell)
        else:
            res = ip.run_cell(cell)
        assert res.success, f"cell failed: {cell!r}: {res.error_before_exec or res.error_in_exec}"


def _snapshot(ip, names):
    return {n: hash_value(ip.user_ns[n]) for n in names}


def _three_runs(ip, session, cells, names):
    """Plain, stepped, restarted + stepped: same values; the last run all hits."""
    _run(ip, cells, stepped=False)
    plain = _snapshot(ip, names)
    ip.restart()
    _run(ip, cells)
    first = _snapshot(ip, names)
    ip.restart()
    import flowyml_jupyter

    session = flowyml_jupyter._LOADED[id(ip)].session
    _run(ip, cells)
    second = _snapshot(ip, names)
    assert first == plain
    assert second == plain
    states = {name: rec.state for name, rec in session.steps.items()}
    assert set(states.values()) == {"cached"}, states
    return session


SCOPING = [
    (PLAIN, "import os, tempfile\npath = os.path.join(tempfile.gettempdir(), 'flowyml-scoping.txt')"),
    "xs = [1, 2, 3]",
    "total = 0\nfor v in xs:\n    total += v",
    "with open(path, 'w') as fh:\n    fh.write('hello')\nsize = os.path.getsize(path)",
    "try:\n    r = 1 / 0\nexcept ZeroDivisionError as e:\n    msg = str(e)",
    "if (n := len(xs)) > 2:\n    big = n\nelse:\n    big = 0",
    "squares = [x * x for x in xs]\nf = lambda q: q + 1\nshifted = list(map(f, xs))",
    "def double(x):\n    return 2 * x\nclass Box:\n    size = 3\nd = double(total) + Box.size",
    "pairs = [(1, 'a'), (2, 'b')]\nfor i, (num, letter) in enumerate(pairs):\n    last = letter",
    "def bump():\n    global counter\n    counter = 10\nbump()\ncount2 = counter * 2",
    "tmp = 5\nkept = tmp + 1\ndel tmp",
]


def test_every_binding_form_is_a_local_not_an_input(ip, session):
    session = _three_runs(ip, session, SCOPING,
                          ["total", "size", "msg", "big", "squares", "shifted", "d", "last",
                           "count2", "kept"])
    params = {name: rec.params for name, rec in session.steps.items()}
    assert params["total"] == ["xs"]
    assert params["size"] == ["path"]  # fh is the with-target: bound, not read
    assert params["r"] == []  # named after its first value, r (bound on one path only)
    assert params["n"] == ["xs"]
    assert params["squares"] == ["xs"]
    assert params["counter"] == []  # bump() binds it through `global`
    assert "tmp" not in ip.user_ns


def test_rebinding_reads_the_closest_version_above(ip, session):
    cells = ["df = list(range(10))", "df = [x for x in df if x % 2]", "n1 = len(df)",
             "df = df[:2]", "n2 = len(df)", "X = 1", "y = X + 1", "X = 100", "z = X + 1"]
    session = _three_runs(ip, session, cells, ["df", "n1", "n2", "X", "y", "z"])
    assert ip.user_ns["n1"] == 5 and ip.user_ns["n2"] == 2
    assert ip.user_ns["y"] == 2 and ip.user_ns["z"] == 101
    assert sorted(session.steps) == sorted(["df", "df_2", "n1", "df_3", "n2", "X", "y", "X_2", "z"])
    makes = {row.name: row.makes for row in session.status()}
    assert makes["df"] == "df" and makes["df_2"] == "df@2" and makes["df_3"] == "df@3"
    assert makes["X_2"] == "X@2"
    edges = {(a, b): d.get("label", d) for a, b, d in session.graph().edges(data=True)}
    assert ("df_2", "n1") in edges and ("df_3", "n2") in edges and ("df", "n1") not in edges
    assert ("X", "y") in edges and ("X_2", "z") in edges


def test_rerunning_a_rebinding_cell_reads_the_version_above_it(ip, session):
    step_cell(ip, "", "x = 1", cell_id="a")
    step_cell(ip, "", "x = x + 1", cell_id="b")
    step_cell(ip, "", "y = x * 10", cell_id="c")
    assert ip.user_ns["y"] == 20
    step_cell(ip, "", "x = x + 1", cell_id="b")  # run again: reads x from cell a, a hit
    assert ip.user_ns["x"] == 2
    assert session.steps["x_2"].state == "cached"


def test_mutation_makes_a_new_version_and_keeps_the_upstream_value(ip, session):
    cells = [
        (PLAIN, "def sort_in_place(values):\n    values.sort()"),
        "items = [3, 1]",
        "items.append(2)",
        "d = {'a': 1}",
        "d['b'] = 2",
        "del d['a']",
        "sort_in_place(items)",  # only re-hashing the inputs can see this one
        "count = len(items) + len(d)",
    ]
    session = _three_runs(ip, session, cells, ["items", "d", "count"])
    assert ip.user_ns["items"] == [1, 2, 3] and ip.user_ns["d"] == {"b": 2}
    outputs = {name: rec.outputs for name, rec in session.steps.items()}
    assert outputs["items_2"] == ["items"] and outputs["d_2"] == ["d"]
    assert outputs["sort_in_place_items"] == ["items"]
    # the first step's cached value is still what it made
    entry = session.store.lookup(session.steps["items"].cache_key)
    assert session.store.load(entry)["items"] == [3, 1]


def test_imports_and_definitions_survive_a_hit_in_a_fresh_kernel(ip, session):
    cells = ["import math\nfrom collections import Counter\ndef area(r):\n    return math.pi * r * r\n"
             "class Shape:\n    sides = 4\nunit = 1",
             "a = area(2) + Shape.sides + Counter('aab')['a']"]
    _three_runs(ip, session, cells, ["a", "unit"])
    assert ip.user_ns["math"].pi > 3 and callable(ip.user_ns["area"])


def test_display_cells_are_cached_leaves_and_replay_their_output(ip, session, capsys):
    cells = ["xs = [1, 2]", "xs", "print('len', len(xs))"]
    _run(ip, cells)
    assert {r.state for r in session.steps.values()} == {"done"}
    assert sorted(session.steps) == ["print_len_len_xs", "xs", "xs_2"]
    graph = session.graph()
    assert graph.out_degree("print_len_len_xs") == 0 and graph.out_degree("xs_2") == 0
    first = capsys.readouterr().out
    ip.restart()
    import flowyml_jupyter

    session = flowyml_jupyter._LOADED[id(ip)].session
    _run(ip, cells)
    again = capsys.readouterr().out
    assert {r.state for r in session.steps.values()} == {"cached"}
    assert "len 2" in first and "len 2" in again
    assert "[1, 2]" in again  # the last expression's value, replayed


def test_replay_over_the_bound_is_not_kept_and_status_says_so(ip, session, monkeypatch):
    session.replay_max = 100
    step_cell(ip, "", "print('x' * 500)\nbig = 1")
    ip.restart()
    import flowyml_jupyter

    session = flowyml_jupyter._LOADED[id(ip)].session
    step_cell(ip, "", "print('x' * 500)\nbig = 1")
    rec = session.steps["big"]
    assert rec.state == "cached"
    assert "not kept for replay" in (rec.replay_note or "")
    assert "not kept for replay" in {r.name: r.why for r in session.status()}["big"]


def test_figures_and_axes_do_not_make_a_step_uncacheable(ip, session):
    pytest.importorskip("matplotlib")
    cells = [(PLAIN, "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt"),
             "fig, ax = plt.subplots()\nax.plot([1, 2, 3])\nn_lines = len(ax.lines)",
             "title = 'lines: %d' % len(ax.lines)"]
    session = _three_runs(ip, session, cells, ["n_lines", "title"])
    assert session.steps["fig"].uncacheable_reason is None


def test_ipython_syntax_runs_as_ipython_would(ip, session, capsys, here):
    step_cell(ip, "", "%time y = 2 + 3\n!echo shell-says-hi\nz = y * 2")
    assert ip.user_ns["z"] == 10
    assert session.steps["y"].state == "done"
    # what a step cannot be runs as plain IPython runs it, as an ordinary cell, and says so
    ordinary = step_cell(ip, "", "files = !echo one two\nn = len(files)")
    assert ordinary.success and ip.user_ns["n"] == 1 and ip.user_ns["files"] == ["one two"]
    assert "files" not in session.steps and "n" not in session.steps
    assert "assigns the result of IPython syntax" in capsys.readouterr().out
    written = step_cell(ip, "", "%%writefile helper_mod.py\nVALUE = 3\n")
    assert written.success
    assert (here / "helper_mod.py").read_text() == "VALUE = 3\n"
    out = capsys.readouterr().out
    assert "Writing helper_mod.py" in out
    assert "step '%%writefile': not cached, ran as an ordinary cell (line 1:" in out


def test_a_name_read_before_any_binding_is_an_input_even_if_bound_later(ip, session):
    ip.run_cell("acc = 100")
    step_cell(ip, "", "acc = acc + 1")
    assert session.steps["acc"].params == ["acc"]
    assert ip.user_ns["acc"] == 101


def test_instances_of_a_class_the_cell_defines_load_on_a_hit(ip, session, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "__main__", ip.user_module)  # as in a real kernel
    cells = ["class Point:\n    def __init__(self, x):\n        self.x = x\np = Point(3)",
             "px = p.x * 2"]
    _three_runs(ip, session, cells, ["px"])
    assert ip.user_ns["p"].x == 3


def test_a_cell_magic_first_and_timeit_lines_run_as_ipython_would(ip, session, capsys):
    step_cell(ip, "", "%%time\nw = sum(range(10))")
    assert ip.user_ns["w"] == 45 and session.steps["w"].state == "done"
    assert "Wall time" in capsys.readouterr().out
    step_cell(ip, "", "%timeit -n1 -r1 sum(range(5))\nq = 1")
    assert ip.user_ns["q"] == 1
    # a cell magic a step cannot hold runs as IPython runs it, as an ordinary cell
    capsys.readouterr()
    other = step_cell(ip, "", "%%bash\necho hi")
    assert other.success and capsys.readouterr().out.startswith("hi\n")


def test_flowyml_run_reruns_stale_versions_in_order(ip, session, capsys):
    ip.run_cell("base = 1")
    for body in ["X = base", "y = X + 1", "X = X * 10", "z = X + 1"]:
        assert step_cell(ip, "", body).success
    assert (ip.user_ns["y"], ip.user_ns["z"]) == (2, 11)
    ip.run_cell("base = 2")
    states = {r.name: r.state for r in session.status()}
    assert states == dict.fromkeys(["X", "y", "X_2", "z"], "stale")
    ip.run_line_magic("flowyml", "run")
    assert (ip.user_ns["X"], ip.user_ns["y"], ip.user_ns["z"]) == (20, 3, 21)
    assert {r.state for r in session.status()} == {"done"}
    out = capsys.readouterr().out
    assert "ran X, y, X_2, z" in out or "ran X, X_2, y, z" in out


def test_status_and_dag_show_versions(ip, session, capsys):
    for body in ["df = [3, 1, 2]", "df = sorted(df)", "first = df[0]"]:
        assert step_cell(ip, "", body).success
    ip.run_line_magic("flowyml", "status")
    table = capsys.readouterr().out
    assert "df@2" in table and "makes" in table
    from flowyml import render

    dot = render.dag_to_dot(session.graph(), {})
    assert "df@2" in dot


def test_percent_lines_inside_a_string_are_not_magics(ip, session):
    body = 'text = """\n%d items\n!not a shell\n""" % 3\nn = len(text)'
    assert step_cell(ip, "", body).success
    assert ip.user_ns["text"] == "\n3 items\n!not a shell\n"
    assert session.steps["text"].analysis.ipython == []


def test_help_syntax_and_top_level_await(ip, session):
    assert step_cell(ip, "", "len?\nh = 1").success
    # a cell that awaits is a step too (tests/jupyter/test_await_cells.py)
    awaited = step_cell(ip, "", "import asyncio\nawait asyncio.sleep(0)\nv = 1")
    assert awaited.success and ip.user_ns["v"] == 1 and "v" in session.steps


def test_a_change_through_a_view_is_seen_by_later_steps(ip, session):
    np = pytest.importorskip("numpy")
    ip.user_ns["np"] = np
    cells = ["x2 = np.arange(4).reshape(2, 2)", "print(x2)", "sub = x2[:1, :1]",
             "sub[0, 0] = 99", "print(x2)"]
    for body in cells:
        assert step_cell(ip, "", body).success
    assert ip.user_ns["x2"][0, 0] == 99
    assert session.steps["print_x2"].state == "done"  # not the first print's entry


def test_a_change_through_a_view_survives_a_restart(ip, session):
    pytest.importorskip("numpy")
    cells = [(PLAIN, "import numpy as np"), "x2 = np.arange(4).reshape(2, 2)", "sub = x2[:1, :1]",
             "sub[0, 0] = 99", "print(x2)\nfirst = x2[0, 0]"]
    session = _three_runs(ip, session, cells, ["x2", "sub", "first"])
    assert ip.user_ns["first"] == 99
    rec = session.steps["sub_2"]
    assert rec.outputs == ["sub", "x2"] and rec.params == ["sub", "x2"]


def test_a_change_through_a_holder_survives_a_restart(ip, session):
    """rasbt's ch07: ``mv_clf = MajorityVoteClassifier(classifiers=[pipe1, ...])``, then a
    later cell fits ``pipe1`` in place: plain Python's ``mv_clf`` holds the fitted ``pipe1``.
    After a restart each step's outputs were loaded on their own, so the holder's member
    was a copy of the unfitted model and the cell after it showed ``True False False``."""
    cells = ["m = {'fitted': False}", "ensemble = {'members': [m]}",
             "m.update(fitted=True)",
             "seen = (m['fitted'], ensemble['members'][0]['fitted'], ensemble['members'][0] is m)"]
    session = _three_runs(ip, session, cells, ["seen"])
    assert ip.user_ns["seen"] == (True, True, True)
    assert session.steps["m_2"].outputs == ["m", "ensemble"]


def test_a_change_through_another_name_for_the_same_object_survives_a_restart(ip, session):
    """``a = [1]; b = a``, then ``a.append(2)`` in a later cell: plain Python's ``b`` is
    ``a``. Another name for the very object the body changed was left out of the holders,
    so after a restart ``b`` was the stored ``[1]`` and ``b is a`` was False (a wrong
    result, found by probing)."""
    cells = ["a = [1]\nb = a", "c = a", "a.append(2)", "seen = (b, c, b is a, c is a)"]
    session = _three_runs(ip, session, cells, ["seen"])
    assert ip.user_ns["seen"] == ([1, 2], [1, 2], True, True)
    assert session.steps["a_2"].outputs == ["a", "b", "c"]


def test_a_change_to_a_member_of_a_changed_input_survives_a_restart(ip, session):
    """rasbt's ch07 ROC cell: ``for clf in all_clf: clf.fit(...)`` changes ``pipe1``,
    ``clf2``... (bound by earlier cells) through the list: after a restart they were the
    unfitted versions, so every cell using them re-ran, and showed other outputs."""
    cells = ["m = {'fitted': False}", "group = [m]",
             "for o in group:\n    o.update(fitted=True)", "seen = (m['fitted'], group[0] is m)"]
    session = _three_runs(ip, session, cells, ["seen"])
    assert ip.user_ns["seen"] == (True, True)
    assert session.steps["o_group"].outputs == ["o", "group", "m"]


def test_a_holder_of_an_unchanged_value_stays_as_it_is(ip, session):
    cells = ["m = {'fitted': False}", "other = {'fitted': False}", "ensemble = [m]",
             "other.update(fitted=True)", "seen = (m['fitted'], ensemble[0]['fitted'], other['fitted'])"]
    session = _three_runs(ip, session, cells, ["seen"])
    assert ip.user_ns["seen"] == (False, False, True)
    assert session.steps["other_2"].outputs == ["other"]


def test_a_module_method_named_like_a_mutation_is_not_a_change(ip, session):
    np = pytest.importorskip("numpy")
    ip.run_cell("import numpy as np")
    assert step_cell(ip, "", "X = np.array([3, 1, 2])").success
    assert step_cell(ip, "", "np.sort(X)").success
    rec = session.steps["np_sort_X"]
    assert rec.outputs == [] and rec.cache_key is not None
    ip.restart()
    ip.run_cell("import numpy as np")
    step_cell(ip, "", "X = np.array([3, 1, 2])")
    import flowyml_jupyter

    session = flowyml_jupyter._LOADED[id(ip)].session
    assert type(ip.user_ns["X"]) is np.ndarray  # loaded from the cache, not a memmap
    assert step_cell(ip, "", "np.sort(X)").success
    assert session.steps["np_sort_X"].state == "cached"


def test_a_trailing_semicolon_hides_the_value_as_in_a_plain_cell(ip, session, capsys):
    step_cell(ip, "", "v = 41\nv + 1;")
    assert "42" not in capsys.readouterr().out
    step_cell(ip, "", "w = 1\nw + 1")
    assert "2" in capsys.readouterr().out


def test_a_cell_reading_an_undefined_name_runs_as_plain_python_would(ip, session, capsys):
    res = step_cell(ip, "", "import json as js_mod\nlabel = missing_name + 1")
    assert not res.success
    assert "which no cell run above in this kernel defines" in str(res.error_in_exec)
    assert "js_mod" in ip.user_ns  # the import before the NameError happened, as in a plain run
    assert "label" not in session.steps
    shown = capsys.readouterr().out
    assert "NameError" in shown and "missing_name" in shown
    # the traceback is plain Python's: not chained to flowyml's own error
    assert "During handling" not in shown and "UnknownInputsError" not in shown


def test_a_step_whose_producer_failed_reads_what_the_name_holds(ip, session):
    assert step_cell(ip, "", "data = [1, 2]").success
    assert not step_cell(ip, "", "data = [x / 0 for x in data]").success
    assert step_cell(ip, "", "n = len(data)").success
    assert ip.user_ns["n"] == 2


def test_default_names_are_never_keywords(ip, session):
    assert step_cell(ip, "", "try:\n    print(1 / 0)\nexcept ZeroDivisionError:\n    print('no')").success
    assert list(session.steps) == ["print"]
    res = step_cell(ip, "", "x = 1\ntry:\n    print(undefined_thing_xyz)\nexcept NameError:\n    y = 2")
    assert res.success and "undefined_thing_xyz" not in session.steps  # ran as a plain cell
    assert ip.user_ns["y"] == 2


def test_a_cell_whose_input_never_came_runs_until_it_misses_it(ip, session):
    assert not step_cell(ip, "", "raw = undefined_source_q()").success  # refused, ran plain
    assert not step_cell(ip, "", "import json as j2\nraw = 1 / 0").success  # a step, failed
    res = step_cell(ip, "", "import json as j3\nuse = raw + 1")
    assert not res.success and "j3" in ip.user_ns
    assert session.steps["use"].state == "failed"


def test_star_imports_in_a_step_cell(ip, session):
    cells = ["from math import *\nx = cos(2 * pi)", "y = log(10) + x"]
    _three_runs(ip, session, cells, ["x", "y"])
    assert ip.user_ns["y"] == pytest.approx(1 + 2.302585, abs=1e-5)


def test_automagic_lines_run_as_ipython_would(ip, session, capsys, tmp_path):
    (tmp_path / "hello.txt").write_text("hi there\n")
    ip.run_line_magic("cd", str(tmp_path))
    assert step_cell(ip, "", "cat hello.txt").success  # a one-line cell: IPython's automagic
    assert "hi there" in capsys.readouterr().out
    (rec,) = session.steps.values()
    assert rec.name == "cat_hello_txt" and [line.kind for line in rec.analysis.ipython] == ["magic"]
    assert step_cell(ip, "", "cat hello.txt").success
    assert rec.name in session.steps and session.steps[rec.name].state == "cached"
    assert "hi there" in capsys.readouterr().out  # replayed


def test_a_bare_automagic_name_says_it_is_ipythons_magic(ip, capsys, tmp_path):
    """The bootcamp's file lesson has a cell ``pwd``: valid Python (a name) that IPython runs
    as ``%pwd``. It ran as an ordinary cell, as it should, but its status line said the cell
    read ``pwd``, "which no cell run above defines" (define it, declare --inputs)."""
    ip.run_line_magic("cd", str(tmp_path))
    assert step_cell(ip, "", "pwd").success
    out = capsys.readouterr().out
    assert str(tmp_path) in out
    assert "`pwd` is IPython's automagic %pwd" in out and "no cell run above" not in out, out


def test_loop_and_with_targets_are_kept_for_later_cells(ip, session, tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "t.txt"
    path.write_text("x")
    cells = [(PLAIN, "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt"),
             (PLAIN, f"path = {str(path)!r}"),
             "fig, axes = plt.subplots(1, 2)\nfor ax in axes:\n    ax.plot([1, 2])",
             "ax.set_title('last');\ntitle = ax.get_title()",
             "with open(path) as fh:\n    text = fh.read()",
             "for i in range(3):\n    pass\nlast = i"]
    session = _three_runs(ip, session, cells, ["title", "text", "last"])
    assert ip.user_ns["i"] == 2 and ip.user_ns["title"] == "last"
    fh = ip.user_ns["fh"]  # a closed file is stored as one (plain Python leaves it bound)
    assert fh.closed and fh.name == str(path) and fh.mode == "r"


def test_a_cell_that_handles_a_never_made_input_is_cached(ip, session, capsys):
    cells = ["data = [1 / 0]", "try:\n    n = len(data)\nexcept NameError as e:\n    print('no data:', e)\n    n = -1"]
    for restart in (False, True):
        if restart:
            ip.restart()
            import flowyml_jupyter

            session = flowyml_jupyter._LOADED[id(ip)].session
        assert not step_cell(ip, "", cells[0]).success
        assert step_cell(ip, "", cells[1]).success
        assert ip.user_ns["n"] == -1
        assert "no data: name 'data' is not defined" in capsys.readouterr().out  # replayed
    assert session.steps["n"].state == "cached"
