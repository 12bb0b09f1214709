"""flowyml.notebook.cells and flowyml.notebook.versions as tables of cases: source in, names out (pure)."""

from __future__ import annotations

import pytest

from flowyml.notebook.cells import analyze
from flowyml.notebook.ipysyntax import CellSyntaxError, python_source
from flowyml.notebook.naming import default_step_name
from flowyml.notebook.versions import StepNames, wire

# (source, reads, outputs, mutated, defines, incidental)
SCOPING = [
    ("for v in xs:\n    total = total + v", ["xs", "total"], ["total"], [], [], ["v"]),
    ("total = 0\nfor v in xs:\n    total += v", ["xs"], ["total"], [], [], ["v"]),
    ("for i, (a, b) in enumerate(pairs):\n    pass", ["pairs"], [], [], [], ["i", "a", "b"]),
    ("with open(p) as fh:\n    data = fh.read()", ["p"], ["data"], [], [], ["fh"]),
    ("try:\n    x = f()\nexcept ValueError as e:\n    print(e)", ["f"], ["x"], [], [], []),
    ("if (n := len(a)) > 10:\n    print(n)", ["a"], ["n"], [], [], []),
    ("ys = [y * k for y in xs]", ["xs", "k"], ["ys"], [], [], []),
    ("[z := q * 2 for q in range(3)]\nprint(z)", [], ["z"], [], [], []),
    ("f = lambda q: q + k\ng = f(1)", ["k"], ["g"], [], ["f"], []),
    ("import numpy as np\nfrom os import path as p\nc = np.pi", [], ["c"], [], ["np", "p"], []),
    ("def h(x):\n    return x + W\nr = h(1)", ["W"], ["r"], [], ["h"], []),
    ("def h(x):\n    return x + later\nlater = 1\nr = h(1)", [], ["later", "r"], [], ["h"], []),
    ("class C:\n    size = S\n    def m(self):\n        return self.size", ["S"], [], [], ["C"], []),
    ("def g():\n    global counter\n    counter = 1\ng()", [], ["counter"], [], ["g"], []),
    ("tmp = 1\nkept = tmp\ndel tmp", [], ["kept"], [], [], []),
    ("del old", [], [], [], [], []),
    ("x += 1", ["x"], ["x"], [], [], []),
    ("df = df.dropna()", ["df"], ["df"], [], [], []),
    ("if c:\n    v = 1\nelse:\n    v = 2\nw = v", ["c"], ["v", "w"], [], [], []),
    ("if c:\n    v = 1\nw = v", ["c", "v"], ["v", "w"], [], [], []),
    ("match p:\n    case (a, b):\n        r = a\n    case _:\n        r = 0", ["p"], ["r"], [], [], ["a", "b"]),
    ("df['c'] = df['a'] * 2", ["df"], [], ["df"], [], []),
    ("obj.attr = 3", ["obj"], [], ["obj"], [], []),
    ("del d[k]", ["k", "d"], [], ["d"], [], []),
    ("items.append(3)", ["items"], [], ["items"], [], []),
    ("model.fit(X, y)", ["model", "X", "y"], [], ["model"], [], []),
    ("df.drop(columns=['a'], inplace=True)", ["df"], [], ["df"], [], []),
    ("np.random.shuffle(arr)", ["np", "arr"], [], ["arr"], [], []),
    ("df.head()", ["df"], [], [], [], []),
    ("a = []\na.append(1)", [], ["a"], [], [], []),
    ("_private = 1\npublic = _private", [], ["public"], [], [], []),
    ("from math import *\nr = sqrt(2)", ["sqrt"], ["r"], [], [], []),
]


@pytest.mark.parametrize("source, reads, outputs, mutated, defines, incidental", SCOPING,
                         ids=[c[0].split("\n")[0][:40] for c in SCOPING])
def test_scoping(source, reads, outputs, mutated, defines, incidental):
    a = analyze(source)
    assert a.reads == reads
    assert a.outputs == outputs
    assert a.mutated == mutated
    assert a.defines == defines
    assert a.incidental == incidental


def test_maybe_bound_outputs_and_star_imports():
    assert analyze("if c:\n    v = 1").maybe == ["v"]
    assert analyze("for i in xs:\n    last = i").maybe == ["last", "i"]
    assert analyze("for i in xs:\n    last = i").produces == ["last", "i"]
    assert analyze("v = 1").maybe == []
    assert analyze("from math import *").star_import


def test_definitions_are_the_code_to_run_again_on_a_hit():
    src = ("import math\n@decorate\ndef f(x):\n    return x\nvalue = f(2)\n"
           "try:\n    import numpy\nexcept ImportError:\n    numpy = None\nsq = lambda v: v * v")
    defs = analyze(src).definitions
    assert "import math" in defs and "@decorate\ndef f(x):" in defs
    assert "import numpy" in defs and "sq = lambda v: v * v" in defs
    assert "value = f(2)" not in defs


def test_a_name_read_only_in_a_method_or_function_body_is_deferred():
    cell = ("class Base:\n    size = SIZE\n    def like(self, d):\n"
            "        raise UnimplementedMethodException()\n"
            "def f(y=DEFAULT):\n    return later + now\nprint(now)")
    a = analyze(cell)
    assert a.reads == ["SIZE", "UnimplementedMethodException", "DEFAULT", "later", "now"]
    assert a.deferred == ["UnimplementedMethodException", "later"]  # the class body runs now


def test_settled_future_imports_are_no_ops_and_others_stay():
    a = analyze("from __future__ import (print_function,\n    division)\nimport os\nx = 1")
    assert a.python == "pass\n\nimport os\nx = 1" and a.defines == ["os"]
    assert analyze("from __future__ import annotations\nx: int = 1").python.startswith("from __future__")


@pytest.mark.parametrize("body, python, kinds", [
    ("%matplotlib inline\nx = 1", "pass; 'IPython: %matplotlib inline'\nx = 1", ["magic"]),
    ("for i in r:\n    !echo {i}\ny = 2",
     "for i in r:\n    pass; 'IPython: !echo {i}'; (lambda: ('IPython expands', (i)))\ny = 2",
     ["shell"]),
    ("%%time\nz = 3", "pass; 'IPython: %%time'\nz = 3", ["cell magic"]),
    ("%time w = 4", "w = 4", ["magic"]),
    ("np.array?\nq = 1", "pass; 'IPython: np.array?'\nq = 1", ["help"]),
    ('s = """\n%d\n"""', 's = """\n%d\n"""', []),
])
def test_ipython_lines(body, python, kinds):
    text, lines = python_source(body)
    assert text == python
    assert [line.kind for line in lines] == kinds


@pytest.mark.parametrize("body, fragment", [
    ("files = !ls", "assigns the result of IPython syntax"),
    ("%%bash\necho hi", "leave %%step off its cell"),
    ("x = (1,", "was never closed"),
])
def test_refused_with_a_one_line_reason(body, fragment):
    with pytest.raises(CellSyntaxError, match=fragment) as info:
        analyze(body)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("body, name", [
    ("df = load()", "df"),
    ("df.head()", "df_head"),
    ("print(len(xs))", "print_len_xs"),
    ("import numpy as np", "np"),
    ("model.fit(X, y)", "model"),
    ("%timeit f()", "timeit_f"),
    ("# only a comment", "cell"),
])
def test_default_step_names(body, name):
    assert default_step_name(analyze(body)) == name
    assert default_step_name(analyze(body), taken={name}) == f"{name}_2"


def test_versions_read_the_closest_producer_above():
    w = wire([StepNames("load", 1, [], ["df"]),
              StepNames("clean", 2, ["df"], ["df"]),
              StepNames("count", 3, ["df"], ["n"]),
              StepNames("trim", 4, ["df"], ["df"]),
              StepNames("show", 5, ["df", "n"], [])])
    assert w.outputs == {"load": ["df"], "clean": ["df@2"], "count": ["n"], "trim": ["df@3"],
                         "show": []}
    assert w.inputs["clean"] == ["df"] and w.producers["clean"] == {"df": "load"}
    assert w.inputs["count"] == ["df@2"] and w.producers["count"] == {"df": "clean"}
    assert w.inputs["show"] == ["df@3", "n"]


def test_a_value_from_outside_the_steps_is_version_zero_when_steps_also_make_it():
    w = wire([StepNames("first", 1, ["x"], ["x"]), StepNames("second", 2, ["x"], ["y"])])
    assert w.inputs["first"] == ["x@0"] and w.producers["first"] == {}
    assert w.inputs["second"] == ["x"]
    only_outside = wire([StepNames("s", 1, ["cfg"], ["out"])])
    assert only_outside.inputs["s"] == ["cfg"]


def test_objects_a_cell_sets_attributes_or_items_of_and_which_are_modules_or_classes(monkeypatch):
    """``patched``: what a cell changes by attribute or item; among them, modules and
    classes are changed outside any value a step stores (they are stored by name)."""
    import types

    from flowyml.notebook.outside import patched_outside

    found = analyze("pd.DataFrame.double = f\nmpl.rcParams['a'] = 1\ndf.a = 1\n"
                    "setattr(mylib, 'LIMIT', 5)\nf().b = 2\ndel A.x\n"
                    "def g():\n    pd.X = 1").patched
    assert found == ["pd.DataFrame", "mpl.rcParams", "df", "mylib", "A"]
    pd = types.ModuleType("pd")
    pd.DataFrame = type("DataFrame", (), {})
    import sys
    import sysconfig

    mpl = types.ModuleType("flowyml_test_library_mpl")  # a library's module (in site-packages)
    mpl.__file__ = f"{sysconfig.get_paths()['purelib']}/flowyml_test_library_mpl/__init__.py"
    monkeypatch.setitem(sys.modules, mpl.__name__, mpl)
    mpl.rcParams = {}
    ns = {"pd": pd, "mpl": mpl, "df": object(), "mylib": types.ModuleType("mylib"),
          "A": type("A", (), {})}
    assert patched_outside(found, ns) == ["pd.DataFrame (a class)", "mylib (a module)", "A (a class)"]


def test_ipython_lines_only_running_can_stand_for():
    """Package installs, magics that show or change the kernel itself and extensions'
    magics run every time; config magics and other shell commands do not."""
    from flowyml.notebook.ipysyntax import outside_lines

    def outside(body):
        return outside_lines(python_source(body)[1])

    assert outside("!pip install -q seaborn\n!sudo apt-get install -y x\n!python -m pip list") == [
        "!pip install -q seaborn", "!sudo apt-get install -y x", "!python -m pip list"]
    assert outside("%pip install x\n%whos\n%env\n%sql SELECT 1\n%reset -f") == [
        "%pip install x", "%whos", "%env", "%sql SELECT 1", "%reset -f"]
    assert outside("%matplotlib inline\n%config A.b = 1\n%env A=1\n%precision 2\n"
                   "!head -2 data.csv\n%time x = 1\n%load_ext autoreload\n%autoreload 2") == []


def test_data_of_a_helper_module_a_cell_changes_is_outside_what_a_step_stores():
    """``mylib.CONFIG['lr'] = 0.1`` changes a helper module's data, which a hit does not
    touch; a library's data (``mpl.rcParams[...]``) is process state, recorded elsewhere."""
    import json
    import types

    from flowyml.notebook.outside import patched_outside

    helper = types.ModuleType("flowyml_test_helper_mod")  # not a library's: the user's
    helper.CONFIG = {}
    ns = {"mylib": helper, "json": json}
    owners = analyze("mylib.CONFIG['lr'] = 0.1\njson.decoder.scanstring = None\n"
                     "mylib.CONFIG.update(lr=5)\nitems.append(1)").patched
    assert owners == ["mylib.CONFIG", "json.decoder"]  # items: a value, re-hashed as input
    assert patched_outside(owners, ns) == [
        "mylib.CONFIG (in the helper module flowyml_test_helper_mod)", "json.decoder (a module)"]
    assert analyze("mylib.CONFIG.update(lr=5)").patched == ["mylib.CONFIG"]


def test_attributes_a_cell_sets_by_name_on_classes_and_modules_found_by_name():
    """``attributes_set``: an owner changed only by setting attributes by name, and found
    again by its module and qualified name, is stored as what it holds after the body;
    anything else (an item, a deletion, a mutating call, the notebook's own class) is
    left to :func:`patched_outside` (the step runs every time)."""
    import json
    import types

    from flowyml.notebook.outside import attributes_set

    analysis = analyze("json.LIMIT = 5\njson.JSONDecoder.mode = 'x'\njson.JSONDecoder.mode += 'y'\n"
                       "A.x = 1\nmylib.CONFIG['a'] = 1\ndel json.decoder.X\n"
                       "json.encoder.FLAG = 1\njson.encoder.items.append(1)")
    assert analysis.attr_sets == {"json": ["LIMIT"], "json.JSONDecoder": ["mode"], "A": ["x"],
                                  "json.encoder": ["FLAG"]}
    ns = {"json": json, "A": type("A", (), {"x": 1, "__module__": "__main__"}),
          "mylib": types.ModuleType("mylib")}
    json.LIMIT, json.JSONDecoder.mode = 5, "xy"
    try:
        stored, rest = attributes_set(analysis, ns)
    finally:
        del json.LIMIT, json.JSONDecoder.mode
    assert stored == [("json", "", "LIMIT", 5), ("json.decoder", "JSONDecoder", "mode", "xy")]
    assert rest == ["A", "mylib.CONFIG", "json.decoder", "json.encoder", "json.encoder.items"]


def test_a_cell_reading_the_namespace_as_a_dict_reads_the_names_its_strings_give():
    """``globals()['thr']``, ``'{name}!'.format(**globals())``, ``'%(name)s' % vars()``:
    the names come from strings, as an evaluated string's do (they were no inputs, and an
    edited ``thr`` left the cell a hit showing the old value); ``vars(obj)`` is no such read."""
    for body in ("print(globals()['thr'])", "print('{thr.real}!'.format(**globals()))",
                 "print('%(thr)s' % vars())", "print(locals().get('thr'))"):
        found = analyze(body)
        assert found.evaluates and "thr" in found.string_reads, body
    assert not analyze("print(vars(obj)['thr'])").evaluates
