"""FlowyML 2.2.1 beside flowyml in the same benchmark run: its venv, its subprocess, or why not.

FlowyML (PyPI ``flowyml`` 2.2.1, "Next-Generation ML Pipeline Framework") is the framework
whose Step API flowyml keeps compatible. Its import name is ours too, so it lives in a venv
of its own, created once under ``~/.cache/flowyml-bench/flowyml-2.2.1`` (another base:
``FLOWYML_BENCH_CACHE``) and reused while it holds that version. Its measured code runs with
that venv's interpreter, in a scratch directory, with ``FLOWYML_HOME`` there and
``FLOWYML_SERVER_URL`` on a closed loopback port (FlowyML starts or reaches no server), and
prints its timings as one JSON line. When the venv cannot be made (no network, pip fails),
or in ``--quick`` mode when it does not exist yet, :func:`reference` gives the reason for
the row instead.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = "2.2.1"
LABEL = f"FlowyML {VERSION}"
#: the line prefix the child scripts print their JSON after (FlowyML prints a lot besides)
JSON_MARK = "FLOWYML_BENCH_JSON "
_HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Reference:
    """FlowyML's interpreter, or ``None`` and the reason the column is skipped."""

    python: Path | None
    reason: str = ""


_found: dict[bool, Reference] = {}


def venv_dir() -> Path:
    """Where FlowyML's venv lives (made once, reused by every later run)."""
    base = os.environ.get("FLOWYML_BENCH_CACHE") or Path.home() / ".cache" / "flowyml-bench"
    return Path(base) / f"flowyml-{VERSION}"


def reference(quick: bool) -> Reference:
    """FlowyML's venv, made now unless ``quick`` (once per process; later calls reuse it)."""
    if quick not in _found:
        _found[quick] = _find_or_make(quick)
    return _found[quick]


def _find_or_make(quick: bool) -> Reference:
    venv = venv_dir()
    python = venv / "bin" / "python"
    if _complete(venv):
        return Reference(python)
    if quick:
        return Reference(None, f"{LABEL} not installed ({venv}); --quick does not install it, "
                               "a full run does (once)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX)  # another benchmark run may be making it right now
        if _complete(venv):
            return Reference(python)
        shutil.rmtree(venv, ignore_errors=True)  # a half-made venv from an interrupted run
        print(f"setting up {LABEL} in {venv} (once) ...", file=sys.stderr, flush=True)
        steps = ([sys.executable, "-m", "venv", str(venv)],
                 [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                  f"flowyml=={VERSION}"])
        for cmd in steps:
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                                      env=_clean_env(), check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                return Reference(None, f"could not install {LABEL}: {exc}")
            if proc.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                return Reference(None, f"could not install {LABEL} (no network?): "
                                       f"{_last_line(proc.stderr or proc.stdout)}")
        probe = subprocess.run([str(python), "-c", "import flowyml; print(flowyml.__version__)"],
                               capture_output=True, text=True, env=_clean_env(), check=False,
                               cwd=venv)
        if probe.stdout.strip() != VERSION:
            shutil.rmtree(venv, ignore_errors=True)
            return Reference(None, f"{LABEL} installed but does not import: "
                                   f"{_last_line(probe.stderr) or probe.stdout.strip()}")
        (venv / ".complete").write_text(VERSION)
    return Reference(python)


def _complete(venv: Path) -> bool:
    marker = venv / ".complete"
    return (venv / "bin" / "python").exists() and marker.is_file() and marker.read_text() == VERSION


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def _clean_env() -> dict[str, str]:
    """This environment without what would point FlowyML at our package or our settings:
    ``PYTHONPATH`` (it may hold this repository, whose ``flowyml`` would shadow FlowyML's),
    the other ``PYTHON*`` switches and every ``FLOWYML_*`` variable (FlowyML reads several,
    e.g. ``FLOWYML_CACHE_DIR``)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "FLOWYML_")) and k != "VIRTUAL_ENV"}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment FlowyML runs in: its state under ``home``, no server, no UI."""
    return {**_clean_env(), "FLOWYML_HOME": str(home),
            "FLOWYML_SERVER_URL": f"http://127.0.0.1:{closed_port()}", **extra}


def run_json(python: Path, script: str, args: list[str], workdir: Path,
             timeout: float) -> dict[str, Any]:
    """Run ``benchmarks/<script>`` with FlowyML's ``python`` in ``workdir``; its JSON line.

    Raises :class:`RuntimeError` with the child's last words when it fails.
    """
    proc = subprocess.run([str(python), str(_HERE / script), *args], cwd=workdir,
                          env=child_env(workdir / ".flowyml-home"), capture_output=True,
                          text=True, timeout=timeout, check=False)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(JSON_MARK):
            return json.loads(line[len(JSON_MARK):])
    raise RuntimeError(f"{LABEL} run failed (exit {proc.returncode}): "
                       f"{_last_line(proc.stderr) or _last_line(proc.stdout)}")


def skip_reason(exc: BaseException) -> str:
    """A row note for a FlowyML measurement that did not complete."""
    if isinstance(exc, subprocess.TimeoutExpired):
        return f"{LABEL} did not finish within {exc.timeout:.0f} s"
    return str(exc)[:200]
