"""An old ``credit_balances`` table (keyed by logical date, as versions before 0.3 created it) is
upgraded on the operator's first write: rows kept, keyed by read time, the run recorded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.support.databases import Database, as_decimal, as_utc
from tests.support.usage_fakes import DAY, JAN1, Target, context

#: the DDL of 0.2 (``SqlDialect.create_table_sql``), per database
TYPES = {
    "sqlite": ('"{}"', "TIMESTAMP", "NUMERIC(18,4)"),
    "postgres": ('"{}"', "TIMESTAMP WITH TIME ZONE", "NUMERIC(18,4)"),
    "mysql": ("`{}`", "DATETIME(6)", "DECIMAL(18,4)"),
}


def old_balances_ddl(kind: str, table: str) -> str:
    quote, ts, num = TYPES[kind]
    columns = [
        ("connection_id", "VARCHAR(250) NOT NULL"),
        ("pool", "VARCHAR(64) NOT NULL"),
        ("logical_date", f"{ts} NOT NULL"),
        ("vendor", "VARCHAR(32) NOT NULL"),
        ("account", "VARCHAR(128) NOT NULL"),
        ("unit", "VARCHAR(32) NOT NULL"),
        ("remaining", num),
        ("credit_limit", num),
        ("used", num),
        ("period_start", ts),
        ("period_end", ts),
        ("fetched_at", f"{ts} NOT NULL"),
    ]
    q = quote.format
    key = ", ".join(q(c) for c in ("connection_id", "pool", "logical_date"))
    body = ", ".join(f"{q(name)} {kind_}" for name, kind_ in columns)
    return f"CREATE TABLE IF NOT EXISTS {q(table)} ({body}, PRIMARY KEY ({key}))"


def old_row(kind: str, table: str, pool: str, logical: datetime, fetched: datetime, remaining: int) -> str:
    def ts(value: datetime) -> str:
        text = value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
        return f"'{text}+00'" if kind == "postgres" else f"'{text}'"

    return (
        f"INSERT INTO {table} (connection_id, pool, logical_date, vendor, account, unit, remaining, "
        f"credit_limit, used, period_start, period_end, fetched_at) VALUES ('theirstack_default', '{pool}', "
        f"{ts(logical)}, 'theirstack', 'acct-theirstack_default', 'credits', {remaining}, 1000, 0, NULL, NULL, "
        f"{ts(fetched)})"
    )


def primary_key(db: Database, table: str) -> set[str]:
    import sqlalchemy as sa

    from airflow_provider_credits.storage.database import Database as Storage

    engine = Storage(db.hook()).engine
    try:
        return set(sa.inspect(engine).get_pk_constraint(table)["constrained_columns"])
    finally:
        engine.dispose()


@pytest.fixture
def old(database: Database) -> Target:
    """A target whose balances table was created, and written once, by 0.2."""
    target = Target(database)
    database.run(old_balances_ddl(database.kind, target.balances))
    for pool, remaining in (("api_credits", 700), ("ui_credits", 600)):
        database.run(
            old_row(database.kind, target.balances, pool, JAN1, JAN1 + timedelta(hours=1), remaining)
        )
    return target


def test_an_old_balances_table_is_upgraded_on_first_write_and_keeps_its_rows(old, vendors):
    assert primary_key(old.db, old.balances) == {"connection_id", "pool", "logical_date"}

    ctx = context(JAN1 - DAY, JAN1)  # a re-run of the run that wrote the old rows
    ctx["run_id"] = "manual__rerun"
    summary = old.operator().execute(ctx)

    assert primary_key(old.db, old.balances) == {"connection_id", "pool", "fetched_at"}
    assert summary["counts"][old.balances] == {"inserted": 2, "updated": 0, "unchanged": 0}
    rows = old.db.query(
        f"SELECT pool, logical_date, run_id, remaining, fetched_at FROM {old.balances} ORDER BY fetched_at, pool"
    )
    got = [(p, as_utc(ld), r, as_decimal(rem)) for p, ld, r, rem, _ in rows]
    assert got[:2] == [  # the old snapshots, exactly as they were (no run recorded then)
        ("api_credits", JAN1, None, Decimal(700)),
        ("ui_credits", JAN1, None, Decimal(600)),
    ]
    assert got[2:] == [
        ("api_credits", JAN1, "manual__rerun", Decimal(980)),
        ("ui_credits", JAN1, "manual__rerun", Decimal(979)),
    ]
    assert as_utc(rows[0][4]) == JAN1 + timedelta(hours=1)


def test_the_upgrade_runs_once(old, vendors, monkeypatch):
    from airflow_provider_credits.storage import migrations

    old.run(JAN1 - DAY, JAN1)
    upgrades: list[str] = []
    real = migrations.upgrade
    monkeypatch.setattr(
        migrations, "upgrade", lambda conn, insp, t: upgrades.append(t.name) or real(conn, insp, t)
    )

    old.run(JAN1 - DAY, JAN1)

    assert upgrades == []
    assert old.db.count(old.balances) == 6


def test_a_new_table_is_created_with_the_new_key(target_db: Database, vendors):
    target = Target(target_db)
    target.run(JAN1, JAN1 + DAY)
    assert primary_key(target_db, target.balances) == {"connection_id", "pool", "fetched_at"}


@pytest.fixture
def target_db(database: Database) -> Database:
    return database


def test_concurrent_runs_upgrade_an_old_table_once_and_all_succeed(old, vendors):
    """MySQL/MariaDB commit each DDL statement: others must not see the table between
    DROP PRIMARY KEY and ADD PRIMARY KEY (the gap is widened here to make the race certain)."""
    import threading
    import time

    import sqlalchemy as sa

    def slow_drop(conn, cursor, statement, *args):
        if "DROP PRIMARY KEY" in statement.upper() or "DROP CONSTRAINT" in statement.upper():
            time.sleep(1.0)

    runs = 4
    start = threading.Barrier(runs)
    results: list[object] = []

    def run(i: int) -> None:
        ctx = context(JAN1 - DAY, JAN1)
        ctx["run_id"] = f"run{i}"
        start.wait()
        try:
            results.append(old.operator().execute(ctx)["counts"][old.balances])
        except Exception as exc:  # reported by the assertion below
            results.append(f"{type(exc).__name__}: {exc}")

    sa.event.listen(sa.engine.Engine, "after_cursor_execute", slow_drop)
    try:
        threads = [threading.Thread(target=run, args=(i,)) for i in range(runs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        sa.event.remove(sa.engine.Engine, "after_cursor_execute", slow_drop)

    assert results == [{"inserted": 2, "updated": 0, "unchanged": 0}] * runs
    assert primary_key(old.db, old.balances) == {"connection_id", "pool", "fetched_at"}
    assert old.db.count(old.balances) == 2 + 2 * runs


@pytest.mark.integration
@pytest.mark.parametrize(
    "kind",
    [pytest.param("postgres", marks=pytest.mark.postgres), pytest.param("mysql", marks=pytest.mark.mysql)],
)
def test_an_upgrade_waits_for_another_sessions_lock_only_so_long_then_readers_go_on(
    kind, request, vendors, monkeypatch
):
    """The upgrade's ALTER TABLE (PostgreSQL: ACCESS EXCLUSIVE; MySQL/MariaDB: an exclusive metadata
    lock, bounded by the server's ``lock_wait_timeout`` otherwise, a day or a year) waits for an open
    transaction that read the old table (a BI session) at most ``DDL_LOCK_TIMEOUT_S``; readers queue
    behind a waiting ALTER, so an unbounded wait would block them too. Then the run fails naming the
    table."""
    import airflow_provider_credits.storage.database as storage
    from airflow_provider_credits.exceptions import CreditsStorageError

    server: Database = request.getfixturevalue(f"{kind}_db")
    target = Target(server)
    server.run(old_balances_ddl(kind, target.balances))
    monkeypatch.setattr(storage, "DDL_LOCK_TIMEOUT_S", 1)
    with server.session_holding(f"SELECT COUNT(*) FROM {target.balances}"):  # a read lock, left open
        with pytest.raises(
            CreditsStorageError, match=rf"upgrading table {target.balances} .*waited more than 1 s"
        ):
            target.run(JAN1, JAN1 + DAY)
        assert server.count(target.balances) == 0  # another reader is not queued any more
    assert primary_key(server, target.balances) == {"connection_id", "pool", "logical_date"}
    target.run(JAN1, JAN1 + DAY)  # the next run upgrades it
    assert primary_key(server, target.balances) == {"connection_id", "pool", "fetched_at"}


@pytest.mark.integration
@pytest.mark.mysql
def test_a_balances_upgrade_cut_after_drop_primary_key_is_finished_by_the_next_run(mysql_db, vendors):
    """MySQL/MariaDB commit each DDL statement: an upgrade whose ADD PRIMARY KEY waited too long
    (or whose worker died) leaves the table with the new columns and no primary key. The next
    run finishes the upgrade, as the timeout's message promises, instead of failing on a DROP of a
    key that is gone."""
    target = Target(mysql_db)
    mysql_db.run(old_balances_ddl("mysql", target.balances))
    mysql_db.run(
        f"ALTER TABLE {target.balances} ADD COLUMN dag_id VARCHAR(250), ADD COLUMN run_id VARCHAR(250)"
    )
    mysql_db.run(f"ALTER TABLE {target.balances} DROP PRIMARY KEY")
    assert primary_key(mysql_db, target.balances) == set()

    target.run(JAN1, JAN1 + DAY)

    assert primary_key(mysql_db, target.balances) == {"connection_id", "pool", "fetched_at"}
