"""An in-memory SQLite database behind :class:`~airflow_provider_credits.storage.database.Database`.

For unit tests of the storage layer: no server, no file, no Airflow connection. Every
connection of its engine is the same SQLite connection (``StaticPool``), so what one
transaction writes the next one reads.

``memory_db`` (fixture, registered in ``tests/conftest.py``): a fresh such database per test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import StaticPool

from airflow_provider_credits.storage.database import Database


class MemoryHook:
    """Stands in for a common-sql hook: ``get_sqlalchemy_engine`` and ``get_conn_id``, nothing else."""

    def __init__(self, conn_id: str = "memory") -> None:
        self.conn_id = conn_id

    def get_sqlalchemy_engine(self, engine_kwargs: dict[str, Any] | None = None) -> sa.Engine:
        """A new in-memory database (the pool and connect arguments asked for are replaced)."""
        return sa.create_engine("sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False})

    def get_conn_id(self) -> str:
        return self.conn_id


@pytest.fixture
def memory_db() -> Iterator[Database]:
    """A :class:`Database` on a fresh in-memory SQLite database, disposed after the test."""
    db = Database(MemoryHook())  # type: ignore[arg-type]
    try:
        yield db
    finally:
        db.dispose()
