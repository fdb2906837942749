"""The Credits page in a real Airflow UI: log in, open Credits from the navigation, see the seeded data drawn.

Its own ``airflow api-server`` (free port) with the simple auth manager and a password-protected
viewer, the plugin, and ``credits_db`` seeded with ``tests/support/dashboard.py`` (moved to today).
Screenshots of the page in the light and the dark theme are written to ``CREDITS_SCREENSHOTS``
(a folder; default the test's temporary folder): ``make screenshots`` points it at ``docs/img``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.system.ui.pages import VIEWPORT
from tests.system.ui.server import AirflowApiServer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, FrameLocator, Page

pytestmark = [pytest.mark.ui, pytest.mark.integration]

USER, PASSWORD = "alice", "credits-ui-test"
SCREENSHOTS_ENV = "CREDITS_SCREENSHOTS"


def seed_credits_db(path: Path) -> str:
    """A SQLite credits database with the seeded data; returns its connection as JSON."""
    from airflow.providers.sqlite.hooks.sqlite import SqliteHook

    from airflow_provider_credits.plugins.data import Tables
    from airflow_provider_credits.storage.database import Database
    from tests.support.dashboard import seed

    conn = json.dumps({"conn_type": "sqlite", "host": str(path)})
    os.environ["AIRFLOW_CONN_CREDITS_UI_SEED"] = conn
    try:
        db = Database(SqliteHook(sqlite_conn_id="credits_ui_seed"))
        tables = Tables()
        db.prepare(list(tables.all().values()), create=True)
        with db.begin() as c:
            seed(
                c,
                tables.balances,
                tables.usage,
                tables.reservations,
                tables.ledger,
                now=datetime.now(timezone.utc),
            )
        db.dispose()
    finally:
        del os.environ["AIRFLOW_CONN_CREDITS_UI_SEED"]
    return conn


@pytest.fixture(scope="module")
def credits_server(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowApiServer]:
    """``airflow api-server`` with the Credits plugin, a viewer with a password, and seeded ``credits_db``."""
    folder = tmp_path_factory.mktemp("credits-ui")
    server = AirflowApiServer(os.environ)
    server.env["AIRFLOW_CONN_CREDITS_DB"] = seed_credits_db(folder / "credits.db")
    server.env["AIRFLOW__CREDITS__DASHBOARD_BUDGETS"] = json.dumps({"credit_gated_enrichment": 600})
    server.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "False"
    server.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = f"{USER}:viewer"
    (folder / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    server.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(folder / "passwords.json")
    plugins = folder / "plugins"
    plugins.mkdir()
    server.env["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(plugins)
    if not any(ep.name == "credits" for ep in metadata.entry_points(group="airflow.plugins")):
        # an editable install made before the entry point existed: load the plugin from the folder
        (plugins / "credits_plugin.py").write_text(
            "from airflow_provider_credits.plugins import CreditsPlugin\n"
        )
    with server:
        yield server


def log_in(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/", wait_until="domcontentloaded")
    page.locator("input[name='username']").fill(USER)
    page.locator("input[name='password']").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("link", name="Credits", exact=True).wait_for()  # the navigation is drawn


def open_credits(page: Page) -> FrameLocator:
    """Click Credits in the navigation; return the page's frame once its data is drawn."""
    page.get_by_role("link", name="Credits", exact=True).click()
    page.locator("iframe[src$='/credits/']").wait_for()  # the UI shows the plugin's page in an iframe
    assert "/plugin/credits" in page.url
    frame = page.frame_locator("iframe[src$='/credits/']")
    frame.locator("body[data-ready='true']").wait_for()
    return frame


def screenshot(page: Page, name: str, tmp_path: Path) -> Path:
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page.screenshot(path=str(path))
    return path


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_credits_page_from_the_navigation_draws_the_seeded_data(
    browser: Browser, credits_server: AirflowApiServer, theme: str, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": VIEWPORT["width"], "height": 1000})
    context.set_default_timeout(20_000)
    # the Airflow UI keeps its colour mode in localStorage["theme"] (next-themes)
    context.add_init_script(f"try {{ localStorage.setItem('theme', '{theme}'); }} catch (e) {{}}")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        log_in(page, credits_server.url)
        frame = open_credits(page)

        cards = frame.locator("button.card")
        assert cards.count() == 2
        assert cards.nth(0).inner_text().startswith("clay · credits")
        ts = cards.nth(1)
        assert "1,000" in ts.inner_text() and "of 5,000 credits" in ts.inner_text()
        assert "12.5 days left" in ts.inner_text()
        assert frame.locator("html").get_attribute("data-theme") == theme  # follows the Airflow UI

        # the soonest run-out (clay) is selected first: its balance and forecast are drawn
        assert frame.locator("#balance-chart canvas").count() == 1
        assert "runs out" in frame.locator("#balance-legend").inner_text()
        # keyboard: Tab to the TheirStack card and press Enter: its daily usage bars are drawn
        ts.focus()
        page.keyboard.press("Enter")
        assert ts.get_attribute("aria-pressed") == "true"
        frame.locator("#usage-chart canvas").wait_for()
        assert "80 per day" in frame.locator("#usage-legend").inner_text()
        assert frame.locator("#reservations tbody tr").filter(has_text="250").count() == 1
        enrich = frame.locator("#spend tbody tr").filter(has_text="credit_gated_enrichment")
        assert enrich.locator("meter").count() == 1  # against [credits] dashboard_budgets
        assert errors == []
        screenshot(page, f"dashboard-{theme}.png", tmp_path)
    finally:
        context.close()


def test_the_page_keeps_its_layout_while_loading(browser: Browser, credits_server: AirflowApiServer) -> None:
    """The API answers late: the cards and charts hold their final size, so nothing jumps."""
    page = browser.new_page(viewport={"width": VIEWPORT["width"], "height": 1000})
    try:
        log_in(page, credits_server.url)
        page.goto(f"{credits_server.url}/credits/", wait_until="domcontentloaded")
        page.locator("body[data-ready='true']").wait_for()
        loaded = {
            s: page.locator(s).bounding_box()
            for s in ("#balance-chart", "#usage-chart", "#reservations-title")
        }

        held: list[object] = []
        page.route("**/credits/api/**", lambda route: held.append(route))
        page.reload(wait_until="domcontentloaded")
        page.locator(".card.skeleton").first.wait_for()
        loading = {s: page.locator(s).bounding_box() for s in loaded}
        assert held  # the data requests are still waiting
        page.unroute_all(behavior="ignoreErrors")
        assert loading["#balance-chart"] == loaded["#balance-chart"]
        assert loading["#reservations-title"] == loaded["#reservations-title"]
    finally:
        page.close()


def test_the_page_says_plainly_when_the_connection_is_missing(
    browser: Browser, credits_server: AirflowApiServer
) -> None:
    """What the API answers without ``credits_db`` (tests/integration/plugins/test_app_data_source.py), shown on the page."""
    page = browser.new_page(viewport={"width": VIEWPORT["width"], "height": 1000})
    try:
        log_in(page, credits_server.url)
        missing = {
            "detail": {
                "state": "missing_connection",
                "conn_id": "credits_db",
                "message": "The connection 'credits_db' does not exist. Create a SQL connection ...",
            }
        }
        page.route(
            "**/credits/api/status",
            lambda route: route.fulfill(
                status=503, content_type="application/json", body=json.dumps(missing)
            ),
        )
        page.goto(f"{credits_server.url}/credits/", wait_until="domcontentloaded")
        page.locator("body[data-ready='error']").wait_for()
        assert "The connection 'credits_db' does not exist" in page.locator("#notice").inner_text()
        assert page.locator("#notice").is_visible()
        assert page.locator("#meta").inner_text() == "No data source"
    finally:
        page.close()
