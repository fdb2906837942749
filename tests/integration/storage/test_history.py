"""Reading a pool's stored history and its runway, on every database."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from airflow_provider_credits.storage.database import Database
from airflow_provider_credits.storage.history import pool_history, runway
from airflow_provider_credits.storage.names import TableName
from airflow_provider_credits.storage.tables import BALANCES, USAGE, table
from tests.support import databases

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)


@pytest.fixture
def stored(database: databases.Database) -> tuple[Database, object, object]:
    db = Database(database.hook())
    balances = table(BALANCES, TableName.parse(database.table("bal")))
    usage = table(USAGE, TableName.parse(database.table("use")))
    db.prepare([balances, usage], create=True)
    yield db, balances, usage
    db.dispose()


def _snapshot(
    conn_id: str, pool: str, at: datetime, remaining: float | None, vendor: str = "theirstack"
) -> dict:
    return dict(
        connection_id=conn_id,
        pool=pool,
        fetched_at=at,
        logical_date=at,
        dag_id="d",
        run_id="r",
        vendor=vendor,
        account="acc",
        unit="credits",
        remaining=None if remaining is None else Decimal(str(remaining)),
        credit_limit=None,
        used=None,
        period_start=None,
        period_end=None,
    )


def _usage(pool: str, day: datetime, amount: float, dimension: str = "") -> dict:
    return dict(
        vendor="theirstack",
        account="acc",
        pool=pool,
        dimension=dimension,
        period_start=day,
        period_end=day + timedelta(days=1),
        amount=Decimal(str(amount)),
        unit="credits",
        fetched_at=NOW,
    )


def test_snapshots_only_give_a_forecast_from_balance_falls(stored) -> None:  # type: ignore[no-untyped-def]
    db, balances, usage = stored
    rows = [_snapshot("ts", "api_credits", NOW - timedelta(days=10 - n), 2_000 - 100 * n) for n in range(11)]
    rows.append(_snapshot("ts", "ui_credits", NOW, 5))  # another pool: ignored
    rows.append(_snapshot("other", "api_credits", NOW, 1))  # another connection: ignored
    with db.begin() as conn:
        conn.execute(balances.insert(), rows)
    history, result = runway(
        db, connection_id="ts", pool="api_credits", now=NOW, balances=balances, usage=usage
    )
    assert history.remaining == 1_000 and history.latest_at == NOW
    assert len(history.snapshots) == 11 and history.usage == ()
    assert result is not None and result.method == "snapshots"
    assert result.burn_per_day == 100 and result.days_left == 10


def test_usage_is_summed_over_dimensions_and_preferred(stored) -> None:  # type: ignore[no-untyped-def]
    db, balances, usage = stored
    midnight = NOW.replace(hour=0)
    with db.begin() as conn:
        conn.execute(balances.insert(), [_snapshot("ts", "api_credits", NOW, 900)])
        conn.execute(
            usage.insert(),
            [
                _usage("api_credits", midnight - timedelta(days=d), 20, dim)
                for d in range(1, 4)
                for dim in ("u1", "u2")
            ]
            + [_usage("ui_credits", midnight - timedelta(days=1), 999)],
        )
    history, result = runway(
        db, connection_id="ts", pool="api_credits", now=NOW, balances=balances, usage=usage
    )
    assert [amount for _, amount in history.usage] == [40, 40, 40]
    assert result is not None and result.method == "usage"
    assert (result.burn_per_day, result.days_left) == (40, Decimal("22.5"))


def test_nothing_stored_is_no_forecast(stored) -> None:  # type: ignore[no-untyped-def]
    db, balances, usage = stored
    history, result = runway(
        db, connection_id="ts", pool="api_credits", now=NOW, balances=balances, usage=usage
    )
    assert result is None and history.remaining is None and history.vendor is None


def test_pool_history_window(stored) -> None:  # type: ignore[no-untyped-def]
    db, balances, usage = stored
    with db.begin() as conn:
        conn.execute(
            balances.insert(),
            [_snapshot("ts", "p", NOW - timedelta(days=d), 100 + d) for d in (1, 5, 40)],
        )
        history = pool_history(
            conn, connection_id="ts", pool="p", since=NOW - timedelta(days=7), balances=balances, usage=usage
        )
    assert [r for _, r in history.snapshots] == [105, 101]
