"""Every route of the Credits app needs an Airflow UI user: 401 without credentials, 403 with bad ones."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import databases
from tests.support.dashboard import token

ROUTES = [
    "/api/status",
    "/api/balances",
    "/api/history",
    "/api/usage",
    "/api/forecast",
    "/api/reservations",
    "/api/spend",
    "/static/credits.js",
    "/static/uPlot.iife.min.js",
]


@pytest.fixture
def database(sqlite_db: databases.Database) -> databases.Database:
    """Authentication does not depend on the database: SQLite only."""
    return sqlite_db


@pytest.fixture
def anonymous(seeded: Any, auth_manager: Any) -> Any:
    from fastapi.testclient import TestClient

    from airflow_provider_credits.plugins.app import create_app

    with TestClient(create_app(seeded), follow_redirects=False) as client:
        yield client


@pytest.mark.parametrize("path", ROUTES)
def test_no_credentials_is_401(anonymous: Any, path: str) -> None:
    assert anonymous.get(path).status_code == 401


@pytest.mark.parametrize("path", ROUTES)
def test_an_invalid_or_forged_token_is_403(anonymous: Any, auth_manager: Any, path: str) -> None:
    assert anonymous.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    forged = token(auth_manager)[:-4] + "AAAA"  # signature no longer matches
    anonymous.cookies.set("_token", forged)
    assert anonymous.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/api/balances", "/static/credits.js"])
def test_a_user_without_access_to_the_ui_is_403(anonymous: Any, auth_manager: Any, path: str) -> None:
    no_role = token(auth_manager, role=None)
    assert anonymous.get(path, headers={"Authorization": f"Bearer {no_role}"}).status_code == 403


@pytest.mark.parametrize("path", ["/api/balances", "/"])
def test_the_ui_session_cookie_and_a_bearer_token_both_work(
    anonymous: Any, auth_manager: Any, path: str
) -> None:
    assert anonymous.get(path, headers={"Authorization": f"Bearer {token(auth_manager)}"}).status_code == 200
    anonymous.cookies.set("_token", token(auth_manager))
    assert anonymous.get(path).status_code == 200


def test_the_page_sends_a_visitor_without_a_session_to_the_login_page(anonymous: Any) -> None:
    response = anonymous.get("/")
    assert response.status_code == 303
    assert "/auth/" in response.headers["location"] and "login" in response.headers["location"]
    assert anonymous.get("/api/balances").headers["content-type"] == "application/json"


def test_the_page_is_served_with_its_files(anonymous: Any, auth_manager: Any) -> None:
    anonymous.cookies.set("_token", token(auth_manager))
    page = anonymous.get("/")
    assert 'src="static/credits.js"' in page.text and "window.CREDITS_DATA = null" in page.text
    assert anonymous.get("/static/uPlot.min.css").headers["content-type"].startswith("text/css")
    assert anonymous.get("/static/../app.py").status_code == 404
    assert anonymous.get("/static/nope.js").status_code == 404
