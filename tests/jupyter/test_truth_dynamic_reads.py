"""SPEC §9: an edited, restarted notebook shows what plain Python shows, also where a cell
reads a notebook value its code does not name. Found by probing (issue 19): each of these
stayed a cache hit showing the old value after ``thr`` was edited.

- a default argument evaluated when the ``def`` ran (``def f(x, k=thr)``, ``lambda x,
  k=thr: ...``): part of the function, not of its code, so ``f(3)`` was keyed as before;
- the namespace read as a dict (``globals()['thr']``, ``'{thr}'.format(**globals())``,
  ``'%(thr)s' % vars()``): the names come from strings, as an evaluated string's do.

Real kernels through nbclient."""

from __future__ import annotations

import pytest

from .kernel_runs import printed, run_cells, statuses

pytestmark = pytest.mark.slow


def test_cells_reading_a_value_through_a_default_or_the_namespace_dict_re_run_when_it_is_edited(tmp_path):
    cells = ["%%step\nthr = 1",
             "%%step\ndef f(x, k=thr):\n    return x * k\ng = lambda x, *, k=thr: x + k",
             "%%step\nprint(f(3), g(3))",
             "%%step\nprint(globals()['thr'], '{thr}!'.format(**globals()), '%(thr)s' % vars())",
             "%%step\ndef h(x, k=2):\n    return x * k",
             "%%step\nprint(h(3))"]
    edited = ["%%step\nthr = 5", *cells[1:]]
    run_cells(tmp_path, cells)
    plain = [printed(o) for o in run_cells(tmp_path, edited, flowyml=False)]
    runs = run_cells(tmp_path, edited)
    assert plain[2:4] == ["15 8\n", "5 5! 5\n"]
    assert [printed(o) for o in runs] == plain
    states = statuses(runs)
    assert all(": cached" not in s for s in states[:4]), states
    assert all(": cached" in s for s in states[4:]), states  # a literal default: as before


def test_values_code_holds_itself_are_part_of_its_key(tmp_path):
    """A class attribute computed from a notebook value (``lr = LR``), a closure's cell
    (``make(thr)``), a helper module's data read from a file when it was imported: the code
    fingerprint counted only constants among them, so a cell reading ``Cfg.lr``, calling
    ``f(3)`` or summing ``mymod.DATA`` stayed a hit showing the old value after ``LR``,
    ``thr`` or the file was edited. And a cell whose methods fill a class's list
    (``Dog('sit')`` appending to ``Dog.tricks``) was a hit that filled nothing: a later
    cell counted fewer tricks than plain Python. They are keyed by their content now, and
    the filling cell runs again after a restart, saying why."""
    module = ("with open('mymod.py', 'w') as fh:\n"
              "    fh.write('with open(\"d.txt\") as f:\\n    DATA = [int(x) for x in f.read().split()]\\n')\n"
              "with open('d.txt', 'w') as fh:\n    fh.write({!r})")
    cells = [module.format("1 2 3"),
             "%%step\nLR = [0.1]\nthr = [2]\nimport mymod",
             "%%step\nclass Cfg:\n    lr = LR\ndef make(k):\n    def inner(x):\n        return x * k[0]\n"
             "    return inner",
             "%%step\nf = make(thr)",
             "%%step\nprint(Cfg.lr, f(3), sum(mymod.DATA))",
             "%%step\nclass Dog:\n    tricks = []\n    def __init__(self, t):\n        self.tricks.append(t)",
             "%%step\nd = Dog('sit')",
             "%%step\nprint(len(Dog('roll').tricks))"]
    edited = [module.format("1 2 3 4"), "%%step\nLR = [0.5]\nthr = [5]\nimport mymod", *cells[2:7],
              "%%step\nprint(len(Dog('roll').tricks), 1)"]
    run_cells(tmp_path, cells)
    plain = [printed(o) for o in run_cells(tmp_path, edited, flowyml=False)]
    runs = run_cells(tmp_path, edited)
    assert plain[4] == "[0.5] 15 10\n" and plain[7] == "2 1\n", plain
    assert [printed(o) for o in runs] == plain
    states = statuses(runs)
    assert "changes Dog" in states[6] and ": cached" in states[5], states


def test_a_cell_reading_an_environment_variable_re_runs_when_it_changes(tmp_path, monkeypatch):
    """``os.environ.get('MY_DATA_DIR', 'data')``, ``os.getenv(...)``: started again with
    another value, plain Python reads it; the hit showed what the old one gave. The
    variables the cell's own code reads are recorded (a digest of the value) and checked at
    lookup; one the cell set itself, and what libraries read, are not."""
    cells = ["%%step\nimport os\nd = os.environ.get('MY_DATA_DIR', 'data')\nprint(d)",
             "%%step\nos.environ['MY_OWN'] = 'x'\nprint(os.getenv('MY_FLAG'), os.environ['MY_OWN'])",
             "%%step\nimport json\nprint(json.dumps([1]))"]
    monkeypatch.setenv("MY_DATA_DIR", "one")
    monkeypatch.setenv("MY_FLAG", "a")
    run_cells(tmp_path, cells)
    monkeypatch.setenv("MY_FLAG", "b")
    runs = run_cells(tmp_path, cells)
    assert [printed(o) for o in runs] == ["one\n", "b x\n", "[1]\n"]
    states = statuses(runs)
    assert ": cached" in states[0] and ": cached" in states[2], states
    assert "the environment variable MY_FLAG changed" in states[1], states
    monkeypatch.delenv("MY_DATA_DIR")
    runs = run_cells(tmp_path, cells)
    assert printed(runs[0]) == "data\n" and "MY_DATA_DIR changed" in statuses(runs)[0]
