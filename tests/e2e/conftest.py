"""Fixtures for the real-browser tests: Chromium via Playwright, and a JupyterLab server.

Everything is skipped with a reason when ``/usr/bin/chromium`` or the ``playwright`` package
is missing (``bash scripts/install_browser.sh`` installs both).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.lab import CHROMIUM, CHROMIUM_ARGS, JupyterLabServer, LabPage, copy_tree


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (run: bash scripts/install_browser.sh)"
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is missing (run: bash scripts/install_browser.sh)"
    if importlib.util.find_spec("jupyterlab") is None:
        return "jupyterlab is missing (run: bash scripts/install_browser.sh)"
    return None


@pytest.fixture(scope="package")
def chromium() -> Iterator:
    """A headless Debian Chromium driven by Playwright (never a downloaded browser). Stopped
    after the end-to-end tests: Playwright's sync API marks an event loop as running in the
    main thread while it is open, which would refuse the IPython shells of later tests."""
    reason = browser_missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where a test keeps its screenshots and logs."""
    path = tmp_path / "artifacts"
    path.mkdir()
    return path


@pytest.fixture
def start_lab(tmp_path: Path) -> Iterator[Callable[[Path], JupyterLabServer]]:
    """Start JupyterLab over a copy of a notebooks folder; always shut it down afterwards.

    The test should call ``server.stop()`` itself and assert it returns no leftovers; the
    fixture stops any server the test did not, and fails if processes had to be killed.
    """
    servers: list[JupyterLabServer] = []

    def start(notebooks: Path, app: str = "lab", disabled: tuple[str, ...] = ()) -> JupyterLabServer:
        """``app``: "lab" (JupyterLab 4) or "notebook" (Notebook 7); ``disabled``: front-end
        extensions to turn off (e.g. the widget manager)."""
        if browser_missing_reason():
            pytest.skip(browser_missing_reason())
        if app == "notebook" and importlib.util.find_spec("notebook") is None:
            pytest.skip("Notebook 7 is missing (run: bash scripts/install_browser.sh)")
        root = copy_tree(notebooks, tmp_path / f"root{len(servers)}")
        server = JupyterLabServer(
            root_dir=root, home=tmp_path / f"jupyter-home{len(servers)}", cache_dir=tmp_path / "cache",
            app=app, disabled=disabled,
        )
        servers.append(server)
        server.start()
        return server

    yield start
    leftovers = [item for server in servers for item in server.stop()]
    assert not leftovers, f"processes left behind by JupyterLab: {leftovers}"


@pytest.fixture
def open_page(chromium, artifacts: Path) -> Iterator[Callable[[JupyterLabServer], LabPage]]:
    """A fresh browser context + page per call (no shared storage between tests)."""
    contexts = []

    def open_(server: JupyterLabServer) -> LabPage:
        context = chromium.new_context(viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        contexts.append(context)
        return LabPage(context.new_page(), server, artifacts)

    yield open_
    for context in contexts:
        context.close()
