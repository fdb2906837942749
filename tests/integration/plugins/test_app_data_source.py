"""The Credits app's data source problems, each a 503 that says what to do: a missing or non-SQL connection,
a database without the tables yet, a bad budgets setting."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


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
