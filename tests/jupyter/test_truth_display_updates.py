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

from .kernel_runs import is_status, three_runs

pytestmark = pytest.mark.slow


def test_a_display_a_later_step_updates_shows_the_update_after_a_restart(tmp_path):
    cells = [
        "%%step\nfrom IPython.display import display, update_display\n"
        "handle = display('x', display_id='update-me')\nshown = 1",
        "%%step\nhandle.display('y')\nagain = 2",
        "%%step\nhandle.update('z')\nupdated = 3",
        "%%step\ndisplay('a', display_id='here')\nfirst = 4",
        "%%step\nupdate_display('b', display_id='here')\nsecond = 5",
        "%%step\nupdate_display('c', display_id='not-shown')\nprint('third')",
    ]

    def texts(outputs):
        return [o.text if o.output_type == "stream" else o.data.get("text/plain", "")
                for o in outputs if not is_status(o)]

    plain, first, again, states = three_runs(tmp_path, cells, texts, allow_errors=False)
    assert plain[:5] == [["'z'"], ["'z'"], [], ["'b'"], []], plain
    assert first == plain
    assert all("cached" in s for s in states), states
    assert again == plain, again
