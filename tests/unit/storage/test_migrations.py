"""Upgrades of tables older versions wrote, on an in-memory SQLite database: what needs one, and
that the upgrade keeps every row (the same upgrades on every database: tests/integration/storage)."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from airflow_provider_credits.storage.database import Database
from airflow_provider_credits.storage.migrations import RESERVATION_LEDGER_COLUMNS, needs_upgrade, upgrade
from airflow_provider_credits.storage.tables import BALANCES, RESERVATIONS

OLD_BALANCES = (
    "CREATE TABLE credit_balances (connection_id VARCHAR(250) NOT NULL, pool VARCHAR(64) NOT NULL, "
    "logical_date TIMESTAMP NOT NULL, vendor VARCHAR(32) NOT NULL, account VARCHAR(128) NOT NULL, "
    "unit VARCHAR(32) NOT NULL, remaining NUMERIC(18,4), credit_limit NUMERIC(18,4), used NUMERIC(18,4), "
    "period_start TIMESTAMP, period_end TIMESTAMP, fetched_at TIMESTAMP NOT NULL, "
    "PRIMARY KEY (connection_id, pool, logical_date))"
)
OLD_RESERVATIONS = (
    "CREATE TABLE credit_reservations (reservation_id VARCHAR(36) PRIMARY KEY, "
    "connection_id VARCHAR(250) NOT NULL, pool VARCHAR(64) NOT NULL, amount NUMERIC(18,4) NOT NULL, "
    "dag_id VARCHAR(250) NOT NULL, run_id VARCHAR(250) NOT NULL, task_id VARCHAR(250) NOT NULL, "
    "map_index NUMERIC(18,4) NOT NULL, created_at VARCHAR(40) NOT NULL, expires_at VARCHAR(40) NOT NULL, "
    "released_at VARCHAR(40))"
)


def run(db: Database, *statements: str) -> None:
    with db.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)


def upgraded(db: Database, t: sa.Table) -> bool:
    """Run the upgrade when one is needed; whether it was."""
    with db.begin(exclusive=True) as conn:
        if not needs_upgrade(sa.inspect(conn), t):
            return False
        upgrade(conn, sa.inspect(conn), t)
    with db.begin() as conn:
        assert not needs_upgrade(sa.inspect(conn), t)
    return True


def test_a_balance_table_keyed_by_logical_date_is_rekeyed_by_read_time_keeping_its_rows(
    memory_db: Database,
) -> None:
    run(
        memory_db,
        OLD_BALANCES,
        "INSERT INTO credit_balances VALUES ('ts', 'api_credits', '2026-01-01 00:00:00.000000', 'theirstack', "
        "'acct', 'credits', 700, 1000, 300, NULL, NULL, '2026-01-01 01:00:00.000000')",
    )

    assert upgraded(memory_db, BALANCES)

    with memory_db.begin() as conn:
        inspector = sa.inspect(conn)
        assert set(inspector.get_pk_constraint("credit_balances")["constrained_columns"]) == {
            "connection_id",
            "pool",
            "fetched_at",
        }
        assert {"dag_id", "run_id"} <= {c["name"] for c in inspector.get_columns("credit_balances")}
        rows = conn.execute(sa.select(BALANCES.c.pool, BALANCES.c.remaining, BALANCES.c.run_id)).all()
    assert [(p, Decimal(r), run_id) for p, r, run_id in rows] == [("api_credits", Decimal(700), None)]


def test_a_reservation_table_without_the_ledger_columns_gets_them(memory_db: Database) -> None:
    run(
        memory_db,
        OLD_RESERVATIONS,
        "INSERT INTO credit_reservations VALUES ('r1', 'ts', 'api_credits', 100, 'dag', 'run', 'gate', -1, "
        "'2026-01-01 00:00:00', '2026-01-01 01:00:00', NULL)",
    )

    assert upgraded(memory_db, RESERVATIONS)

    with memory_db.begin() as conn:
        columns = {c["name"] for c in sa.inspect(conn).get_columns("credit_reservations")}
        (row,) = conn.exec_driver_sql(
            "SELECT reservation_id, spent, budget_key FROM credit_reservations"
        ).all()
    assert set(RESERVATION_LEDGER_COLUMNS) <= columns
    assert tuple(row) == ("r1", None, None)


def test_current_tables_and_tables_of_someone_else_need_no_upgrade(memory_db: Database) -> None:
    with memory_db.begin() as conn:
        BALANCES.create(conn)
        conn.exec_driver_sql("CREATE TABLE credit_reservations (id INTEGER PRIMARY KEY, note TEXT)")
    assert not upgraded(memory_db, BALANCES)
    assert not upgraded(memory_db, RESERVATIONS)  # not ours: the column check names what is missing
