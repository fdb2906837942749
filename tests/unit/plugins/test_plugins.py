"""The Credits plugin: registration, cheap import, nav entry, and the data source's plain messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import tomllib

from tests.support import ROOT


def test_the_entry_point_names_the_plugin_class() -> None:
    from airflow.plugins_manager import AirflowPlugin

    from airflow_provider_credits.plugins import CreditsPlugin

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    target = project["project"]["entry-points"]["airflow.plugins"]["credits"]
    assert target == "airflow_provider_credits.plugins:CreditsPlugin"
    assert issubclass(CreditsPlugin, AirflowPlugin) and CreditsPlugin.name == "credits"


def test_importing_the_plugin_builds_nothing() -> None:
    """The plugins manager imports the module in every Airflow process: no FastAPI, no SQLAlchemy engine."""
    code = (
        "import sys; import airflow_provider_credits.plugins as p; "
        "print(any(m.startswith(('fastapi', 'airflow_provider_credits.plugins.app')) for m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_the_app_is_mounted_at_credits_and_the_nav_entry_follows_base_url(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fastapi import FastAPI

    from airflow_provider_credits.plugins import CreditsPlugin, _Lazy

    plugin = CreditsPlugin()
    (app,) = plugin.fastapi_apps
    assert app["url_prefix"] == "/credits" and isinstance(app["app"], FastAPI)
    assert plugin.fastapi_apps[0]["app"] is app["app"]  # built once
    (view,) = plugin.external_views
    assert view["href"] == "/credits/" and view["destination"] == "nav" and view["url_route"] == "credits"

    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://example.com/airflow/")
    from airflow_provider_credits.plugins import _external_views

    assert _Lazy(_external_views).__get__(plugin)[0]["href"] == "/airflow/credits/"


def test_airflow_accepts_the_nav_entry() -> None:
    from airflow.api_fastapi.core_api.datamodels.plugins import ExternalViewResponse

    from airflow_provider_credits.plugins import CreditsPlugin

    ExternalViewResponse.model_validate(CreditsPlugin().external_views[0])


@pytest.fixture
def anonymous_app(auth_manager: Any) -> Any:
    from fastapi.testclient import TestClient

    from airflow_provider_credits.plugins.app import DataSource, create_app

    def client(source: DataSource) -> Any:
        from tests.support.dashboard import token

        return TestClient(create_app(source), headers={"Authorization": f"Bearer {token(auth_manager)}"})

    return client


def test_a_missing_connection_is_a_503_that_says_what_to_do(anonymous_app: Any) -> None:
    from airflow_provider_credits.plugins.app import DataSource

    response = anonymous_app(DataSource("credits_db_that_does_not_exist")).get("/api/balances")
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail["state"] == "missing_connection" and "credits_db_that_does_not_exist" in detail["message"]
    assert "dashboard_conn_id" in detail["message"]


def test_a_non_sql_connection_is_a_503(anonymous_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_credits.plugins.app import DataSource

    monkeypatch.setenv("AIRFLOW_CONN_NOT_SQL", json.dumps({"conn_type": "http", "host": "example.com"}))
    response = anonymous_app(DataSource("not_sql")).get("/api/status")
    assert response.status_code == 503 and response.json()["detail"]["state"] == "not_sql"


def test_an_empty_database_says_there_are_no_tables_yet(
    anonymous_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_credits.plugins.app import DataSource

    monkeypatch.setenv(
        "AIRFLOW_CONN_EMPTY_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "e.db")})
    )
    client = anonymous_app(DataSource("empty_db"))
    status = client.get("/api/status").json()
    assert status["state"] == "no_tables" and "credit_balances" in status["message"]
    assert "UsageToSqlOperator" in status["message"]
    for route in ("balances", "history", "usage", "forecast", "reservations", "spend"):
        response = client.get(f"/api/{route}")
        assert response.status_code == 200 and response.json()["data"] == [], route


def test_bad_budgets_config_is_a_clear_503(
    anonymous_app: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from airflow_provider_credits.plugins.app import DataSource

    monkeypatch.setenv(
        "AIRFLOW_CONN_EMPTY_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "e.db")})
    )
    monkeypatch.setenv("AIRFLOW__CREDITS__DASHBOARD_BUDGETS", "{not json")
    response = anonymous_app(DataSource("empty_db")).get("/api/spend")
    assert response.status_code == 503 and "dashboard_budgets" in response.json()["detail"]["message"]
