"""Real databases for tests: SQLite always, PostgreSQL and MariaDB/MySQL when reachable (required in CI).

Fixtures ``sqlite_db``, ``postgres_db`` and ``mysql_db`` each register an Airflow connection
through an ``AIRFLOW_CONN_<ID>`` environment variable and return a :class:`Database`;
``database`` is parametrized over all three, so a test module using it runs on every one.
Tables named with :meth:`Database.table` are unique per test and dropped afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import require_service

POSTGRES = ("127.0.0.1", 5432, "postgres://postgres@127.0.0.1:5432/test")
MYSQL = ("127.0.0.1", 3306, "mysql://root@127.0.0.1:3306/test")


@dataclass
class Database:
    """A test database reachable through an Airflow connection.

    :param kind: ``sqlite``, ``postgres`` or ``mysql``.
    :param conn_id: the Airflow connection id.
    """

    kind: str
    conn_id: str
    _tables: list[str] = field(default_factory=list)

    def hook(self) -> Any:
        """A fresh common-sql hook for the connection."""
        from airflow.providers.common.sql.operators.sql import BaseSQLOperator

        return BaseSQLOperator.get_hook(self.conn_id)

    def table(self, prefix: str = "t") -> str:
        """A unique table name, dropped when the test ends."""
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        self._tables.append(name)
        return name

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query on a new connection and return all rows as tuples."""
        return [tuple(row) for row in self.hook().get_records(sql, parameters)]

    def run(self, sql: str) -> None:
        """Run and commit a statement."""
        self.hook().run(sql, autocommit=True)

    def count(self, table: str) -> int:
        return int(self.query(f"SELECT COUNT(*) FROM {table}")[0][0])

    @contextmanager
    def session_holding(self, sql: str) -> Iterator[None]:
        """Another session that runs ``sql`` and keeps its transaction, and its locks, until the block ends.

        The server ends the session after 30 s idle: code waiting for it without a bound then goes
        on, and its test fails instead of hanging.
        """
        conn = self.hook().get_conn()
        try:
            cursor = conn.cursor()
            if self.kind == "postgres":
                cursor.execute("SET idle_in_transaction_session_timeout = '30s'")
            elif self.kind == "mysql":
                cursor.execute("SET SESSION wait_timeout = 30")
            cursor.execute(sql)
            yield
        finally:
            with suppress(Exception):  # the server may have ended the session
                conn.rollback()
            conn.close()

    def drop_tables(self) -> None:
        for name in self._tables:
            self.run(f"DROP TABLE IF EXISTS {name}")


def as_utc(value: datetime | str | None) -> datetime | None:
    """Read back a timestamp column (aware, naive UTC or SQLite text) as an aware UTC datetime."""
    if value is None:
        return None
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)


def as_decimal(value: Any) -> Decimal | None:
    """Read back a numeric column (Decimal, or SQLite int/float) as a normalized Decimal."""
    return None if value is None else Decimal(str(value)).normalize()


def _database(monkeypatch: pytest.MonkeyPatch, kind: str, conn: str) -> Iterator[Database]:
    conn_id = f"test_{kind}_db"
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", conn)
    db = Database(kind, conn_id)
    try:
        yield db
    finally:
        db.drop_tables()


@pytest.fixture
def sqlite_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """A fresh SQLite file database."""
    conn = json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "test.db")})
    yield from _database(monkeypatch, "sqlite", conn)


@pytest.fixture
def postgres_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """PostgreSQL's ``test`` database (skipped when unreachable, unless CI=true)."""
    require_service("PostgreSQL", POSTGRES[0], POSTGRES[1])
    yield from _database(monkeypatch, "postgres", POSTGRES[2])


@pytest.fixture
def mysql_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    """MariaDB/MySQL's ``test`` database (skipped when unreachable, unless CI=true)."""
    require_service("MariaDB/MySQL", MYSQL[0], MYSQL[1])
    yield from _database(monkeypatch, "mysql", MYSQL[2])


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.integration]),
        pytest.param("mysql", marks=[pytest.mark.mysql, pytest.mark.integration]),
    ]
)
def database(request: pytest.FixtureRequest) -> Database:
    """Each of SQLite, PostgreSQL and MariaDB/MySQL in turn."""
    return request.getfixturevalue(f"{request.param}_db")
