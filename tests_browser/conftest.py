"""The browser test's fixtures: one JupyterLab server and one headless Chromium for every lesson."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

from lab import lab_command  # noqa: E402  (tools/lab.py: the command `make lab` runs)

CHROMIUM_ENV = "WORKBOOK_CHROMIUM"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
TOKEN = "workbook-browser-test"
REWRITES: list[str] = []  # what JupyterLab changed on save, printed after the run


def free_port() -> int:
    """A port nothing listens on now (JupyterLab is told not to move off it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder JupyterLab serves: copies only, so nothing tracked can change."""
    root = tmp_path_factory.mktemp("lab")
    shutil.copytree(ROOT / "notebooks", root / "lessons")
    # The learner's copies as a trainer hands them out (stubs, no outputs, checks that raise).
    subprocess.run([sys.executable, str(ROOT / "tools" / "workspace.py"), "student",
                    str(root / "workspace")], check=True, capture_output=True)
    return root


@pytest.fixture(scope="session")
def lab_url(served: Path) -> Iterator[str]:
    """JupyterLab started as `make lab` starts it, with the app exposed to the page's scripts."""
    port = free_port()
    command = lab_command(port, served) + ["--LabApp.expose_app_in_browser=True"]
    log = open(served / "lab.log", "w")  # noqa: SIM115  (closed below, after the server)
    server = subprocess.Popen(command, env=dict(os.environ, JUPYTER_TOKEN=TOKEN), cwd=served,
                              stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={TOKEN}", timeout=1).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                log.close()
                said = (served / "lab.log").read_text()[-2000:]
                pytest.fail(f"JupyterLab did not start:\n{said}")
            time.sleep(0.1)
    yield base
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's Chromium (or the one WORKBOOK_CHROMIUM names), driven by Playwright."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail(f"no Chromium at {executable}: apt-get install chromium, or set {CHROMIUM_ENV}")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def page(browser: object, lab_url: str) -> Iterator[object]:
    """One JupyterLab tab for the whole run; each lesson opens in it and is closed after."""
    tab = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab.set_default_timeout(60_000)
    tab.goto(f"{lab_url}/lab?token={TOKEN}&reset")
    tab.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell")
    tab.evaluate("async () => { await window.jupyterapp.restored; }")
    yield tab
    tab.close()


@pytest.fixture(scope="session")
def saved_rewrites() -> list[str]:
    """Where each lesson's test notes what JupyterLab's save changed; printed after the run."""
    return REWRITES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REWRITES:
        terminalreporter.write_sep("-", "what JupyterLab rewrote on save (in the served copies)")
        for line in REWRITES:
            terminalreporter.write_line(line)
