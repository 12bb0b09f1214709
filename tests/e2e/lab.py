"""Drive a real JupyterLab in a real Chromium, the way a user does.

``JupyterLabServer`` starts ``jupyter lab`` on 127.0.0.1 with a random free port, a random
token and every Jupyter directory isolated under a temporary folder, and shuts it down
cleanly (REST shutdown, then the process group, then a hard kill) while remembering every
kernel it spawned, so the caller can prove nothing is left behind.

``LabPage`` wraps a Playwright page showing one notebook: run all cells through the
"Run" menu, restart the kernel through the "Kernel" menu, wait for the kernel to go idle,
type into a cell's CodeMirror editor, add a cell, read output text (and each output's MIME
type, tables and images) and look for the front end's widget errors.

Playwright always drives Debian's ``/usr/bin/chromium`` (``executable_path``); it never
downloads a browser.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

# Text the widget manager puts on the page when a widget cannot be shown.
WIDGET_ERRORS = (
    "Error displaying widget",
    "model not found",
    "Failed to load model class",
    "Could not create a view",
    "Widget Javascript not detected",
)

# Plugins whose pop-ups and background requests only get in the way of a headless test.
_DISABLED_PLUGINS = {
    "@jupyterlab/apputils-extension:announcements": True,
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def jupyter_executable() -> Path:
    """The ``jupyter`` command of the interpreter running the tests (the project venv)."""
    return Path(sys.executable).with_name("jupyter")


@dataclass
class JupyterLabServer:
    """One ``jupyter lab`` process serving ``root_dir``, isolated under ``home``."""

    root_dir: Path
    home: Path
    cache_dir: Path
    port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_hex(24))
    process: subprocess.Popen | None = None
    spawned: dict[int, str] = field(default_factory=dict)
    log_path: Path | None = None
    #: "lab" (JupyterLab 4) or "notebook" (Notebook 7: the same components, one document a page)
    app: str = "lab"
    #: more front-end extensions to disable, e.g. the widget manager ("@jupyter-widgets/jupyterlab-manager")
    disabled: tuple[str, ...] = ()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, name: str) -> str:
        """URL that opens ``name`` in a fresh (reset) workspace, authenticated by token."""
        if self.app == "notebook":
            return f"{self.base_url}/notebooks/{name}?token={self.token}"
        return f"{self.base_url}/lab/tree/{name}?reset&token={self.token}"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        for var in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
            folder = self.home / var.lower()
            folder.mkdir(parents=True, exist_ok=True)
            env[var] = str(folder)
        env["FLOWYML_CACHE_DIR"] = str(self.cache_dir)
        env["JUPYTER_PLATFORM_DIRS"] = "1"
        env.pop("JUPYTER_PATH", None)
        env.pop("JUPYTER_TOKEN", None)
        env["PYTHONUNBUFFERED"] = "1"
        # The kernel must run the project's interpreter, whatever is first on PATH.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        return env

    def _write_lab_config(self, env: dict[str, str]) -> None:
        labconfig = Path(env["JUPYTER_CONFIG_DIR"]) / "labconfig"
        labconfig.mkdir(parents=True, exist_ok=True)
        (labconfig / "page_config.json").write_text(
            json.dumps({"disabledExtensions": {**_DISABLED_PLUGINS, **dict.fromkeys(self.disabled, True)}}),
            encoding="utf-8",
        )
        settings = Path(env["JUPYTER_CONFIG_DIR"]) / "lab" / "user-settings"
        notebook_settings = settings / "@jupyterlab" / "notebook-extension"
        notebook_settings.mkdir(parents=True, exist_ok=True)
        # Render every cell: windowed rendering would detach off-screen outputs.
        (notebook_settings / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none"}), encoding="utf-8"
        )
        (Path(env["JUPYTER_CONFIG_DIR"]) / "jupyter_server_config.json").write_text(
            json.dumps({"ServerApp": {"jpserver_extensions": {"jupyter_lsp": False}}}),
            encoding="utf-8",
        )
        announcements = settings / "@jupyterlab" / "apputils-extension"
        announcements.mkdir(parents=True, exist_ok=True)
        (announcements / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}), encoding="utf-8"
        )

    def start(self, timeout: float = 60.0) -> None:
        """Start the server and wait until ``/api/status`` answers."""
        env = self.environment()
        self._write_lab_config(env)
        workspaces = self.home / "workspaces"
        workspaces.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "jupyter-lab.log"
        app = "LabApp" if self.app == "lab" else "JupyterNotebookApp"
        cmd = [
            str(jupyter_executable()),
            self.app,
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.disable_check_xsrf=False",
            "--ServerApp.open_browser=False",
            f"--{app}.workspaces_dir={workspaces}",
            "--ServerApp.terminals_enabled=False",
            "--expose-app-in-browser",
        ]
        if self.app == "lab":
            cmd += ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                    "--LabApp.news_url=", "--LabApp.extension_manager=readonly"]
        if os.geteuid() == 0:
            cmd.append("--allow-root")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                cmd,
                cwd=self.root_dir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited with {self.process.returncode} before answering; log:\n{self.log()}"
                )
            try:
                status = self.api("GET", "/api/status")
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.25)
                continue
            if isinstance(status, dict) and "started" in status:
                return
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer /api/status in {timeout}s; log:\n{self.log()}")

    def log(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

    def api(self, method: str, path: str, body: Any = None, timeout: float = 5.0) -> Any:
        """Call the server's REST API with the token; returns the decoded JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
        return json.loads(payload) if payload else None

    def remember_children(self) -> None:
        """Record every process the server spawned so far (kernels), to check them at stop."""
        import psutil

        if self.process is None or self.process.poll() is not None:
            return
        try:
            for child in psutil.Process(self.process.pid).children(recursive=True):
                try:
                    self.spawned[child.pid] = " ".join(child.cmdline()[:4])
                except psutil.Error:
                    continue
        except psutil.NoSuchProcess:
            return

    def kernel_pids(self) -> set[int]:
        """The live kernel processes the server spawned (remembered too, for the stop check)."""
        import psutil

        self.remember_children()
        pids = set()
        for pid, cmdline in self.spawned.items():
            if "ipykernel" not in cmdline:
                continue
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    pids.add(pid)
            except psutil.NoSuchProcess:
                continue
        return pids

    def stop(self, timeout: float = 20.0) -> list[str]:
        """Shut down kernels and server; return descriptions of processes that had to be killed.

        An empty list means everything exited on its own: the REST shutdown (which stops the
        kernels first) or, failing that, SIGTERM to the server's process group.
        """
        import psutil

        if self.process is None:
            return []
        self.remember_children()
        leftovers: list[str] = []
        if self.process.poll() is None:
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                self.api("POST", "/api/shutdown")
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                leftovers.append(f"jupyter lab (pid {self.process.pid}) ignored /api/shutdown")
                _signal_group(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    _signal_group(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=timeout)
        # Kernels run in their own sessions: give them a moment to exit, then kill stragglers.
        deadline = time.monotonic() + timeout
        alive = self._alive_spawned()
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = self._alive_spawned()
        for proc in alive:
            leftovers.append(f"pid {proc.pid}: {self.spawned.get(proc.pid, '?')}")
            try:
                proc.kill()
            except psutil.Error:
                continue
        return leftovers

    def _alive_spawned(self) -> list:
        import psutil

        alive = []
        for pid in self.spawned:
            try:
                proc = psutil.Process(pid)
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.NoSuchProcess:
                continue
        return alive


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), sig)


def copy_tree(src: Path, dst: Path) -> Path:
    """Copy a notebooks folder (without checkpoints or caches) to ``dst``, outputs cleared.

    The committed notebooks carry static outputs for viewers; the browser tests start from
    a clean notebook so that every status they see comes from this run.
    """
    import nbformat

    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".ipynb_checkpoints", ".flowyml", "__pycache__"))
    for path in dst.rglob("*.ipynb"):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        nbformat.write(nb, path)
    return dst


class LabPage:
    """A Playwright page showing one notebook in JupyterLab."""

    def __init__(self, page: Any, server: JupyterLabServer, artifacts: Path) -> None:
        self.page = page
        self.server = server
        self.artifacts = artifacts
        self.console_errors: list[str] = []
        page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        page.on("pageerror", lambda exc: self.console_errors.append(f"pageerror: {exc}"))

    # -- opening -------------------------------------------------------------------------
    def open(self, name: str, timeout: float = 90_000) -> None:
        """Open notebook ``name`` and wait until its kernel is idle."""
        self.page.goto(self.server.notebook_url(name), wait_until="domcontentloaded")
        self.page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=timeout)
        self.page.wait_for_function("() => !!window.jupyterapp", timeout=timeout)
        self.dismiss_dialogs()
        self.wait_idle(timeout=timeout)

    def dismiss_dialogs(self) -> None:
        """Close any modal dialog (kernel choice, 'build recommended', ...) by accepting it."""
        for _ in range(3):
            dialog = self.page.locator(".jp-Dialog")
            if dialog.count() == 0:
                return
            accept = dialog.locator(".jp-mod-accept")
            if accept.count():
                accept.first.click()
            else:
                self.page.keyboard.press("Escape")
            self.page.wait_for_timeout(300)

    # -- kernel state --------------------------------------------------------------------
    def kernel_status(self) -> str:
        return self.page.evaluate(
            """() => {
                const panel = window.jupyterapp.shell.currentWidget;
                const ctx = panel && panel.sessionContext;
                if (!ctx || !ctx.session || !ctx.session.kernel) return 'none';
                return ctx.session.kernel.status;
            }"""
        )

    def wait_idle(self, timeout: float = 120_000) -> None:
        """Wait until the kernel exists, is idle, and no cell shows a ``[*]`` prompt."""
        self.page.wait_for_function(
            """() => {
                const panel = window.jupyterapp.shell.currentWidget;
                const ctx = panel && panel.sessionContext;
                if (!ctx || !ctx.session || !ctx.session.kernel) return false;
                if (ctx.session.kernel.status !== 'idle') return false;
                const prompts = document.querySelectorAll(
                    '.jp-NotebookPanel .jp-InputArea-prompt');
                for (const p of prompts) { if (p.textContent.includes('*')) return false; }
                return true;
            }""",
            timeout=timeout,
            polling=250,
        )
        # Widget views are created asynchronously after the last message.
        self.page.wait_for_timeout(500)

    # -- running -------------------------------------------------------------------------
    def run_all(self, timeout: float = 180_000) -> None:
        """Menu "Run" -> "Run All Cells", as a user clicks it; then wait for idle."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        self.page.wait_for_timeout(300)
        self.wait_idle(timeout=timeout)

    def restart_kernel(self, timeout: float = 120_000) -> None:
        """Menu "Kernel" -> "Restart Kernel…", then "Restart" in the confirm dialog, as a user
        does; wait until the kernel went through ``restarting`` and is idle again."""
        self.page.evaluate(
            """() => {
                const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
                const seen = window.__flowymlKernelStatuses = [];
                const record = (_, status) => { seen.push(status); };
                ctx.statusChanged.connect(record);
                window.__flowymlStopRecording = () => ctx.statusChanged.disconnect(record);
            }"""
        )
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Kernel$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Restart Kernel(…|\.\.\.)?$")).click()
        dialog = self.page.locator(".jp-Dialog")
        dialog.wait_for()
        assert "Restart Kernel?" in dialog.inner_text(), dialog.inner_text()
        dialog.locator("button.jp-mod-accept").click()
        dialog.wait_for(state="detached")
        self.page.wait_for_function(
            "() => window.__flowymlKernelStatuses.includes('restarting')", timeout=timeout, polling=100
        )
        self.wait_idle(timeout=timeout)
        self.page.evaluate("() => window.__flowymlStopRecording()")

    def run_cell(self, index: int, timeout: float = 120_000, wait: bool = True) -> None:
        """Select cell ``index`` and press Ctrl+Enter (run, stay on the cell); by default wait
        until the kernel is idle again."""
        self.cell(index).locator(".jp-InputArea-prompt").click()
        self.page.keyboard.press("Control+Enter")
        if wait:
            self.page.wait_for_timeout(300)
            self.wait_idle(timeout=timeout)

    def wait_for_live_state(self, step: str, state: str, where: str, timeout: float = 30_000) -> None:
        """Wait until ``step`` shows ``state`` in its status line (``where="status"``) or in
        the last DAG drawing (``where="dag"``), while the kernel may still be busy."""
        self.page.wait_for_function(
            """([step, state, where]) => {
                if (where === 'status') {
                    return Array.from(document.querySelectorAll('div.flowyml-status[data-step]'))
                        .some(n => n.dataset.step === step && n.dataset.state === state);
                }
                const dags = document.querySelectorAll('.jp-OutputArea .flowyml-dag-widget');
                if (!dags.length) return false;
                return Array.from(dags[dags.length - 1].querySelectorAll('g.flowyml-node')).some(
                    g => g.querySelector('text').textContent.trim() === step
                         && g.getAttribute('class').includes('flowyml-state-' + state));
            }""",
            arg=[step, state, where],
            timeout=timeout,
            polling=100,
        )

    def add_code_cell_at_end(self, source: str) -> int:
        """Append a code cell by typing into its editor; returns its index."""
        count = self.cells().count()
        self.cell(count - 1).locator(".jp-InputArea-prompt").click()
        self.page.keyboard.press("Escape")
        self.page.keyboard.press("b")  # command mode: insert cell below
        new = self.cell(count)
        new.wait_for()
        self.type_into(count, source, replace=True)
        return count

    def type_into(self, index: int, text: str, *, replace: bool = False, append: bool = False) -> None:
        """Type ``text`` into cell ``index``'s CodeMirror editor, key by key like a user.

        ``replace`` selects everything first; ``append`` types it as new lines at the end of
        the cell. Lines are separated with Enter, so CodeMirror's auto-indent applies: give
        top-level code only.
        """
        editor = self.cell(index).locator(".cm-content")
        editor.click()
        if replace:
            self.page.keyboard.press("Control+a")
            self.page.keyboard.press("Delete")
        if append:
            self.page.keyboard.press("Control+End")
            self.page.keyboard.press("Enter")
        for i, piece in enumerate(text.split("\n")):
            if i:
                self.page.keyboard.press("Enter")
            self.page.keyboard.insert_text(piece)
        self.page.keyboard.press("Escape")

    # -- reading -------------------------------------------------------------------------
    def cells(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")

    def cell(self, index: int) -> Any:
        return self.cells().nth(index)

    def cell_sources(self) -> list[str]:
        """Each cell's source, from the notebook model (not the possibly virtualised DOM)."""
        return self.page.evaluate(
            """() => {
                const panel = window.jupyterapp.shell.currentWidget;
                return panel.content.widgets.map(c => c.model.sharedModel.getSource());
            }"""
        )

    def output_text(self, index: int) -> str:
        return self.cell(index).locator(".jp-OutputArea").inner_text()

    def prompts(self) -> list[str]:
        """Each cell's input prompt as shown, e.g. ``"[3]:"`` (``"[ ]:"`` never run)."""
        return [text.strip() for text in self.cells().locator(".jp-InputArea-prompt").all_inner_texts()]

    def outputs(self, index: int) -> list[dict[str, Any]]:
        """What cell ``index``'s output area shows, in order: per output its MIME type (the
        renderer's ``data-mime-type``; a widget view, whose panel has none, gets the widget
        MIME type), visible text, number of ``<table>`` elements, and its ``<img>`` elements
        (``src`` prefix, whether loaded, natural size)."""
        return self.cell(index).evaluate(
            """cell => {
                const area = cell.querySelector('.jp-OutputArea');
                if (!area) return [];
                return Array.from(area.querySelectorAll(
                    ':scope > .jp-OutputArea-child > .jp-OutputArea-output')).map(n => ({
                    mime: n.dataset.mimeType || (n.querySelector('.jupyter-widgets')
                        ? 'application/vnd.jupyter.widget-view+json' : ''),
                    text: n.innerText.trim(),
                    tables: n.querySelectorAll('table').length,
                    images: Array.from(n.querySelectorAll('img')).map(img => ({
                        src: (img.getAttribute('src') || '').slice(0, 22),
                        complete: img.complete,
                        width: img.naturalWidth,
                        height: img.naturalHeight,
                    })),
                }));
            }"""
        )

    def wait_images_loaded(self, index: int, timeout: float = 30_000) -> None:
        """Wait until every ``<img>`` in cell ``index``'s outputs has loaded (or failed)."""
        self.cell(index).locator(".jp-OutputArea").evaluate(
            """(area, timeout) => new Promise((resolve, reject) => {
                const until = Date.now() + timeout;
                const check = () => {
                    if (Array.from(area.querySelectorAll('img')).every(img => img.complete)) resolve();
                    else if (Date.now() > until) reject(new Error('images still loading'));
                    else setTimeout(check, 100);
                };
                check();
            })""",
            timeout,
        )

    def notebook_text(self) -> str:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").inner_text()

    def step_statuses(self) -> list[list[dict[str, str]]]:
        """For every cell, the flowyml step status lines its outputs show (step, state, text)."""
        return self.page.evaluate(
            """() => {
                const panel = window.jupyterapp.shell.currentWidget;
                return panel.content.widgets.map(cell => Array.from(
                    cell.node.querySelectorAll('.jp-OutputArea div.flowyml-status[data-step]')
                ).map(n => ({step: n.dataset.step, state: n.dataset.state, text: n.innerText})));
            }"""
        )

    def dag_states(self) -> dict[str, str] | None:
        """``{step: state}`` read from the last DAG widget's drawing (SVG nodes or plain table)."""
        return self.page.evaluate(
            """() => {
                const dags = document.querySelectorAll(
                    '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea .flowyml-dag-widget');
                if (!dags.length) return null;
                const dag = dags[dags.length - 1];
                const out = {};
                for (const node of dag.querySelectorAll('.flowyml-node')) {
                    const match = /flowyml-state-(\\S+)/.exec(node.getAttribute('class'));
                    const label = node.tagName.toLowerCase() === 'tr'
                        ? node.querySelector('b').textContent
                        : node.querySelector('text').textContent;
                    out[label.trim()] = match ? match[1] : '?';
                }
                return out;
            }"""
        )

    def dag_locator(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea .flowyml-dag-widget").last

    def wait_widgets_settled(self, timeout_ms: int = 20_000) -> None:
        """Wait until no output still says "Loading widget..." (views resolve asynchronously)."""
        deadline = time.monotonic() + timeout_ms / 1000
        while "Loading widget" in self.notebook_text() and time.monotonic() < deadline:
            self.page.wait_for_timeout(250)

    def widget_errors(self) -> list[str]:
        """Widget failures the front end shows on the page or logs to the console."""
        text = self.notebook_text()
        found = [err for err in WIDGET_ERRORS if err.lower() in text.lower()]
        if "Loading widget" in text:
            found.append("a widget is stuck at 'Loading widget...'")
        found += [msg for msg in self.console_errors if any(err.lower() in msg.lower() for err in WIDGET_ERRORS)]
        return found

    def console_errors_matching(self, word: str) -> list[str]:
        """Browser console errors mentioning ``word`` (case-insensitive)."""
        return [msg for msg in self.console_errors if word.lower() in msg.lower()]

    def set_theme(self, theme: str) -> None:
        """Switch JupyterLab's theme (e.g. "JupyterLab Dark") and wait until it applies."""
        light = "true" if "light" in theme.lower() else "false"
        self.page.evaluate("theme => window.jupyterapp.commands.execute('apputils:change-theme', {theme})", theme)
        self.page.wait_for_function("light => document.body.dataset.jpThemeLight === light", arg=light, timeout=30_000)
        self.page.wait_for_timeout(500)

    def low_contrast_text(self, selector: str, minimum: float = 4.5) -> list[str]:
        """Visible text under ``selector`` whose colour has less than ``minimum`` contrast
        (WCAG ratio) with what is behind it: the node's own fill for text drawn on a DAG
        node, else the first opaque background among its ancestors."""
        return self.page.evaluate(
            """([selector, minimum]) => {
                const parse = c => {
                    const m = /rgba?\\(([^)]+)\\)/.exec(c || '');
                    if (!m) return null;
                    const v = m[1].split(',').map(x => parseFloat(x));
                    return {r: v[0], g: v[1], b: v[2], a: v.length > 3 ? v[3] : 1};
                };
                const lum = c => {
                    const f = x => { x /= 255; return x <= 0.03928 ? x / 12.92
                                                                 : Math.pow((x + 0.055) / 1.055, 2.4); };
                    return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b);
                };
                const ratio = (a, b) => {
                    const [l1, l2] = [lum(a), lum(b)].sort((x, y) => y - x);
                    return (l1 + 0.05) / (l2 + 0.05);
                };
                const backgroundOf = el => {
                    const node = el.closest && el.closest('g.node');
                    if (el instanceof SVGElement && node) {
                        const shape = node.querySelector('path, polygon, ellipse');
                        const fill = shape && parse(getComputedStyle(shape).fill);
                        if (fill && fill.a > 0) return fill;
                    }
                    for (let e = el; e; e = e.parentElement) {
                        if (e instanceof SVGElement) continue;
                        const bg = parse(getComputedStyle(e).backgroundColor);
                        if (bg && bg.a > 0.5) return bg;
                    }
                    return {r: 255, g: 255, b: 255, a: 1};
                };
                const bad = [];
                for (const root of document.querySelectorAll(selector)) {
                    for (const el of root.querySelectorAll('*')) {
                        const own = Array.from(el.childNodes).filter(
                            n => n.nodeType === 3 && n.textContent.trim()).map(n => n.textContent.trim());
                        if (!own.length || !el.getClientRects().length) continue;
                        const style = getComputedStyle(el);
                        const color = parse(el instanceof SVGElement ? style.fill : style.color);
                        if (!color) continue;
                        const r = ratio(color, backgroundOf(el));
                        if (r < minimum) bad.push(`${own.join(' ')} (${r.toFixed(2)}:1)`);
                    }
                }
                return bad;
            }""",
            [selector, minimum],
        )

    def dag_screenshot(self, name: str, padding: int = 8) -> Path:
        """A PNG of the last DAG widget cropped to its drawing and legend (no empty width)."""
        dag = self.dag_locator()
        dag.scroll_into_view_if_needed()
        parts = [dag.locator("svg g.graph").first, *dag.locator(".flowyml-dag-legend .flowyml-badge").all()]
        boxes = [box for part in parts if part.count() and (box := part.bounding_box())] or [dag.bounding_box()]
        left = min(b["x"] for b in boxes) - padding
        top = min(b["y"] for b in boxes) - padding
        right = max(b["x"] + b["width"] for b in boxes) + padding
        bottom = max(b["y"] + b["height"] for b in boxes) + padding
        path = self.artifacts / f"{name}.png"
        clip = {"x": max(left, 0), "y": max(top, 0), "width": right - max(left, 0), "height": bottom - max(top, 0)}
        self.page.screenshot(path=str(path), clip=clip)
        return path

    def screenshot(self, name: str, locator: Any = None) -> Path:
        """Save a PNG of ``locator`` (or the whole page) under the test's artifacts dir."""
        path = self.artifacts / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if locator is None:
            self.page.screenshot(path=str(path), full_page=True)
        else:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=str(path))
        return path
