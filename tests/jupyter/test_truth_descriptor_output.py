"""What a cell's code writes to the process's file descriptors 1 and 2 rather than through
``sys.stdout``/``sys.stderr`` (a child process it starts, a C library, the workers of
scikit-learn's ``GridSearchCV(n_jobs=-1)`` warning once a fit) reaches the notebook through
ipykernel's own thread; it is part of what the cell showed, so a hit shows it too (it left
it out: Chris Albon's grid search notebook showed one warning of some 300 after a restart).
Real kernels through nbclient, compared with plain Python (SPEC §9)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .kernel_runs import everything, three_runs

pytestmark = pytest.mark.slow


def _joined(outputs: list) -> str:
    """:func:`everything`, a stream's adjacent chunks as one: ipykernel's thread forwards
    what reaches the descriptors in pieces of its own choosing (a child's one line came as
    "from a child" and " 42" under load, in plain Python too)."""
    merged: list = []
    for o in outputs:
        if merged and o.output_type == "stream" and merged[-1].output_type == "stream" \
                and merged[-1].name == o.name:
            merged[-1] = type(o)({**merged[-1], "text": merged[-1].text + o.text})
        else:
            merged.append(o)
    return everything(merged)


def test_output_written_to_the_descriptors_is_shown_again_on_a_hit(tmp_path, monkeypatch):
    # ipykernel forwards the descriptors unless it runs under pytest (it looks for this
    # variable, which its kernels inherit): a notebook server's kernels always do
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    cells = [
        "%%step\nimport subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-c', 'import os; os.write(1, b\"from a child 42\\\\n\")'])\n"
        "code = done.returncode",
        "%%step\nimport os\nos.write(2, b'straight to fd 2\\n')\nwritten = True",
        "%%step\nprint(code, written)",
    ]
    plain, first, again, states = three_runs(tmp_path, cells, _joined)
    assert plain == ["stdout: from a child 42\n", "stderr: straight to fd 2\n", "stdout: 0 True\n"], plain
    assert first == plain and again == plain, (first, again)
    assert all(": cached" in s for s in states), states


def test_a_watcher_slow_to_hand_on_what_it_read_still_gives_it_to_the_cell(tmp_path, monkeypatch):
    # Under load ipykernel's watcher thread may read a child's line from its pipe and only
    # later pass it to ``write``; the pipe is then empty while the line is still in flight.
    # The first cell makes that gap 0.3 s, as a loaded machine did (CI lost the line).
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    slow = ("import sys, threading, time\n"
            "def _gap(stream):\n"  # run by the watcher after its read, before its write
            "    if threading.current_thread() is getattr(stream, 'watch_fd_thread', None):\n"
            "        time.sleep(0.3)\n"
            "    return stream.__dict__.get('_should_watch', True)\n"
            "type(sys.stdout)._should_watch = property(\n"
            "    _gap, lambda stream, value: stream.__dict__.__setitem__('_should_watch', value))")
    cells = [
        slow,
        "%%step\nimport subprocess, sys\n"
        "done = subprocess.run([sys.executable, '-c', 'import os; os.write(1, b\"from a child 42\\\\n\")'])\n"
        "code = done.returncode",
    ]
    _, first, again, states = three_runs(tmp_path, cells, _joined)
    assert first[1] == again[1] == "stdout: from a child 42\n", (first, again)
    assert ": cached" in states[1], states


def test_a_kernel_whose_output_goes_to_a_log_file_keeps_its_hits(tmp_path):
    # `jupyter lab > server.log`: the kernels write their own stdout into that file, which
    # ipykernel keeps open at a copy of fd 1 and into which it echoes what the cells write
    # to the descriptors. It was taken for a data file the cells wrote through a held
    # handle: each hit was lost after a restart ("server.log, which it writes, changed").
    script = tmp_path / "server.py"
    script.write_text(
        "import json, os, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "os.environ.pop('PYTEST_CURRENT_TEST', None)\n"
        "from pathlib import Path\n"
        "from kernel_runs import run_cells, statuses\n"
        "cells = ['%%step\\nimport subprocess, sys\\n"
        "subprocess.run([sys.executable, \"-c\", \"print(42)\"])\\ncode = 0',\n"
        "         'import os\\nos.write(1, b\"a plain cell writes there too\\\\n\")',\n"
        "         '%%step\\nprint(code + 1)']\n"
        "folder = Path(sys.argv[1])\n"
        "run_cells(folder, cells)\n"
        "print(json.dumps(statuses(run_cells(folder, cells))), file=sys.stderr)\n")
    work = tmp_path / "nb"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["FLOWYML_CACHE_DIR"] = str(tmp_path / "cache")
    with open(tmp_path / "server.log", "w") as log:
        done = subprocess.run([sys.executable, str(script), str(work)], stdout=log,
                              stderr=subprocess.PIPE, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    states = json.loads(done.stderr.strip().splitlines()[-1])
    assert ": cached" in states[0] and ": cached" in states[2], states
    assert "42" in (tmp_path / "server.log").read_text()  # the kernel's output went there
