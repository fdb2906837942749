"""Database errors become CreditsStorageError: typed, naming table and operation, after rollback, no secrets."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_credits.exceptions import CreditsStorageError
from airflow_provider_credits.storage import database as storage
from tests.support.databases import Database
from tests.support.reservations import CONNECTION, POOL, balance, gate, hold, holder, new_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


class FakeHook:
    def __init__(self, url: str) -> None:
        self.url = url

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> sa.Engine:
        return sa.create_engine(self.url, **(engine_kwargs or {}))

    def get_conn_id(self) -> str:
        return "warehouse"


def test_a_driver_error_is_typed_names_the_table_and_never_the_password() -> None:
    db = storage.Database(FakeHook("postgresql+psycopg://loader:hunter2secret@db.example:5432/credits"))
    driver_error = RuntimeError('could not connect as "loader" with password hunter2secret')

    with pytest.raises(CreditsStorageError) as excinfo, db.errors("writing balances", "credit_balances"):
        raise sa.exc.OperationalError("INSERT INTO credit_balances ...", {"remaining": 5}, driver_error)

    message = str(excinfo.value)
    assert "writing balances failed on table credit_balances" in message
    assert "connection 'warehouse'" in message
    assert "hunter2secret" not in message and "***" in message
    assert "remaining" not in message  # the statement's values stay out
    assert excinfo.value.__cause__ is driver_error


def test_a_database_error_while_reserving_rolls_back_and_is_typed(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = new_store(database)
    hold(store, 100, "other", now=T0)
    real_execute = sa.Connection.execute

    def failing(self: sa.Connection, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(statement, sa.sql.dml.Insert):  # the reservation's upsert, after the lock
            raise sa.exc.OperationalError("INSERT", {}, RuntimeError("server closed the connection"))
        return real_execute(self, statement, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(sa.Connection, "execute", failing)
        with pytest.raises(CreditsStorageError, match=rf"reserving credits failed on table {store.table}"):
            store.reserve(
                gate=gate(100), balance=balance(1000), connection_id=CONNECTION, holder=holder("me"), now=T0
            )

    assert [r.task_id for r in store.active(CONNECTION, POOL, now=T0)] == ["other"]  # nothing half written
