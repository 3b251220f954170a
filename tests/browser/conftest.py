"""Fixtures of the real-browser tests: JupyterLab on 127.0.0.1 and the system Chromium, driven
by playwright. `.ci/run` installs Chromium when it is missing; without it these tests fail.

The fixtures live as long as this package's tests, not the session: while playwright's sync API
is open, its event loop counts as running in the main thread, and ``asyncio.run`` in any later
test would fail.
"""

from __future__ import annotations

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = REPO / "test-artifacts" / "browser"
"""Screenshots and the JupyterLab log of the last run (ignored by git)."""

STARTUP_SECONDS = 90


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its address, token and root folder, and the store its kernels use."""

    url: str
    token: str
    root: Path
    store: Path

    def notebook_url(self, name: str) -> str:
        """The notebook in a JupyterLab workspace of its own, so that no tab or kernel status
        of an earlier test is on screen."""
        workspace = Path(name).stem
        return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={self.token}"


def _stop_with_parent() -> None:
    """On Linux, have this (child) process sent SIGTERM when the test process ends, even when
    it ends without teardown (pytest-timeout exits at once)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="package")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="package")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory, artifacts: Path) -> Iterator[Lab]:
    """JupyterLab in a temporary root folder, with its own Jupyter settings and the store
    ``<root>/.workbench/store.sqlite``; stopped after the browser tests."""
    root = tmp_path_factory.mktemp("lab")
    home = tmp_path_factory.mktemp("jupyter")
    token = secrets.token_hex(16)
    port = _free_port()
    store = root / ".workbench" / "store.sqlite"
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("ANTHROPIC_", "OPENAI_"))}  # no provider keys
    env |= {
        "WORKBENCH_STORE": str(store),
        "WORKBENCH_SCENARIOS": str(REPO / "scenarios"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
    }
    # JupyterLab asks in a pop-up whether to fetch news unless the user has answered
    notification = home / "settings" / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    log_path = home / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--allow-root",  # CI runs as root
        # nothing from the network: no news, no update check, no extension index
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    url = f"http://127.0.0.1:{port}"
    with log_path.open("w") as log:
        server = subprocess.Popen(command, cwd=root, env=env, stdout=log,
                                  stderr=subprocess.STDOUT, preexec_fn=_stop_with_parent)
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while not _answers(f"{url}/api/status?token={token}"):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.25)
            yield Lab(url, token, root, store)
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            shutil.copy(log_path, artifacts / "jupyterlab.log")


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, through playwright (its own browser downloads are not
    used)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y "
                    "chromium`, which .ci/run does) to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page, large enough for two columns of cards."""
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()
