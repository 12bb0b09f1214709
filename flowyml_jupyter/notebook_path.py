"""Find the path of the notebook a kernel is running, for ``%flowyml export``.

Jupyter does not tell a kernel which notebook it serves, so this asks, in order, the places
that know: ``JPY_SESSION_NAME`` (set by jupyter_server >= 2 for the kernels it starts),
VS Code's ``__vsc_ipynb_file__``, then the sessions API of the running Jupyter servers
(only when ``jupyter_server`` is installed). ``None`` means unknown: pass ``--notebook``.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

_TIMEOUT = 2.0


def current_notebook_path(shell: Any) -> Path | None:
    """The ``.ipynb`` file the kernel behind ``shell`` runs, or ``None`` when unknown."""
    for finder in (_from_env, _from_vscode, _from_server_sessions):
        try:
            path = finder(shell)
        except Exception:  # a finder that breaks just doesn't know
            path = None
        if path is not None and path.suffix == ".ipynb" and path.is_file():
            return path.resolve()
    return None


def _from_env(shell: Any) -> Path | None:
    name = os.environ.get("JPY_SESSION_NAME")
    if not name:
        return None
    path = Path(name)
    if not path.is_absolute():  # relative to the server root; the kernel starts beside it
        for base in (Path.cwd(), *Path.cwd().parents):
            if (base / path).is_file():
                return base / path
    return path


def _from_vscode(shell: Any) -> Path | None:
    user_ns = getattr(shell, "user_ns", None) or {}
    value = user_ns.get("__vsc_ipynb_file__")
    return Path(value) if value else None


def _from_server_sessions(shell: Any) -> Path | None:
    try:
        from jupyter_server import serverapp
    except ImportError:
        return None
    from ipykernel.connect import get_connection_file

    kernel_id = Path(get_connection_file()).stem.split("-", 1)[-1]
    for server in serverapp.list_running_servers():
        for session in _sessions(server):
            if session.get("kernel", {}).get("id") == kernel_id:
                rel = session.get("path") or session.get("notebook", {}).get("path")
                if rel:
                    return Path(server.get("root_dir") or server.get("notebook_dir", "")) / rel
    return None


def _sessions(server: dict[str, Any]) -> list[dict[str, Any]]:
    url = server["url"].rstrip("/") + "/api/sessions"
    request = urllib.request.Request(url)
    if server.get("token"):
        request.add_header("Authorization", f"token {server['token']}")
    # a local Jupyter server, never the network: list_running_servers reads runtime files
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        return json.loads(response.read().decode())
