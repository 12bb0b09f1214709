"""The notebooks in notebooks/, executed through nbclient in a real ipykernel, twice."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from flowyml_jupyter.kernels import LocalKernelManager

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.slow


def _execute(path: Path) -> nbformat.NotebookNode:
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", kernel_manager_class=LocalKernelManager,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def _step_lines(nb: nbformat.NotebookNode) -> dict[str, str]:
    """Step cell -> the text/plain of the status widget shown under it."""
    lines = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.source.startswith("%%step"):
            shown = [o for o in cell.outputs if o.output_type == "display_data"
                     and WIDGET in o.data]
            assert shown, f"no status widget under {cell.source.splitlines()[0]!r}"
            data = shown[0].data
            assert "text/html" in data, "the widget carries a static HTML representation"
            lines[cell.source.splitlines()[0]] = data["text/plain"]
    return lines


@pytest.mark.parametrize("name", sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")))
def test_notebook_runs_twice_second_time_all_cached(name, tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / name
    shutil.copy(NOTEBOOKS / name, path)

    first = _step_lines(_execute(path))
    assert first and all("done" in line for line in first.values()), first

    second_nb = _execute(path)
    second = _step_lines(second_nb)
    assert second.keys() == first.keys()
    assert all("cached (saved" in line for line in second.values()), second

    texts = [o.data.get("text/plain", "") for c in second_nb.cells if c.cell_type == "code"
             for o in c.outputs if o.output_type == "display_data"]
    if "quickstart" in name:
        runs = [o.text for c in second_nb.cells if c.source.startswith("%flowyml run")
                for o in c.outputs if o.output_type == "stream"]
        assert any("loaded from cache" in t and "ran " not in t for t in runs), runs
        assert any("stale" in t and "input 'test_fraction' changed" in t for t in texts)
        assert any(t.startswith("flowyml DAG") for t in texts), "the DAG widget is shown"


REPLAY_CELLS = [
    "%load_ext flowyml",
    "%%step\nimport pandas as pd\ntable = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})\n"
    "print('made', len(table), 'rows')\ntable",
    "%%step\nimport matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])\n"
    "ax.set_title('replayed')\nprint('plotted')",
    "%%step\nlines = len(ax.lines)\nlines",
]


def _outputs(nb: nbformat.NotebookNode) -> list[list[tuple[str, str]]]:
    """Per step cell: (kind, content) of what it showed, the status line left out."""
    shown = []
    for cell in nb.cells[1:]:
        items = []
        for out in cell.outputs:
            if out.output_type == "stream":
                items.append(("stream", out.text))
            elif out.output_type in ("display_data", "execute_result"):
                if WIDGET in out.data or out.data.get("text/plain", "").startswith("step '"):
                    continue
                for mime in ("image/png", "text/html", "text/plain"):
                    if mime in out.data:
                        items.append((mime, out.data[mime]))
                        break
            elif out.output_type == "error":
                items.append(("error", out.evalue))
        shown.append(items)
    return shown


def test_replay_of_a_figure_and_a_table_after_a_kernel_restart(tmp_path, monkeypatch):
    pytest.importorskip("pandas")
    pytest.importorskip("matplotlib")
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "replay.ipynb"
    nb = new_notebook(cells=[new_code_cell(s) for s in REPLAY_CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)

    first_nb = _execute(path)  # a kernel of its own: the second run is a restarted kernel
    first = _outputs(first_nb)
    assert all("done" in line for line in _step_lines(first_nb).values())
    second_nb = _execute(path)
    second = _outputs(second_nb)
    assert all("cached (saved" in line for line in _step_lines(second_nb).values())

    results = [[o.output_type for o in c.outputs if o.output_type == "execute_result"]
               for c in second_nb.cells[1:]]
    assert results == [["execute_result"], [], ["execute_result"]]  # with its Out[n] prompt
    assert [k for k, _ in first[0]] == ["stream", "text/html"]
    assert "<table" in first[0][1][1]
    assert [k for k, _ in first[1]] == ["stream", "image/png"]  # one figure, shown once
    assert first[2] == [("text/plain", "1")]
    assert second == first  # the same text, table, image and value, in the same order


PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def test_an_image_given_as_raw_bytes_replays_as_the_same_image(tmp_path, monkeypatch):
    """sympy's ``init_printing`` shows expressions as PNG made by a ``_repr_png_`` that
    returns raw bytes (the kernel base64-encodes them on the wire). The recording stored
    ``str(bytes)``, so after a restart the hit showed a broken image."""
    from nbformat.v4 import new_code_cell, new_notebook

    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "png.ipynb"
    cells = ["%load_ext flowyml",
             f"import base64\nPNG = base64.b64decode({PNG_B64!r})\n"
             "class Png:\n    def _repr_png_(self):\n        return PNG\n"
             "    def __repr__(self):\n        return 'Png()'",
             "%%step\nsize = len(PNG)\nPng()"]
    nb = new_notebook(cells=[new_code_cell(s) for s in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    shown = []
    for run in range(2):
        out = _execute(path)
        assert ("cached (saved" in _step_lines(out)["%%step"]) == (run == 1)
        results = [o for o in out.cells[2].outputs if o.output_type == "execute_result"]
        shown.append(results[0].data["image/png"])
    assert shown == [PNG_B64, PNG_B64]


def _iopub_of(kc, code: str) -> list[dict]:
    """Every iopub message one execution sends (in order), up to the kernel going idle."""
    msg_id = kc.execute(code)
    messages = []
    while True:
        msg = kc.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        messages.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=60)
    assert reply["content"]["status"] == "ok", reply["content"]
    return messages


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    km = LocalKernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=60)
    try:
        _iopub_of(kc, "%load_ext flowyml")
        _iopub_of(kc, "%%step\nwarm = 1")  # the shared layout and style models: once
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _kinds(messages: list[dict]) -> list[str]:
    return [m["msg_type"] for m in messages
            if m["msg_type"] not in ("status", "execute_input")]


def test_a_quick_step_cell_sends_three_widget_messages(kernel):
    """One line shown before the body (display_data), the widget made in its final state
    (one comm_open: a single HTML model) and shown in that line's place
    (update_display_data): no comm update messages, on a miss and on a hit."""
    for code in ("%%step\nx = 1\nprint(x)", "%%step\nx = 1\nprint(x)"):
        messages = _iopub_of(kernel, code)
        kinds = _kinds(messages)
        assert sorted(k for k in kinds if k != "stream") == [
            "comm_open", "display_data", "update_display_data"], kinds
        assert "stream" in kinds  # the print (run, then replayed)
        shown = next(m for m in messages if m["msg_type"] == "display_data")
        final = next(m for m in messages if m["msg_type"] == "update_display_data")
        assert shown["content"]["transient"] == final["content"]["transient"]  # same display
        assert shown["content"]["data"]["text/plain"].startswith("step 'x': running")
        assert WIDGET in final["content"]["data"]
        opened = [m["content"]["data"]["state"] for m in messages if m["msg_type"] == "comm_open"]
        html = [s["value"] for s in opened if s.get("_model_name") == "HTMLModel"]
        assert html and final["content"]["data"]["text/html"] == html[0]  # final at opening


def test_a_slow_step_cell_shows_running_then_its_retry_then_the_final_state(kernel):
    """Live for long cells: "running" before the body, the retry in place, and the final
    state (duration, attempts) replacing it, above what the cell printed."""
    _iopub_of(kernel, "tries = []")
    code = ("%%step --retries 1\nimport time\ntime.sleep(0.3)\ntries.append(1)\n"
            "print('attempt', len(tries))\nif len(tries) < 2:\n    raise OSError('busy')\n"
            "slow = len(tries)")
    messages = _iopub_of(kernel, code)
    displays = [m for m in messages if m["msg_type"] in ("display_data", "update_display_data")]
    texts = [m["content"]["data"]["text/plain"] for m in displays]
    assert displays[0]["msg_type"] == "display_data" and texts[0].startswith(
        "step 'slow': running"), texts
    assert any("attempt 2" in t and "retrying after OSError: busy" in t for t in texts[1:-1]), texts
    assert "done in" in texts[-1] and "(2 attempts)" in texts[-1], texts
    assert WIDGET in displays[-1]["content"]["data"]
    first_print = next(i for i, m in enumerate(messages) if m["msg_type"] == "stream")
    assert messages.index(displays[0]) < first_print  # the status line is above the prints
