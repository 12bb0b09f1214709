"""A step cell that sets a method on a library's class (``mpl.colors.Colormap._repr_png_ =
_repr_png_``, seaborn's colour-palette tutorial) changes what every later cell shows
without being one of its inputs (SPEC §9). The patching cell runs every time (a hit could
not patch again); after it is edited and the kernel restarted, a later cell using the
patched class must show what plain Python shows, not its cached output. Unedited, the later
cells stay hits. A real IPython shell (``ip.restart()``: a new namespace, the same cache).
"""

from __future__ import annotations

import re

from .conftest import step_cell

PATCH = ("import fractions\n\ndef shout(self):\n    return 'VERSION'\n\n"
         "fractions.Fraction.shout = shout\nfractions.Fraction.__repr__ = shout")
USE = "said = fractions.Fraction(1, 2).shout()\nprint(said)\nfractions.Fraction(3, 4)"


def _round(ip, capsys, version: str) -> tuple[list[str], dict[str, str]]:
    for body in (PATCH.replace("VERSION", version), USE):
        assert step_cell(ip, "", body).success
    lines = capsys.readouterr().out.splitlines()
    session = __import__("flowyml_jupyter")._LOADED[id(ip)].session
    return ([re.sub(r"^Out\[\d+\]: ", "out: ", ln) for ln in lines if not ln.startswith("step '")],
            {name: rec.state for name, rec in session.steps.items()})


def test_a_later_cell_shows_the_edited_patch_after_a_restart_and_hits_while_it_is_unedited(
        ip, here, capsys):
    shown, _ = _round(ip, capsys, "v1")
    assert shown == ["v1", "out: v1"], shown
    ip.restart()
    shown, states = _round(ip, capsys, "v1")  # nothing edited: the user of the patch hits
    assert shown == ["v1", "out: v1"] and states["said"] == "cached", (shown, states)
    ip.restart()
    shown, states = _round(ip, capsys, "v2")  # the patch edited: as plain Python shows it
    assert shown == ["v2", "out: v2"] and states["said"] == "done", (shown, states)
    ip.restart()
    shown, states = _round(ip, capsys, "v1")  # edited back: the first entry serves again
    assert shown == ["v1", "out: v1"] and states["said"] == "cached", (shown, states)


def test_why_names_the_patching_step(ip, here, capsys):
    _round(ip, capsys, "v1")
    assert step_cell(ip, "", PATCH.replace("VERSION", "v2")).success
    ip.run_line_magic("flowyml", "why said")
    out = capsys.readouterr().out
    assert "step 'said' will re-run" in out and "a class or module patched by step 'fractions" in out


def test_data_a_class_holds_changed_by_a_cell_is_there_after_a_restart(ip, here, capsys):
    """``so.Plot.config.theme.update({...})`` (seaborn's objects tutorial), here
    ``Fraction.registry.append(5)``: data reached through a class, changed in place. A hit
    would not change it again, so after a restart an ordinary cell would see it unchanged."""
    import fractions

    cells = ["import fractions\nfractions.Fraction.registry = []\nn = 1",
             "fractions.Fraction.registry.append(5)\nm = 2"]
    try:
        for again in (False, True):
            if again:
                ip.restart()
                del fractions.Fraction.registry  # a fresh process does not have it
            for body in cells:
                assert step_cell(ip, "", body).success
            assert ip.run_cell("print(fractions.Fraction.registry)").success
            out = capsys.readouterr().out
            assert out.splitlines()[-1] == "[5]", out
        assert "re-ran: it changes fractions.Fraction.registry (held by the class Fraction)" in out
    finally:
        if "registry" in vars(fractions.Fraction):
            del fractions.Fraction.registry
