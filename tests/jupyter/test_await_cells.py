"""Cells that await at top level (``await``, ``async for``, ``async with``), as IPython
allows in any cell, are steps like any other: in a real kernel the body runs in the
kernel's own event loop (so objects other cells made on it work), is cached, and after a
restart hits and shows what plain Python showed. The time limit and reactive waves hold.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from .kernel_runs import printed, run_cells, status, three_runs

pytestmark = pytest.mark.slow

CELLS = [
    "import asyncio\nloop = asyncio.get_running_loop()",  # plain: the kernel's loop
    "%%step\nasync def fetch(i):\n    await asyncio.sleep(0.01)\n    return i * i\n",
    "%%step\nsquares = await asyncio.gather(*[fetch(i) for i in range(5)])\n"
    "print(squares)\nprint('in the kernel loop:', asyncio.get_running_loop() is loop)\n",
    "%%step\nasync def ticks(n):\n    for i in range(n):\n        await asyncio.sleep(0)\n"
    "        yield i\n\nseen = [i async for i in ticks(3)]\nasync for i in ticks(2):\n"
    "    print('tick', i)\n",
    "%%step\nlock = None\nasync with asyncio.timeout(5):\n"
    "    total = await asyncio.sleep(0, result=sum(squares) + sum(seen))\ntotal\n",
    "%%step\ndoubled = total * 2\ndoubled\n",  # reads what an awaiting cell made
]


def _view(outputs):
    return printed(outputs, results=True, errors=True)


def test_cells_that_await_run_hit_after_a_restart_and_show_what_plain_shows(tmp_path):
    plain, first, again, statuses = three_runs(tmp_path, CELLS, view=_view)
    assert plain[2] == "[0, 1, 4, 9, 16]\nin the kernel loop: True\n", plain
    assert plain[3] == "tick 0\ntick 1\n" and plain[4] == "out: 33\n" and plain[5] == "out: 66\n"
    assert first == plain, first
    assert again == plain, again
    assert all("cached" in s for s in statuses[1:]), statuses


def test_an_awaiting_cell_keeps_its_time_limit(tmp_path):
    cells = ["import asyncio",
             "%%step --timeout 0.5\nawait asyncio.sleep(60)\nslow = 1\n",
             "%%step\nquick = await asyncio.sleep(0, result=3)\nquick\n"]
    runs = run_cells(tmp_path, cells)
    assert "timed out" in status(runs[1]) and "timed out after 0.5 s" in status(runs[1]), runs[1]
    errors = [o for o in runs[1] if o.output_type == "error"]
    assert errors and errors[-1].ename == "StepRunError" and "timed_out" in errors[-1].evalue
    assert "done" in status(runs[2]) and printed(runs[2], results=True) == "out: 3\n"


def test_a_wave_re_runs_a_cell_that_awaits(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOWYML_CACHE_DIR", str(tmp_path / "cache"))
    sources = ["%load_ext flowyml", "%flowyml auto on", "%%step a\nx = 1",
               "%%step b\nimport asyncio\ny = await asyncio.sleep(0, result=x + 1)\n"
               "print('y is', y)"]
    nb = new_notebook(cells=[new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        nb.cells[2].source = "%%step a\nx = 2"  # the user edits a: b re-runs in its wake
        client.execute_cell(nb.cells[2], 2)
    path = tmp_path / "wave.ipynb"
    nbformat.write(nb, path)
    b = nbformat.read(path, as_version=4).cells[3]
    areas = [o for o in b.outputs if o.output_type == "display_data"
             and o.get("metadata", {}).get("flowyml", {}).get("area")]
    assert len(areas) == 1 and areas[0].data["text/plain"] == "y is 3", b.outputs
    summary = "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "")
                      for o in nb.cells[2].outputs)
    assert "b: done" in summary and "failed" not in summary, summary


def test_in_ipython_a_cell_that_awaits_is_a_step(ip, capsys):
    """IPython (not a kernel): its own event loop runs the cell."""
    ip.run_cell("import asyncio")
    cell = "%%step\nv = await asyncio.sleep(0, result=7)\nprint('v', v)\n"
    result = ip.run_cell(cell)
    assert result.error_in_exec is None, result.error_in_exec
    assert "v 7" in capsys.readouterr().out
    ip.restart()
    ip.run_cell("import asyncio")
    ip.run_cell(cell)
    out = capsys.readouterr().out
    assert "v 7" in out and "step 'v': cached" in out, out
    assert ip.user_ns["v"] == 7


def test_a_cell_that_only_defines_a_coroutine_function_is_no_awaiting_cell(ip, capsys):
    ip.run_cell("import asyncio")
    ip.run_cell("%%step\nasync def f():\n    return await asyncio.sleep(0, result=1)\n")
    assert ip.user_ns["f"].__code__.co_flags & 0x80  # a coroutine function, defined
    ip.run_cell("%%step\nr = await f()\nr\n")
    assert ip.user_ns["r"] == 1


def test_step_cell_transform_leaves_other_cells_alone(ip):
    transform = ip.input_transformer_manager.transform_cell
    assert "run_cell_magic('step'" in transform("%%step\nx = 1\n")
    assert "run_cell_magic('step'" in transform("%%step\nasync def f():\n    await g()\n")
    assert "step_async" in transform("%%step --timeout 2\nx = await g()\n")
    assert "step_async" not in transform("%%stepper\nx = await g()\n")
    assert transform("x = await g()\n") == "x = await g()\n"
    ip.autoawait = False  # `%autoawait off`: a top-level await is plain's SyntaxError
    try:
        assert "step_async" not in transform("%%step\nx = await g()\n")
    finally:
        ip.autoawait = True


def test_exported_awaiting_cells_keep_the_notebooks_keys(tmp_path):
    """The exported module's step is an ``async def``; it hits what the notebook stored."""
    import subprocess
    import sys

    cells = CELLS[1:3]
    cells = ["import asyncio\nloop = None", *cells]
    run_cells(tmp_path, cells)
    nb = new_notebook(cells=[new_code_cell(s) for s in cells])
    nbformat.write(nb, tmp_path / "a.ipynb")
    cache = Path(__import__("os").environ["FLOWYML_CACHE_DIR"])
    subprocess.run([sys.executable, "-m", "flowyml", "export", "a.ipynb", "-o", "mod.py"],
                   cwd=tmp_path, check=True, capture_output=True)
    assert "async def squares" in (tmp_path / "mod.py").read_text()
    out = subprocess.run([sys.executable, "-m", "flowyml", "run", "mod.py"], cwd=tmp_path,
                         capture_output=True, text=True,
                         env={**__import__("os").environ, "FLOWYML_CACHE_DIR": str(cache)})
    assert out.returncode == 0, out.stderr
    assert "2 cached" in out.stdout, out.stdout
