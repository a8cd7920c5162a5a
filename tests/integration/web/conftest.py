"""Fixtures for the web page tests: the real server with the tiny model, driven by Debian's headless
Chromium through Playwright (never `playwright install`: it downloads browsers from a CDN)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from localprocs import REPO
from tests.support.server_process import TEST_MODEL_NAME, ServerProcess

ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian's chromium is not installed: run hack/install-chromium.sh (the web page tests need it)")
    return path


@pytest.fixture(scope="module")
def web_server(zoo_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(zoo_model_dir.as_uri(), "--model-name", TEST_MODEL_NAME,
                           log_dir=tmp_path_factory.mktemp("web-server"))
    try:
        yield server.wait_ready(timeout=120)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(chromium_executable: str) -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser, web_server: ServerProcess) -> Iterator[Page]:
    """The detector's page, opened and checked afterwards for uncaught script errors and for
    anything its Content-Security-Policy blocked (Chromium reports those on the console)."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    page.goto(web_server.url + "/")
    try:
        yield page
    finally:
        context.close()
    assert not errors, f"uncaught errors in the page's script: {errors}"
