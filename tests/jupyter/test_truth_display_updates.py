"""Displays updated in place after a restart (SPEC §9): a step that shows something with a
display id (``display('x', display_id='a')``, ``display(..., display_id=True)``'s handle)
and a later step that updates it (``handle.update('z')``, ``update_display('z',
display_id='a')``) must, as hits in a fresh kernel, leave the display showing what plain
Python's shows (IPython-in-depth's "Updating Displays"). The hits showed the first value:
the display went out without its id, and the update was not recorded at all. Real kernels
through nbclient, which routes ``update_display_data`` to every output with that id.
"""

from __future__ import annotations

import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.slow


def test_a_display_a_later_step_updates_shows_the_update_after_a_restart(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))

    cells = [
        "%%step\nfrom IPython.display import display, update_display\n"
        "handle = display('x', display_id='update-me')\nshown = 1",
        "%%step\nhandle.display('y')\nagain = 2",
        "%%step\nhandle.update('z')\nupdated = 3",
        "%%step\ndisplay('a', display_id='here')\nfirst = 4",
        "%%step\nupdate_display('b', display_id='here')\nsecond = 5",
        "%%step\nupdate_display('c', display_id='not-shown')\nprint('third')",
    ]

    def run(flowyml: bool) -> tuple[list[list[str]], list[str]]:
        sources = cells if flowyml else [c.split("\n", 1)[1] for c in cells]
        nb = new_notebook(cells=[new_code_cell(s) for s in
                                 ["%load_ext flowyml" if flowyml else "pass", *sources]])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        NotebookClient(nb, timeout=300, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
        shown, states = [], []
        for cell in nb.cells[1:]:
            texts = [o.text if o.output_type == "stream" else o.data.get("text/plain", "")
                     for o in cell.outputs]
            states.append(next((t for t in texts if t.startswith("step '")), ""))
            shown.append([t for t in texts if not t.startswith("step '")])
        return shown, states

    plain, _ = run(False)
    assert plain[:5] == [["'z'"], ["'z'"], [], ["'b'"], []], plain
    first, _ = run(True)
    assert first == plain
    again, states = run(True)
    assert all("cached" in s for s in states), states
    assert again == plain, again
