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
import sqlalchemy as sa

from airflow_provider_credits.operators import usage_to_sql
from airflow_provider_credits.storage import database as storage
from airflow_provider_credits.storage.names import TableName
from airflow_provider_credits.storage.tables import BALANCES, USAGE, UtcDateTime, table
from tests.reliability.writer import DIMENSIONS, POOLS, WriteSpec, command, run
from tests.support.databases import Database, as_decimal, as_utc

pytestmark = pytest.mark.integration

Snapshot = list[tuple[Any, ...]]


def _convert(column: sa.Column[Any]) -> Any:
    if isinstance(column.type, UtcDateTime):
        return as_utc
    return as_decimal if isinstance(column.type, sa.Numeric) else (lambda v: v)


def snapshot(db: Database, name: str, spec: sa.Table) -> Snapshot:
    """Every row of ``name`` except ``fetched_at``, normalized and sorted by the natural key."""
    columns = [c for c in spec.columns if c.name != "fetched_at"]
    rows = db.query(f"SELECT {', '.join(c.name for c in columns)} FROM {name}")
    return sorted(tuple(_convert(c)(v) for c, v in zip(columns, row, strict=True)) for row in rows)


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

    def after_rerun(
        self, old: tuple[Snapshot, Snapshot], clean: tuple[Snapshot, Snapshot]
    ) -> tuple[Snapshot, Snapshot]:
        """What a re-run leaves: the old balance snapshots plus the clean run's, and the clean run's usage."""
        return sorted(old[0] + clean[0]), clean[1]


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
    assert tables.state() == tables.after_rerun(old, reference(tables.db, monkeypatch, version=2))
    assert tables.state()[1] != old[1]  # the re-run really wrote the new numbers


def _kill_connection(db: Database, conn: Any) -> None:
    """Have the server kill the connection ``conn`` (SQLite has no connection to drop)."""
    pid = conn.exec_driver_sql(
        "SELECT pg_backend_pid()" if db.kind == "postgres" else "SELECT CONNECTION_ID()"
    ).scalar()
    db.run(f"SELECT pg_terminate_backend({int(pid)})" if db.kind == "postgres" else f"KILL {int(pid)}")


def test_connection_dropped_mid_transaction_keeps_the_old_state(
    server_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables = Tables(server_db)
    tables.run(monkeypatch, version=1)
    old = tables.state()
    real_send = storage.send
    calls: list[int] = []

    def send(conn: Any, sql: str, params: Any) -> int:
        calls.append(len(params))
        if len(calls) == 3:  # balances and one usage chunk are sent; drop the connection
            _kill_connection(tables.db, conn)
        return real_send(conn, sql, params)

    with monkeypatch.context() as patched:
        patched.setattr(storage, "send", send)
        with pytest.raises(Exception) as excinfo:
            tables.run(monkeypatch, version=2)

    assert len(calls) == 3, calls
    assert isinstance(excinfo.value, storage.CreditsStorageError), excinfo.value  # typed, after rollback
    assert "writing balances and usage failed" in str(excinfo.value)
    assert tables.state() == old
    tables.run(monkeypatch, version=2)
    assert tables.state() == tables.after_rerun(old, reference(tables.db, monkeypatch, version=2))


def test_constraint_error_in_a_late_chunk_keeps_the_old_state(
    tables: Tables, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the user's table has a CHECK the vendor's data can break (a refund: a negative amount)
    db = tables.db
    checked = table(USAGE, TableName(tables.spec.usage)).to_metadata(sa.MetaData())
    checked.append_constraint(sa.CheckConstraint(checked.c.amount >= 0))
    engine = storage.Database(db.hook()).engine
    checked.create(engine)
    engine.dispose()
    tables.run(monkeypatch, version=1)
    old = tables.state()

    with pytest.raises(storage.CreditsStorageError, match=r"(?i)check|constraint"):
        tables.run(monkeypatch, version=2, negative_row=True)  # the bad row comes after 9 good chunks

    assert tables.state() == old
    tables.run(monkeypatch, version=2)
    assert tables.state() == tables.after_rerun(old, reference(db, monkeypatch, version=2))


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
    # communicate() drains the pipes while it waits: a writer that logs more than a pipe holds cannot block
    results = [(*w.communicate(timeout=120), w.returncode) for w in writers]

    failures = [err[-2000:] for _, err, code in results if code != 0]
    assert failures == [], failures
    usage_keys = server_db.query(
        f"SELECT vendor, account, pool, dimension, period_start, period_end, COUNT(*) FROM {tables.spec.usage} "
        "GROUP BY vendor, account, pool, dimension, period_start, period_end"
    )
    days = {day for s, d, _ in WINDOWS for day in range(s, s + d)}
    assert len(usage_keys) == len(days) * len(POOLS) * len(DIMENSIONS)
    assert max(row[-1] for row in usage_keys) == 1  # no duplicate natural keys
    assert server_db.count(tables.spec.balances) == len(WINDOWS) * len(POOLS)  # a snapshot per read
