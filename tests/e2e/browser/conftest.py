"""A real `planwatch run` worker over seeded SQLite storage, and headless Debian Chromium.

Playwright only drives the browser: it never downloads one (Debian's chromium, installed by
scripts/bootstrap, is launched by path with a fresh profile directory).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_support import TOKEN
from playwright.sync_api import BrowserContext, Page, sync_playwright

from integration.web import liveworker, webseed

CHROMIUM = os.environ.get("PLANWATCH_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[liveworker.LiveWorker]:
    with liveworker.running(tmp_path_factory.mktemp("browser"), TOKEN) as live:
        yield live
        log = live.log.read_text()
    assert webseed.DSN_PASSWORD not in log, "the DSN password reached the worker's log"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    """Debian Chromium with a fresh profile directory (a persistent context on a temp dir)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/bootstrap (installs Debian chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab with no session cookie."""
    browser.clear_cookies()
    tab = browser.new_page()
    try:
        yield tab
    finally:
        tab.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
