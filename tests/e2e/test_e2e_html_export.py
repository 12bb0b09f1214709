"""The quickstart notebook, executed in a real kernel and exported with ``jupyter nbconvert
--to html``, shows the DAG and every step's status without a kernel.

Two ways a notebook gets saved:
- without widget state (JupyterLab's default "save widget state" is off): nbconvert shows
  each widget's static ``text/html``, so the DAG and statuses are plain markup, and Chromium
  draws them from a file:// URL with no network at all;
- with widget state (nbclient's default, used to execute notebooks headless): nbconvert
  embeds the widget views and their saved state for the ipywidgets HTML manager; the state
  must hold the final drawing and statuses (not a "running" snapshot).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest

from tests.e2e.expected import NOTEBOOKS, QUICKSTART, notebook_steps
from tests.e2e.lab import WIDGET_ERRORS, copy_tree

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(not QUICKSTART.exists(), reason=f"{QUICKSTART} does not exist yet"),
]

STATUS = re.compile(r'<div class="flowyml-status" data-step="([^"]+)" data-state="([^"]+)"')


class _VisibleMarkup(HTMLParser):
    """The tags and text a browser shows, without <script>/<style> bodies (where saved widget
    state carries HTML as escaped JSON strings)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif not self._hidden:
            self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.text.append(data.strip())


def execute_and_export(folder: Path, store_widget_state: bool) -> Path:
    """Run quickstart.ipynb with nbclient in a real ipykernel, save it, convert it to HTML."""
    from nbclient import NotebookClient

    from flowyml_jupyter.kernels import LocalKernelManager

    work = copy_tree(NOTEBOOKS, folder / "notebooks")
    nb = nbformat.read(work / QUICKSTART.name, as_version=4)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLOWYML_CACHE_DIR", str(folder / "cache"))
        mp.setenv("IPYTHONDIR", str(folder / "ipython"))
        client = NotebookClient(
            nb,
            timeout=300,
            kernel_name="python3",
            kernel_manager_class=LocalKernelManager,
            store_widget_state=store_widget_state,
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()
    executed = work / "executed.ipynb"
    nbformat.write(nb, executed)
    subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "html", str(executed)],
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "JUPYTER_PLATFORM_DIRS": "1"},
    )
    return executed.with_suffix(".html")


@pytest.fixture(scope="module")
def html_without_state(tmp_path_factory) -> Path:
    return execute_and_export(tmp_path_factory.mktemp("plain"), store_widget_state=False)


def test_static_html_has_the_dag_and_statuses_as_markup(html_without_state):
    steps = set(notebook_steps(QUICKSTART))
    page = _VisibleMarkup()
    page.feed(html_without_state.read_text(encoding="utf-8"))
    statuses = {attrs["data-step"]: attrs.get("data-state") for _, attrs in page.tags if "data-step" in attrs}
    assert statuses == dict.fromkeys(steps, "done"), statuses
    nodes = [attrs for tag, attrs in page.tags if tag == "g" and "flowyml-node" in attrs.get("class", "")]
    assert len(nodes) == len(steps), f"{len(nodes)} drawn DAG nodes for {len(steps)} steps"
    text = " ".join(page.text)
    for step in steps:
        assert re.search(rf"\b{re.escape(step)}\b", text), f"step {step!r} is not shown"
    assert not any(err in text for err in WIDGET_ERRORS)


def test_static_html_renders_offline_in_chromium(html_without_state, chromium):
    steps = set(notebook_steps(QUICKSTART))
    context = chromium.new_context(viewport={"width": 1200, "height": 900}, offline=True)
    try:
        page = context.new_page()
        page.goto(html_without_state.as_uri(), wait_until="load")
        shown = page.evaluate(
            """() => {
                const visible = el => el.getClientRects().length > 0;
                const dags = Array.from(document.querySelectorAll('.flowyml-dag svg')).filter(visible);
                const nodes = dags.length
                    ? Array.from(dags[dags.length - 1].querySelectorAll('g.flowyml-node'))
                          .map(g => [g.querySelector('text').textContent.trim(),
                                     /flowyml-state-(\\S+)/.exec(g.getAttribute('class'))[1]])
                    : [];
                const statuses = Array.from(document.querySelectorAll('div.flowyml-status[data-step]'))
                    .filter(visible).map(n => [n.dataset.step, n.dataset.state]);
                return {nodes, statuses, text: document.body.innerText};
            }"""
        )
        dag = page.locator(".flowyml-dag svg").last
        dag.scroll_into_view_if_needed()
        dag.screenshot(path=str(html_without_state.with_name("static-dag.png")))
    finally:
        context.close()
    assert dict(shown["nodes"]) == dict.fromkeys(steps, "done"), shown["nodes"]
    assert dict(shown["statuses"]) == dict.fromkeys(steps, "done"), shown["statuses"]
    assert not any(err in shown["text"] for err in WIDGET_ERRORS)


def test_html_with_widget_state_carries_the_final_state(tmp_path):
    steps = set(notebook_steps(QUICKSTART))
    page = execute_and_export(tmp_path, store_widget_state=True).read_text(encoding="utf-8")
    match = re.search(r'<script type="application/vnd\.jupyter\.widget-state\+json">\s*(.*?)\s*</script>', page, re.S)
    assert match, "nbconvert did not embed the widget state"
    state = json.loads(match.group(1))["state"]
    html_values = [m["state"].get("value", "") for m in state.values() if m["model_name"] == "HTMLModel"]
    statuses = dict(STATUS.findall("".join(html_values)))
    assert statuses == dict.fromkeys(steps, "done"), statuses
    dags = [v for v in html_values if "flowyml-dag" in v]
    assert dags and "<svg" in dags[-1]
    drawn = re.findall(r'class="node flowyml-node flowyml-state-(\w+)"', html.unescape(dags[-1]))
    assert drawn == ["done"] * len(steps), drawn
    views = re.findall(r'<script type="application/vnd\.jupyter\.widget-view\+json">\s*(.*?)\s*</script>', page, re.S)
    assert {json.loads(v)["model_id"] for v in views} <= set(state), "a widget view has no saved model"
