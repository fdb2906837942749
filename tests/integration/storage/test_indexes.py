"""Indexes of the tables (the Credits page's queries): created with a table, added to older tables."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_credits.storage.database import Database
from airflow_provider_credits.storage.names import TableName
from airflow_provider_credits.storage.tables import BALANCES, LEDGER, RESERVATIONS, USAGE, table
from tests.support import databases


def _index_names(db: Database, t: sa.Table) -> set[str]:
    with db.begin() as conn:
        return {str(i["name"]) for i in sa.inspect(conn).get_indexes(t.name, schema=t.schema)}


def _without_indexes(t: sa.Table) -> sa.Table:
    """The table as a version without indexes created it."""
    copy = t.to_metadata(sa.MetaData())
    copy.indexes.clear()
    return copy


@pytest.fixture
def db(database: databases.Database) -> Any:
    db = Database(database.hook())
    yield db
    db.dispose()


@pytest.mark.parametrize("default", [BALANCES, USAGE, RESERVATIONS], ids=lambda t: t.name)
def test_prepare_adds_missing_indexes_to_an_existing_table_once(
    database: databases.Database, db: Database, default: sa.Table
) -> None:
    t = table(default, TableName.parse(database.table("ix")))
    with db.begin() as conn:
        _without_indexes(t).create(conn)
    wanted = {str(i.name) for i in t.indexes}
    assert wanted and not wanted & _index_names(db, t)

    db.prepare([t], create=False)  # a table the user manages: no DDL
    assert not wanted & _index_names(db, t)

    db.prepare([t], create=True)
    assert wanted <= _index_names(db, t)
    db.prepare([t], create=True)  # idempotent
    assert wanted <= _index_names(db, t)


def test_tables_under_other_names_get_their_own_index_names(
    database: databases.Database, db: Database
) -> None:
    """Index names are unique per schema (PostgreSQL) or database (SQLite): copies must not reuse them."""
    first, second = (table(BALANCES, TableName.parse(database.table("b"))) for _ in range(2))
    ledgers = [table(LEDGER, TableName.parse(database.table("l"))) for _ in range(2)]
    db.prepare([first, second, *ledgers], create=True)
    assert {str(i.name) for i in first.indexes}.isdisjoint(str(i.name) for i in second.indexes)
    assert {str(i.name) for i in first.indexes} <= _index_names(db, first)
    assert {str(i.name) for i in ledgers[1].indexes} <= _index_names(db, ledgers[1])
    assert all(str(i.name).startswith(f"ix_{first.name}_") for i in first.indexes)


@pytest.mark.integration
@pytest.mark.parametrize(
    "kind",
    [pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
)
def test_adding_an_index_waits_for_another_sessions_lock_only_so_long(
    kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``CREATE INDEX`` on a table that an open transaction wrote (PostgreSQL: SHARE lock; MySQL and
    MariaDB: the table's metadata lock, bounded by the server's ``lock_wait_timeout`` otherwise, a
    day or a year) waits at most ``DDL_LOCK_TIMEOUT_S``, once (not again: that would multiply the
    bound), then fails naming the table; no index is left behind."""
    from airflow_provider_credits.exceptions import CreditsStorageError
    from airflow_provider_credits.storage import database as storage

    server: databases.Database = request.getfixturevalue(f"{kind}_db")
    db = Database(server.hook())
    t = table(USAGE, TableName.parse(server.table("ix")))
    with db.begin() as conn:
        _without_indexes(t).create(conn)
    monkeypatch.setattr(storage, "DDL_LOCK_TIMEOUT_S", 1)
    creates: list[str] = []
    sa.event.listen(
        db.engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, *args: creates.append(sql) if sql.startswith("CREATE INDEX") else None,
    )
    with (
        server.session_holding(f"DELETE FROM {t.name} WHERE 1 = 0"),  # a write lock, left open
        pytest.raises(
            CreditsStorageError, match=rf"upgrading table {t.name} .*CREATE INDEX waited more than 1 s"
        ),
    ):
        db.prepare([t], create=True)
    assert len(creates) == 1  # the first index waited, and nothing was tried again
    assert not {str(i.name) for i in t.indexes} & _index_names(db, t)
    db.prepare([t], create=True)
    assert {str(i.name) for i in t.indexes} <= _index_names(db, t)
    db.dispose()


@pytest.mark.mysql
@pytest.mark.integration
def test_the_ddl_bound_is_the_sessions_only_while_the_ddl_runs(
    mysql_db: databases.Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MySQL/MariaDB: ``lock_wait_timeout`` is a session setting: a connection that goes back to a
    pool after the DDL waits as the server says again."""
    from airflow_provider_credits.storage import database as storage

    db = Database(mysql_db.hook())
    t = table(USAGE, TableName.parse(mysql_db.table("ix")))
    monkeypatch.setattr(storage, "DDL_LOCK_TIMEOUT_S", 2.5)

    def bound(conn: sa.Connection) -> int:
        return int(conn.exec_driver_sql("SELECT @@SESSION.lock_wait_timeout").scalar_one())

    with db.begin() as conn:
        server_default = bound(conn)
        with db.ddl_lock(conn, t):
            assert bound(conn) == 3  # whole seconds, rounded up
        assert bound(conn) == server_default != 3
    db.dispose()


@pytest.mark.mysql
@pytest.mark.integration
def test_a_connection_lost_during_the_ddl_is_the_error_raised(mysql_db: databases.Database) -> None:
    """MySQL/MariaDB: after the DDL's connection is lost, setting ``lock_wait_timeout`` back and
    releasing the named lock are skipped (the server ended both with the session): the error is
    the lost connection, not SQLAlchemy's "Can't reconnect until invalid transaction is rolled back"."""
    db, other = Database(mysql_db.hook()), Database(mysql_db.hook())
    t = table(USAGE, TableName.parse(mysql_db.table("ix")))
    with pytest.raises(sa.exc.DBAPIError) as raised, db.begin() as conn, db.ddl_lock(conn, t):
        session = conn.exec_driver_sql("SELECT CONNECTION_ID()").scalar_one()
        with other.begin() as killer:
            killer.exec_driver_sql(f"KILL {int(session)}")
        conn.exec_driver_sql("SELECT 1")
    assert raised.value.connection_invalidated
    db.dispose()
    other.dispose()
