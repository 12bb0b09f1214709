"""The import system after a restart (SPEC §9): a cell that installs an import hook of its
own (``sys.meta_path.append(NotebookFinder())``, IPython-in-depth's "Importing Notebooks")
must leave the kernel able to import what plain Python imports, and a hit whose imports
print when they load (the notebook loader's "importing notebook from ...", a library's
banner) must show that once, as plain Python does. Real kernels through nbclient: plain,
``%%step`` run 1, ``%%step`` in a fresh kernel on the same cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.jupyter.test_library_state import _run

pytestmark = pytest.mark.slow

_FINDER = (
    "%%step\nimport importlib.util, sys\n"
    "class Loader:\n"
    "    def create_module(self, spec):\n        return None\n"
    "    def exec_module(self, module):\n        module.answer = 42\n"
    "class Finder:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'magicmod':\n"
    "            return importlib.util.spec_from_loader(name, Loader())\n"
)


def test_a_cell_installing_its_own_import_hook_runs_again_after_a_restart(tmp_path, monkeypatch):
    """The finder is an object of a class of the notebook, which cannot be made again from
    data: the cell that installs it runs again (a hit left ``import magicmod`` failing with
    ``ModuleNotFoundError``), while a finder a module adds when it is imported (``six``'s)
    keeps its cell a hit, since the hit imports the module again."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "hookmod.py").write_text(
        "import sys\nclass Quiet:\n    def find_spec(self, *args):\n        return None\n"
        "sys.meta_path.append(Quiet())\n")
    cells = [
        _FINDER,
        "%%step\nsys.meta_path.append(Finder())\nready = True",
        "import magicmod",
        "%%step\nimport hookmod\nprint(magicmod.answer + 1)",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[3] == "stdout: 43\n", plain
    first, states = _run(tmp_path, cells, flowyml=True)
    assert first == plain and "done" in states[1], states
    again, states = _run(tmp_path, cells, flowyml=True)
    assert again == plain, (again, states)
    assert "cached" in states[0] and "cached" in states[3], states
    assert "done" in states[1], states


def test_a_hit_whose_import_prints_shows_it_once(tmp_path: Path, monkeypatch):
    """The import a hit re-runs prints what it printed when the body ran; that is in the
    cell's recorded output, replayed: shown live as well, it appeared twice."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "banner.py").write_text(
        "import sys, warnings\nprint('banner: loading')\n"
        "print('banner: to stderr', file=sys.stderr)\nVALUE = 7\n")
    cells = ["%%step\nimport banner\ny = banner.VALUE * 2\nprint(y)", "print(y + 1)"]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[0].count("banner: loading") == 1 and "14" in plain[0], plain
    first, _ = _run(tmp_path, cells, flowyml=True)
    assert first == plain
    again, states = _run(tmp_path, cells, flowyml=True)
    assert "cached" in states[0], states
    assert again == plain, again
