"""Kernels started by flowyml's own tools (the main job, the tests, the benchmarks).

ipykernel warns "Kernel is running over TCP without encryption" whenever it listens on TCP
without CurveZMQ keys, which is how jupyter_client starts a kernel by default. A kernel
that only this machine talks to needs no TCP port at all: on platforms with Unix domain
sockets it is started on IPC transport, which has no port to eavesdrop on and no warning.
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Any

from jupyter_client import KernelManager

#: a Unix socket path longer than this (sun_path: 108 bytes on Linux) cannot be bound
_MAX_SOCKET_PATH = 100


def ipc_supported() -> bool:
    """Whether kernels can talk over Unix domain sockets here (not on Windows)."""
    return sys.platform != "win32" and hasattr(os, "fork")


class LocalKernelManager(KernelManager):
    """A ``KernelManager`` for a kernel on this machine: IPC transport where the platform
    allows it (no TCP port, no "without encryption" warning), else jupyter_client's TCP.

    Give it to nbclient as the class (``NotebookClient(nb, kernel_manager_class=
    LocalKernelManager)``: nbclient then owns the kernel and shuts it down), or start it
    yourself (``km.start_kernel(cwd=...)``). The sockets live next to the kernel's
    connection file, in Jupyter's runtime directory, and go away with it.
    """

    def __init__(self, **kwargs: Any) -> None:
        if ipc_supported() and "transport" not in kwargs:
            # absolute socket paths next to a connection file of its own: jupyter_client's
            # default ("kernel-ipc", relative) would put the sockets in the kernel's working
            # directory, where the client does not look, shared by every kernel started there
            from jupyter_core.paths import jupyter_runtime_dir

            runtime = jupyter_runtime_dir()
            base = os.path.join(runtime, f"kernel-{uuid.uuid4()}")
            if len(base) + len("-ipc-99") < _MAX_SOCKET_PATH:
                os.makedirs(runtime, mode=0o700, exist_ok=True)
                kwargs.update(transport="ipc", connection_file=base + ".json", ip=base + "-ipc")
        super().__init__(**kwargs)
