"""A step cell's IPython lines are part of its code (SPEC §9): two cells alike but for a
magic's arguments must not share a cache entry. ``%%capture`` and ``%%capture captured``
over the same body (IPython-in-depth's "Capturing Output") made one key, so the second was
a hit on the first's entry and ``captured`` was never bound (``NameError`` in the next
cell); ``%env FOO=1`` then ``%env FOO=2`` over the same body gave the first value. Real
kernels through nbclient: plain, ``%%step`` run 1, ``%%step`` in a fresh kernel.
"""

from __future__ import annotations

import pytest

from tests.jupyter.test_library_state import _run

pytestmark = pytest.mark.slow


def test_cells_differing_only_in_a_magic_line_do_not_share_an_entry(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\n%%capture\nprint('hi, stdout')\nn = 1",
        "%%step\n%%capture captured\nprint('hi, stdout')\nn = 1",
        "print(repr(captured.stdout))",
        "%%step\n%env FOO=1\nimport os\nfoo = os.environ['FOO']",
        "%%step\n%env FOO=2\nimport os\nfoo = os.environ['FOO']",
        "print(foo)",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[2] == "stdout: 'hi, stdout\\n'\n" and plain[5].endswith("stdout: 2\n"), plain
    first, states = _run(tmp_path, cells, flowyml=True)
    assert first == plain, (first, states)
    assert "cached" not in states[1] and "cached" not in states[4], states
    again, states = _run(tmp_path, cells, flowyml=True)
    assert again == plain, (again, states)


def test_a_capture_cell_is_a_hit_that_binds_its_name_after_a_restart(tmp_path, monkeypatch):
    """``%%capture out`` binds ``out`` (what the body printed): an output of the cell, so
    after a restart the cell is a hit and ``out`` holds what plain Python's holds (it ran
    again at every restart, the name unseen by the analysis)."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    cells = [
        "%%step\n%%capture out --no-stderr\nimport sys\nprint('made', 6 * 7)\n"
        "print('err', file=sys.stderr)\nvalue = 42",
        "print(repr(out.stdout), value)",
    ]
    plain, _ = _run(tmp_path, cells, flowyml=False)
    assert plain[1] == "stdout: 'made 42\\n' 42\n", plain
    first, _ = _run(tmp_path, cells, flowyml=True)
    assert first == plain
    again, states = _run(tmp_path, cells, flowyml=True)
    assert "cached" in states[0], states
    assert again == plain, again
