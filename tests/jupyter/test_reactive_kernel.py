"""Reactive mode in a real ipykernel driven by nbclient, cell by cell, as a user edits.

A wave started from one cell updates the output areas of the *other* step cells in place
through their display ids: nbclient applies ``update_display_data`` to whichever cell owns
the display id, so the saved notebook shows each step's new outputs under its own cell.
"""

from __future__ import annotations

import asyncio
import html
import re
import threading
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

pytestmark = pytest.mark.slow

WIDGET = "application/vnd.jupyter.widget-view+json"
LOAD, AUTO, A, B, C, D = range(6)
CELLS = [
    "%load_ext flowyml",
    "%flowyml auto on",
    "%%step a\nx = 1",
    "%%step b\nimport time\ny = x + 1\nprint('y is', y)\ntime.sleep(60 if x == 9 else 0)",
    "%%step c\nz = y * 2\nprint('z is', z)",
    "%%step d\nw = x * 10\nw",
]


def notebook(tmp_path: Path) -> tuple[nbformat.NotebookNode, NotebookClient]:
    nb = new_notebook(cells=[new_code_cell(s) for s in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    return nb, client


def area(cell: nbformat.NotebookNode) -> dict:
    """The data of the cell's reactive output area (found by the metadata it carries)."""
    found = [o for o in cell.outputs if o.output_type == "display_data"
             and o.get("metadata", {}).get("flowyml", {}).get("area")]
    assert len(found) == 1, cell.outputs
    return found[0]


def status(cell: nbformat.NotebookNode) -> str:
    lines = [o.data["text/plain"] for o in cell.outputs if o.output_type == "display_data"
             and o.data.get("text/plain", "").startswith("step '")]
    assert len(lines) == 1, cell.outputs
    return lines[0]


def texts(cell: nbformat.NotebookNode) -> str:
    return "\n".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                     for o in cell.outputs)


def saved(nb: nbformat.NotebookNode, tmp_path: Path) -> nbformat.NotebookNode:
    path = tmp_path / "reactive.ipynb"
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4)


def test_an_edit_updates_the_downstream_cells_in_place(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    nb, client = notebook(tmp_path)
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        first = {i: area(nb.cells[i]).data["text/plain"] for i in (B, C, D)}
        assert first == {B: "y is 2", C: "z is 4", D: "10"}
        # the user edits cell a and runs it: b, c and d re-run in its wake
        nb.cells[A].source = "%%step a\nx = 2"
        client.execute_cell(nb.cells[A], A)
        after_edit = saved(nb, tmp_path)
        # ...and back: all cache hits, replayed into their areas
        nb.cells[A].source = "%%step a\nx = 1"
        client.execute_cell(nb.cells[A], A)
        back = saved(nb, tmp_path)

    cells = after_edit.cells
    for index, text in ((B, "y is 3"), (C, "z is 6"), (D, "20")):
        out = area(cells[index])
        assert out.data["text/plain"] == text, (index, out)
        assert text in out.data["text/html"]  # the static picture for viewers
        assert WIDGET in out.data  # and the live view in front ends with widgets
        assert out.metadata["flowyml"]["area"] == "bcd"[index - B]
        assert "done" in status(cells[index]), status(cells[index])
    summary = texts(cells[A])
    assert "flowyml auto: after 'a', 3 stale step(s): 3 done" in summary
    assert summary.index("b: done") < summary.index("c: done") < summary.index("d: done")
    assert "y is 3" not in summary  # outputs under their own cells, not the trigger's
    assert area(cells[A]).data["text/plain"] == ""

    for index, text in ((B, "y is 2"), (C, "z is 4"), (D, "10")):
        assert area(back.cells[index]).data["text/plain"] == text
        assert "cached" in status(back.cells[index]), status(back.cells[index])
    assert "3 stale step(s): 3 cached" in texts(back.cells[A])


def test_a_failure_stops_the_wave_and_its_traceback_is_under_its_own_cell(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    nb, client = notebook(tmp_path)
    nb.cells[C].source = "%%step c\nz = 10 / (y - 4)\nprint('z is', z)"
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        nb.cells[A].source = "%%step a\nx = 3"
        client.execute_cell(nb.cells[A], A)
        result = saved(nb, tmp_path)
    summary = texts(result.cells[A])
    assert "stopped at 'c', which failed" in summary, summary
    assert "c: failed: ZeroDivisionError: division by zero" in summary
    assert "d: stale (not run: the wave stopped before it)" in summary
    assert "Traceback" not in summary
    assert "ZeroDivisionError" in area(result.cells[C]).data["text/plain"]
    assert area(result.cells[B]).data["text/plain"] == "y is 4"
    assert area(result.cells[D]).data["text/plain"] == "10"  # not run: still its old output
    assert "failed" in status(result.cells[C])


def test_an_interrupt_stops_the_wave_after_the_current_step(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    nb, client = notebook(tmp_path)
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        nb.cells[A].source = "%%step a\nx = 9"  # b now sleeps for a minute
        # the stop button (nbclient's manager is async: interrupt from a loop of its own)
        timer = threading.Timer(5.0, lambda: asyncio.run(client.km.interrupt_kernel()))
        timer.start()
        started = time.monotonic()
        client.execute_cell(nb.cells[A], A)
        took = time.monotonic() - started
        timer.cancel()
        nb.cells.append(new_code_cell("%flowyml status"))
        client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
        result = saved(nb, tmp_path)
    assert took < 50, took  # the minute-long step was cut short
    summary = texts(result.cells[A])
    assert "stopped at 'b', which was interrupted" in summary, summary
    assert "c: stale (not run" in summary and "d: stale (not run" in summary
    assert "y is 10" in area(result.cells[B]).data["text/plain"]  # printed before the cut
    assert "KeyboardInterrupt" in area(result.cells[B]).data["text/plain"]
    assert "interrupted" in status(result.cells[B])
    table = texts(result.cells[-1])
    for step in ("b", "c", "d"):  # never half-written: nothing stored, all still stale
        line = next(ln for ln in table.splitlines() if ln.startswith(f"{step} "))
        assert "stale" in line, table


def test_nbconvert_html_shows_the_wave_without_widgets(tmp_path, monkeypatch):
    """Saved without widget state (JupyterLab's default), a notebook exported with nbconvert
    shows every step's new outputs under its own cell, its status line, the wave's summary
    and the DAG as plain HTML/SVG -- readable with no kernel and no widget manager."""
    from nbconvert import HTMLExporter

    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    nb, client = notebook(tmp_path)
    nb.cells.append(new_code_cell("%flowyml dag"))
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        nb.cells[A].source = "%%step a\nx = 2"
        client.execute_cell(nb.cells[A], A)
    result = saved(nb, tmp_path)
    result.metadata.pop("widgets", None)
    body, _ = HTMLExporter().from_notebook_node(result)
    cells = re.split(r'<div[^>]*class="jp-Cell jp-CodeCell', body)[1:]
    assert len(cells) == len(result.cells)
    visible = [_visible_text(c) for c in cells]
    for index, text in ((B, "y is 3"), (C, "z is 6"), (D, "20")):
        assert text in visible[index], visible[index]
        step = "bcd"[index - B]
        assert _tag("flowyml-area", cells[index]) == [{"data-step": step}]
        lines = _tag("flowyml-status", cells[index])
        assert [(t["data-step"], t["data-state"]) for t in lines] == [(step, "done")]
    assert "flowyml auto: after 'a', 3 stale step(s): 3 done" in visible[A]
    assert "y is 3" not in visible[A]
    dag = cells[-1]
    assert "flowyml-dag" in dag and ("<svg" in dag or "<table" in dag)
    assert "Error displaying widget" not in body and "Loading widget" not in body


def _tag(css_class: str, markup: str) -> list[dict[str, str]]:
    """The data- attributes of every element of class ``css_class`` (in any attribute order)."""
    tags = re.findall(rf'<div class="{css_class}"([^>]*)>', markup)
    return [dict(re.findall(r'(data-[a-z]+)="([^"]*)"', t)) for t in tags]


def _visible_text(markup: str) -> str:
    """The text a browser shows (no <script>/<style> bodies, entities decoded)."""
    markup = re.sub(r"<(script|style)[^>]*>.*?</\1>", "", markup, flags=re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


def test_steps_run_before_auto_was_on_show_their_outputs_under_the_trigger(tmp_path, monkeypatch):
    """Cells run before ``%flowyml auto on`` have no area: a wave still re-runs their steps,
    and their outputs are folded into the summary under the cell that started it."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    nb, client = notebook(tmp_path)
    nb.cells[AUTO].source = "%flowyml auto off"
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        nb.cells.append(new_code_cell("%flowyml auto on"))
        client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
        nb.cells[A].source = "%%step a\nx = 2"
        client.execute_cell(nb.cells[A], A)
        result = saved(nb, tmp_path)
    summary = next(o for o in result.cells[A].outputs if o.output_type == "display_data"
                   and o.data.get("text/plain", "").startswith("flowyml auto: after 'a'"))
    text = summary.data["text/plain"]
    assert "b: done" in text and "y is 3" in text and "z is 6" in text, text
    assert "its cell has no output area in this kernel" in summary.data["text/html"]
    assert "y is 2" in texts(result.cells[B])  # its old output, from before auto was on
    assert not any(o.get("metadata", {}).get("flowyml") for o in result.cells[B].outputs)


def test_run_upto_updates_the_areas_it_ran_and_the_dag_shown_above(tmp_path, monkeypatch):
    """``%flowyml run --upto c`` re-runs b and c as cells into their areas (d is left
    stale), and the DAG shown earlier in the notebook is redrawn in place."""
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    nb, client = notebook(tmp_path)
    nb.cells.append(new_code_cell("%flowyml dag"))
    dag_cell = len(nb.cells) - 1
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        for source in ("%flowyml auto off", "%%step a\nx = 5"):
            nb.cells.append(new_code_cell(source))
            client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
        nb.cells.append(new_code_cell("%flowyml run --upto c"))
        client.execute_cell(nb.cells[-1], len(nb.cells) - 1)
        result = saved(nb, tmp_path)
    assert area(result.cells[B]).data["text/plain"] == "y is 6"
    assert area(result.cells[C]).data["text/plain"] == "z is 12"
    assert area(result.cells[D]).data["text/plain"] == "10"
    summary = texts(result.cells[-1])
    assert "flowyml run --upto c: 2 step(s): 2 done" in summary, summary
    assert "y is 6" not in summary
    dag = next(o for o in result.cells[dag_cell].outputs if o.output_type == "display_data")
    drawn = dict(line.strip().split(": ", 1) for line in dag.data["text/plain"].splitlines()[1:])
    states = {step: text.split("  (")[0] for step, text in drawn.items()}
    assert states == {"a": "done", "b": "done", "c": "done", "d": "stale"}, dag.data["text/plain"]
