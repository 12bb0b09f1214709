"""Reactive mode in a real browser, in JupyterLab 4 and in Notebook 7, as a user drives it.

Run all with ``%flowyml auto on``; edit the upstream cell and run it: the downstream step
cells' outputs and status lines change in place under their own cells (widget updates:
these front ends route a cell's display updates only to that cell), and the edited cell
says what its wave did. Restart the kernel and run all: every step is a cache hit and its
outputs are replayed under its cell. ``FLOWYML_SAVE_SCREENSHOTS=1`` copies the JupyterLab
screenshot to docs/screenshots/reactive.png (the README's picture).
"""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTEBOOK = "reactive.ipynb"
CELLS = [
    "%load_ext flowyml",
    "%flowyml auto on",
    "%%step a\nx = 1",
    "%%step b\ny = x + 1\nprint('y is', y)",
    "%%step c\nz = y * 2\nprint('z is', z)",
    "%%step d\nw = x * 10\nw",
]
A, B, C, D = 2, 3, 4, 5
DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def write_notebook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nbformat.write(nb, folder / NOTEBOOK)
    return folder


def areas(lab) -> dict[int, str]:
    """What each downstream step cell's output area shows (its Output widget's text)."""
    return {i: lab.cell(i).locator(".flowyml-area-widget").inner_text().strip() for i in (B, C, D)}


def states(lab) -> dict[int, list[str]]:
    lines = lab.step_statuses()
    return {i: [line["state"] for line in lines[i]] for i in (A, B, C, D)}


def wait_for_areas(lab, expected: dict[int, str], timeout_s: float = 30) -> None:
    for _ in range(int(timeout_s * 4)):
        if areas(lab) == expected:
            return
        lab.page.wait_for_timeout(250)
    assert areas(lab) == expected


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_an_upstream_edit_updates_downstream_cells_and_a_restart_replays(
        tmp_path, start_lab, open_page, artifacts, app):
    server = start_lab(write_notebook(tmp_path / "notebooks"), app=app)
    lab = open_page(server)
    lab.open(NOTEBOOK)
    assert ("/notebooks/" if app == "notebook" else "/lab/tree/") in lab.page.url, lab.page.url

    lab.run_all()
    lab.wait_widgets_settled()
    assert lab.widget_errors() == [], lab.widget_errors()
    wait_for_areas(lab, {B: "y is 2", C: "z is 4", D: "10"})
    assert states(lab) == {i: ["done"] for i in (A, B, C, D)}, lab.step_statuses()

    # edit the upstream cell and run it (Ctrl+Enter): b, c and d re-run in its wake
    lab.type_into(A, "%%step a\nx = 2", replace=True)
    lab.run_cell(A)
    lab.wait_widgets_settled()
    wait_for_areas(lab, {B: "y is 3", C: "z is 6", D: "20"})
    assert states(lab) == {i: ["done"] for i in (A, B, C, D)}, lab.step_statuses()
    summary = lab.cell(A).locator(".jp-Cell-outputArea").inner_text()
    assert "after 'a', 3 stale step(s): 3 done" in summary, summary
    assert "y is 3" not in summary  # outputs stay under their own cells
    assert lab.widget_errors() == [], lab.widget_errors()
    picture = lab.screenshot(f"reactive-{app}")
    if app == "lab" and os.environ.get("FLOWYML_SAVE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        lab.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").screenshot(
            path=str(DOCS / "reactive.png"))
    assert picture.stat().st_size > 0

    # restart the kernel and run all: every step a cache hit, its outputs replayed
    lab.restart_kernel()
    lab.run_all()
    lab.wait_widgets_settled()
    assert lab.widget_errors() == [], lab.widget_errors()
    wait_for_areas(lab, {B: "y is 3", C: "z is 6", D: "20"})
    assert states(lab) == {i: ["cached"] for i in (A, B, C, D)}, lab.step_statuses()
    assert lab.console_errors_matching("widget") == []
    assert server.stop() == []


def test_without_a_widget_manager_status_dag_and_the_wave_summary_are_plain_html(
        tmp_path, start_lab, open_page):
    """JupyterLab with the ipywidgets manager turned off (as in a front end without one):
    no widget renders, so each status line, output area and the DAG show their static
    HTML/SVG; a wave cannot update the other cells, and the summary under the edited cell
    names each step and its new state."""
    folder = write_notebook(tmp_path / "notebooks")
    nb = nbformat.read(folder / NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("%flowyml dag"))
    nbformat.write(nb, folder / NOTEBOOK)
    server = start_lab(folder, disabled=("@jupyter-widgets/jupyterlab-manager",))
    lab = open_page(server)
    lab.open(NOTEBOOK)
    lab.run_all()
    assert states(lab) == {i: ["done"] for i in (A, B, C, D)}, lab.step_statuses()
    for index, text in ((B, "y is 2"), (C, "z is 4"), (D, "10")):
        static = lab.cell(index).locator(".flowyml-area").inner_text().strip()
        assert static == text, (index, static)
    dag = lab.cell(len(CELLS)).locator(".flowyml-dag")
    assert dag.count() >= 1 and (dag.locator("svg").count() or dag.locator("table").count())
    nodes = dag.first.evaluate("""dag => Array.from(dag.querySelectorAll('.flowyml-node')).map(n => [
        (n.tagName.toLowerCase() === 'tr' ? n.querySelector('b') : n.querySelector('text')).textContent.trim(),
        /flowyml-state-(\\S+)/.exec(n.getAttribute('class'))[1]])""")
    assert sorted(nodes) == [["a", "done"], ["b", "done"], ["c", "done"], ["d", "done"]], nodes

    lab.type_into(A, "%%step a\nx = 2", replace=True)
    lab.run_cell(A)
    rows = lab.cell(A).locator(".flowyml-wave tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.step, r.dataset.state, r.innerText.trim()])")
    assert [(s, st) for s, st, _ in rows] == [("b", "done"), ("c", "done"), ("d", "done")], rows
    assert "after 'a', 3 stale step(s): 3 done" in lab.cell(A).locator(".flowyml-wave").inner_text()
    assert server.stop() == []
