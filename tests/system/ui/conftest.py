"""Fixtures of the UI tests: one Airflow API server and one headless Chromium per session.

Without Chromium or Playwright the browser tests skip, except under ``CI=true`` where they
fail: CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.services import IN_CI
from tests.system.ui.pages import VIEWPORT
from tests.system.ui.server import (
    CHROMIUM_ARGS,
    AirflowApiServer,
    find_chromium,
    missing_browser_requirements,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ui: drives the Airflow UI in headless Chromium (needs chromium)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Add the end of the API server's log to the report of a failed UI test."""
    report = yield
    server = getattr(item, "funcargs", {}).get("ui_server")
    if report.failed and isinstance(server, AirflowApiServer):
        report.sections.append(("airflow api-server log (end)", server.log_tail()))
    return report


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """The Chromium binary; skips (fails under CI=true) when Chromium or Playwright is missing."""
    reason = missing_browser_requirements()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason}, and CI=true requires the browser tests", pytrace=False)
        pytest.skip(f"{reason}: the browser tests need it (CI runs them)")
    path = find_chromium()
    assert path is not None
    return path


@pytest.fixture(scope="session")
def ui_server(airflow_db: Path) -> Iterator[AirflowApiServer]:
    """``airflow api-server`` on the session's migrated SQLite database, stopped at session end."""
    with AirflowApiServer(os.environ) as server:
        yield server


# The browser, its context and tab live as long as the UI tests (package scope), not the session:
# Playwright's sync API keeps an event loop marked running in this thread while it is open, and
# every later test's ``asyncio.run`` would fail ("cannot be called from a running event loop").
@pytest.fixture(scope="package")
def browser(chromium_path: str) -> Iterator[Browser]:
    """One headless Chromium for the UI tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=list(CHROMIUM_ARGS))
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="package")
def browser_context(browser: Browser) -> Iterator[BrowserContext]:
    """One browser context (cookies, cache) for the UI tests."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(15_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="package")
def _session_page(browser_context: BrowserContext) -> Page:
    return browser_context.new_page()


@pytest.fixture
def page(_session_page: Page, ui_server: AirflowApiServer) -> Iterator[Page]:
    """The session's tab (loading the UI takes seconds); left without routes or open dialogs."""
    yield _session_page
    _session_page.unroute_all(behavior="ignoreErrors")
    if _session_page.get_by_role("dialog").count():
        _session_page.keyboard.press("Escape")
