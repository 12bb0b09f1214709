"""The browser harness itself, on plain ipywidgets: it must see widgets render and update,
and it must notice when the front end fails to show one."""

from __future__ import annotations

import nbformat
import pytest

from tests.e2e.lab import WIDGET_ERRORS

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _write_notebook(folder, cells: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(src) for src in cells]
    nbformat.write(nb, folder / "plain.ipynb")


def test_lab_renders_and_updates_plain_widgets(tmp_path, start_lab, open_page):
    notebooks = tmp_path / "notebooks"
    _write_notebook(
        notebooks,
        [
            "import ipywidgets as w\nlabel = w.Label('label-before')\nlabel",
            "w.VBox([w.HTML('<b>html-widget-text</b>'), w.IntProgress(value=3, max=4)])",
            "label.value = 'label-after'",
        ],
    )
    server = start_lab(notebooks)
    lab = open_page(server)
    lab.open("plain.ipynb")
    lab.run_all()
    lab.wait_widgets_settled()

    assert "label-after" in lab.output_text(0)
    assert "html-widget-text" in lab.output_text(1)
    assert lab.cell(1).locator(".widget-hprogress, .widget-progress").count() == 1
    assert lab.widget_errors() == []

    # The harness notices a widget the front end cannot show.
    index = lab.add_code_cell_at_end(
        "from IPython.display import display\n"
        "display({'application/vnd.jupyter.widget-view+json':"
        " {'model_id': 'no-such-model', 'version_major': 2, 'version_minor': 0}}, raw=True)"
    )
    lab.run_cell(index)
    lab.wait_widgets_settled()
    lab.screenshot("plain-widgets")
    assert any(err in lab.output_text(index) for err in WIDGET_ERRORS)
    assert lab.widget_errors()

    assert server.stop() == []
