"""Misses in a fresh kernel found on public notebooks nobody here wrote (issue 21, point 7).

Each case is a minimal version of what those notebooks do (ThinkBayes2 / ThinkDSP with their
``thinkplot.py`` / ``thinkdsp.py`` beside them, Whirlwind Tour's generators, class
hierarchies across cells), run with a bare ``%%step`` on every cell through nbclient in a
real kernel, then again in a fresh kernel on the same cache: what is no real change must be
a cache hit showing the same outputs, and what is not stored must say why, once.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.slow


def _run(folder: Path, cells: list[str]) -> nbformat.NotebookNode:
    """``cells`` (each with ``%%step`` unless it is a magic line) in a fresh kernel."""
    sources = ["%load_ext flowyml"] + [c if c.startswith("%") else "%%step\n" + c for c in cells]
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def _status(cell: nbformat.NotebookNode) -> str | None:
    for out in cell.outputs:
        text = out.get("data", {}).get("text/plain", "")
        if out.get("output_type") == "display_data" and text.startswith("step '"):
            return text
    return None


def _state(cell: nbformat.NotebookNode) -> str | None:
    """``done``, ``cached``...: the word after the step's name in its status line."""
    line = _status(cell)
    return None if line is None else line.split("': ", 1)[1].split()[0].rstrip(":")


def _shown(cell: nbformat.NotebookNode) -> list[tuple[str, str]]:
    """What a cell showed besides its status line."""
    items = []
    for out in cell.outputs:
        if out.output_type == "stream":
            items.append((out.name, out.text))
        elif out.output_type == "error":
            items.append(("error", f"{out.ename}: {out.evalue}"))
        elif out.output_type in ("display_data", "execute_result"):
            text = out.data.get("text/plain", "")
            if WIDGET not in out.data and not text.startswith("step '"):
                items.append(("data", text))
    return items


def _twice(folder: Path, cells: list[str], monkeypatch) -> tuple[list, list]:
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(folder / "cache"))
    first = _run(folder, cells).cells[1:]
    second = _run(folder, cells).cells[1:]
    return first, second


def test_subclasses_across_cells_and_a_class_counter_hit_after_a_restart(tmp_path, monkeypatch):
    """``Agent.count += 1`` in ``__init__`` is state the class keeps while it runs: after a
    restart the cell that made agents is a hit and does not run, so the counter is 0 where it
    was 3 -- the cells that use the classes must hit anyway (they re-ran before)."""
    cells = [
        "class Agent:\n    count = 0\n    def __init__(self):\n        Agent.count += 1\n"
        "        self.id = Agent.count\n    def act(self):\n        return 0",
        "class Smart(Agent):\n    def act(self):\n        return self.id * 2",
        "agents = [Smart() for _ in range(3)]\nprint([a.act() for a in agents])",
        "class Sim:\n    def __init__(self, n, agent=Smart):\n"
        "        self.agents = [agent() for _ in range(n)]\n"
        "    def step(self):\n        return sum(a.act() for a in self.agents)",
        "class Sim2(Sim):\n    def step(self):\n        return super().step() + 1",
        "sim = Sim2(2)\nprint(sim.step())",
    ]
    first, second = _twice(tmp_path, cells, monkeypatch)
    assert [_state(c) for c in first] == ["done"] * len(cells), [_status(c) for c in first]
    assert [_state(c) for c in second] == ["cached"] * len(cells), [_status(c) for c in second]
    assert [_shown(c) for c in second] == [_shown(c) for c in first]
    assert _shown(first[2]) == [("stdout", "[2, 4, 6]\n")]


HELPER = '''
import itertools

LEGEND = True
WIDTH = {width}
_count = 0
_cycle = itertools.cycle(["C0", "C1", "C2"])


def config(legend=True):
    global LEGEND
    LEGEND = legend


def plot(xs):
    global _count
    _count += 1
    return f"{{len(xs) * WIDTH}} legend={{LEGEND}} color={{next(_cycle)}} n={{_count}}"
'''


def test_a_helper_module_that_keeps_state_hits_and_a_real_edit_of_it_re_runs(tmp_path, monkeypatch):
    """A plotting helper beside the notebook (``thinkplot.py``): its options and counters
    rebound with ``global`` are state, not code; its constant ``WIDTH`` is code."""
    (tmp_path / "helper.py").write_text(HELPER.format(width=2))
    cells = [
        "import helper",
        "xs = [1, 2, 3]\nhelper.config(legend=False)\nprint(helper.plot(xs))",
        "ys = [4, 5]\nprint(helper.plot(ys))",
        "zs = helper.plot(xs + ys)\nzs",
    ]
    first, second = _twice(tmp_path, cells, monkeypatch)
    assert [_state(c) for c in first] == ["done"] * 4, [_status(c) for c in first]
    assert [_state(c) for c in second] == ["cached"] * 4, [_status(c) for c in second]
    assert [_shown(c) for c in second] == [_shown(c) for c in first]
    assert _shown(first[2]) == [("stdout", "4 legend=False color=C1 n=2\n")]

    (tmp_path / "helper.py").write_text(HELPER.format(width=30))  # a real change of the code
    third = _run(tmp_path, cells).cells[1:]
    assert [_state(c) for c in third[1:]] == ["done"] * 3, [_status(c) for c in third]
    assert _shown(third[2]) == [("stdout", "60 legend=False color=C1 n=2\n")]


def test_a_live_generator_output_says_once_that_it_is_not_stored_and_a_used_up_one_is(
        tmp_path, monkeypatch):
    """A generator the cell left half read cannot be stored (reading it changes it): the
    cell says so once and runs again after a restart. One it read to the end yields nothing
    more (``G = (x for x in xs)`` then ``list(G)``, whirlwind's generator lesson): it is
    stored as a used-up generator and the cell is a hit, where it ran every time."""
    cells = [
        "G = (n ** 2 for n in range(5))\nnext(G)",
        "def gen():\n    yield from range(3)\n\nG2 = gen()\nprint(*G2)",
        "total = 10\ntotal",
        "%flowyml why G",
        "%flowyml status",
        "print(list(G2), next(G2, 'end'), G2.__name__)",
    ]
    first, second = _twice(tmp_path, cells, monkeypatch)
    line = _status(first[0])
    assert line.startswith("step 'G': done") and "output 'G' is a generator" in line, line
    assert "the cell runs again after a restart" in line
    everything = "".join(str(c.outputs) for c in first + second)
    assert "CacheWarning" not in everything and "notebook.py" not in everything
    assert _shown(first[0]) == [("data", "0")]
    why = "".join(text for _, text in _shown(first[3]))
    assert why.strip().count("\n") == 0 and "step 'G' will run: output 'G' is a generator" in why
    rows = "".join(text for _, text in _shown(first[4])).splitlines()
    row = next(r for r in rows if r.startswith("G "))
    assert "not stored: output 'G' is a generator" in row, rows
    assert [_state(c) for c in second[:3]] == ["done", "cached", "cached"]
    assert [_shown(c) for c in second[:3]] == [_shown(c) for c in first[:3]]
    assert _shown(second[5]) == _shown(first[5]) == [("stdout", "[] end gen\n")]


def test_an_abstract_method_naming_an_undefined_exception_is_a_step(tmp_path, monkeypatch):
    """``raise UnimplementedMethodException()`` in a method: legal until the method is called
    (then a NameError, as in Python). The name is no input of the cell, which is a step. The
    notebook opens as Python 2 era books do (``from __future__ import print_function``): a
    no-op in Python 3, so no reason to refuse the cell as a step."""
    cells = [
        "from __future__ import print_function, division\n\nimport math\nrate = math.floor(2.5)",
        "class Signal:\n    def evaluate(self, ts):\n        raise UnimplementedMethodException()\n"
        "    def make(self, n):\n        return [self.evaluate(t) for t in range(n)]",
        "class Ramp(Signal):\n    def evaluate(self, t):\n        return rate * t",
        "ramp = Ramp().make(4)\nramp",
        "try:\n    Signal().make(1)\n    outcome = 'ran'\nexcept NameError as exc:\n    outcome = str(exc)\n"
        "outcome",
    ]
    first, second = _twice(tmp_path, cells, monkeypatch)
    assert [_state(c) for c in first] == ["done"] * 5, [_status(c) for c in first]
    assert not any("ordinary cell" in str(c.outputs) for c in first)
    assert _shown(first[3]) == [("data", "[0, 2, 4, 6]")]
    assert _shown(first[4]) == [("data", "\"name 'UnimplementedMethodException' is not defined\"")]
    assert [_state(c) for c in second] == ["cached"] * 5, [_status(c) for c in second]
    assert [_shown(c) for c in second] == [_shown(c) for c in first]
