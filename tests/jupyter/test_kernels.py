"""Kernels flowyml's tools start (main job, tests, benchmarks) run over IPC where the
platform allows it: a user's first run shows no ipykernel "Kernel is running over TCP
without encryption" warning."""

from __future__ import annotations

import pytest
from jupyter_client import KernelManager
from nbformat.v4 import new_code_cell, new_notebook

from flowyml_jupyter.kernels import LocalKernelManager, ipc_supported

nbclient = pytest.importorskip("nbclient")
WARNING = "without encryption"


def _run(tmp_path, manager_class):
    nb = new_notebook(cells=[new_code_cell("%load_ext flowyml"),
                             new_code_cell("%%step\nanswer = 6 * 7\nprint('answer', answer)")])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                            kernel_manager_class=manager_class,
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    return "".join(o.get("text", "") for o in nb.cells[1].outputs)


@pytest.mark.skipif(not ipc_supported(), reason="no Unix domain sockets on this platform")
def test_a_notebook_run_prints_no_tcp_encryption_warning(tmp_path, capfd):
    assert "answer 42" in _run(tmp_path, LocalKernelManager)
    out, err = capfd.readouterr()  # the kernel's own stderr is this process's fd 2
    assert WARNING not in err and WARNING not in out, err
    # what it replaces: jupyter_client's default (TCP) makes the kernel say it
    assert "answer 42" in _run(tmp_path, KernelManager)
    assert WARNING in capfd.readouterr().err


def test_sockets_are_absolute_and_per_kernel(tmp_path):
    first, second = LocalKernelManager(), LocalKernelManager()
    if ipc_supported():
        assert first.transport == "ipc" and first.ip.startswith("/")
        assert first.ip != second.ip and first.connection_file != second.connection_file
    else:
        assert first.transport == "tcp"
    explicit = LocalKernelManager(transport="tcp")
    assert explicit.transport == "tcp"
