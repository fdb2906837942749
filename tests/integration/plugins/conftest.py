"""Fixtures of the Credits page's tests: seeded tables on each database, the app, auth tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import databases
from tests.support.dashboard import NOW, seed, token

SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


@pytest.fixture(scope="module")
def auth_manager(airflow_db: Any) -> Iterator[Any]:
    """Airflow's simple auth manager with a fresh JWT secret (what the API server would use)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AIRFLOW__CORE__AUTH_MANAGER", SIMPLE_AUTH_MANAGER)
    mp.setenv("AIRFLOW__API_AUTH__JWT_SECRET", secrets.token_hex(32))
    from airflow.api_fastapi.app import create_auth_manager

    try:
        yield create_auth_manager()
    finally:
        mp.undo()


@pytest.fixture
def seeded(database: databases.Database) -> Iterator[Any]:
    """The seeded tables (unique names) and a :class:`DataSource` on them."""
    from airflow_provider_credits.plugins.app import DataSource
    from airflow_provider_credits.plugins.data import Tables
    from airflow_provider_credits.storage.database import Database

    tables = Tables.named(
        balances=database.table("bal"), usage=database.table("use"), reservations=database.table("res")
    )
    database._tables.append(tables.ledger.name)
    db = Database(database.hook())
    db.prepare(list(tables.all().values()), create=True)
    with db.begin() as conn:
        seed(conn, tables.balances, tables.usage, tables.reservations, tables.ledger)
    db.dispose()
    source = DataSource(database.conn_id, tables)
    yield source
    source.database().dispose()


@pytest.fixture
def client(seeded: Any, auth_manager: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A test client of the Credits app on the seeded tables, with a viewer's bearer token."""
    from fastapi.testclient import TestClient

    from airflow_provider_credits.plugins.app import create_app

    monkeypatch.setenv("AIRFLOW__CREDITS__DASHBOARD_BUDGETS", '{"credit_gated_enrichment": 600}')
    app = create_app(seeded, clock=lambda: NOW)
    with TestClient(app, headers={"Authorization": f"Bearer {token(auth_manager)}"}) as test_client:
        yield test_client
