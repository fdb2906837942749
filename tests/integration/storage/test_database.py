"""Database errors become CreditsStorageError: typed, naming table and operation, after rollback, no secrets."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_credits.exceptions import CreditsStorageError
from tests.support.databases import Database
from tests.support.reservations import CONNECTION, POOL, balance, gate, hold, holder, new_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


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
