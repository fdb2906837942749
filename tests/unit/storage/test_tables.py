"""The package's tables: renamed copies (own metadata, renamed indexes), index names within 63
characters, and UTC timestamps stored and read back on SQLite."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlalchemy as sa

from airflow_provider_credits.storage.names import TableName
from airflow_provider_credits.storage.tables import (
    ALERT_STATES,
    BALANCES,
    LEDGER,
    LOCKS,
    RESERVATIONS,
    USAGE,
    index_name,
    metadata,
    table,
)


def test_the_metadata_holds_every_table_under_its_default_name() -> None:
    assert set(metadata.tables) == {
        "credit_balances",
        "credit_usage",
        "credit_reservations",
        "credit_reservations_locks",
        "credit_ledger",
        "credit_alert_states",
    }
    assert {t.name for t in (BALANCES, USAGE, RESERVATIONS, LOCKS, LEDGER, ALERT_STATES)} == set(
        metadata.tables
    )


def test_the_default_name_is_the_default_table() -> None:
    assert table(BALANCES, TableName("credit_balances")) is BALANCES


def test_another_name_is_a_copy_with_the_same_key_and_its_own_index_names() -> None:
    copy = table(USAGE, TableName.parse("analytics.usage_eu"))

    assert (copy.name, copy.schema, copy.metadata is USAGE.metadata) == ("usage_eu", "analytics", False)
    assert [c.name for c in copy.primary_key.columns] == [c.name for c in USAGE.primary_key.columns]
    assert {str(i.name) for i in copy.indexes} == {
        "ix_usage_eu_vendor",
        "ix_usage_eu_period_start",
    }
    assert table(USAGE, TableName.parse("analytics.usage_eu")) is copy  # built once


def test_index_names_are_cut_to_63_characters_with_a_hash_keeping_them_apart() -> None:
    assert index_name("usage", "period_start") == "ix_usage_period_start"
    long_a, long_b = index_name("t" * 60, "period_start"), index_name("t" * 60, "fetched_at")
    assert len(long_a) == len(long_b) == 63
    assert long_a != long_b and long_a.startswith("ix_" + "t" * 51)


def test_timestamps_are_stored_in_utc_and_read_back_aware() -> None:
    engine = sa.create_engine("sqlite://")
    t = sa.Table(
        "moments",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fetched_at", BALANCES.c.fetched_at.type),
    )
    t.create(engine)
    madrid = timezone(timedelta(hours=2))
    with engine.begin() as conn:
        conn.execute(t.insert(), [{"id": 1, "fetched_at": datetime(2026, 4, 1, 12, tzinfo=madrid)},
                                  {"id": 2, "fetched_at": datetime(2026, 4, 1, 12)}])  # fmt: skip
        raw = conn.exec_driver_sql("SELECT fetched_at FROM moments ORDER BY id").scalars().all()
        read = conn.execute(sa.select(t.c.fetched_at).order_by(t.c.id)).scalars().all()
    assert raw == ["2026-04-01 10:00:00.000000", "2026-04-01 12:00:00.000000"]  # sorts as text
    assert read == [
        datetime(2026, 4, 1, 10, tzinfo=timezone.utc),
        datetime(2026, 4, 1, 12, tzinfo=timezone.utc),
    ]
