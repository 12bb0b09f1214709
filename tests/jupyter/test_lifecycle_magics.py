"""%flowyml cache info|gc and %flowyml why in a real IPython shell (issue 14)."""

from __future__ import annotations

import os
import time

from flowyml import lifecycle

from .conftest import step_cell


def test_why_names_the_input_the_helper_and_the_code(ip, session, capsys):
    ip.run_cell("seed = 7\ndef clean(v):\n    return v + 0")
    assert step_cell(ip, "", "value = clean(seed) * 2", cell_id="a").success
    ip.run_line_magic("flowyml", "why value")
    assert "will be a cache hit" in capsys.readouterr().out
    ip.run_cell("seed = 8")
    ip.run_line_magic("flowyml", "why value")
    assert "`seed` changed 7 → 8" in capsys.readouterr().out
    ip.run_cell("seed = 7\ndef clean(v):\n    return v + 100")
    ip.run_line_magic("flowyml", "why value")
    assert "helper `clean` changed" in capsys.readouterr().out


def test_cache_info_and_gc_keep_what_the_notebook_would_hit(ip, session, capsys):
    for n in range(3):
        ip.run_cell(f"n = {n}")
        assert step_cell(ip, "", "big = list(range(n * 1000))", cell_id="c").success
    ip.run_cell("n = 0")  # the current definition would hit the first, oldest entry
    for e in lifecycle.scan(session.store):
        os.utime(e.path, (time.time() - 86400,) * 2)
    capsys.readouterr()
    ip.run_line_magic("flowyml", "cache info")
    text = capsys.readouterr().out
    assert "big" in text and "stored (a hit)" in text
    ip.run_line_magic("flowyml", "cache gc --keep-latest 0 --dry-run")
    assert "would remove 2 entries" in capsys.readouterr().out
    ip.run_line_magic("flowyml", "cache gc --keep-latest 0")
    assert "removed 2 entries" in capsys.readouterr().out
    assert step_cell(ip, "", "big = list(range(n * 1000))", cell_id="c").success
    assert session.steps["big"].state == "cached"
