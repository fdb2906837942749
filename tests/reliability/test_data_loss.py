"""The SQL write path under failures: a run leaves the old state or the complete new one, never a mix.

Injected failures: the database connection killed mid-transaction (server-side kill on
PostgreSQL/MariaDB, the connection closed under the cursor on SQLite), a CHECK constraint
violated in a late chunk, and the writing process SIGKILLed between chunks. After each, a
re-run must converge to exactly what a clean run writes. Concurrent runs over overlapping
windows must not duplicate rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_credits.operators import usage_to_sql
from airflow_provider_credits.operators.usage_to_sql import BALANCES, USAGE
from airflow_provider_credits.sql import TableName, dialect_for
from tests.plugins.databases import Database, as_decimal, as_utc
from tests.reliability.writer import DIMENSIONS, POOLS, WriteSpec, command, run

pytestmark = pytest.mark.integration

Snapshot = list[tuple[Any, ...]]


def snapshot(db: Database, table: str, spec: Any) -> Snapshot:
    """Every row of ``table`` except ``fetched_at``, normalized and sorted by the natural key."""
    names = [n for n in spec.names if n != "fetched_at"]
    rows = db.query(f"SELECT {', '.join(names)} FROM {table}")
    kinds = {c.name: c.kind for c in spec.columns}
    convert = {"timestamp": as_utc, "number": as_decimal, "text": lambda v: v}
    return sorted(tuple(convert[kinds[n]](v) for n, v in zip(names, row, strict=True)) for row in rows)


class Tables:
    """A pair of balances/usage tables on one database, and runs of the operator into them."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.spec = WriteSpec(db.conn_id, db.table("bal"), db.table("use"))

    def run(self, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> dict[str, Any]:
        return run(
            replace(self.spec, **changes), lambda name, value: monkeypatch.setattr(usage_to_sql, name, value)
        )

    def state(self) -> tuple[Snapshot, Snapshot]:
        return snapshot(self.db, self.spec.balances, BALANCES), snapshot(self.db, self.spec.usage, USAGE)


@pytest.fixture
def tables(database: Database) -> Tables:
    return Tables(database)


@pytest.fixture(params=["postgres", "mysql"])
def server_db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue(f"{request.param}_db")


def reference(db: Database, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> tuple[Snapshot, Snapshot]:
    """What a clean run with ``changes`` writes into fresh tables."""
    clean = Tables(db)
    clean.run(monkeypatch, **changes)
    return clean.state()


def test_sigkill_between_chunks_keeps_the_old_state_and_a_rerun_converges(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables.run(monkeypatch, version=1)
    old = tables.state()
    writer = subprocess.Popen(
        command(replace(tables.spec, version=2, pause_after_chunk=4)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert writer.stdout is not None
        seen = []
        for line in iter(writer.stdout.readline, ""):  # skip log lines until the writer hangs mid-write
            seen.append(line.strip())
            if line.startswith("CHUNK"):
                break
        assert seen[-1:] == ["CHUNK 4"], seen  # 4 chunks sent, uncommitted
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait(timeout=30)
    assert writer.returncode == -signal.SIGKILL

    assert tables.state() == old  # nothing of the killed run is visible
    tables.run(monkeypatch, version=2)
    assert tables.state() == reference(tables.db, monkeypatch, version=2)
    assert tables.state() != old  # the re-run really wrote the new numbers


def _kill_connection(db: Database, cur: Any) -> None:
    """Have the server kill the connection under ``cur`` (SQLite has no connection to drop)."""
    cur.execute("SELECT pg_backend_pid()" if db.kind == "postgres" else "SELECT CONNECTION_ID()")
    (pid,) = cur.fetchone()
    db.run(f"SELECT pg_terminate_backend({int(pid)})" if db.kind == "postgres" else f"KILL {int(pid)}")


def test_connection_dropped_mid_transaction_keeps_the_old_state(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = Tables(server_db)
    tables.run(monkeypatch, version=1)
    old = tables.state()
    real_upsert = usage_to_sql.upsert_rows
    calls: list[int] = []

    class Dropping:
        def __init__(self, cur: Any) -> None:
            self._cur = cur

        def _send(self, method: str, sql: str, values: Any) -> Any:
            calls.append(len(values))
            if len(calls) == 3:  # balances and one usage chunk are sent; drop the connection
                _kill_connection(tables.db, self._cur)
            return getattr(self._cur, method)(sql, values)

        def executemany(self, sql: str, rows: Any) -> Any:
            return self._send("executemany", sql, rows)

        def execute(self, sql: str, values: Any = None) -> Any:
            return self._send("execute", sql, values)

    def upsert(cur: Any, *args: Any, **kwargs: Any) -> int:
        return real_upsert(Dropping(cur), *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(usage_to_sql, "upsert_rows", upsert)
        with pytest.raises(Exception) as excinfo:
            tables.run(monkeypatch, version=2)

    assert len(calls) == 3, calls
    assert "Dropping" not in str(excinfo.value)  # the database's own error, not the test's
    assert tables.state() == old
    tables.run(monkeypatch, version=2)
    assert tables.state() == reference(tables.db, monkeypatch, version=2)


def test_constraint_error_in_a_late_chunk_keeps_the_old_state(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the user's table has a CHECK the vendor's data can break (a refund: a negative amount)
    db = tables.db
    dialect = dialect_for(db.hook())
    ddl = dialect.create_table_sql(TableName(tables.spec.usage), USAGE)
    db.run(ddl[:-1] + f", CHECK ({dialect.ident('amount')} >= 0))")
    tables.run(monkeypatch, version=1)
    old = tables.state()

    with pytest.raises(Exception, match=r"(?i)check|constraint"):
        tables.run(monkeypatch, version=2, negative_row=True)  # the bad row comes after 9 good chunks

    assert tables.state() == old
    tables.run(monkeypatch, version=2)
    assert tables.state() == reference(db, monkeypatch, version=2)


WINDOWS = [  # (start_day, days, logical_day): overlapping windows, two runs sharing a logical date
    (0, 10, 10),
    (5, 10, 15),
    (5, 10, 15),
    (8, 12, 20),
]


def test_concurrent_overlapping_runs_write_no_duplicates(server_db: Database, tmp_path: Path) -> None:
    # a cold start: the tables do not exist yet, so the processes also race to create them
    tables = Tables(server_db)
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            command(
                replace(
                    tables.spec,
                    start_day=s,
                    days=d,
                    logical_day=ld,
                    version=i + 1,
                    chunk_size=7,
                    go_file=str(go),
                )
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        for i, (s, d, ld) in enumerate(WINDOWS)
    ]
    for w in writers:  # every process has imported Airflow and waits at the barrier
        assert w.stdout is not None
        assert "READY" in [line.strip() for line in iter(w.stdout.readline, "READY\n")] + ["READY"]
    go.touch()
    results = [(w.wait(timeout=120), *w.communicate()) for w in writers]

    failures = [err[-2000:] for code, _, err in results if code != 0]
    assert failures == [], failures
    usage_keys = server_db.query(
        f"SELECT vendor, account, pool, dimension, period_start, period_end, COUNT(*) FROM {tables.spec.usage} "
        "GROUP BY vendor, account, pool, dimension, period_start, period_end"
    )
    days = {day for s, d, _ in WINDOWS for day in range(s, s + d)}
    assert len(usage_keys) == len(days) * len(POOLS) * len(DIMENSIONS)
    assert max(row[-1] for row in usage_keys) == 1  # no duplicate natural keys
    logical_days = {ld for *_, ld in WINDOWS}
    assert server_db.count(tables.spec.balances) == len(logical_days) * len(POOLS)
