"""A pool's stored history on an in-memory SQLite database: its latest snapshot, the snapshots and
the daily usage of its account since a date, and the runway forecast from them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from airflow_provider_credits.storage.database import Database
from airflow_provider_credits.storage.history import pool_history, runway
from airflow_provider_credits.storage.tables import BALANCES, USAGE

NOW = datetime(2026, 11, 30, 12, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def snapshot(at: datetime, remaining: float | None, account: str = "acct") -> dict[str, object]:
    return {
        "connection_id": "ts",
        "pool": "api_credits",
        "fetched_at": at,
        "logical_date": at,
        "vendor": "theirstack",
        "account": account,
        "unit": "credits",
        "remaining": remaining,
    }


def used(day: datetime, amount: float, account: str = "acct", dimension: str = "") -> dict[str, object]:
    return {
        "vendor": "theirstack",
        "account": account,
        "pool": "api_credits",
        "dimension": dimension,
        "period_start": day,
        "period_end": day + DAY,
        "amount": amount,
        "unit": "credits",
        "fetched_at": NOW,
    }


@pytest.fixture
def stored(memory_db: Database) -> Database:
    """Ten days falling 100 a day to 1,000; usage of 60 + 40 a day of this account, other rows aside."""
    snapshots = [snapshot(NOW - n * DAY, 1000 + 100 * n) for n in range(10)]
    snapshots.append(snapshot(NOW - 2 * DAY + timedelta(hours=1), None))  # unread: not in the series
    usage = [used(NOW - n * DAY, 60) for n in range(1, 5)] + [
        used(NOW - n * DAY, 40, dimension="x") for n in range(1, 5)
    ]
    usage.append(used(NOW - DAY, 999, account="another"))
    with memory_db.begin() as conn:
        BALANCES.create(conn)
        USAGE.create(conn)
        conn.execute(BALANCES.insert(), snapshots)
        conn.execute(USAGE.insert(), usage)
    return memory_db


def test_the_history_since_a_date(stored: Database) -> None:
    with stored.begin() as conn:
        history = pool_history(conn, connection_id="ts", pool="api_credits", since=NOW - 3 * DAY)

    assert (history.vendor, history.account, history.latest_at, history.remaining) == (
        "theirstack",
        "acct",
        NOW,
        Decimal(1000),
    )
    assert history.snapshots == tuple((NOW - n * DAY, Decimal(1000 + 100 * n)) for n in (3, 2, 1, 0))
    assert history.usage == tuple((NOW - n * DAY, Decimal(100)) for n in (3, 2, 1))  # dimensions summed


def test_a_pool_never_read_has_an_empty_history(stored: Database) -> None:
    with stored.begin() as conn:
        history = pool_history(conn, connection_id="ts", pool="ui_credits", since=NOW - 30 * DAY)
    assert (history.vendor, history.latest_at, history.remaining, history.snapshots, history.usage) == (
        None,
        None,
        None,
        (),
        (),
    )


def test_runway_reads_the_history_and_forecasts_from_the_latest_remaining(stored: Database) -> None:
    history, forecast = runway(stored, connection_id="ts", pool="api_credits", now=NOW, window_days=7)

    assert history.remaining == Decimal(1000)
    assert len(history.snapshots) == 9  # the window and the day before it
    assert forecast is not None and forecast.method == "usage"  # preferred over the snapshots
    assert (forecast.burn_per_day, forecast.days_left) == (Decimal(100), Decimal(10))
