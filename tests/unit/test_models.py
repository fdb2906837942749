"""Normalized models: UTC normalization and the daily bucketing shared by the usage mappings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from airflow_provider_credits.models import as_utc, daily_usage

UTC = timezone.utc
MADRID = ZoneInfo("Europe/Madrid")


def test_as_utc() -> None:
    assert as_utc(None) is None
    assert as_utc(datetime(2026, 1, 1, 12)) == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert as_utc(datetime(2026, 1, 1, 13, tzinfo=MADRID)).tzinfo is UTC
    assert as_utc(datetime(2026, 1, 1, 13, tzinfo=MADRID)) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_days_without_entries_are_zero_rows_per_pool() -> None:
    rows = daily_usage(
        [(datetime(2026, 3, 2, 9, tzinfo=UTC), "a", "", Decimal(5))],
        vendor="v",
        account="acc",
        start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 3, 4, tzinfo=UTC),
        zero_pools=["a", "b"],
    )
    assert [(r.period_start.day, r.pool, r.amount) for r in rows] == [
        (1, "a", 0),
        (1, "b", 0),
        (2, "a", 5),
        (2, "b", 0),
        (3, "a", 0),
        (3, "b", 0),
    ]
    assert all(r.period_end - r.period_start == timedelta(days=1) for r in rows)


def test_entries_of_one_day_and_dimension_are_summed_and_dimensions_kept_apart() -> None:
    day = datetime(2026, 3, 1, tzinfo=UTC)
    rows = daily_usage(
        [
            (day + timedelta(hours=1), "credits", "u1", Decimal("1.5")),
            (day + timedelta(hours=20), "credits", "u1", Decimal("2")),
            (day + timedelta(hours=3), "credits", "u2", Decimal(4)),
        ],
        vendor="v",
        account="acc",
        start=day,
        end=day + timedelta(days=1),
        zero_pools=["credits"],
    )
    assert [(r.dimension, r.amount) for r in rows] == [("", 0), ("u1", Decimal("3.5")), ("u2", 4)]


def test_local_days_across_a_dst_change_and_naive_moments_in_the_zone() -> None:
    # Europe/Madrid moves to summer time on 2026-03-29: that local day has 23 hours.
    start = datetime(2026, 3, 28, tzinfo=MADRID)
    end = datetime(2026, 3, 30, tzinfo=MADRID)
    rows = daily_usage(
        [(datetime(2026, 3, 29, 0, 30), "p", "", Decimal(1))],  # naive: 00:30 in Madrid
        vendor="v",
        account="acc",
        start=start,
        end=end,
        zone=MADRID,
        zero_pools=["p"],
    )
    assert [r.period_start for r in rows] == [
        datetime(2026, 3, 27, 23, tzinfo=UTC),
        datetime(2026, 3, 28, 23, tzinfo=UTC),
    ]
    assert [r.period_end - r.period_start for r in rows] == [timedelta(hours=24), timedelta(hours=23)]
    assert [r.amount for r in rows] == [0, 1]


def test_end_is_exclusive() -> None:
    rows = daily_usage(
        [],
        vendor="v",
        account="acc",
        start=datetime(2026, 3, 1, tzinfo=UTC),
        end=datetime(2026, 3, 3, tzinfo=UTC),
        zero_pools=["p"],
    )
    assert [r.period_start.day for r in rows] == [1, 2]
