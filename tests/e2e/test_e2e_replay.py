"""A cache hit shows again what the step cell showed, after a kernel restart, in a real
JupyterLab and a real Chromium, as a user sees it.

A small notebook: ``%load_ext flowyml``, a bare ``%%step`` cell ending with a pandas
DataFrame (an HTML table), a bare ``%%step`` cell that draws a matplotlib figure (the
kernel's default inline backend) and prints a line, and a display-only ``%%step`` cell.
Run all → every status line says done and each cell shows its table / figure / text; restart
the kernel from the "Kernel" menu (and its confirm dialog) → run all → every status line says
cached, and under each step the replayed table (a ``<table>``), figure (an ``<img>`` with a
PNG that loads) and printed text are there, once each and in the order of the first run. A
screenshot of the replayed figure cell is kept in the test's ``artifacts`` folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NOTEBOOK = "replay.ipynb"
PRINTED = "plotted 3 bars"
CELLS = [
    "%load_ext flowyml",
    "%%step\nimport pandas as pd\n"
    "scores = pd.DataFrame({'model': ['tree', 'forest', 'boost'], 'accuracy': [0.81, 0.87, 0.9]})\n"
    "scores",
    "%%step\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots(figsize=(4, 3))\n"
    "ax.bar(scores['model'], scores['accuracy'])\nax.set_title('accuracy by model')\n"
    "print('plotted', len(scores), 'bars')",
    "%%step\nscores.head(2)",
]
TABLE, FIGURE, DISPLAY = 1, 2, 3
STEP_CELLS = (TABLE, FIGURE, DISPLAY)
WIDGET = "application/vnd.jupyter.widget-view+json"
STDOUT = "application/vnd.jupyter.stdout"


def write_notebook(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in CELLS]
    nbformat.write(nb, folder / NOTEBOOK)
    return folder


def shown(lab, index: int) -> list[dict[str, Any]]:
    """Cell ``index``'s outputs other than widget views (the step's status line)."""
    lab.wait_images_loaded(index)
    return [out for out in lab.outputs(index) if out["mime"] != WIDGET]


def states(lab) -> dict[int, list[str]]:
    """``{cell index: [state of each status line it shows]}`` for the step cells."""
    lines = lab.step_statuses()
    return {index: [line["state"] for line in lines[index]] for index in STEP_CELLS}


def assert_shows_table(outputs: list[dict[str, Any]], where: str) -> None:
    assert [out["mime"] for out in outputs] == ["text/html"], f"{where}: {outputs}"
    assert outputs[0]["tables"] == 1, f"{where}: {outputs}"
    assert "tree" in outputs[0]["text"] and "accuracy" in outputs[0]["text"], f"{where}: {outputs}"


def assert_shows_figure(outputs: list[dict[str, Any]], where: str) -> None:
    # print() runs in the body; the inline backend shows the figure when the cell ends
    assert [out["mime"] for out in outputs] == [STDOUT, "image/png"], f"{where}: {outputs}"
    assert outputs[0]["text"] == PRINTED, f"{where}: {outputs}"
    images = outputs[1]["images"]
    assert len(images) == 1, f"{where}: {outputs}"
    assert images[0]["src"].startswith("data:image/png"), f"{where}: {images}"
    assert images[0]["complete"] and images[0]["width"] > 0 and images[0]["height"] > 0, f"{where}: {images}"


def test_cached_steps_replay_table_figure_and_text_after_a_kernel_restart(tmp_path, start_lab, open_page, artifacts):
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    server = start_lab(write_notebook(tmp_path / "notebooks"))
    lab = open_page(server)
    lab.open(NOTEBOOK)

    # 1. first run: every step computes and shows what its body shows
    lab.run_all()
    lab.wait_widgets_settled()
    assert lab.widget_errors() == [], lab.widget_errors()
    assert states(lab) == {index: ["done"] for index in STEP_CELLS}, lab.step_statuses()
    first = {index: shown(lab, index) for index in STEP_CELLS}
    assert_shows_table(first[TABLE], "first run, table cell")
    assert_shows_figure(first[FIGURE], "first run, figure cell")
    assert_shows_table(first[DISPLAY], "first run, display-only cell")
    assert "boost" not in first[DISPLAY][0]["text"], first[DISPLAY]  # head(2)
    lab.screenshot("figure-cell-done", lab.cell(FIGURE))

    # 2. restart the kernel as a user does: a new kernel process, nothing in memory
    before = server.kernel_pids()
    assert len(before) == 1, before
    lab.restart_kernel()
    after = server.kernel_pids()
    assert len(after) == 1 and after != before, (before, after)

    # 3. run all again: every step is a cache hit and shows the same outputs again
    lab.run_all()
    lab.wait_widgets_settled()
    assert lab.widget_errors() == [], lab.widget_errors()
    assert lab.prompts() == [f"[{n}]:" for n in range(1, len(CELLS) + 1)], lab.prompts()  # the new kernel ran them
    assert states(lab) == {index: ["cached"] for index in STEP_CELLS}, lab.step_statuses()
    assert all("cached" in line["text"] for index in STEP_CELLS for line in lab.step_statuses()[index])
    second = {index: shown(lab, index) for index in STEP_CELLS}
    picture = lab.screenshot("figure-cell-replayed", lab.cell(FIGURE))
    assert picture.stat().st_size > 0
    assert_shows_table(second[TABLE], "after restart, table cell")
    assert_shows_figure(second[FIGURE], "after restart, figure cell")
    assert_shows_table(second[DISPLAY], "after restart, display-only cell")
    # the same text, tables and image size, in the same order, nothing shown twice
    assert second == first

    # the replayed outputs sit under the status line, in the cell's own output area
    for index in STEP_CELLS:
        mimes = [out["mime"] for out in lab.outputs(index)]
        assert mimes[0] == WIDGET and WIDGET not in mimes[1:], (index, mimes)
    assert lab.console_errors_matching("widget") == []
    assert server.stop() == []
