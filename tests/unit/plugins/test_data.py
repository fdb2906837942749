"""What the Credits page shows, read on an in-memory SQLite database holding the hand-computed data
set of tests/support/dashboard.py (every route on every database: tests/integration/plugins)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import sqlalchemy as sa

from airflow_provider_credits.plugins import data
from airflow_provider_credits.storage.database import Database
from tests.support.dashboard import NOW

pytestmark = pytest.mark.usefixtures("fresh_catalog")


def test_amounts_as_json() -> None:  # times: iso_utc, tests/unit/storage/test_database.py
    assert (data.number(None), data.number(Decimal("2.50"))) == (None, 2.5)


def test_query_times_are_parsed_as_utc_and_a_bad_one_names_its_parameter() -> None:
    assert data.parse_time("2026-11-30T12:00:00Z", "since") == NOW
    assert data.parse_time("2026-11-30T12:00:00", "since") == NOW
    assert data.parse_time("", "since") is None
    with pytest.raises(ValueError, match=r"until must be an ISO 8601 date or time.*got 'tomorrow'"):
        data.parse_time("tomorrow", "until")


def test_tables_under_other_names_keep_the_ledger_beside_the_reservations() -> None:
    tables = data.Tables.named("analytics", reservations="holds")
    assert {role: t.fullname for role, t in tables.all().items()} == {
        "balances": "analytics.credit_balances",
        "usage": "analytics.credit_usage",
        "reservations": "analytics.holds",
        "ledger": "analytics.holds_ledger",
    }


def test_filters_become_conditions_on_the_columns_given() -> None:
    t = data.Tables().usage
    filters = data.Filters(vendor="clay", pool="credits", since=NOW)
    compiled = [
        str(c.compile(compile_kwargs={"literal_binds": False})) for c in filters.where(t.c, "period_start")
    ]
    assert compiled == [
        "credit_usage.vendor = :vendor_1",
        "credit_usage.pool = :pool_1",
        "credit_usage.period_start >= :period_start_1",
    ]
    assert data.Filters().where(t.c, "period_start") == []


def test_an_empty_database_says_which_tables_are_missing_and_what_creates_them(memory_db: Database) -> None:
    with memory_db.begin() as conn:
        status = data.status(conn, data.Tables())
        assert data.balances(conn, data.Tables()) == []
    assert (status["state"], status["database"]) == ("no_tables", "sqlite")
    assert "UsageToSqlOperator creates them" in status["message"]
    assert "a CreditThresholdSensor with reserve= creates them" in status["message"]


def test_the_latest_balance_per_account_and_pool(seeded_memory_db: Database) -> None:
    with seeded_memory_db.begin() as conn:
        assert data.status(conn, data.Tables())["state"] == "ok"
        rows = {(r["vendor"], r["pool"]): r for r in data.balances(conn, data.Tables())}
        clay_only = data.balances(conn, data.Tables(), data.Filters(vendor="clay"))
    theirstack = rows[("theirstack", "api_credits")]
    assert (theirstack["connection_id"], theirstack["remaining"], theirstack["limit"]) == (
        "ts",
        1000.0,
        5000.0,
    )
    assert theirstack["fetched_at"] == "2026-11-30T12:00:00Z"
    assert rows[("clay", "credits")]["remaining"] == 800.0
    assert [r["pool"] for r in clay_only] == ["credits"]


def test_forecasts_from_usage_and_from_balance_falls(seeded_memory_db: Database) -> None:
    with seeded_memory_db.begin() as conn:
        rows = {r["vendor"]: r for r in data.forecasts(conn, data.Tables(), now=NOW)}
    assert (rows["theirstack"]["burn_per_day"], rows["theirstack"]["days_left"]) == (80.0, 12.5)
    assert rows["theirstack"]["method"] == "usage"
    assert (rows["clay"]["burn_per_day"], rows["clay"]["method"]) == (150.0, "snapshots")


def test_the_active_reservations_and_the_spend_of_the_month(seeded_memory_db: Database) -> None:
    with seeded_memory_db.begin() as conn:
        active = data.reservations(conn, data.Tables(), now=NOW)
        assert sa.inspect(conn).has_table("credit_ledger")
    assert [(r["reservation_id"], r["outstanding"]) for r in active] == [("r-active", 150.0)]

    spend = data.spend(seeded_memory_db, data.Tables(), now=NOW, budgets={"credit_gated_enrichment": 600})

    by_dag = {r["key"]: r for r in spend["rows"]}
    assert (by_dag["credit_gated_enrichment"]["spent"], by_dag["credit_gated_enrichment"]["share"]) == (
        150.0,
        0.5,
    )
    assert by_dag["lead_scoring"]["unknown"] == 1
