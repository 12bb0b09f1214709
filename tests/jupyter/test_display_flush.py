"""Status lines skip ipykernel's stream flush before each display only where that was
tested: the private ``display_pub._flush_streams`` of the pinned ipykernel range. Anywhere
else (another ipykernel, a publisher without it) the displays keep the flush and still show
and update the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from flowyml_jupyter import widgets
from flowyml_jupyter.kernels import LocalKernelManager

from .conftest import step_cell

nbclient = pytest.importorskip("nbclient")
ipykernel = pytest.importorskip("ipykernel")
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

PROBE = ("import json, ipykernel\npub = get_ipython().display_pub\n"
         "print('PROBE ' + json.dumps({'shadowed': '_flush_streams' in vars(pub), "
         "'method': callable(getattr(type(pub), '_flush_streams', None))}))")


def test_the_skip_is_limited_to_the_pinned_ipykernel_range():
    [spec] = re.findall(r'"(ipykernel[^"]*)"', PYPROJECT.read_text())  # the test extra's pin
    low, high = re.findall(r"[<>]=?\s*([\d.]+)", spec)
    assert (widgets._version(low), widgets._version(high)) == widgets.FLUSH_SKIP_TESTED, spec
    low_v, high_v = widgets.FLUSH_SKIP_TESTED
    assert low_v <= widgets._version(ipykernel.__version__) < high_v, (
        "the installed ipykernel is outside the tested range: check that "
        "ZMQDisplayPublisher._flush_streams still exists and does only the flush, then widen "
        "FLUSH_SKIP_TESTED and the pin in pyproject.toml")


def _run(tmp_path, *sources):
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            kernel_manager_class=LocalKernelManager,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def _step_outputs(cell):
    """(kinds in order, the status line's final text) of a step cell's outputs."""
    kinds = [o.get("name") or o.output_type for o in cell.outputs]
    status = [o["data"]["text/plain"] for o in cell.outputs if o.output_type == "display_data"]
    return kinds, status


@pytest.mark.parametrize("version", [None, "99.0.0"], ids=["tested-ipykernel", "other-ipykernel"])
def test_status_lines_in_a_real_kernel_with_and_without_the_skip(tmp_path, monkeypatch, version):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    pretend = f"import ipykernel\nipykernel.__version__ = {version!r}" if version else "pass"
    nb = _run(tmp_path, pretend, "%load_ext flowyml",
              "%%step\nprint('made', 1)\nmade = 1",
              "%%step\nprint('made', 1)\nmade = 1",  # a hit: the printed text is replayed
              f"from flowyml_jupyter.widgets import can_skip_flush\n{PROBE}\n"
              "print('SKIPS', can_skip_flush(pub))")
    for cell, state in ((nb.cells[2], "done"), (nb.cells[3], "cached")):
        kinds, status = _step_outputs(cell)
        assert kinds == ["display_data", "stdout"], kinds  # the line, then what it printed
        assert cell.outputs[1]["text"] == "made 1\n"
        assert state in status[-1], status
    text = "".join(o.get("text", "") for o in nb.cells[4].outputs)
    probe = text.split("PROBE ", 1)[1].splitlines()[0]
    assert probe == '{"shadowed": false, "method": true}', "the flush must be restored"
    assert ("SKIPS True" in text) is (version is None), text


def test_a_publisher_without_the_private_flush_is_left_alone(ip, capsys):
    """IPython's own display publisher (a terminal, this test shell) has no
    ``_flush_streams``: nothing is replaced, and the step's status line is shown."""
    assert not widgets.can_skip_flush(ip.display_pub)

    class Renamed:  # a future ipykernel where the method has another name
        def _flush_stdio(self):
            pass

    assert not widgets.can_skip_flush(Renamed())
    with widgets.unflushed():
        pass
    step_cell(ip, "", "value = 3")
    assert "step 'value': done" in capsys.readouterr().out
